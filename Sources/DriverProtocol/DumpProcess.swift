import AsyncAlgorithms
import Foundation
import NIOCore
import SQLSupport

/// Runs a dump tool and streams its standard output with back-pressure; a non-zero
/// exit becomes `DriverError.toolFailed` carrying the end of the tool's own error
/// output. Secrets go by environment or by a 0600 file removed afterwards, never by
/// the command line.
///
/// The tool should never wait on us: a dump stalled on a full pipe is time lost for
/// good, while the stages after it (compression, parts uploading) work in bursts. So
/// the pipe is widened to 1 MiB and up to `readAhead` chunks are read ahead of the
/// consumer.
enum DumpProcess {
    static let chunkSize = 1 << 20
    static let readAhead = 8

    static func start(_ command: DumpCommand) throws -> DumpStream {
        var written: [String] = []
        var environment = ProcessInfo.processInfo.environment
        do {
            for (path, contents) in command.files {
                guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw DriverError(reason: "DumpFailed", message: "cannot write \(path)", retryable: true)
                }
                written.append(path)
            }
        } catch {
            written.forEach { try? FileManager.default.removeItem(atPath: $0) }
            throw error
        }
        environment.merge(command.environment) { _, new in new }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments
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
        errors.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { tail.append(data) }
        }
        let files = written
        do {
            try process.run()
        } catch {
            files.forEach { try? FileManager.default.removeItem(atPath: $0) }
            throw DriverError(reason: "DumpFailed", message: "cannot start \(command.executable): \(error)", retryable: false)
        }
        let name = URL(fileURLWithPath: command.executable).lastPathComponent
        let channel = AsyncThrowingChannel<ByteBuffer, any Error>()
        let reader = output.fileHandleForReading
        let pump = Task {
            defer { files.forEach { try? FileManager.default.removeItem(atPath: $0) } }
            do {
                while true {
                    let data = try await BlockingExecutor.run { try reader.read(upToCount: chunkSize) ?? Data() }
                    if data.isEmpty { break }
                    await channel.send(ByteBuffer(bytes: data))
                    if Task.isCancelled { break }
                }
                if Task.isCancelled {
                    process.terminate()
                    channel.fail(CancellationError())
                    return
                }
                let status = try await BlockingExecutor.run { process.waitUntilExit(); return process.terminationStatus }
                // Give the error pipe a moment to drain before reading the tail.
                try? await BlockingExecutor.run { _ = try? errors.fileHandleForReading.readToEnd() }
                if status == 0 {
                    channel.finish()
                } else {
                    channel.fail(DriverError.toolFailed("\(name) exited with status \(status): \(tail.text)"))
                }
            } catch {
                process.terminate()
                channel.fail(error)
            }
        }
        return DumpStream(CancellingSequence(channel: channel, task: pump).buffer(policy: .bounded(readAhead)))
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
private final class ErrorTail: @unchecked Sendable {
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
