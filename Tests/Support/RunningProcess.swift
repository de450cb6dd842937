import Foundation
import Synchronization

/// A child process left running while a test goes on (`kubectl get --watch`), whose
/// combined output the test waits on.
public final class RunningProcess: @unchecked Sendable {
    private let process: Process
    private let output = OutputBuffer()

    private final class OutputBuffer: Sendable {
        let data = Mutex(Data())
        func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }
        var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    }

    /// Starts `executable`; `environment` is added to this process's environment.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
            } else {
                output.append(data)
            }
        }
        try process.run()
    }

    /// Everything the process printed so far.
    public var text: String { output.text }

    public var isRunning: Bool { process.isRunning }

    /// Waits until the output satisfies `condition`, or fails after `timeout`.
    @discardableResult
    public func waitForOutput(timeout: Duration = .seconds(30), _ condition: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            let current = text
            if condition(current) { return current }
            if ContinuousClock.now > deadline {
                throw TimedOut(description: "timed out after \(timeout) waiting on the output of \(process.executableURL?.lastPathComponent ?? "process"); it printed:\n\(current)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends a signal (SIGTERM to test graceful shutdown, say).
    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// The exit status once it has ended.
    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }

    /// Stops the process (SIGTERM) and waits for it.
    public func terminate() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit { terminate() }
}

/// A wait on a condition that did not come true in time.
public struct TimedOut: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) { self.description = description }
}
