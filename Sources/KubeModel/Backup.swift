/// `dboperator.io/v1alpha1` Backup: one logical dump of a Database streamed to its
/// S3 destination (SPEC section 2.3). Deleting it leaves the object in the store;
/// only a BackupSchedule's retention deletes Backups it made, with their objects.
public struct Backup: KubernetesObject, Hashable {
    public static let resource = ResourceDescriptor(
        group: "dboperator.io", version: "v1alpha1", plural: "backups", kind: "Backup", namespaced: true)

    public var apiVersion: String? = "dboperator.io/v1alpha1"
    public var kind: String? = "Backup"
    public var metadata: ObjectMeta
    public var spec: BackupSpec
    public var status: BackupStatus?

    public init(metadata: ObjectMeta, spec: BackupSpec, status: BackupStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public var phase: BackupPhase? { status?.phase }

    /// A final Backup kept in the operator's namespace for a Database of another.
    public var isKeptForAnotherNamespace: Bool { metadata.labels?[LabelKey.databaseNamespace] != nil }
}

/// Which Database to back up (same namespace).
public struct BackupSpec: Codable, Sendable, Hashable {
    public var database: String

    public init(database: String) { self.database = database }
}

/// The phases of a Backup, written only by the driver runtime.
public enum BackupPhase: String, Codable, Sendable, Hashable, CaseIterable {
    case starting = "Starting"
    case backingUp = "BackingUp"
    case completed = "Completed"
    case failed = "Failed"

    /// Completed or Failed: nothing more happens to it.
    public var isFinished: Bool { self == .completed || self == .failed }
}

/// Where a backup is and how far it got.
public struct BackupStatus: Codable, Sendable, Hashable {
    public var phase: BackupPhase?
    public var destination: String?
    public var progress: BackupProgress?
    public var size: Int64?
    public var sha256: String?
    public var startedAt: String?
    public var completedAt: String?
    /// How many times a driver runtime started this backup; past the limit it fails for good.
    public var attempts: Int?
    public var conditions: [Condition]?

    public init(phase: BackupPhase? = nil) { self.phase = phase }
}

/// Bytes stored so far and the estimate from the database's size.
public struct BackupProgress: Codable, Sendable, Hashable {
    public var bytes: Int64
    public var estimatedTotalBytes: Int64?
    public var percent: Int?
    public var updatedAt: String?

    public init(bytes: Int64, estimatedTotalBytes: Int64?, percent: Int?, updatedAt: String?) {
        self.bytes = bytes
        self.estimatedTotalBytes = estimatedTotalBytes
        self.percent = percent
        self.updatedAt = updatedAt
    }
}

extension Resource where Object == Backup {
    public var phase: BackupPhase? { object.phase }
}
