import FakeAPIServer
import TestSupport
import Foundation
import JobRunner
import KubeClient
import KubeModel
import Testing

/// The job runner against the fake API server, running real local processes.
@Suite("Job runner")
struct JobRunnerTests {
    /// Runs `body` with a job runner serving the cluster, and a log directory.
    private func withRunner(
        _ cluster: FakeCluster, operatorExecutable: String = "/bin/echo", _ body: (String) async throws -> Void
    ) async throws {
        let logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: logDirectory) }
        var configuration = JobRunner.Configuration(logDirectory: logDirectory, operatorExecutable: operatorExecutable)
        configuration.retryBackoff = .milliseconds(50)
        configuration.terminationGracePeriod = .milliseconds(500)
        let runner = JobRunner(api: cluster.client, configuration: configuration, logger: FakeCluster.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            try await body(logDirectory)
            group.cancelAll()
        }
    }

    private func job(_ name: String, image: String = "busybox", command: [String], backoffLimit: Int? = nil, deadline: Int? = nil, env: [EnvVar]? = nil) -> Job {
        var spec = JobSpec(template: PodTemplateSpec(spec: PodSpec(containers: [Container(name: "main", image: image, command: command, env: env)])))
        spec.backoffLimit = backoffLimit
        spec.activeDeadlineSeconds = deadline
        return Job(metadata: ObjectMeta(name: name, namespace: "default"), spec: spec)
    }

    private func status(_ cluster: FakeCluster, _ name: String) async throws -> Job {
        try await cluster.client.get(Job.self, namespace: "default", name: name).object
    }

    @Test("a Job whose command exits 0 ends Complete with succeeded 1, and its output is in the pod's log")
    func completes() async throws {
        try await FakeCluster.with { cluster in
            try await withRunner(cluster) { logs in
                _ = try await cluster.client.create(job("ok", command: ["sh", "-c", "echo hello from the job"]))
                try await eventually(timeout: .seconds(120), "the Job to complete") { try await status(cluster, "ok").condition("Complete") != nil }
                let finished = try await status(cluster, "ok")
                #expect(finished.status?.succeeded == 1)
                #expect(finished.status?.active == 0)
                #expect(finished.status?.startTime != nil && finished.status?.completionTime != nil)
                #expect(finished.condition("Complete")?.reason == "CompletionsReached")
                // One pod, unless a start failed (a busy machine can refuse a fork): then
                // each failed start is counted in `failed`, as the job controller counts it.
                // Never a second pod beside a running or succeeded one.
                let files = try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasPrefix("default_ok-") }
                #expect(files.count == 1 + (finished.status?.failed ?? 0), "pods \(files), status \(String(describing: finished.status))")
                let logsText = try files.map { try String(contentsOfFile: "\(logs)/\($0)", encoding: .utf8) }
                #expect(logsText.filter { $0 == "hello from the job\n" }.count == 1)
            }
        }
    }

    @Test("a Job that exits 1 with backoffLimit 1 is tried twice and ends Failed with BackoffLimitExceeded")
    func backoffLimit() async throws {
        try await FakeCluster.with { cluster in
            try await withRunner(cluster) { logs in
                _ = try await cluster.client.create(job("fails", command: ["sh", "-c", "echo attempt; exit 1"], backoffLimit: 1))
                try await eventually(timeout: .seconds(120), "the Job to fail") { try await status(cluster, "fails").condition("Failed") != nil }
                let failed = try await status(cluster, "fails")
                #expect(failed.status?.failed == 2)
                #expect(failed.status?.succeeded == nil)
                #expect(failed.condition("Failed")?.reason == "BackoffLimitExceeded")
                #expect(try FileManager.default.contentsOfDirectory(atPath: logs).filter { $0.hasPrefix("default_fails-") }.count == 2)
            }
        }
    }

    @Test("deleting a running Job kills its process")
    func deletionKills() async throws {
        try await FakeCluster.with { cluster in
            try await withRunner(cluster) { logs in
                let pidFile = "\(logs)/sleeper.pid"
                _ = try await cluster.client.create(job("sleeper", command: ["sh", "-c", "echo $$ > \(pidFile); exec sleep 600"]))
                try await eventually(timeout: .seconds(120), "the process to start") {
                    guard FileManager.default.fileExists(atPath: pidFile) else { return false }
                    return try await status(cluster, "sleeper").status?.active == 1
                }
                let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
                #expect(kill(pid, 0) == 0)
                try await cluster.client.delete(Job.self, namespace: "default", name: "sleeper")
                try await eventually(timeout: .seconds(120), "the process to be gone") { kill(pid, 0) != 0 }
            }
        }
    }

    @Test("a Job running past activeDeadlineSeconds is killed and ends Failed with DeadlineExceeded")
    func deadline() async throws {
        try await FakeCluster.with { cluster in
            try await withRunner(cluster) { _ in
                _ = try await cluster.client.create(job("slow", command: ["sleep", "600"], deadline: 1))
                try await eventually(timeout: .seconds(120), "the deadline to fail the Job") { try await status(cluster, "slow").condition("Failed") != nil }
                #expect(try await status(cluster, "slow").condition("Failed")?.reason == "DeadlineExceeded")
            }
        }
    }

    @Test("env comes from values and Secrets; a container of the operator's image runs the local db-operator")
    func environmentAndOperatorImage() async throws {
        try await FakeCluster.with { cluster in
            var secret = Secret(metadata: ObjectMeta(name: "creds", namespace: "default"))
            secret.setValue("s3cret", for: "password")
            _ = try await cluster.client.create(secret)
            try await withRunner(cluster, operatorExecutable: "/usr/bin/env") { logs in
                let env = [
                    EnvVar(name: "DB_OPERATOR_OPERATION", value: "create"),
                    EnvVar(name: "FROM_SECRET", valueFrom: EnvVarSource(secretKeyRef: .init(name: "creds", key: "password"))),
                ]
                _ = try await cluster.client.create(job("op", image: "ghcr.io/db-operator/db-operator:0.1.0", command: ["db-operator"], env: env))
                try await eventually(timeout: .seconds(120), "the Job to complete") { try await status(cluster, "op").condition("Complete") != nil }
                let file = try #require(try FileManager.default.contentsOfDirectory(atPath: logs).first { $0.hasPrefix("default_op-") })
                let output = try String(contentsOfFile: "\(logs)/\(file)", encoding: .utf8)
                #expect(output.contains("DB_OPERATOR_OPERATION=create\n"))
                #expect(output.contains("FROM_SECRET=s3cret\n"))
            }
        }
    }
}

