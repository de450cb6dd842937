import AsyncAlgorithms
import BackupData
import Foundation
import KubeModel
import Logging
import NIOCore
import ObjectStore
import Testing

/// The backup data path on the in-memory store: the layout's pure choices, a write
/// and its manifest, the reverse (inspect, open) and the deletion.
@Suite("The backup data path")
struct BackupArchiveTests {
    static let location = S3Location(region: "us-east-1", bucket: "b", prefix: "team/", endpoint: nil, forcePathStyle: true, credentialsSecret: nil)
    static let identity = BackupArchive.Identity(namespace: "ns", database: "shop", databaseName: "ns_shop", backup: "nightly", backupUID: "u-1", engine: "mysql")
    static let when = Date(timeIntervalSince1970: 1_798_000_000)

    @Test("the layout: gzip unless zstd is asked for, nothing for a dump that does not want it, .age when encrypted; key and Content-Type follow")
    func layout() {
        let archive = BackupArchive(store: InMemoryObjectStore(), location: Self.location, logger: Logger(label: "test"))
        let stamp = BackupArchive.keyTimestamp(Self.when)
        #expect(stamp == "20261223T042640Z")
        let cases: [(String, Bool, BackupCompression?, Bool, String, CompressionFormat?, String)] = [
            ("sql", true, nil, false, "sql.gz", .gzip, "application/gzip"),
            ("sql", true, .zstd, false, "sql.zst", .zstd, "application/zstd"),
            ("sql", true, .gzip, true, "sql.gz.age", .gzip, "application/octet-stream"),
            ("pgdump", false, .zstd, false, "pgdump", nil, "application/octet-stream"),
            ("sql", false, nil, false, "sql", nil, "application/sql"),
        ]
        for (format, wants, preferred, encrypted, fileExtension, compression, contentType) in cases {
            let layout = archive.layout(Self.identity, dumpFormat: format, wantsCompression: wants, compression: preferred, encrypted: encrypted, at: Self.when)
            #expect(layout.key == "team/ns/shop/nightly-\(stamp).\(fileExtension)")
            #expect(layout.destination == "s3://b/\(layout.key)")
            #expect(layout.compression == compression)
            #expect(layout.contentType == contentType)
        }
    }

    @Test("a write stores the object and its manifest; inspect, open and delete are its reverse")
    func roundTrip() async throws {
        let store = InMemoryObjectStore()
        let archive = BackupArchive(store: store, location: Self.location, logger: Logger(label: "test"))
        let dump = String(repeating: "INSERT INTO t VALUES (1);\n", count: 20_000)
        let layout = archive.layout(Self.identity, dumpFormat: "sql", wantsCompression: true, compression: .zstd, encrypted: false, at: Self.when)
        let chunks = stride(from: 0, to: dump.utf8.count, by: 7000).map { ByteBuffer(bytes: Array(dump.utf8).dropFirst($0).prefix(7000)) }
        let manifest = try await archive.write(
            chunks.async, layout: layout, identity: Self.identity, recipients: [], serverVersion: "10.11", tool: "mariadb-dump", startedAt: "t0",
            upload: StreamingUpload.Configuration()) { _ in }
        #expect(manifest.key == layout.key && manifest.compression == "zstd" && manifest.engine == "mysql" && manifest.databaseName == "ns_shop")
        #expect(try await store.headObject(key: layout.key)?.size == manifest.size)
        let stored = try #require(try await archive.inspect(key: layout.key))
        #expect(stored.manifest == manifest && stored.compression == .zstd && !stored.encrypted)
        var plain = ByteBuffer()
        for try await var chunk in try await archive.open(stored, expectedSHA256: nil, identities: nil) { plain.writeBuffer(&chunk) }
        #expect(String(buffer: plain) == dump)
        // Another checksum than the recorded one: the end of the download is refused.
        await #expect(throws: ObjectStoreError.self) {
            for try await _ in try await archive.open(stored, expectedSHA256: String(repeating: "0", count: 64), identities: nil) {}
        }
        // An object made by hand is known by its name.
        _ = try await store.putObject(key: "hand/made.sql.gz.age", body: ByteBuffer(string: "x"), metadata: [:])
        let hand = try #require(try await archive.inspect(key: "hand/made.sql.gz.age"))
        #expect(hand.manifest == nil && hand.encrypted && hand.compression == .gzip)
        #expect(try await archive.inspect(key: "hand/none.sql") == nil)
        try await archive.delete(key: layout.key)
        #expect(try await store.headObject(key: layout.key) == nil)
        #expect(try await store.headObject(key: BackupManifest.key(for: layout.key)) == nil)
    }
}
