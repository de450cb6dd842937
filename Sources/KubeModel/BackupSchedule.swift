/// `dboperator.io/v1alpha1` BackupSchedule (SPEC section 14): Backups of one Database
/// on a cron schedule in a time zone, and retention of those it made. The operator
/// writes its status; its Backups are labelled `dboperator.io/schedule` and owned
/// by it, and retention deletes them with their objects.
public struct BackupSchedule: KubernetesObject, Hashable {
    public static let resource = ResourceDescriptor(
        group: "dboperator.io", version: "v1alpha1", plural: "backupschedules", kind: "BackupSchedule", namespaced: true)

    public var apiVersion: String? = "dboperator.io/v1alpha1"
    public var kind: String? = "BackupSchedule"
    public var metadata: ObjectMeta
    public var spec: BackupScheduleSpec
    public var status: BackupScheduleStatus?

    public init(metadata: ObjectMeta, spec: BackupScheduleSpec, status: BackupScheduleStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }
}

/// What the user asks for.
public struct BackupScheduleSpec: Codable, Sendable, Hashable {
    /// A Database in the same namespace.
    public var database: String
    /// Five-field cron, or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    public var schedule: String
    /// IANA time zone the schedule is read in; default UTC.
    public var timeZone: String?
    /// No new runs while true (retention still applies).
    public var suspend: Bool?
    public var retention: BackupRetention?

    public init(database: String, schedule: String, timeZone: String? = nil, suspend: Bool? = nil, retention: BackupRetention? = nil) {
        self.database = database
        self.schedule = schedule
        self.timeZone = timeZone
        self.suspend = suspend
        self.retention = retention
    }
}

/// Which Completed Backups of the schedule to keep, counted as restic's
/// `forget --keep-*` does; absent: all of them.
public struct BackupRetention: Codable, Sendable, Hashable {
    public var keepLast: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?

    public init(keepLast: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil, keepMonthly: Int? = nil) {
        self.keepLast = keepLast
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
    }
}

/// What the operator last did for the schedule.
public struct BackupScheduleStatus: Codable, Sendable, Hashable {
    /// The last run the schedule acted on (made a Backup for, or skipped).
    public var lastScheduleTime: String?
    /// When its newest Completed Backup completed.
    public var lastSuccessfulTime: String?
    /// The next run; absent while suspended or invalid.
    public var nextScheduleTime: String?
    /// The Backup made for the last run.
    public var lastBackup: String?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?

    public init() {}
}
