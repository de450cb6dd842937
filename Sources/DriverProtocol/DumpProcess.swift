import AsyncAlgorithms
import Foundation
import KubeModel
import NIOCore
import SQLSupport

#if canImport(Glibc)
import Glibc
#endif

/// Runs a dump tool and streams its standard output with back-pressure; a non-zero
/// exit becomes `DriverError.toolFailed` carrying the end of the tool's own error
/// output. Secrets go by environment or by a file created 0600 (never readable by
/// anyone else, not even for a moment) in a private 0700 directory removed
/// afterwards, never by the command line. The tool's environment holds only what a
/// dump needs, never the Job's other variables (AWS keys among them).
///
/// The tool should never wait on us: a dump stalled on a full pipe is time lost for
/// good, while the stages after it (compression, parts uploading) work in bursts. So
/// the pipe is widened to 1 MiB and up to `readAhead` chunks are read ahead of the
/// consumer.
enum DumpProcess {
    static let chunkSize = 1 << 20
    static let readAhead = 8

    static func start(_ command: DumpCommand) throws -> DumpStream {
        let directory: String?
        do {
            directory = try PrivateFiles.write(command.files)
        } catch let failed as PrivateFiles.Failed {
            throw DriverError(reason: .dumpFailed, message: failed.message, retryable: failed.retryable)
        }
        // Arguments and variables may name the private directory (an option file, a CA).
        let environment = toolEnvironment(command.environment).mapValues { value in
            directory.map { value.replacingOccurrences(of: DumpCommand.privateDirectory, with: $0) } ?? value
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments.map { argument in
            directory.map { argument.replacingOccurrences(of: DumpCommand.privateDirectory, with: $0) } ?? argument
        }
        process.environment = environment
        let output = Pipe(), errors = Pipe()
        #if os(Linux)
        // F_SETPIPE_SZ (not exported to Swift); 1 MiB is the unprivileged maximum. Best effort.
        _ = fcntl(output.fileHandleForWriting.fileDescriptor, 1031, Int32(chunkSize))
        #endif
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let tail = ErrorTail()
        let removeFiles: @Sendable () -> Void = { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
        do {
            try process.run()
        } catch {
            removeFiles()
            throw DriverError(reason: .dumpFailed, message: "cannot start \(command.executable): \(error)", retryable: false)
        }
        let name = URL(fileURLWithPath: command.executable).lastPathComponent
        // One reader of the error pipe, to its end (the tool's exit closes it): the
        // tail is complete once this finishes.
        let errorReader = errors.fileHandleForReading
        let errorPump = Task {
            try? await BlockingExecutor.run {
                while let chunk = try errorReader.read(upToCount: 64 << 10), !chunk.isEmpty { tail.append(chunk) }
            }
        }
        let channel = AsyncThrowingChannel<ByteBuffer, any Error>()
        let reader = output.fileHandleForReading
        let pump = Task {
            defer { removeFiles() }
            do {
                while true {
                    let data = try await BlockingExecutor.run { try reader.read(upToCount: chunkSize) ?? Data() }
                    if data.isEmpty { break }
                    await channel.send(ByteBuffer(bytes: data))
                    if Task.isCancelled { break }
                }
                if Task.isCancelled {
                    stop(process)
                    channel.fail(CancellationError())
                    return
                }
                let status = try await BlockingExecutor.run { process.waitUntilExit(); return process.terminationStatus }
                await errorPump.value
                if status == 0 {
                    channel.finish()
                } else {
                    channel.fail(DriverError.toolFailed("\(name) exited with status \(status): \(tail.text)"))
                }
            } catch {
                stop(process)
                channel.fail(error)
            }
        }
        return DumpStream(CancellingSequence(channel: channel, task: pump).buffer(policy: .bounded(readAhead)), onCancel: { pump.cancel() })
    }
}

/// The channel, and the pump stopped when the consumer goes away.
private struct CancellingSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let channel: AsyncThrowingChannel<ByteBuffer, any Error>
    let task: Task<Void, Never>

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingChannel<ByteBuffer, any Error>.AsyncIterator
        let task: Task<Void, Never>

        mutating func next() async throws -> ByteBuffer? {
            try await withTaskCancellationHandler { try await base.next() } onCancel: { [task] in task.cancel() }
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: channel.makeAsyncIterator(), task: task) }
}

/// The last few KiB a tool wrote to its standard error.
final class ErrorTail: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) {
        lock.lock()
        defer { lock.unlock() }
        data.append(chunk)
        if data.count > 4096 { data = data.suffix(4096) }
    }

    var text: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

extension DumpProcess {
    /// Ends an unwanted dump with SIGKILL: SIGTERM may be ignored by a tool that
    /// inherited an ignored SIGTERM from a parent that handles signals itself (as
    /// service lifecycles do), and a cut dump is worth nothing anyway.
    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
    }

    /// What the tool inherits from this process; everything else it gets comes from the command.
    static let inheritedVariables: Set<String> = ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"]

    static func toolEnvironment(_ own: [String: String], from environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        environment.filter { inheritedVariables.contains($0.key) }.merging(own) { _, new in new }
    }
}
