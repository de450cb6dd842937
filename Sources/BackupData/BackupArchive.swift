import Foundation
import KubeModel
import Logging
import NIOCore
import ObjectStore

/// The backup data path, in one place (SPEC sections 5, 13 and 14). Forward: a dump
/// stream becomes one object and its manifest — the key layout, the compression
/// chosen, age encryption, incomplete uploads of earlier attempts aborted, the
/// streaming multipart upload with its progress, the stored size checked, the
/// manifest written (the object deleted again if that fails). Reverse: what an object
/// is (its manifest, or its name when made by hand), its bytes back as a plain dump
/// (`RestoreStream`: sha256 checked, decrypted, decompressed), and its deletion.
/// The store is this archive's: `shutdown` ends it. DriverAPI only orchestrates
/// phases around it (where to store, with which credentials, and status writes);
/// ObjectStore provides the pieces (S3, compression, age, the upload).
public struct BackupArchive: Sendable {
    public let store: any ObjectStore
    public let location: S3Location
    public let logger: Logger

    public init(store: any ObjectStore, location: S3Location, logger: Logger) {
        self.store = store
        self.location = location
        self.logger = logger
    }

    /// Ends the store's HTTP client: once, when the archive is done with.
    public func shutdown() async { try? await (store as? S3ObjectStore)?.shutdown() }

    // MARK: Forward

    /// Whose backup it is: the names in its key, its metadata and its manifest.
    public struct Identity: Sendable, Equatable {
        public var namespace: String
        /// The Database resource, and the database's name inside the instance.
        public var database: String
        public var databaseName: String
        public var backup: String
        public var backupUID: String
        /// The driver: `postgresql`, `mysql`.
        public var engine: String

        public init(namespace: String, database: String, databaseName: String, backup: String, backupUID: String, engine: String) {
            self.namespace = namespace
            self.database = database
            self.databaseName = databaseName
            self.backup = backup
            self.backupUID = backupUID
            self.engine = engine
        }
    }

    /// Where and how one attempt's dump is stored.
    public struct Layout: Sendable, Equatable {
        public var key: String
        /// `s3://bucket/key`.
        public var destination: String
        /// `pgdump`, `sql`: the dump's own extension.
        public var dumpFormat: String
        public var compression: CompressionFormat?
        public var encrypted: Bool
        public var contentType: String
    }

