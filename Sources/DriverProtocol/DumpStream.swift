import NIOCore
import Synchronization

/// The bytes of a dump as an async sequence; the sequence throws when the dump fails.
public struct DumpStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    private let makeIterator: @Sendable () -> AsyncIterator
    private let onCancel: (@Sendable () -> Void)?

    /// A stream from any async sequence of buffers; `onCancel` stops its producer.
    public init<Source: AsyncSequence & Sendable>(_ source: Source, onCancel: (@Sendable () -> Void)? = nil)
    where Source.Element == ByteBuffer, Source.AsyncIterator: SendableMetatype {
        makeIterator = {
            var iterator = source.makeAsyncIterator()
            return AsyncIterator { try await iterator.next() }
        }
        self.onCancel = onCancel
    }

    /// Stops the dump without reading it (the tool is ended, its secret files
    /// removed): for a dump started and then not wanted after all.
    public func cancel() { onCancel?() }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextChunk: () async throws -> ByteBuffer?

        init(_ next: @escaping () async throws -> ByteBuffer?) { nextChunk = next }

        public mutating func next() async throws -> ByteBuffer? {
            let chunk = try await nextChunk()
            // Some sources end quietly when their consumer is cancelled; a cancelled
            // read must never look like a complete dump.
            if chunk == nil { try Task.checkCancellation() }
            return chunk
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { makeIterator() }
}

extension DumpStream {
    /// Starts `command` and streams its standard output as the drivers' backups do
    /// (read ahead of the consumer, a non-zero exit thrown with the tool's last words).
    public static func running(_ command: DumpCommand) throws -> DumpStream {
        try DumpProcess.start(command)
    }
}

/// A running count of bytes, read by one task while another adds to it.
public final class ByteCounter: Sendable {
    private let total = Atomic<Int64>(0)

    public init() {}

    public var count: Int64 { total.load(ordering: .relaxed) }

    public func add(_ bytes: Int) { total.add(Int64(bytes), ordering: .relaxed) }
}

extension DumpStream {
    /// This stream, adding the size of every chunk to `counter` as it is read.
    public func counted(into counter: ByteCounter) -> DumpStream {
        DumpStream(Counted(base: self, counter: counter), onCancel: cancel)
    }

    private struct Counted: AsyncSequence, Sendable {
        let base: DumpStream
        let counter: ByteCounter

        struct AsyncIterator: AsyncIteratorProtocol {
            var base: DumpStream.AsyncIterator
            let counter: ByteCounter

            mutating func next() async throws -> ByteBuffer? {
                let chunk = try await base.next()
                if let chunk { counter.add(chunk.readableBytes) }
                return chunk
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), counter: counter) }
    }
}
