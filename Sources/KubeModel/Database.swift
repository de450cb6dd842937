/// `dboperator.io/v1alpha1` Database: a database and its owner login inside an
/// existing PostgreSQL or MySQL instance (SPEC section 2.1).
public struct Database: KubernetesObject, Hashable {
    public static let resource = ResourceDescriptor(
        group: "dboperator.io", version: "v1alpha1", plural: "databases", kind: "Database", namespaced: true)
    /// The finalizer the driver runtime adds at D1 and removes at D10.
    public static let finalizer = "dboperator.io/finalizer"

    public var apiVersion: String? = "dboperator.io/v1alpha1"
    public var kind: String? = "Database"
    public var metadata: ObjectMeta
    public var spec: DatabaseSpec
    /// Out of line, as the spec's large optional sections (`Indirect`).
    @Indirect public var status: DatabaseStatus?

    public init(metadata: ObjectMeta, spec: DatabaseSpec, status: DatabaseStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec, status }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // The usual apiVersion is the literal (no copy of it per cached Database).
        let apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion)
        self.apiVersion = apiVersion == "dboperator.io/v1alpha1" ? "dboperator.io/v1alpha1" : apiVersion
        let kind = try container.decodeIfPresent(String.self, forKey: .kind)
        self.kind = kind == "Database" ? "Database" : kind
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        spec = try container.decode(DatabaseSpec.self, forKey: .spec)
        status = try container.decodeIfPresent(DatabaseStatus.self, forKey: .status)
    }

    /// The phase, or nil before the driver first wrote one.
    public var phase: DatabasePhase? { status?.phase }
    public var isBeingDeleted: Bool { metadata.deletionTimestamp != nil }
}

/// What the user asks for.
public struct DatabaseSpec: Codable, Sendable, Hashable {
    /// The registered driver: `postgresql`, `mysql`. Required without `server`; with
    /// it, the server's driver (giving another is invalid).
    public var driver: String?
    /// A DatabaseServer (cluster-scoped) to create the database on, instead of
    /// `connect` and `credentials`.
    public var server: String?
    // The optional sections are out of line (`Indirect`): most are absent, and
    // inline they made a cached Database 1.5 KB whatever it held.
    @Indirect public var connect: ConnectSpec?
    @Indirect public var credentials: CredentialsSpec?
    @Indirect public var backupTo: BackupTarget?
    public var databaseName: String?
    public var username: String?
    public var deletionPolicy: DeletionPolicy?
    /// Dangerous: take over a database the instance's bookkeeping records for this
    /// namespace and name in another cluster (or in one not recorded). Without it a
    /// database retained by an earlier Database is adopted only within one cluster.
    public var adopt: Bool?
    /// A Go duration (`2h`, `20s`): the operator deletes the Database this long after
    /// its creation, and its `deletionPolicy` applies.
    public var ttl: String?
    /// What the new database is loaded from (at creation only; later changes are ignored).
    @Indirect public var restoreFrom: RestoreSource? = nil
    /// The Database the new one is copied from (at creation only; later changes are ignored).
    @Indirect public var cloneFrom: CloneSource? = nil

    public init(
        driver: String?, connect: ConnectSpec?, credentials: CredentialsSpec? = nil, backupTo: BackupTarget? = nil,
        databaseName: String? = nil, username: String? = nil, deletionPolicy: DeletionPolicy? = nil, adopt: Bool? = nil,
        server: String? = nil, ttl: String? = nil
    ) {
        self.ttl = ttl
        self.adopt = adopt
        self.server = server
        self.driver = driver
        self.connect = connect
        self.credentials = credentials
        self.backupTo = backupTo
        self.databaseName = databaseName
        self.username = username
        self.deletionPolicy = deletionPolicy
    }

    /// The policy the spec gives: as written, else `BackupBeforeDelete` with a backup
    /// target (its own, or `serverBackupTo`, the default of its DatabaseServer), else
    /// `Delete`. Once Created, `Database.effectiveDeletionPolicy` is the one in force.
    public func effectiveDeletionPolicy(serverBackupTo: BackupTarget? = nil) -> DeletionPolicy {
        deletionPolicy ?? ((backupTo ?? serverBackupTo)?.s3Spec == nil ? .delete : .backupBeforeDelete)
    }
}

extension Database {
    /// The policy in force: one written in the spec; else `BackupBeforeDelete` when
    /// that was in force at Created (removing `backupTo` later does not quietly turn it
    /// into a plain drop; only writing `deletionPolicy` does); else the spec's default
    /// (with `server`'s default backup target when the Database names one).
    public func effectiveDeletionPolicy(server: DatabaseServer? = nil) -> DeletionPolicy {
        if let written = spec.deletionPolicy { return written }
        if status?.deletionPolicy == .backupBeforeDelete { return .backupBeforeDelete }
        return spec.effectiveDeletionPolicy(serverBackupTo: server?.spec.backupTo)
    }

    /// The DatabaseServer the database is on: once Created, the one recorded then
    /// (nil for a database created from `connect`); before, `spec.server`.
    public var serverName: String? {
        if status?.driver != nil { return status?.server }
        return spec.server.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The backup target in force: the Database's own, else its server's default.
    /// `fromServer` says whose namespace the CredentialsSecret is read from.
    public func backupTarget(server: DatabaseServer?) -> (target: BackupTarget, fromServer: Bool)? {
        if let own = spec.backupTo { return (own, false) }
        if serverName != nil, let target = server?.spec.backupTo { return (target, true) }
        return nil
    }
}

/// Where the instance listens.
public struct ConnectSpec: Codable, Sendable, Hashable {
    /// Required; optional here so a resource without it gets a condition, not a decode error.
    public var host: String?
    public var port: Int?
    public var sslMode: TLSModeName?
    /// A Secret in the Database's namespace whose `ca.crt` is the CA the server's
    /// certificate must chain to (verify-ca, verify-full).
    public var caSecret: String?

