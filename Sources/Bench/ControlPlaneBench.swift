import ArgumentParser
import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging
import Synchronization

/// `db-operator-bench control-plane`: how fast an operator turns N existing Databases
/// into N create-Jobs. For each contender, a fresh fake API server (in this process,
/// the same for all) gets the CRDs, M namespaces and N Databases; then the contender
/// starts, and the time until N Jobs exist is taken, with the contender's CPU time
/// and peak and steady memory (from /proc). The peer is a minimal kopf operator
/// (`ci/kopf_peer.py`) that creates one owned Job per Database.
struct ControlPlaneBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control-plane",
        abstract: "Time N Databases to N create-Jobs for db-operator (and a kopf peer); print time, Jobs/s, CPU-s, peak and steady RSS.")

    @Option(help: "Databases to create before the operator starts.")
    var databases = 2000

    @Option(help: "Namespaces they are spread over.")
    var namespaces = 10

    @Option(help: "Also measure a peer: kopf (needs `pip install kopf kubernetes`).")
    var peer: [String] = []

    @Option(help: "The db-operator binary (default: the one beside this program; a release build measures what users run).")
    var operatorBinary: String?

    @Option(help: "Seconds to wait for the Jobs before giving up on a contender.")
    var timeout: Double = 900

    func validate() throws {
        guard databases > 0, namespaces > 0 else { throw ValidationError("--databases and --namespaces must be positive") }
        for name in peer where name != "kopf" { throw ValidationError("--peer \(name): only kopf is known") }
    }

    struct Figures {
        var name: String
        var seconds: Double
        var jobs: Int
        var cpuSeconds: Double
        var peakRSS: Int
        var steadyRSS: Int
    }

    func run() async throws {
        let binary = operatorBinary
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("db-operator").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw ValidationError("no db-operator at \(binary); give --operator-binary") }
        var contenders: [(String, (String) -> (String, [String]))] = [
            ("db-operator run", { kubeconfig in (binary, ["run", "--kubeconfig", kubeconfig, "--log-level", "warning"]) }),
        ]
        if peer.contains("kopf") {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("ci/kopf_peer.py").path
            contenders.append(("kopf (Python)", { _ in ("/usr/bin/env", ["python3", "-m", "kopf", "run", "--standalone", "--all-namespaces", "--quiet", script]) }))
        }
        var results: [Figures] = []
        for (name, command) in contenders {
            print("\(name): \(databases) Databases in \(namespaces) namespaces ...")
            results.append(try await measure(name: name, command: command))
        }
        print("")
        print("contender          time (s)   Jobs/s   CPU (s)   peak RSS (MiB)   steady RSS (MiB)")
        for figures in results {
            let line = [
                figures.name.padding(toLength: 18, withPad: " ", startingAt: 0),
                String(format: "%8.1f", figures.seconds), String(format: "%8.0f", Double(figures.jobs) / figures.seconds),
                String(format: "%9.1f", figures.cpuSeconds), String(format: "%16d", figures.peakRSS >> 20), String(format: "%18d", figures.steadyRSS >> 20),
            ]
            print(line.joined(separator: " "))
        }
    }

    private func measure(name: String, command: (String) -> (String, [String])) async throws -> Figures {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var configuration = FakeAPIServer.Configuration()
        configuration.historyLimit = max(100_000, databases * 20)
        let server = try FakeAPIServer(configuration: configuration, logger: logger)
        let serving = Task { try await server.run() }
        defer {
            serving.cancel()
            server.close()
        }
        _ = await server.waitUntilListening()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("control-plane-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let kubeconfig = "\(directory)/kubeconfig"
        try server.writeKubeconfig(to: kubeconfig)
        let api = try HTTPKubernetesClient(configuration: try KubeClientConfiguration.kubeconfig(path: kubeconfig), logger: logger)
        defer { Task { try? await api.shutdown() } }

        for crd in CustomResourceDefinitions.all { _ = try await api.create(crd) }
        while try await !api.list(CustomResourceDefinition.self, namespace: nil).allSatisfy({ $0.object.isEstablished }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        for index in 0..<namespaces { _ = try await api.create(Namespace(metadata: ObjectMeta(name: "bench-\(index)"))) }
        let spec = DatabaseSpec(
            driver: "postgresql", connect: ConnectSpec(host: "db.bench.invalid"),
            credentials: CredentialsSpec(username: ValueSource(value: "admin"), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "admin", key: "password")))))
        let total = databases, spread = namespaces
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for index in stride(from: worker, to: total, by: 16) {
                        _ = try await api.create(Database(metadata: ObjectMeta(name: "db-\(index)", namespace: "bench-\(index % spread)"), spec: spec))
                    }
                }
            }
            try await group.waitForAll()
        }

        // Count the Jobs as they come, from a watch (no polling of N objects).
        let seen = Mutex<Set<String>>([])
        let counting = Task {
            for try await event in Watcher<Job>(api: api, configuration: .init(), logger: logger) {
                seen.withLock { jobs in for job in event.resources { jobs.insert(job.metadata.uid ?? job.name) } }
            }
        }
        defer { counting.cancel() }
        let (executable, arguments) = command(kubeconfig)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["KUBECONFIG": kubeconfig]) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let errors = "\(directory)/stderr"
        FileManager.default.createFile(atPath: errors, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errors)
        let start = ContinuousClock.now
        try process.run()
        defer {
            if process.isRunning {
                process.terminate()
                let deadline = Date().addingTimeInterval(10)
                while process.isRunning, Date() < deadline { usleep(50_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }
        while seen.withLock({ $0.count }) < total {
            guard process.isRunning else {
                throw ValidationError("\(name) ended early: \((try? String(contentsOfFile: errors, encoding: .utf8))?.suffix(2000) ?? "")")
            }
            guard ContinuousClock.now - start < .seconds(timeout) else {
                throw ValidationError("\(name): only \(seen.withLock { $0.count }) of \(total) Jobs after \(Int(timeout)) s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = ContinuousClock.now - start
        let pid = process.processIdentifier
        let cpu = Self.cpuSeconds(pid)
        let peak = Self.status(pid, "VmHWM")
        try await Task.sleep(for: .seconds(5))
        let steady = Self.status(pid, "VmRSS")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Figures(name: name, seconds: seconds, jobs: total, cpuSeconds: cpu, peakRSS: peak, steadyRSS: steady)
    }

    /// User plus system CPU time of a process and its reaped children, in seconds.
    static func cpuSeconds(_ pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command: state is field 3; utime, stime, cutime, cstime are 14-17.
        let ticks = [11, 12, 13, 14].compactMap { fields.count > $0 ? Double(fields[$0]) : nil }.reduce(0, +)
        return ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// A `/proc/<pid>/status` size in bytes (VmHWM: peak RSS; VmRSS: now).
    static func status(_ pid: Int32, _ key: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("\(key):") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}