/// The `db-operator job-runner` program itself, as a separate process.
@Suite("db-operator job-runner program")
struct JobRunnerProgramTests {
    /// The db-operator binary built beside this test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("db-operator").path
    }

    @Test("runs a Job to completion against the API its kubeconfig names, and stops on SIGTERM")
    func program() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build db-operator first: \(Self.binary)")
        try await FakeCluster.with { cluster in
            let logs = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: logs) }
            let runner = try RunningProcess(Self.binary, [
                "job-runner", "--kubeconfig", cluster.kubeconfigPath, "--log-dir", logs, "--retry-backoff", "0.05",
            ])
            defer { runner.terminate() }
            var spec = JobSpec(template: PodTemplateSpec(spec: PodSpec(containers: [Container(name: "main", image: "busybox", command: ["true"])])))
            spec.backoffLimit = 0
            _ = try await cluster.client.create(Job(metadata: ObjectMeta(name: "via-program", namespace: "default"), spec: spec))
            try await eventually(timeout: .seconds(120), "the Job to complete") {
                try await cluster.client.get(Job.self, namespace: "default", name: "via-program").object.condition("Complete") != nil
            }
            runner.signal(SIGTERM)
            try await eventually(timeout: .seconds(120), "the runner to stop on SIGTERM") { !runner.isRunning }
            #expect(runner.exitStatus == 0, "\(runner.text)")
        }
    }
}
