import Foundation
import NIOCore
import Synchronization

/// An `ObjectStore` in memory, for unit tests: the same rules as S3 where the code
/// relies on them (missing keys and uploads are errors, parts assemble in number
/// order, aborting forgets the parts, parts but the last must be at least
/// `minimumPartSize`).
public final class InMemoryObjectStore: ObjectStore {
    private struct Upload {
        var key: String
        var metadata: [String: String]
        var contentType: String?
        var parts: [Int: ByteBuffer] = [:]
    }

    private struct State {
        var objects: [String: (ByteBuffer, [String: String], String?)] = [:]
        var uploads: [String: Upload] = [:]
        var nextUpload = 1
    }

    private let state = Mutex(State())
    public let minimumPartSize: Int

    public init(minimumPartSize: Int = 5 << 20) {
        self.minimumPartSize = minimumPartSize
    }

    public func putObject(key: String, body: ByteBuffer, metadata: [String: String], contentType: String?) async throws -> String {
        state.withLock { $0.objects[key] = (body, metadata, contentType) }
        return Self.etag(body)
    }

    public func getObject(key: String) async throws -> (ObjectInfo, ByteStream) {
        guard let (body, metadata, contentType) = state.withLock({ $0.objects[key] }) else {
            throw ObjectStoreError(code: .noSuchKey, httpStatus: 404, message: "The specified key does not exist.", request: "GET \(key)")
        }
        return (ObjectInfo(key: key, size: Int64(body.readableBytes), etag: Self.etag(body), metadata: metadata, contentType: contentType), ByteStream(body))
    }

    public func headObject(key: String) async throws -> ObjectInfo? {
        state.withLock { state in
            state.objects[key].map { ObjectInfo(key: key, size: Int64($0.0.readableBytes), etag: Self.etag($0.0), metadata: $0.1, contentType: $0.2) }
        }
    }

    public func listObjects(prefix: String) async throws -> [ObjectInfo] {
        state.withLock { state in
            state.objects.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
                .map { ObjectInfo(key: $0.key, size: Int64($0.value.0.readableBytes), etag: Self.etag($0.value.0), metadata: $0.value.1) }
        }
    }

    public func deleteObject(key: String) async throws {
        _ = state.withLock { $0.objects.removeValue(forKey: key) }
    }

    public func createMultipartUpload(key: String, metadata: [String: String], contentType: String?) async throws -> String {
        state.withLock { state in
            let id = "upload-\(state.nextUpload)"
            state.nextUpload += 1
            state.uploads[id] = Upload(key: key, metadata: metadata, contentType: contentType)
            return id
        }
    }

    public func uploadPart(key: String, uploadID: String, partNumber: Int, body: ByteBuffer) async throws -> CompletedPart {
        guard (1...10_000).contains(partNumber) else {
            throw ObjectStoreError(code: .init(rawValue: "InvalidArgument"), httpStatus: 400, message: "Part number must be an integer between 1 and 10000, inclusive")
        }
        try state.withLock { state in
            guard state.uploads[uploadID]?.key == key else { throw Self.noSuchUpload(uploadID) }
            state.uploads[uploadID]!.parts[partNumber] = body
        }
        return CompletedPart(partNumber: partNumber, etag: Self.etag(body))
    }

    public func completeMultipartUpload(key: String, uploadID: String, parts: [CompletedPart]) async throws -> String {
        try state.withLock { state in
            guard let upload = state.uploads[uploadID], upload.key == key else { throw Self.noSuchUpload(uploadID) }
            var body = ByteBuffer()
            for (index, part) in parts.enumerated() {
                guard var data = upload.parts[part.partNumber], Self.etag(data) == part.etag else {
                    throw ObjectStoreError(code: .invalidPart, httpStatus: 400, message: "part \(part.partNumber) was not uploaded")
                }
                if index < parts.count - 1 && data.readableBytes < minimumPartSize {
                    throw ObjectStoreError(code: .entityTooSmall, httpStatus: 400, message: "Your proposed upload is smaller than the minimum allowed size")
                }
                body.writeBuffer(&data)
            }
            state.objects[key] = (body, upload.metadata, upload.contentType)
            state.uploads.removeValue(forKey: uploadID)
            return Self.etag(body)
        }
    }

    public func abortMultipartUpload(key: String, uploadID: String) async throws {
        _ = state.withLock { $0.uploads.removeValue(forKey: uploadID) }
    }

    public func listMultipartUploads(prefix: String) async throws -> [MultipartUploadInfo] {
        state.withLock { state in
            state.uploads.filter { $0.value.key.hasPrefix(prefix) }.map { MultipartUploadInfo(key: $0.value.key, uploadID: $0.key) }
                .sorted { $0.uploadID < $1.uploadID }
        }
    }

    private static func noSuchUpload(_ id: String) -> ObjectStoreError {
        ObjectStoreError(code: .noSuchUpload, httpStatus: 404, message: "The specified upload \(id) does not exist.")
    }

    private static func etag(_ body: ByteBuffer) -> String {
        "\"\(body.withUnsafeReadableBytes { SigV4Signer.payloadHash($0) }.prefix(32))\""
    }
}
