import Foundation
import NIOCore

/// What is known of a stored object.
public struct ObjectInfo: Sendable, Hashable {
    public var key: String
    public var size: Int64
    public var etag: String?
    public var lastModified: String?
    /// User metadata (`x-amz-meta-*`), keys lowercased, without the prefix.
    public var metadata: [String: String]
    /// The Content-Type it was stored with.
    public var contentType: String?

    public init(key: String, size: Int64, etag: String? = nil, lastModified: String? = nil, metadata: [String: String] = [:], contentType: String? = nil) {
        self.contentType = contentType
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
        self.metadata = metadata
    }
}

/// A multipart upload that was started and neither completed nor aborted.
public struct MultipartUploadInfo: Sendable, Hashable {
    public var key: String
    public var uploadID: String
    public var initiated: String?

    public init(key: String, uploadID: String, initiated: String? = nil) {
        self.key = key
        self.uploadID = uploadID
        self.initiated = initiated
    }
}

/// A part uploaded in a multipart upload: its number and the ETag the store gave it.
public struct CompletedPart: Sendable, Hashable {
    public var partNumber: Int
    public var etag: String

    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

/// Bytes arriving in chunks (an object being downloaded).
public struct ByteStream: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    private let makeIterator: @Sendable () -> AsyncIterator

    public init(_ makeIterator: @escaping @Sendable () -> AsyncIterator) {
        self.makeIterator = makeIterator
    }

    /// A stream of one buffer.
    public init(_ buffer: ByteBuffer) {
        self.init {
            var pending: ByteBuffer? = buffer
            return AsyncIterator {
                defer { pending = nil }
                return pending
            }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextChunk: () async throws -> ByteBuffer?

        public init(_ next: @escaping () async throws -> ByteBuffer?) { nextChunk = next }

        public mutating func next() async throws -> ByteBuffer? { try await nextChunk() }
    }

    public func makeAsyncIterator() -> AsyncIterator { makeIterator() }

    /// Everything, up to `limit` bytes.
    public func collect(upTo limit: Int) async throws -> ByteBuffer {
        var all = ByteBuffer()
        for try await var chunk in self {
            guard all.readableBytes + chunk.readableBytes <= limit else {
                throw ObjectStoreError(code: .tooLarge, message: "object larger than \(limit) bytes")
            }
            all.writeBuffer(&chunk)
        }
        return all
    }
}

/// An S3-compatible object store: the operations backups need.
public protocol ObjectStore: Sendable {
    /// Stores `body` as `key` with user metadata and, when given, a Content-Type.
    func putObject(key: String, body: ByteBuffer, metadata: [String: String], contentType: String?) async throws -> String
    func getObject(key: String) async throws -> (ObjectInfo, ByteStream)
    /// Nil when there is no such object.
    func headObject(key: String) async throws -> ObjectInfo?
    func listObjects(prefix: String) async throws -> [ObjectInfo]
    func deleteObject(key: String) async throws
    func createMultipartUpload(key: String, metadata: [String: String], contentType: String?) async throws -> String
    func uploadPart(key: String, uploadID: String, partNumber: Int, body: ByteBuffer) async throws -> CompletedPart
    func completeMultipartUpload(key: String, uploadID: String, parts: [CompletedPart]) async throws -> String
    func abortMultipartUpload(key: String, uploadID: String) async throws
    func listMultipartUploads(prefix: String) async throws -> [MultipartUploadInfo]
}

extension ObjectStore {
    public func putObject(key: String, body: ByteBuffer, metadata: [String: String]) async throws -> String {
        try await putObject(key: key, body: body, metadata: metadata, contentType: nil)
    }

    public func createMultipartUpload(key: String, metadata: [String: String]) async throws -> String {
        try await createMultipartUpload(key: key, metadata: metadata, contentType: nil)
    }
}

/// An object store error with the store's code (`NoSuchKey`, `SignatureDoesNotMatch`,
/// `EntityTooSmall`, ...). Its description never contains a secret key.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let noSuchKey = Code(rawValue: "NoSuchKey")
        public static let noSuchBucket = Code(rawValue: "NoSuchBucket")
        public static let noSuchUpload = Code(rawValue: "NoSuchUpload")
        public static let signatureDoesNotMatch = Code(rawValue: "SignatureDoesNotMatch")
        public static let invalidAccessKeyID = Code(rawValue: "InvalidAccessKeyId")
        public static let accessDenied = Code(rawValue: "AccessDenied")
        public static let entityTooSmall = Code(rawValue: "EntityTooSmall")
        public static let invalidPart = Code(rawValue: "InvalidPart")
        public static let slowDown = Code(rawValue: "SlowDown")
        public static let internalError = Code(rawValue: "InternalError")
        public static let serviceUnavailable = Code(rawValue: "ServiceUnavailable")
        /// No answer, or the connection broke.
        public static let transport = Code(rawValue: "Transport")
        /// The TLS handshake failed (an untrusted or mismatched certificate): not retried.
        public static let tls = Code(rawValue: "TLSFailed")
        /// An answer that is not what the S3 API promises.
        public static let badResponse = Code(rawValue: "BadResponse")
        public static let tooLarge = Code(rawValue: "TooLarge")
        public static let configuration = Code(rawValue: "Configuration")
        /// A restore: the object is not what the backup recorded.
        public static let checksumMismatch = Code(rawValue: "ChecksumMismatch")
        /// A restore: no identity opens the age file, or it was altered.
        public static let decryptionFailed = Code(rawValue: "DecryptionFailed")
        /// A restore: the compressed data is damaged or cut.
        public static let corrupt = Code(rawValue: "CorruptData")
    }

    public var code: Code
    public var httpStatus: Int
    public var message: String
    /// "PUT bucket/key" of the failed request.
    public var request: String

    public init(code: Code, httpStatus: Int = 0, message: String, request: String = "") {
        self.code = code
        self.httpStatus = httpStatus
        self.message = message
        self.request = request
    }

    public var description: String {
        "\(request.isEmpty ? "" : "\(request): ")\(code.rawValue)\(httpStatus > 0 ? " (\(httpStatus))" : ""): \(message)"
    }

    /// 5xx, throttling and broken connections may succeed when tried again.
    public var isRetryable: Bool {
        httpStatus >= 500 || [.slowDown, .internalError, .serviceUnavailable, .transport].contains(code)
            || code.rawValue == "RequestTimeout" || code.rawValue == "Throttling"
    }
}
