/// The label keys db-operator puts on the objects it makes (Jobs, Backups, Secrets),
/// in one place for the operator, the driver runtime and the tests. Labels are what
/// selectors and the operator's indexes find objects by; their values are at most 63
/// characters (`LabelValue.valid`).
public enum LabelKey {
    /// The Database's name, when it is a valid label value (Jobs, final Backups).
    public static let database = "dboperator.io/database"
    /// The Database's UID: what the operator's Job index is keyed by.
    public static let databaseUID = "dboperator.io/database-uid"
    /// On Jobs of server-backed Databases (they run in the operator's namespace and so
    /// cannot have the Database as owner) and on final Backups kept in the operator's
    /// namespace: the Database's namespace.
    public static let databaseNamespace = "dboperator.io/database-namespace"
    /// What a driver Job does (`DatabaseOperation`).
    public static let operation = "dboperator.io/operation"
    /// On probe Jobs: the DatabaseServer's UID.
    public static let serverUID = "dboperator.io/server-uid"
    /// On a BackupSchedule's Backups: the schedule's name.
    public static let schedule = "dboperator.io/schedule"
    /// On the Backup taken before a Database is dropped.
    public static let final = "dboperator.io/final"
}

/// The annotation keys db-operator writes: values a label cannot hold (any length).
public enum AnnotationKey {
    /// The Database's name (with `LabelKey.databaseNamespace`).
    public static let databaseName = "dboperator.io/database-name"
    /// On probe Jobs: the DatabaseServer's name.
    public static let server = "dboperator.io/server"
    /// On backup Jobs: the Backup they run.
    public static let backup = "dboperator.io/backup"
    /// On driver Jobs: the Database's generation they were made for.
    public static let generation = "dboperator.io/generation"
    /// On driver Jobs: which attempt of the operation they are.
    public static let attempt = "dboperator.io/attempt"
    /// On a BackupSchedule's Backups: the run's time.
    public static let scheduledTime = "dboperator.io/scheduled-time"
}
