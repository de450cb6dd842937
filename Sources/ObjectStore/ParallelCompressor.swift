import AsyncAlgorithms
import CLibDeflate
import CZstd
import NIOCore
import NIOPosix
import Synchronization

/// How a dump is compressed on its way to the store. Both formats allow independently
/// compressed pieces to be concatenated: a `.gz` of several gzip members (RFC 1952)
/// is read whole by `gunzip`, a `.zst` of several frames by `zstd -d`.
public enum CompressionFormat: String, Sendable, CaseIterable {
    /// gzip at level 1, through libdeflate (about twice zlib's speed).
    case gzip
    /// Zstandard at level 1: faster than gzip and smaller output.
    case zstd

    /// The object key's suffix after the dump's own extension.
    public var fileSuffix: String {
        switch self {
        case .gzip: "gz"
        case .zstd: "zst"
        }
    }
}

/// Compression that keeps up with a dump: the stream is cut into blocks, the blocks
/// are compressed on all cores (on threads of their own, never the Swift concurrency
/// pool the dump and the upload run on) as independent members or frames, and the
/// results are emitted in order.
public struct ParallelCompressor: Sendable {
    public var format: CompressionFormat
    public var blockSize = 4 << 20
    /// Blocks compressing at once; defaults to the cores available.
    public var concurrency = ProcessInfoCores.count
    /// The format's level: gzip 1 (fastest) to 12, zstd 1 to 19.
    public var level: Int32 = 1

    public init(format: CompressionFormat) {
        self.format = format
    }

    /// Compresses `source` into `output`, in order, with at most `concurrency` blocks
    /// being compressed at once; `output` applies back-pressure.
    public func compress<Source: AsyncSequence & Sendable>(
        _ source: Source, into output: AsyncThrowingChannel<ByteBuffer, any Error>
    ) async throws where Source.Element == ByteBuffer {
        let pool = NIOThreadPool(numberOfThreads: concurrency)
        pool.start()
        do {
            try await compress(source, into: output, on: pool)
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
        try await pool.shutdownGracefully()
    }

    private func compress<Source: AsyncSequence & Sendable>(
        _ source: Source, into output: AsyncThrowingChannel<ByteBuffer, any Error>, on pool: NIOThreadPool
    ) async throws where Source.Element == ByteBuffer {
        let (blockSize, concurrency) = (self.blockSize, self.concurrency)
        let compressors = BlockCompressorPool(format: format, level: level)
        try await withThrowingTaskGroup(of: (Int, ByteBuffer).self) { group in
            var block = ExactBuffer()
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
                    (index, try await pool.runIfActive { try compressors.compress(data) })
                }
            }

            for try await var chunk in source {
                while chunk.readableBytes > 0 {
                    if let full = block.fill(from: &chunk, size: blockSize) { try await submit(full) }
                }
            }
            if block.bytes.readableBytes > 0 || nextIndex == 0 { try await submit(block.bytes) }
            while running > 0 { try await collectOne() }
        }
    }
}

/// Turns one block into one complete gzip member or zstd frame, reusing its native
/// context from block to block. Used by one thread at a time (`BlockCompressorPool`).
public final class BlockCompressor: @unchecked Sendable {
    /// A compression library refused a block (out of memory, or a bug).
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public let format: CompressionFormat
    public let level: Int32
    private let context: OpaquePointer

    public init(format: CompressionFormat, level: Int32) throws {
        self.format = format
        self.level = level
        let context: OpaquePointer? = switch format {
        case .gzip: libdeflate_alloc_compressor(level)
        case .zstd: ZSTD_createCCtx()
        }
        guard let context else { throw Failure(description: "\(format): cannot allocate a compressor at level \(level)") }
        self.context = context
    }

    deinit {
        switch format {
        case .gzip: libdeflate_free_compressor(context)
        case .zstd: ZSTD_freeCCtx(context)
        }
    }

    /// `input` as one complete member or frame.
    public func compress(_ input: ByteBuffer) throws -> ByteBuffer {
        let bound = switch format {
        case .gzip: libdeflate_gzip_compress_bound(context, input.readableBytes)
        case .zstd: ZSTD_compressBound(input.readableBytes)
        }
        var output = ByteBufferAllocator().buffer(capacity: bound)
        var failure: String?
        input.withUnsafeReadableBytes { source in
            _ = output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { target in
                switch format {
                case .gzip:
                    let written = libdeflate_gzip_compress(context, source.baseAddress, source.count, target.baseAddress, target.count)
                    if written == 0 { failure = "libdeflate: a block of \(source.count) bytes did not fit its bound" }
                    return written
                case .zstd:
                    let written = ZSTD_compressCCtx(context, target.baseAddress, target.count, source.baseAddress, source.count, level)
                    if ZSTD_isError(written) != 0 {
                        failure = "zstd: \(String(cString: ZSTD_getErrorName(written)))"
                        return 0
                    }
                    return written
                }
            }
        }
        if let failure { throw Failure(description: failure) }
        return output
    }
}

/// Compressors kept between blocks: one per block compressing at once.
final class BlockCompressorPool: Sendable {
    private let format: CompressionFormat
    private let level: Int32
    private let idle = Mutex<[BlockCompressor]>([])

    init(format: CompressionFormat, level: Int32) {
        self.format = format
        self.level = level
    }

    func compress(_ input: ByteBuffer) throws -> ByteBuffer {
        let compressor = try idle.withLock { $0.popLast() } ?? BlockCompressor(format: format, level: level)
        defer { idle.withLock { $0.append(compressor) } }
        return try compressor.compress(input)
    }
}

/// The number of cores this process may use.
public enum ProcessInfoCores {
    public static var count: Int { max(1, System.coreCount) }
}

extension StreamingUpload {
    /// Uploads `source` as `upload` does, compressed on the way in `format` by a
    /// `ParallelCompressor` (as is when `format` is nil), then encrypted to
    /// `recipients` in the age format (not when there are none). The checksum and
    /// size are those of the stored object.
    public func upload<Source: AsyncSequence & Sendable>(
        _ source: Source, compressing format: CompressionFormat?, encryptingTo recipients: [AgeRecipient] = [], key: String,
        metadata: [String: String] = [:], contentType: String? = nil,
        progress: @escaping @Sendable (Int64) async -> Void = { _ in }
    ) async throws -> Result where Source.Element == ByteBuffer {
        @Sendable func store<Stream: AsyncSequence & Sendable>(_ stream: Stream) async throws -> Result where Stream.Element == ByteBuffer {
            if recipients.isEmpty { return try await upload(stream, key: key, metadata: metadata, contentType: contentType, progress: progress) }
            return try await upload(try stream.ageEncrypted(to: recipients), key: key, metadata: metadata, contentType: contentType, progress: progress)
        }
        guard let format else { return try await store(source) }
        let compressed = AsyncThrowingChannel<ByteBuffer, any Error>()
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                do {
                    try await ParallelCompressor(format: format).compress(source, into: compressed)
                    compressed.finish()
                } catch {
                    compressed.fail(error)
                }
                return nil
            }
            group.addTask { try await store(compressed) }
            var uploaded: Result?
            for try await value in group { if let value { uploaded = value } }
            return uploaded!
        }
    }
}
