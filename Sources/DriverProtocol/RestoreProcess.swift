import Foundation
import KubeModel
import NIOCore
import SQLSupport

#if canImport(Glibc)
import Glibc
#endif

/// Runs a restore tool (`pg_restore`, the MySQL client) and writes a stream to its
/// standard input, as fast as the tool reads it (writes block: memory stays one
/// chunk). Secrets go as `DumpProcess`'s do (environment or a private 0600 file).
/// When the stream fails (a download error, a checksum that does not match) the tool
/// is killed before it sees an end of input, so it never commits a cut load; a
/// non-zero exit becomes `RestoreToolFailed` with the end of the tool's errors.
enum RestoreProcess {
    static func run(_ command: DumpCommand, input: RestoreInput) async throws {
        let directory: String?
        do {
            directory = try PrivateFiles.write(command.files)
        } catch let failed as PrivateFiles.Failed {
            throw DriverError(reason: .restoreFailed, message: failed.message, retryable: failed.retryable)
        }
        defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
        let substitute = { (value: String) in directory.map { value.replacingOccurrences(of: DumpCommand.privateDirectory, with: $0) } ?? value }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments.map(substitute)
        process.environment = DumpProcess.toolEnvironment(command.environment).mapValues(substitute)
        let inputPipe = Pipe(), errors = Pipe()
        process.standardInput = inputPipe
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        // A tool that exits early must not take this process with it.
        signal(SIGPIPE, SIG_IGN)
        do {
            try process.run()
        } catch {
            throw DriverError(reason: .restoreFailed, message: "cannot start \(command.executable): \(error)", retryable: false)
        }
        let name = URL(fileURLWithPath: command.executable).lastPathComponent
        let tail = ErrorTail()
        let errorReader = errors.fileHandleForReading
        let errorPump = Task {
            try? await BlockingExecutor.run {
                while let chunk = try errorReader.read(upToCount: 64 << 10), !chunk.isEmpty { tail.append(chunk) }
            }
        }
        let writer = inputPipe.fileHandleForWriting
        func write(_ chunk: ByteBuffer) async throws {
            guard chunk.readableBytes > 0 else { return }
            let data = Data(chunk.readableBytesView)
            try await BlockingExecutor.run { try writer.write(contentsOf: data) }
        }
        // Write until the input ends or fails, or the tool stops reading (it failed).
        var inputFailure: (any Error)?
        var stoppedReading = false
        do {
            var pending = input.head
            var chunks = input.rest.makeAsyncIterator()
            while true {
                let chunk: ByteBuffer?
                do {
                    chunk = try await chunks.next()
                } catch {
                    // The input failed: the tool must not see an end of input.
                    kill(process.processIdentifier, SIGKILL)
                    inputFailure = error
                    break
                }
                guard var chunk else { break }
                // Downloads come in small pieces: one write (one thread hop) per 1 MiB.
                pending.writeBuffer(&chunk)
                if pending.readableBytes >= 1 << 20 {
                    try await write(pending)
                    pending.clear()
                }
            }
            if inputFailure == nil { try await write(pending) }
        } catch {
            stoppedReading = true
        }
        try? writer.close()
        let status: Int32 = (try? await BlockingExecutor.run { () -> Int32 in
            process.waitUntilExit()
            return process.terminationStatus
        }) ?? -1
        await errorPump.value
        if let inputFailure { throw inputFailure }
        guard status == 0 || command.tolerated?(status, tail.text) == true, !stoppedReading else {
            throw DriverError(reason: .restoreToolFailed, message: "\(name) exited with status \(status): \(tail.text)", retryable: true)
        }
    }
}
