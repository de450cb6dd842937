import Foundation
import Logging
import NIOCore
import ObjectStore
import Testing
import TestSupport

/// The S3 servers the client is tried against: SeaweedFS, and moto, which checks
/// every SigV4 signature against the raw request (the query string as sent).
enum S3Server: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case seaweedfs
    case moto

    var settings: S3Settings {
        get throws { self == .seaweedfs ? try TestServices.current.s3() : try TestServices.current.s3Strict() }
    }

    var testDescription: String { rawValue }
}

/// The S3 client against two S3 implementations, with SigV4 checked; keys and
/// prefixes hold `/`, `=`, `+`, `&`, spaces and unicode, which go in paths and queries.
@Suite(
    "S3ObjectStore against real S3 servers",
    .enabled(if: TestServices.current.shouldRun(.s3) && TestServices.current.shouldRun(.s3Strict), "needs S3 (SeaweedFS and moto): run ci/services.sh start")
)
struct S3ObjectStoreTests {
    private func withStore<T>(
        _ server: S3Server, accessKey: String? = nil, secretKey: String? = nil, _ body: (S3ObjectStore, String) async throws -> T
    ) async throws -> T {
        let s3 = try server.settings
        var configuration = S3ObjectStore.Configuration(
            endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket,
            credentials: S3Credentials(accessKeyID: accessKey ?? s3.accessKeyID, secretAccessKey: secretKey ?? s3.secretAccessKey))
        configuration.forcePathStyle = true
        configuration.maxAttempts = 2
        let store = try S3ObjectStore(configuration: configuration, logger: Logger(label: "test"))
        let prefix = "tests/\(UUID().uuidString)/a=b c+d&é/"
        do {
            let result = try await body(store, prefix)
            try await store.shutdown()
            return result
        } catch {
            try? await store.shutdown()
            throw error
        }
    }

    private func bytes(_ count: Int) -> ByteBuffer {
        var generator = SystemRandomNumberGenerator()
        return ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    @Test("objects of 0 and 1 bytes, and a key needing encoding, round-trip with their metadata", arguments: S3Server.allCases)
    func smallRoundTrips(_ server: S3Server) async throws {
        try await withStore(server) { store, prefix in
            for (name, size) in [("empty", 0), ("one", 1), ("a b+c=d&e$ü.txt", 17)] {
                let key = prefix + name
                let body = bytes(size)
                _ = try await store.putObject(key: key, body: body, metadata: ["sha256": "abc", "namespace": "shop"])
                let (info, stream) = try await store.getObject(key: key)
                #expect(try await stream.collect(upTo: 1 << 20) == body)
                #expect(info.size == Int64(size))
                let head = try await store.headObject(key: key)
                #expect(head?.metadata == ["sha256": "abc", "namespace": "shop"])
            }
            #expect(try await store.listObjects(prefix: prefix).map(\.key).sorted() == [prefix + "a b+c=d&e$ü.txt", prefix + "empty", prefix + "one"])
            for object in try await store.listObjects(prefix: prefix) { try await store.deleteObject(key: object.key) }
            #expect(try await store.headObject(key: prefix + "one") == nil)
            let missing = await #expect(throws: ObjectStoreError.self) { _ = try await store.getObject(key: prefix + "one") }
            #expect(missing?.code == .noSuchKey)
        }
    }

    @Test("a multipart upload of one full part and one byte more assembles the exact bytes", arguments: S3Server.allCases)
    func multipart(_ server: S3Server) async throws {
        try await withStore(server) { store, prefix in
            let key = prefix + "multi"
            let first = bytes(5 << 20), second = bytes(1)
            let upload = try await store.createMultipartUpload(key: key, metadata: ["driver": "postgresql"])
            let parts = [
                try await store.uploadPart(key: key, uploadID: upload, partNumber: 1, body: first),
                try await store.uploadPart(key: key, uploadID: upload, partNumber: 2, body: second),
            ]
            #expect(try await store.listMultipartUploads(prefix: prefix).map(\.uploadID) == [upload])
            _ = try await store.completeMultipartUpload(key: key, uploadID: upload, parts: parts)
            var expected = first
            var tail = second
            expected.writeBuffer(&tail)
            let (info, stream) = try await store.getObject(key: key)
            #expect(info.size == Int64(expected.readableBytes))
            #expect(try await stream.collect(upTo: 16 << 20) == expected)
            #expect(try await store.headObject(key: key)?.metadata["driver"] == "postgresql")
            #expect(try await store.listMultipartUploads(prefix: prefix).isEmpty)
            try await store.deleteObject(key: key)
        }
    }

    @Test("objects keep the Content-Type they were written with, by PUT and by multipart upload", arguments: S3Server.allCases)
    func contentType(_ server: S3Server) async throws {
        try await withStore(server) { store, prefix in
            _ = try await store.putObject(key: prefix + "manifest.json", body: ByteBuffer(string: "{}"), metadata: [:], contentType: "application/json")
            #expect(try await store.headObject(key: prefix + "manifest.json")?.contentType == "application/json")
            let key = prefix + "dump.sql.zst"
            let id = try await store.createMultipartUpload(key: key, metadata: ["namespace": "shop"], contentType: "application/zstd")
            let part = try await store.uploadPart(key: key, uploadID: id, partNumber: 1, body: bytes(1000))
            _ = try await store.completeMultipartUpload(key: key, uploadID: id, parts: [part])
            let info = try #require(try await store.headObject(key: key))
            #expect(info.contentType == "application/zstd" && info.metadata == ["namespace": "shop"])
            for key in [prefix + "manifest.json", key] { try await store.deleteObject(key: key) }
        }
    }

    @Test("an aborted multipart upload leaves no upload and no object behind", arguments: S3Server.allCases)
    func abort(_ server: S3Server) async throws {
        try await withStore(server) { store, prefix in
            let key = prefix + "aborted"
            let upload = try await store.createMultipartUpload(key: key, metadata: [:])
            _ = try await store.uploadPart(key: key, uploadID: upload, partNumber: 1, body: bytes(1024))
            try await store.abortMultipartUpload(key: key, uploadID: upload)
            try await store.abortMultipartUpload(key: key, uploadID: upload)
            #expect(try await store.listMultipartUploads(prefix: prefix).isEmpty)
            #expect(try await store.headObject(key: key) == nil)
        }
    }

    @Test("an unknown access key gives InvalidAccessKeyId; a wrong secret gives SignatureDoesNotMatch", arguments: S3Server.allCases)
    func wrongCredentials(_ server: S3Server) async throws {
        try await withStore(server, accessKey: "NOSUCHKEY") { store, prefix in
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.listObjects(prefix: prefix) }
            #expect(error?.code == .invalidAccessKeyID)
            #expect(error?.httpStatus == 403)
        }
        try await withStore(server, secretKey: "wrong-secret-key") { store, prefix in
            let error = await #expect(throws: ObjectStoreError.self) {
                _ = try await store.putObject(key: prefix + "x", body: ByteBuffer(string: "x"), metadata: [:])
            }
            #expect(error?.code == .signatureDoesNotMatch)
            #expect(error?.description.contains("wrong-secret-key") == false)
        }
    }
}

