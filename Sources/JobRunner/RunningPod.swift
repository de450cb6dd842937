import Foundation
import KubeRuntime
import Synchronization

/// One pod of a Job, as a local process writing to a log file.
final class RunningPod: @unchecked Sendable {
    let jobKey: ObjectKey
    let jobUID: String
    let podName: String
    let attempt: Int
    let logPath: String
    /// The container it runs in, in container mode.
    let container: ContainerHandle?
    private let process: Process
    private let exit: AsyncStream<Int32>
    private let stopped = Atomic<Bool>(false)

    var pid: Int32 { process.processIdentifier }
    /// Set when the runner killed it (deletion, deadline): its exit is not a pod failure.
    var stopRequested: Bool { stopped.load(ordering: .relaxed) }

    private init(
        jobKey: ObjectKey, jobUID: String, podName: String, attempt: Int, logPath: String, container: ContainerHandle?, process: Process, exit: AsyncStream<Int32>
    ) {
        self.container = container
        self.jobKey = jobKey
        self.jobUID = jobUID
        self.podName = podName
        self.attempt = attempt
        self.logPath = logPath
        self.process = process
        self.exit = exit
    }

    static func launch(
        jobKey: ObjectKey, jobUID: String, podName: String, attempt: Int, executable: String, arguments: [String],
        environment: [String: String], logPath: String, container: ContainerHandle? = nil
    ) throws -> RunningPod {
        FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw PodSetupError(description: "cannot open the log file \(logPath)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        let (exit, continuation) = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { finished in
            try? log.close()
            // A process killed by a signal exits 128 + signal, as a container's would.
            let code = finished.terminationReason == .uncaughtSignal ? 128 + finished.terminationStatus : finished.terminationStatus
            continuation.yield(code)
            continuation.finish()
        }
        do {
            try process.run()
        } catch {
            try? log.close()
            throw PodSetupError(description: "cannot start \(executable): \(error.localizedDescription)")
        }
        return RunningPod(
            jobKey: jobKey, jobUID: jobUID, podName: podName, attempt: attempt, logPath: logPath, container: container, process: process, exit: exit)
    }

    func exitCode() async -> Int32 {
        for await code in exit { return code }
        return 137
    }

    /// Asks the process to stop (SIGTERM); the runner follows with SIGKILL after a grace period.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        signal(SIGTERM)
    }

    func signal(_ signal: Int32) {
        guard process.isRunning else { return }
        if let container { container.signal(signal) } else { kill(process.processIdentifier, signal) }
    }
}

/// The processes running now, and when each Job's last one failed.
final class ProcessTable: Sendable {
    private struct State {
        var pods: [String: RunningPod] = [:]
        var lastFailure: [String: ContinuousClock.Instant] = [:]
    }

    private let state = Mutex(State())

    func add(_ pod: RunningPod) { state.withLock { $0.pods[pod.jobUID] = pod } }

    func remove(_ pod: RunningPod) {
        state.withLock { state in
            if state.pods[pod.jobUID] === pod { state.pods.removeValue(forKey: pod.jobUID) }
        }
    }

    func pod(for uid: String) -> RunningPod? { state.withLock { $0.pods[uid] } }

    func pods(for key: ObjectKey) -> [RunningPod] { state.withLock { $0.pods.values.filter { $0.jobKey == key } } }

    var all: [RunningPod] { state.withLock { Array($0.pods.values) } }

    func recordFailure(of uid: String) { state.withLock { $0.lastFailure[uid] = .now } }

    func lastFailure(of uid: String) -> ContinuousClock.Instant? { state.withLock { $0.lastFailure[uid] } }
}