    /// The layout of a dump made at `date` (pure): compressed when the driver's dump
    /// wants it, with zstd when the target asks for it, else gzip; `.age` when
    /// encrypted; the key `<prefix><namespace>/<database>/<backup>-<timestamp>.<ext>`.
    public func layout(
        _ identity: Identity, dumpFormat: String, wantsCompression: Bool, compression preferred: BackupCompression?, encrypted: Bool, at date: Date
    ) -> Layout {
        // The spec was validated before the Job was made; an unknown value still means gzip here.
        let compression: CompressionFormat? = switch (wantsCompression, preferred) {
        case (false, _): nil
        case (true, .zstd?): .zstd
        case (true, _): .gzip
        }
        let fileExtension = (compression.map { "\(dumpFormat).\($0.fileSuffix)" } ?? dumpFormat) + (encrypted ? ".age" : "")
        let key = location.key(
            namespace: identity.namespace, database: identity.database, backup: identity.backup, timestamp: Self.keyTimestamp(date), fileExtension: fileExtension)
        return Layout(
            key: key, destination: location.url(key: key), dumpFormat: dumpFormat, compression: compression, encrypted: encrypted,
            contentType: BackupManifest.contentType(dumpFormat: dumpFormat, compression: compression, encrypted: encrypted))
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func keyTimestamp(_ date: Date) -> String {
        KubeTime.format(date).filter { $0 != "-" && $0 != ":" }
    }

    /// Stores `dump` as `layout` says and its manifest next to it; returns the
    /// manifest. What an earlier attempt left unfinished goes first; a failure leaves
    /// neither a partial object nor an object without its manifest.
    /// - Parameter progress: the bytes stored so far, after each part.
    public func write<Dump: AsyncSequence & Sendable>(
        _ dump: Dump, layout: Layout, identity: Identity, recipients: [AgeRecipient], serverVersion: String?, tool: String?, startedAt: String,
        upload configuration: StreamingUpload.Configuration, progress: @escaping @Sendable (Int64) async -> Void
    ) async throws -> BackupManifest where Dump.Element == ByteBuffer {
        let uploader = StreamingUpload(store: store, configuration: configuration, logger: logger)
        try await uploader.abortIncompleteUploads(prefix: location.backupPrefix(namespace: identity.namespace, database: identity.database, backup: identity.backup))
        let metadata = [
            "namespace": identity.namespace, "database": identity.database, "backup": identity.backup, "backup-uid": identity.backupUID, "driver": identity.engine,
        ]
        // Written once: size and checksum, known only at the end, go into the manifest.
        let result = try await uploader.upload(
            dump, compressing: layout.compression, encryptingTo: recipients, key: layout.key, metadata: metadata, contentType: layout.contentType, progress: progress)
        guard let stored = try await store.headObject(key: layout.key), stored.size == result.size else {
            throw BackupArchiveError.verificationFailed(layout.destination)
        }
        let manifest = BackupManifest(
            key: layout.key, destination: layout.destination, size: result.size, sha256: result.sha256, contentType: layout.contentType,
            engine: identity.engine, serverVersion: serverVersion, tool: tool, dumpFormat: layout.dumpFormat,
            compression: layout.compression?.rawValue, encryptionRecipients: recipients.map(\.description), namespace: identity.namespace,
            database: identity.database, databaseName: identity.databaseName, backup: identity.backup, backupUID: identity.backupUID,
            startedAt: startedAt, completedAt: KubeTime.now())
        do {
            _ = try await store.putObject(
                key: BackupManifest.key(for: layout.key), body: ByteBuffer(bytes: try manifest.encoded()), metadata: metadata, contentType: "application/json")
        } catch {
            // No object without its manifest: the next attempt writes both again.
            try? await store.deleteObject(key: layout.key)
            throw error
        }
        return manifest
    }

    // MARK: Reverse

    /// An object as a restore sees it.
    public struct Stored: Sendable {
        public var key: String
        /// `s3://bucket/key`.
        public var url: String
        /// Its manifest; nil for an object made by hand.
        public var manifest: BackupManifest?
        public var encrypted: Bool
        public var compression: CompressionFormat?
    }

    /// What the object `key` is: from its manifest, else (made by hand) from its name
    /// (`.gz`, `.zst`, `.age`); nil when there is no such object.
    public func inspect(key: String) async throws -> Stored? {
        guard try await store.headObject(key: key) != nil else { return nil }
        var manifest: BackupManifest?
        do {
            let body = try await store.getObject(key: BackupManifest.key(for: key)).1.collect(upTo: 1 << 20)
            manifest = try? JSONDecoder().decode(BackupManifest.self, from: Data(body.readableBytesView))
        } catch let error as ObjectStoreError where error.code == .noSuchKey || error.httpStatus == 404 {
        }
        var name = key
        let encrypted = manifest.map { !$0.encryptionRecipients.isEmpty } ?? name.hasSuffix(".age")
        if name.hasSuffix(".age") { name.removeLast(4) }
        let compression: CompressionFormat? = manifest.map { $0.compression.flatMap(CompressionFormat.init(rawValue:)) }
            ?? (name.hasSuffix(".gz") ? .gzip : name.hasSuffix(".zst") ? .zstd : nil)
        return Stored(key: key, url: location.url(key: key), manifest: manifest, encrypted: encrypted, compression: compression)
    }

    /// The object's bytes as the plain dump: the download hashed as it comes and
    /// checked against `expectedSHA256` (else the manifest's) before its end is
    /// given out, decrypted with `identities`, decompressed.
    public func open(_ stored: Stored, expectedSHA256: String?, identities: [AgeIdentity]?) async throws -> RestoreStream {
        let (_, bytes) = try await store.getObject(key: stored.key)
        return RestoreStream(
            bytes, options: RestoreStream.Options(expectedSHA256: expectedSHA256 ?? stored.manifest?.sha256, identities: identities, compression: stored.compression))
    }

    /// Deletes the object `key`, then its manifest: an object is never left without it.
    public func delete(key: String) async throws {
        try await store.deleteObject(key: key)
        try await store.deleteObject(key: BackupManifest.key(for: key))
    }
}

/// A stored object that is not what was written.
public enum BackupArchiveError: Error, CustomStringConvertible, Sendable {
    case verificationFailed(String)

    public var description: String {
        switch self {
        case .verificationFailed(let destination): "the stored object \(destination) does not match what was uploaded"
        }
    }
}