@Suite(
    "Streaming upload into real S3 servers",
    .enabled(if: TestServices.current.shouldRun(.s3) && TestServices.current.shouldRun(.s3Strict), "needs S3 (SeaweedFS and moto): run ci/services.sh start")
)
struct StreamingUploadS3Tests {
    private func store(_ server: S3Server) throws -> S3ObjectStore {
        let s3 = try server.settings
        var configuration = S3ObjectStore.Configuration(
            endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket,
            credentials: S3Credentials(accessKeyID: s3.accessKeyID, secretAccessKey: s3.secretAccessKey))
        configuration.forcePathStyle = true
        return try S3ObjectStore(configuration: configuration, logger: Logger(label: "test"))
    }

    @Test("a 40 MiB stream uploads in growing parts and downloads byte for byte; a failure mid-upload leaves no incomplete upload", arguments: S3Server.allCases)
    func roundTripAndFailure(_ server: S3Server) async throws {
        let s3 = try store(server)
        do {
            // As the driver names backups: <prefix><namespace>/<database>/<backup>-<time>.
            let prefix = "tests/\(UUID().uuidString)/shop/orders/nightly-1-"
            // What a crashed attempt left is cleaned up first, as the driver does.
            let orphan = try await s3.createMultipartUpload(key: prefix + "orphan", metadata: [:])
            _ = try await s3.uploadPart(key: prefix + "orphan", uploadID: orphan, partNumber: 1, body: ByteBuffer(string: "left over"))
            var configuration = StreamingUpload.Configuration()
            configuration.initialPartSize = 5 << 20
            configuration.partLimit = 20
            let upload = StreamingUpload(store: s3, configuration: configuration, logger: Logger(label: "test"))
            #expect(try await upload.abortIncompleteUploads(prefix: prefix) == 1)
            #expect(try await s3.listMultipartUploads(prefix: prefix).isEmpty)
            let source = GeneratedBytes(total: 40 << 20, chunkSize: 256 << 10, seed: 7)
            let result = try await upload.upload(source, key: prefix + "dump.sql.gz", metadata: ["namespace": "shop"])
            #expect(result.size == 40 << 20)
            #expect(result.parts == 5)  // 5 + 5 + 10 + 10 MiB, then the last 10 MiB
            let (info, body) = try await s3.getObject(key: prefix + "dump.sql.gz")
            #expect(info.size == 40 << 20)
            var expected = ByteBuffer()
            for try await var chunk in source { expected.writeBuffer(&chunk) }
            #expect(try await body.collect(upTo: 64 << 20) == expected)

            let failing = StreamingUpload(store: FailingObjectStore(s3, failingPart: 2), configuration: configuration, logger: Logger(label: "test"))
            await #expect(throws: ObjectStoreError.self) { _ = try await failing.upload(source, key: prefix + "failed") }
            #expect(try await s3.listMultipartUploads(prefix: prefix).isEmpty)
            #expect(try await s3.headObject(key: prefix + "failed") == nil)
            try await s3.deleteObject(key: prefix + "dump.sql.gz")
            try await s3.shutdown()
        } catch {
            try? await s3.shutdown()
            throw error
        }
    }
}
