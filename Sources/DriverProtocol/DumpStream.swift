import NIOCore

/// The bytes of a dump as an async sequence; the sequence throws when the dump fails.
public struct DumpStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    private let makeIterator: @Sendable () -> AsyncIterator

    /// A stream from any async sequence of buffers.
    public init<Source: AsyncSequence & Sendable>(_ source: Source) where Source.Element == ByteBuffer, Source.AsyncIterator: SendableMetatype {
        makeIterator = {
            var iterator = source.makeAsyncIterator()
            return AsyncIterator { try await iterator.next() }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextChunk: () async throws -> ByteBuffer?

        init(_ next: @escaping () async throws -> ByteBuffer?) { nextChunk = next }

        public mutating func next() async throws -> ByteBuffer? { try await nextChunk() }
    }

    public func makeAsyncIterator() -> AsyncIterator { makeIterator() }
}
