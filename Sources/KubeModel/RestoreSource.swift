/// `spec.restoreFrom` (SPEC section 13): what a new Database is loaded from, read at
/// creation only. Either `backup` (a Completed Backup of this namespace) or `s3` (an
/// object made elsewhere, e.g. `pg_dump -Fc` or `mysqldump | gzip` by hand).
public struct RestoreSource: Codable, Sendable, Hashable {
    public var backup: String?
    public var s3: RestoreS3Source?
    public var S3: RestoreS3Source?
    /// A Secret of this namespace whose key `identity` holds age secret keys
    /// (`AGE-SECRET-KEY-1...`, one per line): for encrypted backups.
    public var identitySecret: String?

    public init(backup: String? = nil, s3: RestoreS3Source? = nil, identitySecret: String? = nil) {
        self.backup = backup
        self.s3 = s3
        self.identitySecret = identitySecret
    }

    /// The S3 block, whichever spelling was used.
    public var s3Source: RestoreS3Source? { s3 ?? S3 }
}

/// One object in an S3-compatible store: the backup target's keys (both spellings)
/// with `key` instead of `prefix`.
public struct RestoreS3Source: Codable, Sendable, Hashable {
    public var region: String?
    public var Region: String?
    public var bucket: String?
    public var Bucket: String?
    public var key: String?
    public var Key: String?
    public var endpoint: String?
    public var Endpoint: String?
    public var forcePathStyle: Bool?
    public var ForcePathStyle: Bool?
    public var credentialsSecret: String?
    public var CredentialsSecret: String?

    public init(
        region: String? = nil, bucket: String? = nil, key: String? = nil, endpoint: String? = nil, forcePathStyle: Bool? = nil,
        credentialsSecret: String? = nil
    ) {
        self.region = region
        self.bucket = bucket
        self.key = key
        self.endpoint = endpoint
        self.forcePathStyle = forcePathStyle
        self.credentialsSecret = credentialsSecret
    }

    /// The object's key, whichever spelling was used.
    public var objectKey: String? { key ?? Key }

    /// The store, with one spelling of each key resolved.
    public var location: S3Location {
        S3Location(
            region: region ?? Region ?? "us-east-1", bucket: bucket ?? Bucket ?? "", prefix: "",
            endpoint: endpoint ?? Endpoint, forcePathStyle: forcePathStyle ?? ForcePathStyle ?? false,
            credentialsSecret: credentialsSecret ?? CredentialsSecret)
    }
}

/// `spec.cloneFrom` (SPEC section 13): the new database starts as a copy of another
/// Database of this namespace, as it is when the clone is made.
public struct CloneSource: Codable, Sendable, Hashable {
    /// A Created Database in this namespace, of the same driver.
    public var database: String

    public init(database: String) { self.database = database }
}
