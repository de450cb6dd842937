import Crypto
import Foundation
import Logging
import NIOCore
import Synchronization

/// Bytes of the parts stored so far, added to by concurrent part uploads.
private final class StoredBytes: Sendable {
    private let total = Atomic<Int64>(0)

    func add(_ bytes: Int64) -> Int64 { total.add(bytes, ordering: .relaxed).newValue }
}

/// Streams bytes into one object with a multipart upload and bounded memory: parts
/// of growing size (`PartSizing`), a few in flight, the SHA-256 of the whole object
/// computed on the way. A stream smaller than one part becomes a single PutObject.
/// On any failure the multipart upload is aborted: no orphan parts, no partial object.
public struct StreamingUpload: Sendable {
    public struct Configuration: Sendable {
        public var initialPartSize = 8 << 20
        /// Parts the store allows (S3: 10,000; some stores fewer).
        public var partLimit = 10_000
        /// Parts uploading at once; memory is about (partsInFlight + 1) x part size.
        public var partsInFlight = 3

        public init() {}
    }

    /// The object as stored.
    public struct Result: Sendable, Equatable {
        public var key: String
        public var size: Int64
        /// Hex SHA-256 of the object's bytes.
        public var sha256: String
        public var parts: Int
    }

    public let store: any ObjectStore
    public let configuration: Configuration
    public let logger: Logger

    public init(store: any ObjectStore, configuration: Configuration = Configuration(), logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// Aborts the incomplete multipart uploads under `prefix`: what a crashed earlier
    /// attempt left. Returns how many were aborted.
    @discardableResult
    public func abortIncompleteUploads(prefix: String) async throws -> Int {
        let uploads = try await store.listMultipartUploads(prefix: prefix)
        for upload in uploads {
            logger.info("aborting an incomplete upload of an earlier attempt", metadata: ["s3.key": "\(upload.key)", "s3.upload_id": "\(upload.uploadID)"])
            try await store.abortMultipartUpload(key: upload.key, uploadID: upload.uploadID)
        }
        return uploads.count
    }

    /// Uploads everything `source` yields as the object `key`, written once (its
    /// size and SHA-256, known only at the end, are in the result: a manifest next
    /// to it records them, never a copy of the object onto itself).
    /// - Parameter progress: called with the bytes stored so far, after each part.
    public func upload<Source: AsyncSequence & Sendable>(
        _ source: Source, key: String, metadata: [String: String] = [:], contentType: String? = nil,
        progress: @escaping @Sendable (Int64) async -> Void = { _ in }
    ) async throws -> Result where Source.Element == ByteBuffer {
        var hasher = SHA256()
        var pending = ExactBuffer()
        var total: Int64 = 0
        var uploadID: String?
        var partNumber = 1
        var target = PartSizing.size(ofPart: 1, initial: configuration.initialPartSize, partLimit: configuration.partLimit)
        let store = self.store
        do {
            return try await withThrowingTaskGroup(of: CompletedPart.self) { group in
                var completed: [CompletedPart] = []
                var inFlight = 0
                // Parts report as they finish, so progress moves with every part stored.
                let stored = StoredBytes()

                func send(_ part: ByteBuffer) async throws {
                    if uploadID == nil { uploadID = try await store.createMultipartUpload(key: key, metadata: metadata, contentType: contentType) }
                    guard partNumber <= configuration.partLimit else {
                        throw ObjectStoreError(code: .tooLarge, message: "the stream exceeds \(configuration.partLimit) parts", request: "upload \(key)")
                    }
                    if inFlight == configuration.partsInFlight, let done = try await group.next() {
                        completed.append(done)
                        inFlight -= 1
                    }
                    let number = partNumber
                    let id = uploadID!
                    group.addTask {
                        let done = try await store.uploadPart(key: key, uploadID: id, partNumber: number, body: part)
                        await progress(stored.add(Int64(part.readableBytes)))
                        return done
                    }
                    inFlight += 1
                    partNumber += 1
                    target = PartSizing.size(ofPart: partNumber, initial: configuration.initialPartSize, partLimit: configuration.partLimit)
                }

                for try await var chunk in source {
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                    total += Int64(chunk.readableBytes)
                    while chunk.readableBytes > 0 {
                        if let part = pending.fill(from: &chunk, size: target) { try await send(part) }
                    }
                }
                // A source may end early because this task was cancelled: never store that as complete.
                try Task.checkCancellation()
                let sha256 = hasher.finalize().map { String(format: "%02x", $0) }.joined()
                if uploadID == nil {
                    _ = try await store.putObject(key: key, body: pending.bytes, metadata: metadata, contentType: contentType)
                    await progress(total)
                    return Result(key: key, size: total, sha256: sha256, parts: 1)
                }
                if pending.bytes.readableBytes > 0 { try await send(pending.bytes) }
                while let done = try await group.next() { completed.append(done) }
                _ = try await store.completeMultipartUpload(key: key, uploadID: uploadID!, parts: completed.sorted { $0.partNumber < $1.partNumber })
                await progress(total)
                return Result(key: key, size: total, sha256: sha256, parts: completed.count)
            }
        } catch {
            if let uploadID {
                logger.info("upload failed; aborting it", metadata: ["s3.key": "\(key)", "error": "\(error)"])
                // Abort even when the failure is a cancellation of this task.
                await Task.detached { try? await store.abortMultipartUpload(key: key, uploadID: uploadID) }.value
            }
            throw error
        }
    }
}
