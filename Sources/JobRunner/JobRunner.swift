import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// Runs Jobs as local processes, for development and tests where no kubelet exists:
/// each pod's container becomes a process with the container's command, args and env
/// (a container of the operator's image runs the local `db-operator`), its output goes
/// to a log file, and the Job's status is written as the Kubernetes job controller
/// writes it: active, succeeded, failed, startTime, completionTime, conditions
/// Complete/Failed (reasons BackoffLimitExceeded, DeadlineExceeded), retries up to
/// `backoffLimit` with the controller's exponential backoff, `activeDeadlineSeconds`,
/// `ttlSecondsAfterFinished`. Deleting a Job kills its process.
public final class JobRunner: Service {
    public struct Configuration: Sendable {
        /// Namespace to run Jobs of; nil for all.
        public var namespace: String?
        public var logDirectory: String
        /// Image repository (without tag) whose containers run `operatorExecutable`.
        public var operatorImage = "ghcr.io/db-operator/db-operator"
        public var operatorExecutable: String
        /// Variables given to every process besides its container's (KUBECONFIG, say).
        public var environment: [String: String] = [:]
        /// First retry delay after a failed pod; doubles per failure up to `maxRetryBackoff`.
        public var retryBackoff: Duration = .seconds(10)
        public var maxRetryBackoff: Duration = .seconds(360)
        /// When set, each pod runs as its service account, as under a kubelet: a token
        /// of `serviceAccountName` (default "default") from the TokenRequest API, in a
        /// kubeconfig of its own given as KUBECONFIG. A missing service account keeps
        /// the pod from starting, as the ServiceAccount admission does.
        public var serviceAccountCredentials: ServiceAccountCredentials?
        /// When set, pods run as containers of an image (runc), not as local processes.
        public var container: ContainerRuntime?
        /// Between SIGTERM and SIGKILL when a Job is deleted or times out.
        public var terminationGracePeriod: Duration = .seconds(5)
        public var maxConcurrentReconciles = 4

        public init(logDirectory: String, operatorExecutable: String) {
            self.logDirectory = logDirectory
            self.operatorExecutable = operatorExecutable
        }
    }

    /// Where pods' kubeconfigs point (the API server and its CA) and where they are written.
    public struct ServiceAccountCredentials: Sendable {
        public var server: String
        public var certificateAuthorityPEM: String?
        /// Directory of the kubeconfig files (mode 0600; removed when their pod ends).
        public var directory: String

        public init(server: String, certificateAuthorityPEM: String?, directory: String) {
            self.server = server
            self.certificateAuthorityPEM = certificateAuthorityPEM
            self.directory = directory
        }
    }

    private let api: any KubernetesAPI
    public let configuration: Configuration
    private let logger: Logger
    let processes = ProcessTable()
    private let exits = AsyncStream<RunningPod>.makeStream()
    private let kills = AsyncStream<RunningPod>.makeStream()
    private let events: EventRecorder

