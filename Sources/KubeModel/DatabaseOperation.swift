/// The work a driver Job does for a Database: the value of `DB_OPERATOR_OPERATION`,
/// the contract between the operator (which picks it) and the runtime (which does it).
public enum DatabaseOperation: String, Sendable, Hashable, CaseIterable {
    case create
    case backup
    case delete
    case backupBeforeDelete = "backup-before-delete"
    /// Retention of a BackupSchedule: delete a Completed Backup's object, its manifest,
    /// then the Backup. Changes no phase of the Database.
    case expireBackup = "expire-backup"
}
