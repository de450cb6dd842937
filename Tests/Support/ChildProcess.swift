import Foundation

/// The outcome of a finished child process.
public struct ChildProcessResult: Sendable {
    public let status: Int32
    public let stdout: Data
    public let stderr: String

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs programs the tests drive as black boxes (kubectl, the aws CLI, db-operator).
public enum ChildProcess {
    /// Runs `executable` with `arguments` to completion; `environment` is added to this
    /// process's environment. The wait happens on a Dispatch thread, never on Swift's
    /// cooperative pool, so servers running in the test process keep serving the child.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: Data? = nil
    ) async throws -> ChildProcessResult {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    try runBlocking(executable, arguments, environment: environment, stdin: stdin)
                })
            }
        }
    }

    /// Output is collected while the child runs, so a child that writes more than a
    /// pipe holds does not block.
    private static func runBlocking(
        _ executable: String, _ arguments: [String], environment: [String: String], stdin: Data?
    ) throws -> ChildProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        // Feed stdin, drain stderr and read stdout all at once: a child that writes a
        // lot while it reads would block on a full pipe otherwise.
        let group = DispatchGroup()
        if let stdin {
            group.enter()
            DispatchQueue.global().async {
                try? input.fileHandleForWriting.write(contentsOf: stdin)
                try? input.fileHandleForWriting.close()
                group.leave()
            }
        }
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ChildProcessResult(
            status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
    }
}
