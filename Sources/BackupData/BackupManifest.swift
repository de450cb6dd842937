import Foundation
import ObjectStore

/// What `<key>.manifest.json`, written next to every backup object, says about it
/// (SPEC section 14). The object itself is written once, never copied onto itself
/// to add metadata (which doubles storage in versioned and Object-Lock buckets); the
/// manifest is the record of what it holds and how to restore it.
public struct BackupManifest: Codable, Sendable, Equatable {
    /// The manifest format; 1 for this one.
    public var format = 1
    /// The object's key and `s3://bucket/key`.
    public var key: String
    public var destination: String
    public var size: Int64
    public var sha256: String
    public var contentType: String
    /// `postgresql`, `mysql`.
    public var engine: String
    public var serverVersion: String?
    /// The dump tool and its version ("pg_dump 18.6").
    public var tool: String?
    /// `pgdump` (PostgreSQL's custom format) or `sql`.
    public var dumpFormat: String
    /// `gzip`, `zstd`, or nil (stored as dumped).
    public var compression: String?
    /// age recipients the object is encrypted to; empty: not encrypted.
    public var encryptionRecipients: [String] = []
    public var namespace: String
    /// The Database resource, and the database's name inside the instance.
    public var database: String
    public var databaseName: String
    public var backup: String
    public var backupUID: String
    public var startedAt: String
    public var completedAt: String

    /// Where the manifest of the object `key` is stored.
    public static func key(for objectKey: String) -> String { objectKey + ".manifest.json" }

    /// The Content-Type of a dump object: what a browser or `aws s3 cp` shows.
    /// An age-encrypted object is opaque bytes whatever it holds.
    public static func contentType(dumpFormat: String, compression: CompressionFormat?, encrypted: Bool = false) -> String {
        if encrypted { return "application/octet-stream" }
        return switch compression {
        case .gzip?: "application/gzip"
        case .zstd?: "application/zstd"
        case nil: dumpFormat == "sql" ? "application/sql" : "application/octet-stream"
        }
    }

    /// The manifest as stored: pretty, keys sorted.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
