import NIOCore
import ObjectStore
import Synchronization

/// Wraps a store and makes the Nth UploadPart fail, as a store error mid-upload would.
public final class FailingObjectStore: ObjectStore {
    let base: any ObjectStore
    let failPart: Int
    private let partsSeen = Atomic<Int>(0)

    public init(_ base: any ObjectStore, failingPart: Int) {
        self.base = base
        self.failPart = failingPart
    }

    public func uploadPart(key: String, uploadID: String, partNumber: Int, body: ByteBuffer) async throws -> CompletedPart {
        if partsSeen.add(1, ordering: .relaxed).newValue == failPart {
            throw ObjectStoreError(code: .internalError, httpStatus: 500, message: "injected failure on part \(partNumber)")
        }
        return try await base.uploadPart(key: key, uploadID: uploadID, partNumber: partNumber, body: body)
    }

    public func putObject(key: String, body: ByteBuffer, metadata: [String: String], contentType: String?) async throws -> String {
        try await base.putObject(key: key, body: body, metadata: metadata, contentType: contentType)
    }
    public func getObject(key: String) async throws -> (ObjectInfo, ByteStream) { try await base.getObject(key: key) }
    public func headObject(key: String) async throws -> ObjectInfo? { try await base.headObject(key: key) }
    public func listObjects(prefix: String) async throws -> [ObjectInfo] { try await base.listObjects(prefix: prefix) }
    public func deleteObject(key: String) async throws { try await base.deleteObject(key: key) }
    public func createMultipartUpload(key: String, metadata: [String: String], contentType: String?) async throws -> String {
        try await base.createMultipartUpload(key: key, metadata: metadata, contentType: contentType)
    }
    public func completeMultipartUpload(key: String, uploadID: String, parts: [CompletedPart]) async throws -> String {
        try await base.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts)
    }
    public func abortMultipartUpload(key: String, uploadID: String) async throws { try await base.abortMultipartUpload(key: key, uploadID: uploadID) }
    public func listMultipartUploads(prefix: String) async throws -> [MultipartUploadInfo] { try await base.listMultipartUploads(prefix: prefix) }
}

/// Deterministic pseudo-random bytes in chunks, as a dump arrives.
public struct GeneratedBytes: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    public let total: Int
    public let chunkSize: Int
    public let seed: UInt64

    public init(total: Int, chunkSize: Int = 64 << 10, seed: UInt64 = 42) {
        self.total = total
        self.chunkSize = chunkSize
        self.seed = seed
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: Int
        let chunkSize: Int
        var state: UInt64

        public mutating func next() async -> ByteBuffer? {
            guard remaining > 0 else { return nil }
            let count = Swift.min(chunkSize, remaining)
            remaining -= count
            var buffer = ByteBuffer()
            var state = self.state
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count + 8) { pointer in
                var offset = 0
                while offset < count {
                    // xorshift64*: fast, poorly compressible bytes.
                    state ^= state >> 12
                    state ^= state << 25
                    state ^= state >> 27
                    pointer.storeBytes(of: state &* 2_685_821_657_736_338_717, toByteOffset: offset, as: UInt64.self)
                    offset += 8
                }
                return count
            }
            self.state = state
            return buffer
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(remaining: total, chunkSize: chunkSize, state: seed | 1)
    }
}