    public init(api: any KubernetesAPI, configuration: Configuration, logger: Logger) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
        events = EventRecorder(api: api, component: "job-runner", logger: logger)
    }

    public func run() async throws {
        try FileManager.default.createDirectory(atPath: configuration.logDirectory, withIntermediateDirectories: true)
        var controllerConfiguration = Controller<Job>.Configuration(name: "job-runner", watcher: .init(namespace: configuration.namespace))
        controllerConfiguration.maxConcurrent = configuration.maxConcurrentReconciles
        controllerConfiguration.errorBaseDelay = .milliseconds(100)
        controllerConfiguration.errorMaxDelay = .seconds(30)
        let controller = Controller<Job>(api: api, configuration: controllerConfiguration, logger: logger) { key, controller in
            try await self.reconcile(key, cached: controller.cache[key])
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await controller.run() }
            group.addTask {
                await withDiscardingTaskGroup { waits in
                    for await pod in self.exits.stream {
                        waits.addTask {
                            await self.awaitExit(pod)
                            await controller.enqueue(pod.jobKey)
                        }
                    }
                }
            }
            group.addTask {
                await withDiscardingTaskGroup { timers in
                    for await pod in self.kills.stream {
                        timers.addTask {
                            try? await Task.sleep(for: self.configuration.terminationGracePeriod)
                            pod.signal(SIGKILL)
                        }
                    }
                }
            }
            try? await gracefulShutdown()
            for pod in self.processes.all { pod.signal(SIGKILL) }
            self.exits.continuation.finish()
            self.kills.continuation.finish()
            group.cancelAll()
        }
    }

    // MARK: Reconcile

    /// `cached`: the watch's copy, decided on first (a Job the cache lacks is read);
    /// starting a pod, or counting a failure, always reads the Job again.
    func reconcile(_ key: ObjectKey, cached: Resource<Job>? = nil) async throws -> ReconcileResult {
        var resource: Resource<Job>?
        if let cached { resource = cached } else { resource = try await readJob(key) }
        var uid = resource?.metadata.uid ?? ""
        var decision = decide(resource)
        // A pod may have ended between the read above and the process table's answer.
        // Its outcome is written to the Job before it leaves the table, so a second
        // read has it: the first one could still say "no failures", and start a pod too many.
        // (The cache's copy may also lag the server.)
        if decision == .start || decision == .failBackoffLimitExceeded || decision.isBackoff {
            resource = try await readJob(key)
            guard resource == nil || resource?.metadata.uid == uid else { return .requeue(after: .milliseconds(10)) }
            uid = resource?.metadata.uid ?? uid
            decision = decide(resource)
        }
        switch decision {
        case .stop(let why):
            stopAll(for: key, because: why)
            return .done
        case .finished:
            stopAll(for: key, because: "the Job finished")
            guard let resource else { return .done }
            return try await expireIfDue(resource)
        case .failDeadlineExceeded:
            stopAll(for: key, because: "the Job exceeded its deadline")
            try await finish(
                key, uid: uid, reason: .deadlineExceeded, message: "Job was active longer than specified deadline", failedPod: processes.pod(for: uid) != nil)
            return .done
        case .watchPod(let recheck):
            return recheck.map { .requeue(after: $0) } ?? .done
        case .failBackoffLimitExceeded:
            try await finish(key, uid: uid, reason: .backoffLimitExceeded, message: "Job has reached the specified backoff limit", failedPod: false)
            return .done
        case .backoff(let delay):
            return .requeue(after: delay)
        case .start:
            break
        }
        guard let resource else { return .done }
        let job = resource.object
        let latest = job.status ?? JobStatus()
        let failures = latest.failed ?? 0

        let plan: PodPlan
        do {
            plan = try await prepare(job, attempt: failures + (latest.succeeded ?? 0) + 1)
        } catch let error as PodSetupError {
            logger.warning("cannot start the Job's container", metadata: ["k8s.job": "\(key)", "error": "\(error)"])
            await events.record(job, type: .warning, reason: .failedCreatePodContainer, message: error.description)
            return .requeue(after: .seconds(5))
        }
        // As the job controller does: the Job is active before its pod runs, so a fast
        // pod's outcome is always written after this.
        try await updateStatus(key, uid: uid, from: resource) { status in
            status.active = 1
            if status.startTime == nil { status.startTime = KubeTime.now() }
        }
        let pod: RunningPod
        do {
            pod = try plan.launch()
        } catch {
            processes.recordFailure(of: uid)
            await events.record(job, type: .warning, reason: .failedStart, message: "\(error)")
            try await updateStatus(key, uid: uid) { status in
                status.active = 0
                status.failed = (status.failed ?? 0) + 1
            }
            return .requeue(after: .milliseconds(10))
        }
        processes.add(pod)
        exits.continuation.yield(pod)
        await events.record(job, type: .normal, reason: .successfulCreate, message: "Created pod: \(pod.podName) (local process \(pod.pid))")
        if let deadline = job.spec?.activeDeadlineSeconds {
            return .requeue(after: .seconds(deadline))
        }
        return .done
    }

    /// The Job, or nil when it does not exist.
    private func readJob(_ key: ObjectKey) async throws -> Resource<Job>? {
        do {
            return try await api.get(Job.self, namespace: key.namespace, name: key.name)
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    /// `JobRunDecider` on a Job as read, with this runner's process table.
    private func decide(_ resource: Resource<Job>?) -> JobRunDecision {
        var facts = JobRunFacts(exists: resource != nil)
        if let job = resource?.object {
            let uid = job.metadata.uid ?? ""
            facts.deleting = job.metadata.deletionTimestamp != nil
            facts.finished = job.isFinished
            facts.activeDeadlineSeconds = job.spec?.activeDeadlineSeconds
            facts.startTime = job.status?.startTime.flatMap(KubeTime.parse)
            facts.podRunning = processes.pod(for: uid) != nil
            facts.failures = job.status?.failed ?? 0
            facts.backoffLimit = job.spec?.backoffLimit ?? 6
            facts.sinceLastFailure = processes.lastFailure(of: uid).map { ContinuousClock.now - $0 }
        }
        return JobRunDecider.decide(facts, now: Date(), retryBackoff: configuration.retryBackoff, maxRetryBackoff: configuration.maxRetryBackoff)
    }

    /// Deletes a finished Job once `ttlSecondsAfterFinished` has passed.
    private func expireIfDue(_ resource: Resource<Job>) async throws -> ReconcileResult {
        guard let ttl = resource.object.spec?.ttlSecondsAfterFinished,
            let finished = resource.object.status?.completionTime.flatMap(KubeTime.parse)
                ?? resource.object.status?.conditions?.compactMap({ $0.lastTransitionTime.flatMap(KubeTime.parse) }).max()
        else { return .done }
        let remaining = finished.addingTimeInterval(TimeInterval(ttl)).timeIntervalSinceNow
        if remaining > 0 { return .requeue(after: .milliseconds(Int64(remaining * 1000) + 50)) }
        do {
            try await api.delete(Job.resource, namespace: resource.namespace, name: resource.name, propagation: .background, preconditionUID: resource.metadata.uid)
        } catch let error as KubeError where error.code == .notFound || error.code == .conflict {}
        return .done
    }

    private func stopAll(for key: ObjectKey, because reason: String) {
        for pod in processes.pods(for: key) where !pod.stopRequested {
            logger.info("stopping the Job's process", metadata: ["k8s.job": "\(key)", "process.pid": "\(pod.pid)", "reason": "\(reason)"])
            pod.stop()
            kills.continuation.yield(pod)
        }
    }

    // MARK: Processes

    /// Everything needed to start a pod: resolved command, environment, log file.
    struct PodPlan {
        var jobKey: ObjectKey
        var jobUID: String
        var podName: String
        var attempt: Int
        var executable: String
        var arguments: [String]
        var environment: [String: String]
        var logPath: String
        var container: ContainerHandle? = nil

        func launch() throws -> RunningPod {
            try RunningPod.launch(
                jobKey: jobKey, jobUID: jobUID, podName: podName, attempt: attempt, executable: executable,
                arguments: arguments, environment: environment, logPath: logPath, container: container)
        }
    }

    private func prepare(_ job: Job, attempt: Int) async throws -> PodPlan {
        guard let container = job.spec?.template.spec.containers.first else {
            throw PodSetupError(description: "the Job's pod template has no container")
        }
        let namespace = job.metadata.namespace ?? "default"
        let podName = "\(job.metadata.name ?? "job")-\(Self.suffix())"
        let logPath = "\(configuration.logDirectory)/\(namespace)_\(podName).log"
        // As the kubelet does: envFrom first, in order, then env over it.
        var podEnvironment: [String: String] = [:]
        for source in container.envFrom ?? [] {
            for (name, value) in try await resolve(source, namespace: namespace) { podEnvironment[name] = value }
        }
        for variable in container.env ?? [] {
            podEnvironment[variable.name] = try await resolve(variable, namespace: namespace, podName: podName, job: job)
        }
        if let runtime = configuration.container, let pod = job.spec?.template.spec {
            let token = try await serviceAccountToken(pod.serviceAccountName ?? "default", namespace: namespace)
            let (arguments, handle) = try runtime.prepare(
                pod: pod, container: container, environment: podEnvironment, token: token, namespace: namespace, podName: podName)
            return PodPlan(
                jobKey: ObjectKey(job.metadata), jobUID: job.metadata.uid ?? "", podName: podName, attempt: attempt,
                executable: "/usr/bin/env", arguments: [runtime.runc] + arguments,
                environment: ProcessInfo.processInfo.environment.filter { $0.key == "PATH" }, logPath: logPath, container: handle)
        }
        // What an image would carry: PATH and friends, and where its PostgreSQL client tools are.
        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "HOME", "LANG", "TMPDIR", "DB_OPERATOR_PG_BIN_DIRS"].contains($0.key) }
        environment.merge(configuration.environment) { _, new in new }
        environment["HOSTNAME"] = podName
        environment.merge(podEnvironment) { _, pod in pod }
        if let credentials = configuration.serviceAccountCredentials {
            let account = job.spec?.template.spec.serviceAccountName ?? "default"
            environment["KUBECONFIG"] = try await writeKubeconfig(credentials, serviceAccount: account, namespace: namespace, podName: podName)
        }
        let (executable, arguments) = command(for: container)
        return PodPlan(
            jobKey: ObjectKey(job.metadata), jobUID: job.metadata.uid ?? "", podName: podName, attempt: attempt,
            executable: executable, arguments: arguments, environment: environment, logPath: logPath)
    }

    /// A kubeconfig with a fresh token of the pod's service account (what a kubelet
    /// mounts at /var/run/secrets/kubernetes.io/serviceaccount), written with mode 0600.
    /// A token of the pod's service account, as a kubelet asks for one; a missing
    /// account keeps the pod from starting, as the ServiceAccount admission does.
    private func serviceAccountToken(_ serviceAccount: String, namespace: String) async throws -> String {
        do {
            return try await api.requestToken(serviceAccount: serviceAccount, namespace: namespace)
        } catch let error as KubeError where error.code == .notFound {
            throw PodSetupError(description: "error looking up service account \(namespace)/\(serviceAccount): serviceaccount \"\(serviceAccount)\" not found")
        }
    }

    private func writeKubeconfig(_ credentials: ServiceAccountCredentials, serviceAccount: String, namespace: String, podName: String) async throws -> String {
        let token = try await serviceAccountToken(serviceAccount, namespace: namespace)
        // JSON, which every kubeconfig reader takes (YAML includes it), so the driver
        // reads it without starting a YAML parser.
        var cluster: [String: JSONValue] = ["server": .string(credentials.server)]
        if let pem = credentials.certificateAuthorityPEM {
            cluster["certificate-authority-data"] = .string(Data(pem.utf8).base64EncodedString())
        }
        let config: JSONValue = .object([
            "apiVersion": "v1", "kind": "Config",
            "clusters": [["name": "cluster", "cluster": .object(cluster)]],
            "users": [["name": .string(serviceAccount), "user": ["token": .string(token)]]],
            "contexts": [["name": "pod", "context": ["cluster": "cluster", "user": .string(serviceAccount), "namespace": .string(namespace)]]],
            "current-context": "pod",
        ])
        let text = config.encoded()
        try FileManager.default.createDirectory(atPath: credentials.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = "\(credentials.directory)/\(namespace)_\(podName).kubeconfig"
        guard FileManager.default.createFile(atPath: path, contents: text, attributes: [.posixPermissions: 0o600]) else {
            throw PodSetupError(description: "cannot write the pod's service-account kubeconfig \(path)")
        }
        return path
    }

    /// The process a container becomes: the operator's image runs the local db-operator.
    func command(for container: Container) -> (String, [String]) {
        var argv = (container.command ?? []) + (container.args ?? [])
        let repository = (container.image ?? "").split(separator: "@").first.map { String($0) } ?? ""
        let withoutTag = repository.range(of: ":", options: .backwards).map { range -> String in
            repository[range.upperBound...].contains("/") ? repository : String(repository[..<range.lowerBound])
        } ?? repository
        if withoutTag == configuration.operatorImage || withoutTag.hasSuffix("/db-operator") || withoutTag == "db-operator" {
            if let first = argv.first, first == "db-operator" || first.hasSuffix("/db-operator") { argv.removeFirst() }
            return (configuration.operatorExecutable, argv)
        }
        return ("/usr/bin/env", argv)
    }

    /// The variables of one `envFrom` entry; keys that are no variable name are
    /// skipped, as the kubelet skips them (it records an Event).
    private func resolve(_ source: EnvFromSource, namespace: String) async throws -> [(String, String)] {
        var values: [String: String] = [:]
        do {
            if let ref = source.secretRef {
                let secret = try await api.get(Secret.self, namespace: namespace, name: ref.name).object
                for key in (secret.data ?? [:]).keys { values[key] = secret.value(key) }
            } else if let ref = source.configMapRef {
                values = try await api.get(ConfigMap.self, namespace: namespace, name: ref.name).object.data ?? [:]
            } else {
                return []
            }
        } catch let error as KubeError where error.code == .notFound {
            if source.secretRef?.optional == true || source.configMapRef?.optional == true { return [] }
            let kind = source.secretRef != nil ? "secret" : "configmap"
            throw PodSetupError(description: "envFrom: \(kind) \"\(source.secretRef?.name ?? source.configMapRef?.name ?? "")\" not found")
        }
        let prefix = source.prefix ?? ""
        return values.sorted { $0.key < $1.key }.compactMap { key, value in
            let name = prefix + key
            let valid = !name.isEmpty && !name.first!.isNumber && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
            return valid ? (name, value) : nil
        }
    }

    private func resolve(_ variable: EnvVar, namespace: String, podName: String, job: Job) async throws -> String {
        if let value = variable.value { return value }
        guard let source = variable.valueFrom else { return "" }
        if let field = source.fieldRef {
            switch field.fieldPath {
            case "metadata.namespace": return namespace
            case "metadata.name": return podName
            default: throw PodSetupError(description: "env \(variable.name): fieldRef \(field.fieldPath) is not supported by the job runner")
            }
        }
        if let ref = source.secretKeyRef {
            do {
                let secret = try await api.get(Secret.self, namespace: namespace, name: ref.name)
                if let value = secret.object.value(ref.key) { return value }
                if ref.optional == true { return "" }
                throw PodSetupError(description: "env \(variable.name): couldn't find key \(ref.key) in Secret \(namespace)/\(ref.name)")
            } catch let error as KubeError where error.code == .notFound {
                if ref.optional == true { return "" }
                throw PodSetupError(description: "env \(variable.name): secret \"\(ref.name)\" not found")
            }
        }
        if let ref = source.configMapKeyRef {
            do {
                let map = try await api.get(ConfigMap.self, namespace: namespace, name: ref.name)
                if let value = map.object.data?[ref.key] { return value }
                if ref.optional == true { return "" }
                throw PodSetupError(description: "env \(variable.name): couldn't find key \(ref.key) in ConfigMap \(namespace)/\(ref.name)")
            } catch let error as KubeError where error.code == .notFound {
                if ref.optional == true { return "" }
                throw PodSetupError(description: "env \(variable.name): configmap \"\(ref.name)\" not found")
            }
        }
        return ""
    }

    /// Waits for a process to end and records the outcome in the Job's status; the
    /// caller queues the Job again (a retry, or nothing left to do).
    private func awaitExit(_ pod: RunningPod) async {
        let code = await pod.exitCode()
        pod.container?.remove()
        if let directory = configuration.serviceAccountCredentials?.directory {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(pod.jobKey.namespace ?? "default")_\(pod.podName).kubeconfig")
        }
        // The pod leaves the table only after its outcome is in the Job's status:
        // a reconcile in between must not see "no process, not finished" and start another.
        defer { processes.remove(pod) }
        logger.info("job process ended", metadata: [
            "k8s.job": "\(pod.jobKey)", "process.pid": "\(pod.pid)", "process.exit_code": "\(code)", "log.file": "\(pod.logPath)",
        ])
        if pod.stopRequested { return }
        do {
            if code == 0 {
                try await updateStatus(pod.jobKey, uid: pod.jobUID) { status in
                    let now = KubeTime.now()
                    status.active = 0
                    status.succeeded = (status.succeeded ?? 0) + 1
                    status.completionTime = now
                    var conditions = status.conditions ?? []
                    conditions.append(JobCondition(type: "SuccessCriteriaMet", status: "True", reason: .completionsReached, message: "Reached expected number of succeeded pods", lastTransitionTime: now))
                    conditions.append(JobCondition(type: "Complete", status: "True", reason: .completionsReached, message: "Reached expected number of succeeded pods", lastTransitionTime: now))
                    status.conditions = conditions
                }
            } else {
                processes.recordFailure(of: pod.jobUID)
                try await updateStatus(pod.jobKey, uid: pod.jobUID) { status in
                    status.active = 0
                    status.failed = (status.failed ?? 0) + 1
                }
            }
        } catch let error as KubeError where error.code == .notFound {
            // Deleted while it ran (e.g. collected with its owner): nothing to record.
            logger.debug("the Job is gone; its outcome is not recorded", metadata: ["k8s.job": "\(pod.jobKey)"])
        } catch {
            logger.warning("could not record the Job's outcome", metadata: ["k8s.job": "\(pod.jobKey)", "error": "\(error)"])
        }
    }

    /// Marks the Job Failed with the job controller's condition pair.
    private func finish(_ key: ObjectKey, uid: String, reason: Reason, message: String, failedPod: Bool) async throws {
        try await updateStatus(key, uid: uid) { status in
            let now = KubeTime.now()
            status.active = 0
            if failedPod { status.failed = (status.failed ?? 0) + 1 }
            var conditions = status.conditions ?? []
            conditions.append(JobCondition(type: "FailureTarget", status: "True", reason: reason, message: message, lastTransitionTime: now))
            conditions.append(JobCondition(type: "Failed", status: "True", reason: reason, message: message, lastTransitionTime: now))
            status.conditions = conditions
        }
    }

    /// Read-modify-write of the status subresource, retried on conflict; `current`,
    /// a copy just read, saves the first read (a stale one ends in a Conflict and a read).
    private func updateStatus(_ key: ObjectKey, uid: String? = nil, from current: Resource<Job>? = nil, _ change: (inout JobStatus) -> Void) async throws {
        for attempt in 1...10 {
            let resource: Resource<Job>
            if attempt == 1, let current {
                resource = current
            } else {
                resource = try await api.get(Job.self, namespace: key.namespace, name: key.name)
            }
            if let uid, resource.metadata.uid != uid { return }
            var job = resource.object
            if job.isFinished { return }
            var status = job.status ?? JobStatus()
            change(&status)
            job.status = status
            do {
                _ = try await api.updateStatus(resource, to: job)
                return
            } catch let error as KubeError where error.code == .conflict && attempt < 10 {
                continue
            }
        }
    }

    private static func suffix() -> String {
        String((0..<5).map { _ in Array("bcdfghjklmnpqrstvwxz2456789").randomElement()! })
    }
}

/// A container that cannot be started (a missing Secret, say): the kubelet's
/// CreateContainerConfigError. The Job stays active and is tried again.
struct PodSetupError: Error, CustomStringConvertible {
    let description: String
}
