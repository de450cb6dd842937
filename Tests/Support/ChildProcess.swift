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
    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed),
    /// for a program that must listen on the same port across restarts.
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TimedOut(description: "socket() failed") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw TimedOut(description: "could not bind a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

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

    /// Runs `executable` with its output going to `logPath` and no pipe of ours: for
    /// commands that leave daemons behind (a restarted server would hold a pipe open
    /// and a reader would wait for its end forever). Spawned and reaped directly
    /// (posix_spawn, waitpid): Foundation's Process did not notice such a command end.
    /// Returns the exit status, or nil when someone else reaped it first.
    public static func runLeavingDaemons(_ executable: String, _ arguments: [String], logPath: String) async throws -> Int32? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
        let child = pid
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while true {
                    let waited = waitpid(child, &status, 0)
                    if waited == child { break }
                    if waited == -1 && errno == EINTR { continue }
                    continuation.resume(returning: nil)
                    return
                }
                // WIFEXITED / WEXITSTATUS by hand (they are macros).
                continuation.resume(returning: (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1)
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
