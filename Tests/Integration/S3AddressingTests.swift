import Foundation
import Logging
import NIOCore
import ObjectStore
import Testing
import TestSupport

/// The S3 client against the harness's SeaweedFS over HTTPS (a certificate from the
/// harness's own CA) and by virtual-host names (`<bucket>.<domain>`), with SigV4 checked.
@Suite(
    "S3ObjectStore over HTTPS with a given CA, and by virtual host",
    .enabled(if: TestServices.current.shouldRun(.s3TLS), "needs S3 over HTTPS: run ci/services.sh start")
)
struct S3AddressingTests {
    /// A store on `endpoint`; virtual-host names under the test domain connect to 127.0.0.1.
    private func withStore<T>(
        endpoint: String, pathStyle: Bool, ca: String?, bucket: String? = nil, _ body: (S3ObjectStore, String) async throws -> T
    ) async throws -> T {
        let tls = try TestServices.current.s3TLS()
        let s3 = tls.plain
        var configuration = S3ObjectStore.Configuration(
            endpoint: endpoint, region: s3.region, bucket: bucket ?? s3.bucket,
            credentials: S3Credentials(accessKeyID: s3.accessKeyID, secretAccessKey: s3.secretAccessKey))
        configuration.forcePathStyle = pathStyle
        configuration.certificateAuthorityPEM = ca
        configuration.maxAttempts = 3
        // Only the bucket's own name resolves: a path-style request to the bare domain would fail to connect.
        configuration.connectTo = ["\(bucket ?? s3.bucket).\(tls.virtualHostDomain)": "127.0.0.1"]
        let store = try S3ObjectStore(configuration: configuration, logger: Logger(label: "test"))
        do {
            let result = try await body(store, "tests/\(UUID().uuidString)/")
            try await store.shutdown()
            return result
        } catch {
            try? await store.shutdown()
            throw error
        }
    }

    /// `https://127.0.0.1:PORT` as `scheme://<domain>:PORT`.
    private func domainEndpoint(_ endpoint: String, domain: String) throws -> String {
        let url = try #require(URLComponents(string: endpoint))
        return "\(url.scheme!)://\(domain):\(url.port!)"
    }

    /// Puts, lists, reads, streams a multipart object through, and deletes.
    private func roundTrip(_ store: S3ObjectStore, prefix: String) async throws {
        _ = try await store.putObject(key: prefix + "small", body: ByteBuffer(string: "hello"), metadata: ["namespace": "shop"])
        let (info, stream) = try await store.getObject(key: prefix + "small")
        #expect(String(buffer: try await stream.collect(upTo: 1 << 10)) == "hello")
        #expect(info.metadata["namespace"] == "shop")

        var upload = StreamingUpload.Configuration()
        upload.initialPartSize = 5 << 20
        let source = GeneratedBytes(total: (11 << 20) + 3, chunkSize: 100_000)
        let result = try await StreamingUpload(store: store, configuration: upload, logger: Logger(label: "test"))
            .upload(source, key: prefix + "big", metadata: ["driver": "mysql"])
        #expect(result.parts == 3)
        let (bigInfo, bigStream) = try await store.getObject(key: prefix + "big")
        var expected = ByteBuffer()
        for try await var chunk in source { expected.writeBuffer(&chunk) }
        #expect(try await bigStream.collect(upTo: 16 << 20) == expected)
        #expect(bigInfo.size == result.size && bigInfo.metadata == ["driver": "mysql"])

        #expect(try await store.listObjects(prefix: prefix).map(\.key).sorted() == [prefix + "big", prefix + "small"])
        for key in ["big", "small"] { try await store.deleteObject(key: prefix + key) }
        #expect(try await store.listObjects(prefix: prefix).isEmpty)
        #expect(try await store.listMultipartUploads(prefix: prefix).isEmpty)
    }

    @Test("virtual-host style over HTTP: the bucket is named by the host, and everything round-trips")
    func virtualHostOverHTTP() async throws {
        let tls = try TestServices.current.s3TLS()
        let endpoint = try domainEndpoint(tls.plain.endpoint, domain: tls.virtualHostDomain)
        try await withStore(endpoint: endpoint, pathStyle: false, ca: nil) { try await roundTrip($0, prefix: $1) }
    }

    @Test("virtual-host style names the bucket: a bucket that does not exist gives NoSuchBucket")
    func virtualHostMissingBucket() async throws {
        let tls = try TestServices.current.s3TLS()
        let endpoint = try domainEndpoint(tls.plain.endpoint, domain: tls.virtualHostDomain)
        try await withStore(endpoint: endpoint, pathStyle: false, ca: nil, bucket: "dbop-no-such-bucket") { store, prefix in
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.listObjects(prefix: prefix) }
            #expect(error?.code == .noSuchBucket, "\(String(describing: error))")
        }
    }

    @Test("HTTPS with the given CA, path style and virtual-host style, round-trips")
    func httpsWithCA() async throws {
        let tls = try TestServices.current.s3TLS()
        try await withStore(endpoint: tls.endpoint, pathStyle: true, ca: tls.certificateAuthorityPEM) { try await roundTrip($0, prefix: $1) }
        let byHost = try domainEndpoint(tls.endpoint, domain: tls.virtualHostDomain)
        try await withStore(endpoint: byHost, pathStyle: false, ca: tls.certificateAuthorityPEM) { try await roundTrip($0, prefix: $1) }
    }

    @Test("HTTPS without the CA: a TLSFailed error that says what to give")
    func httpsWithoutCA() async throws {
        let tls = try TestServices.current.s3TLS()
        try await withStore(endpoint: tls.endpoint, pathStyle: true, ca: nil) { store, prefix in
            let error = await #expect(throws: ObjectStoreError.self) { _ = try await store.putObject(key: prefix + "x", body: ByteBuffer(string: "x"), metadata: [:]) }
            #expect(error?.code == .tls, "\(String(describing: error))")
            #expect(error?.message.contains("AWS_CA_BUNDLE") == true)
        }
        #expect(throws: ObjectStoreError.self) {
            var configuration = S3ObjectStore.Configuration(endpoint: tls.endpoint, region: "us-east-1", bucket: "b", credentials: S3Credentials(accessKeyID: "a", secretAccessKey: "s"))
            configuration.certificateAuthorityPEM = "not a certificate"
            _ = try S3ObjectStore(configuration: configuration, logger: Logger(label: "test"))
        }
    }
}
