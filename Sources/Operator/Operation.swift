/// The work a Job does for a Database: the value of `DB_OPERATOR_OPERATION`.
public enum Operation: String, Sendable, Hashable, CaseIterable {
    case create
    case backup
    case delete
    case backupBeforeDelete = "backup-before-delete"
}
