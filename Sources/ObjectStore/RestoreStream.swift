import CZlib
import CZstd
import Crypto
import Foundation
import NIOCore

/// The backup pipeline in reverse, for restores (SPEC section 13): an object's bytes
/// as downloaded, checked against the recorded sha256, decrypted (age) and
/// decompressed (gzip members, zstd frames), pulled by the consumer: memory is a few
/// chunks whatever the size. The last downloaded chunk is held back until the
/// checksum of the whole object is known, so a consumer (a restore tool) never sees
/// the end of a corrupt object: it gets `ChecksumMismatch` instead.
public struct RestoreStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    /// How the object was made.
    public struct Options: Sendable {
        /// The recorded sha256 (hex) of the object as stored; nil when none is known.
        public var expectedSHA256: String?
        /// For an `.age` object: the identities to try; nil when not encrypted.
        public var identities: [AgeIdentity]?
        public var compression: CompressionFormat?

        public init(expectedSHA256: String?, identities: [AgeIdentity]?, compression: CompressionFormat?) {
            self.expectedSHA256 = expectedSHA256
            self.identities = identities
            self.compression = compression
        }
    }

    let source: ByteStream
    let options: Options

    public init(_ source: ByteStream, options: Options) {
        self.source = source
        self.options = options
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(
            upstream: source.makeAsyncIterator(), expected: options.expectedSHA256?.lowercased(),
            decryptor: options.identities.map { AgeDecryptor(identities: $0) },
            decompressor: options.compression.map { Decompressor($0) })
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var upstream: ByteStream.AsyncIterator
        let expected: String?
        var decryptor: AgeDecryptor?
        var decompressor: Decompressor?
        var hasher = SHA256()
        var held: ByteBuffer?
        var finished = false

        public mutating func next() async throws -> ByteBuffer? {
            while !finished {
                if let chunk = try await upstream.next() {
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                    let ready = held
                    held = chunk
                    guard let ready else { continue }
                    let out = try transform(ready, last: false)
                    if out.readableBytes > 0 { return out }
                } else {
                    finished = true
                    let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
                    if let expected, digest != expected {
                        throw ObjectStoreError(
                            code: .checksumMismatch, message: "the object's sha256 is \(digest), the backup recorded \(expected): it is not the backup that was made")
                    }
                    let out = try transform(held ?? ByteBuffer(), last: true)
                    held = nil
                    if out.readableBytes > 0 { return out }
                }
            }
            return nil
        }

        private mutating func transform(_ bytes: ByteBuffer, last: Bool) throws -> ByteBuffer {
            var plain = bytes
            if decryptor != nil {
                do {
                    plain = try decryptor!.feed(bytes)
                    if last {
                        var rest = try decryptor!.finish()
                        plain.writeBuffer(&rest)
                    }
                } catch let error as AgeError {
                    throw ObjectStoreError(code: .decryptionFailed, message: error.description)
                }
            }
            guard decompressor != nil else { return plain }
            let out = try decompressor!.feed(plain)
            if last { try decompressor!.finish() }
            return out
        }
    }
}

/// Streaming decompression: gzip (any number of members, as the parallel compressor
/// writes them) with zlib, zstd (any number of frames) with libzstd.
struct Decompressor: @unchecked Sendable {
    private final class State {
        let format: CompressionFormat
        var zlib = z_stream()
        var zstd: OpaquePointer?
        /// Whether the current gzip member or zstd frame is complete.
        var atBoundary = true
        var sawInput = false

        init(_ format: CompressionFormat) {
            self.format = format
            switch format {
            case .gzip: inflateInit2_(&zlib, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            case .zstd: zstd = ZSTD_createDCtx()
            }
        }

        deinit {
            switch format {
            case .gzip: inflateEnd(&zlib)
            case .zstd: ZSTD_freeDCtx(zstd)
            }
        }
    }

    private let state: State
    static let outputChunk = 256 << 10

    init(_ format: CompressionFormat) { state = State(format) }

    /// The plain bytes `input` completes.
    mutating func feed(_ input: ByteBuffer) throws -> ByteBuffer {
        var output = ByteBuffer()
        guard input.readableBytes > 0 else { return output }
        state.sawInput = true
        let state = self.state
        try input.withUnsafeReadableBytes { raw in
            var offset = 0
            var scratch = [UInt8](repeating: 0, count: Self.outputChunk)
            while offset < raw.count {
                let consumed: Int, produced: Int
                switch state.format {
                case .gzip:
                    let base = UnsafeMutablePointer(mutating: raw.baseAddress!.assumingMemoryBound(to: UInt8.self)) + offset
                    state.zlib.next_in = base
                    state.zlib.avail_in = UInt32(raw.count - offset)
                    let result: Int32 = scratch.withUnsafeMutableBufferPointer { out in
                        state.zlib.next_out = out.baseAddress
                        state.zlib.avail_out = UInt32(out.count)
                        return inflate(&state.zlib, Z_NO_FLUSH)
                    }
                    consumed = (raw.count - offset) - Int(state.zlib.avail_in)
                    produced = Self.outputChunk - Int(state.zlib.avail_out)
                    switch result {
                    case Z_STREAM_END:
                        state.atBoundary = true
                        inflateReset(&state.zlib)  // the next gzip member, if any
                    case Z_OK, Z_BUF_ERROR:
                        state.atBoundary = false
                    default:
                        throw ObjectStoreError(code: .corrupt, message: "gzip: \(state.zlib.msg.map { String(cString: $0) } ?? "invalid data (error \(result))")")
                    }
                case .zstd:
                    var source = ZSTD_inBuffer(src: raw.baseAddress! + offset, size: raw.count - offset, pos: 0)
                    let result: Int = scratch.withUnsafeMutableBufferPointer { out in
                        var target = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                        let hint = ZSTD_decompressStream(state.zstd, &target, &source)
                        return ZSTD_isError(hint) != 0 ? -Int(hint) : (hint == 0 ? Int(target.pos) << 1 : (Int(target.pos) << 1) | 1)
                    }
                    if result < 0 {
                        throw ObjectStoreError(code: .corrupt, message: "zstd: \(String(cString: ZSTD_getErrorName(-result)))")
                    }
                    consumed = source.pos
                    produced = result >> 1
                    state.atBoundary = result & 1 == 0
                }
                if produced > 0 { output.writeBytes(scratch[0..<produced]) }
                offset += consumed
                if consumed == 0 && produced == 0 { break }
            }
        }
        return output
    }

    /// Throws when the input ended inside a member or frame.
    func finish() throws {
        guard state.sawInput, state.atBoundary else {
            throw ObjectStoreError(code: .corrupt, message: "\(state.format.rawValue): the data ends before the end of the stream")
        }
    }
}
