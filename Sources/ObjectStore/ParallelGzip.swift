import AsyncAlgorithms
import CompressNIO
import NIOCore

/// Gzip that keeps up with a dump: the stream is cut into blocks, the blocks are
/// compressed on all cores as independent gzip members, and the members are emitted
/// in order. Concatenated members are one valid `.gz` (RFC 1952): `gunzip` and
/// `zcat | mysql` read it whole.
public struct ParallelGzip: Sendable {
    public var blockSize = 4 << 20
    /// Blocks compressing at once; defaults to the cores available.
    public var concurrency = ProcessInfoCores.count
    /// zlib level: 1 (fastest) to 9.
    public var level: Int32 = 1

    public init() {}

    /// Compresses `source` into `output`, in order, with at most `concurrency` blocks in
    /// memory being compressed; `output` applies back-pressure.
    public func compress<Source: AsyncSequence & Sendable>(
        _ source: Source, into output: AsyncThrowingChannel<ByteBuffer, any Error>
    ) async throws where Source.Element == ByteBuffer {
        let level = self.level
        try await withThrowingTaskGroup(of: (Int, ByteBuffer).self) { group in
            var block = ByteBuffer()
            var nextIndex = 0
            var nextToEmit = 0
            var finished: [Int: ByteBuffer] = [:]
            var running = 0

            func collectOne() async throws {
                guard let (index, compressed) = try await group.next() else { return }
                running -= 1
                finished[index] = compressed
                while let ready = finished.removeValue(forKey: nextToEmit) {
                    await output.send(ready)
                    nextToEmit += 1
                }
            }

            func submit(_ data: ByteBuffer) async throws {
                if running == concurrency { try await collectOne() }
                let index = nextIndex
                nextIndex += 1
                running += 1
                group.addTask {
                    var input = data
                    return (index, try input.compress(with: .gzip(configuration: .init(windowSize: 15, compressionLevel: level, memoryLevel: 8))))
                }
            }

            for try await var chunk in source {
                block.writeBuffer(&chunk)
                while block.readableBytes >= blockSize {
                    let slice = block.readSlice(length: blockSize)!
                    block = ByteBuffer(bytes: block.readableBytesView)
                    try await submit(slice)
                }
            }
            if block.readableBytes > 0 || nextIndex == 0 { try await submit(block) }
            while running > 0 { try await collectOne() }
        }
    }
}

/// The number of cores this process may use.
public enum ProcessInfoCores {
    public static var count: Int { max(1, System.coreCount) }
}