    public init(host: String?, port: Int? = nil, sslMode: TLSModeName? = nil, caSecret: String? = nil) {
        self.host = host
        self.port = port
        self.sslMode = sslMode
        self.caSecret = caSecret
    }
}

/// The TLS modes of libpq's `sslmode`, used for both engines.
public enum TLSModeName: String, Codable, Sendable, Hashable, CaseIterable {
    case disable, prefer, require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"
}

/// The instance's admin login.
public struct CredentialsSpec: Codable, Sendable, Hashable {
    public var username: ValueSource?
    public var password: ValueSource?

    public init(username: ValueSource? = nil, password: ValueSource? = nil) {
        self.username = username
        self.password = password
    }
}

/// A literal value, or one read from a Secret key in the resource's namespace.
public struct ValueSource: Codable, Sendable, Hashable {
    public var value: String?
    public var valueFrom: ValueFrom?

    public init(value: String? = nil, valueFrom: ValueFrom? = nil) {
        self.value = value
        self.valueFrom = valueFrom
    }

    /// Where a value comes from.
    public struct ValueFrom: Codable, Sendable, Hashable {
        public var secretKeyRef: SecretKeyRef?

        public init(secretKeyRef: SecretKeyRef? = nil) { self.secretKeyRef = secretKeyRef }
    }
}

/// A key of a Secret. `namespace` exists only to be refused when it names another
/// namespace: credentials are read from the resource's own namespace.
public struct SecretKeyRef: Codable, Sendable, Hashable {
    public var name: String
    public var key: String
    public var namespace: String?

    public init(name: String, key: String, namespace: String? = nil) {
        self.name = name
        self.key = key
        self.namespace = namespace
    }
}

/// What happens inside the instance when the resource is deleted.
public enum DeletionPolicy: String, Codable, Sendable, Hashable, CaseIterable {
    case delete = "Delete"
    case backupBeforeDelete = "BackupBeforeDelete"
    case retain = "Retain"
}

/// The phases of a Database (SPEC section 3), written only by the driver runtime.
public enum DatabasePhase: String, Codable, Sendable, Hashable, CaseIterable {
    case creating = "Creating"
    case created = "Created"
    case backupRequested = "BackupRequested"
    case backupInProgress = "BackupInProgress"
    case backupCompleted = "BackupCompleted"
    case deletionRequested = "DeletionRequested"
    case deletionInProgress = "DeletionInProgress"
    case deleted = "Deleted"
    case backupBeforeDeleteRequested = "BackupBeforeDeleteRequested"
    case backupBeforeDeleteInProgress = "BackupBeforeDeleteInProgress"
    case backupBeforeDeleteCompleted = "BackupBeforeDeleteCompleted"
    /// Created in the instance, being loaded from `spec.restoreFrom` (R1; R2 to Created).
    case restoring = "Restoring"
}

/// What the driver runtime (phases, names) and the operator (conditions) report.
public struct DatabaseStatus: Codable, Sendable, Hashable {
    public var phase: DatabasePhase?
    public var observedGeneration: Int64?
    public var databaseName: String?
    public var username: String?
    public var secretName: String?
    /// The driver, host and port the database was created with: later changes to the
    /// spec are reported, not applied.
    public var driver: String?
    public var host: String?
    public var port: Int?
    /// The DatabaseServer the database was created on (none for `connect`).
    public var server: String?
    /// The Backup holding the database; empty when none.
    public var activeBackup: String?
    /// The deletion policy in force when the database was Created (see
    /// `Database.effectiveDeletionPolicy`).
    public var deletionPolicy: DeletionPolicy?
    public var lastBackup: LastBackup?
    /// When `spec.ttl` runs out (written by the operator).
    public var expiresAt: String?
    /// The restore: where from, how many attempts began (written by the runtime).
    public var restore: RestoreStatus?
    public var conditions: [Condition]?

    public init(phase: DatabasePhase? = nil) { self.phase = phase }
}

/// What the runtime records of a restore.
public struct RestoreStatus: Codable, Sendable, Hashable {
    /// `s3://bucket/key` of the object loaded, or `database/<name>` for a clone.
    public var source: String?
    public var attempts: Int?
    public var completedAt: String?
    /// The restore failed for good (its cause in `Ready`): the Database stays
    /// Restoring, no Job tries again, and it can be deleted.
    public var failed: Bool?

    public init(source: String? = nil, attempts: Int? = nil, completedAt: String? = nil, failed: Bool? = nil) {
        self.source = source
        self.attempts = attempts
        self.completedAt = completedAt
        self.failed = failed
    }
}

extension Database {
    /// Restoring, and the restore failed for good.
    public var restoreFailed: Bool { phase == .restoring && status?.restore?.failed == true }
}

/// The last backup that completed.
public struct LastBackup: Codable, Sendable, Hashable {
    public var name: String
    public var destination: String?
    public var completedAt: String?

    public init(name: String, destination: String?, completedAt: String?) {
        self.name = name
        self.destination = destination
        self.completedAt = completedAt
    }
}
