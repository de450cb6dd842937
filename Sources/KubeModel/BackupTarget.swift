/// `spec.backupTo`: where backups go. The key is `S3` as in the original design, or
/// `s3`; giving both is an error reported by `Database.validate`.
public struct BackupTarget: Codable, Sendable, Hashable {
    // The spellings are the wire format (SPEC 2.1), hence the capitalised property.
    public var S3: S3Spec?
    public var s3: S3Spec?
    /// How MySQL dumps are compressed: `gzip` (default) or `zstd`. Kept as written so
    /// an unknown value is reported (`Database.validate`) rather than failing to decode.
    public var compression: String?
    /// Client-side encryption of the objects (age, to the recipients of a Secret).
    public var encryption: BackupEncryption?

    public init(S3: S3Spec? = nil, s3: S3Spec? = nil, compression: String? = nil, encryption: BackupEncryption? = nil) {
        self.S3 = S3
        self.s3 = s3
        self.compression = compression
        self.encryption = encryption
    }

    /// The S3 block, whichever spelling was used.
    public var s3Spec: S3Spec? { s3 ?? S3 }

    /// The compression asked for, gzip when none is; nil when the value is not one of
    /// `BackupCompression`.
    public var compressionFormat: BackupCompression? {
        guard let compression else { return .gzip }
        return BackupCompression(rawValue: compression)
    }
}

/// `spec.backupTo.encryption`: objects are written in the age v1 format (suffix
/// `.age`), encrypted to the X25519 public keys (`age1...`, one per line) under key
/// `recipients` of the Secret `recipientsSecret`, read where the CredentialsSecret is.
/// Only the public keys are needed to back up; restoring needs an identity.
public struct BackupEncryption: Codable, Sendable, Hashable {
    public var recipientsSecret: String?

    public init(recipientsSecret: String?) { self.recipientsSecret = recipientsSecret }
}

/// `spec.backupTo.compression`. PostgreSQL's custom-format dumps are compressed by
/// `pg_dump` itself and stored as they are, whatever this says.
public enum BackupCompression: String, Codable, Sendable, CaseIterable {
    /// Parallel gzip: a `.sql.gz` that `gunzip` reads.
    case gzip
    /// Parallel Zstandard: a `.sql.zst` that `zstd -d` reads; faster and smaller.
    case zstd
}

/// An S3-compatible destination. Every key is accepted in the original design's
/// spelling (`Region`) and in lower camel case (`region`), never both.
public struct S3Spec: Codable, Sendable, Hashable {
    public var region: String?
    public var Region: String?
    public var bucket: String?
    public var Bucket: String?
    public var prefix: String?
    public var Prefix: String?
    public var endpoint: String?
    public var Endpoint: String?
    public var forcePathStyle: Bool?
    public var ForcePathStyle: Bool?
    public var credentialsSecret: String?
    public var CredentialsSecret: String?

    public init(region: String? = nil, bucket: String? = nil, prefix: String? = nil, endpoint: String? = nil, forcePathStyle: Bool? = nil, credentialsSecret: String? = nil) {
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.forcePathStyle = forcePathStyle
        self.credentialsSecret = credentialsSecret
    }

    /// Keys given in both spellings, as `Region/region`.
    public var keysGivenTwice: [String] {
        var twice: [String] = []
        if Region != nil, region != nil { twice.append("Region/region") }
        if Bucket != nil, bucket != nil { twice.append("Bucket/bucket") }
        if Prefix != nil, prefix != nil { twice.append("Prefix/prefix") }
        if Endpoint != nil, endpoint != nil { twice.append("Endpoint/endpoint") }
        if ForcePathStyle != nil, forcePathStyle != nil { twice.append("ForcePathStyle/forcePathStyle") }
        if CredentialsSecret != nil, credentialsSecret != nil { twice.append("CredentialsSecret/credentialsSecret") }
        return twice
    }

    /// The destination with one spelling resolved; nil fields were not given.
    public var location: S3Location {
        S3Location(
            region: region ?? Region ?? "us-east-1", bucket: bucket ?? Bucket ?? "", prefix: prefix ?? Prefix ?? "",
            endpoint: endpoint ?? Endpoint, forcePathStyle: forcePathStyle ?? ForcePathStyle ?? false,
            credentialsSecret: credentialsSecret ?? CredentialsSecret)
    }
}

/// A resolved S3 destination.
public struct S3Location: Sendable, Hashable {
    public var region: String
    public var bucket: String
    public var prefix: String
    public var endpoint: String?
    public var forcePathStyle: Bool
    public var credentialsSecret: String?

    public init(region: String, bucket: String, prefix: String, endpoint: String?, forcePathStyle: Bool, credentialsSecret: String?) {
        self.region = region
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.forcePathStyle = forcePathStyle
        self.credentialsSecret = credentialsSecret
    }

    /// The object key of a backup (SPEC section 5):
    /// `<prefix><namespace>/<database>/<backup>-<yyyyMMdd'T'HHmmss'Z'>.<extension>`.
    public func key(namespace: String, database: String, backup: String, timestamp: String, fileExtension: String) -> String {
        "\(backupPrefix(namespace: namespace, database: database, backup: backup))\(timestamp).\(fileExtension)"
    }

    /// What every object of one Backup's attempts starts with.
    public func backupPrefix(namespace: String, database: String, backup: String) -> String {
        "\(prefix)\(namespace)/\(database)/\(Self.objectNamePart(backup))-"
    }

    /// A Backup's name as the start of an object name. Stores that keep objects as
    /// files (SeaweedFS's filer, MinIO) take at most 255 bytes per path component,
    /// and "<part>-<timestamp>.<ext>.manifest.json" must fit: a longer name is cut,
    /// with a hash of the whole so two long names never share a part.
    public static func objectNamePart(_ backup: String) -> String {
        let limit = 200
        guard backup.utf8.count > limit else { return backup }
        return String(backup.utf8.prefix(limit - 17).map { Character(UnicodeScalar($0)) }) + "-" + ShortHash.fnv1a64Hex(backup)
    }

    /// `s3://bucket/key`.
    public func url(key: String) -> String { "s3://\(bucket)/\(key)" }

    /// The key of `destination` (a Backup's `status.destination`) when it is an object
    /// of that Backup in this location; nil when it is elsewhere (the target changed
    /// since, or the destination is not one this program wrote).
    public func key(ofDestination destination: String, namespace: String, database: String, backup: String) -> String? {
        let start = "s3://\(bucket)/"
        guard destination.hasPrefix(start) else { return nil }
        let key = String(destination.dropFirst(start.count))
        let prefix = backupPrefix(namespace: namespace, database: database, backup: backup)
        guard key.hasPrefix(prefix), key.count > prefix.count, !key.dropFirst(prefix.count).contains("/") else { return nil }
        return key
    }
}
