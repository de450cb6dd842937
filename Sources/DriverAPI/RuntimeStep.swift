import KubeModel

/// The transitions of SPEC section 3.1, by number.
public enum Transition: String, Sendable, Hashable, CaseIterable {
    case d1 = "D1", d2 = "D2", d3 = "D3", d4 = "D4", d5 = "D5", d6 = "D6", d7 = "D7", d8 = "D8", d9 = "D9"
    case d10 = "D10", d11 = "D11", d12 = "D12", d13 = "D13", d14 = "D14", d15 = "D15", d16 = "D16", d17 = "D17"
    case b1 = "B1", b2 = "B2", b3 = "B3", b4 = "B4", b5 = "B5"
    case r1 = "R1", r2 = "R2", r3 = "R3"

    /// The transition a Database phase change is, if it is one of the table.
    public static func database(from: DatabasePhase?, to: DatabasePhase?) -> Transition? {
        switch (from, to) {
        case (nil, .creating?): .d1
        case (.creating?, .created?): .d2
        case (.created?, .backupRequested?): .d3
        case (.backupRequested?, .backupInProgress?): .d4
        case (.backupInProgress?, .backupCompleted?): .d5
        case (.backupCompleted?, .created?): .d6
        case (.created?, .deletionRequested?): .d7
        case (.deletionRequested?, .deletionInProgress?): .d8
        case (.deletionInProgress?, .deleted?): .d9
        case (.deleted?, nil): .d10
        case (.created?, .backupBeforeDeleteRequested?): .d11
        case (.backupBeforeDeleteRequested?, .backupBeforeDeleteInProgress?): .d12
        case (.backupBeforeDeleteInProgress?, .backupBeforeDeleteCompleted?): .d13
        case (.backupBeforeDeleteCompleted?, .deletionRequested?): .d14
        case (.creating?, .deletionRequested?): .d15
        case (.backupInProgress?, .created?): .d16
        case (.backupBeforeDeleteInProgress?, .created?): .d17
        case (.creating?, .restoring?): .r1
        case (.restoring?, .created?): .r2
        case (.restoring?, .deletionRequested?): .r3
        default: nil
        }
    }

    /// The transition a Backup phase change is (B3 is BackingUp to BackingUp).
    public static func backup(from: BackupPhase?, to: BackupPhase?) -> Transition? {
        switch (from, to) {
        case (nil, .starting?): .b1
        case (.starting?, .backingUp?): .b2
        case (.backingUp?, .backingUp?): .b3
        case (.backingUp?, .completed?): .b4
        case (.starting?, .failed?), (.backingUp?, .failed?): .b5
        default: nil
        }
    }
}

/// What the runtime reads before each step.
public struct RuntimeState: Sendable, Hashable {
    public var phase: DatabasePhase?
    public var deleting: Bool
    public var hasFinalizer: Bool
    public var activeBackup: String?
    /// The Backup this operation concerns: named by the Job, or the final backup of a
    /// backup-before-delete. `exists` is false when it was not found.
    public var backup: BackupState?
    /// A final backup failed for good (D17) and the spec has not changed since.
    public var deletionBlocked: Bool
    /// The deletion policy is BackupBeforeDelete: no drop from Created without the final backup.
    public var backupBeforeDelete: Bool

    /// The Database's namespace is being deleted: nothing can be created in it, so a
    /// final Backup is kept in the operator's namespace instead.
    public var namespaceTerminating: Bool
    /// The restore failed for good (`Ready=False` with `restoreFailedCondition`'s reasons).
    public var restoreFailed = false

    public init(
        phase: DatabasePhase?, deleting: Bool, hasFinalizer: Bool, activeBackup: String?, backup: BackupState?,
        deletionBlocked: Bool = false, backupBeforeDelete: Bool = false, namespaceTerminating: Bool = false
    ) {
        self.namespaceTerminating = namespaceTerminating
        self.backupBeforeDelete = backupBeforeDelete
        self.phase = phase
        self.deleting = deleting
        self.hasFinalizer = hasFinalizer
        self.activeBackup = activeBackup
        self.backup = backup
        self.deletionBlocked = deletionBlocked
    }
}

/// The Backup as the runtime sees it.
public struct BackupState: Sendable, Hashable {
    public var name: String
    public var exists: Bool
    public var phase: BackupPhase?
    public var attempts: Int

    public init(name: String, exists: Bool, phase: BackupPhase?, attempts: Int) {
        self.name = name
        self.exists = exists
        self.phase = phase
        self.attempts = attempts
    }
}

/// The next thing the runtime does: one phase write, or a piece of work followed by one.
public enum RuntimeStep: Sendable, Hashable {
    /// D1: phase Creating and the finalizer, in one write.
    case beginCreate
    /// The driver's create, then D2 (R1 with `spec.restoreFrom`).
    case create
    /// The load from `spec.restoreFrom`, then R2.
    case restore
    /// D3: BackupRequested with `activeBackup` (the per-database lock).
    case takeForBackup(String)
    /// D11: BackupBeforeDeleteRequested with `activeBackup` set to the final backup.
    case takeForFinalBackup(String)
    /// Creates the final Backup if missing, then D12.
    case createFinalBackup(String)
    /// B1: the Backup to Starting.
    case startBackup
    /// D4: BackupInProgress (the dump begins).
    case beginDump
    /// B2, B3..., B4: the dump streamed to the store. B5 and D16/D17 past the attempt limit.
    case upload
    /// B5 (if the Backup is not already Failed) then D16 or D17.
    case failBackup(String)
    /// D5 or D13, after B4.
    case backupCompleted
    /// D6: Created, `activeBackup` cleared, `lastBackup` set.
    case releaseAfterBackup
    /// D7, D14, D15 or R3.
    case requestDeletion
    /// D8.
    case beginDrop
    /// The driver's drop (unless Retain), the Secret deleted, then D9.
    case drop
    /// D10, or just the finalizer when nothing was ever created.
    case removeFinalizer
    /// Nothing (more) for this operation: why.
    case finished(String)
}

/// The runtime's "which phase next?" (SPEC section 3.1), a pure function.
public enum RuntimeDecider {
    public static func next(_ operation: DatabaseOperation, _ state: RuntimeState, backupName: String?, finalBackupName: String, maxAttempts: Int) -> RuntimeStep {
        switch operation {
        case .expireBackup:
            return .finished("retention's deletion changes no phase (DriverRuntime.expireBackup)")
        case .create:
            if state.deleting { return .finished("the database is being deleted") }
            switch state.phase {
            case nil: return .beginCreate
            case .creating?: return .create
            case .restoring?:
                if state.restoreFailed { return .finished("the restore failed for good; delete the Database") }
                return .restore
            case let phase?: return .finished("the database is \(phase.rawValue)")
            }
        case .backup:
            guard let name = backupName else { return .finished("no backup named in DB_OPERATOR_BACKUP") }
            guard let backup = state.backup, backup.exists else {
                // A Backup deleted while it held the database (by a user, or with its
                // namespace) releases it: nothing else would.
                if state.activeBackup == name, [.backupRequested, .backupInProgress, .backupCompleted].contains(state.phase) {
                    return .releaseAfterBackup
                }
                return .finished("the Backup \(name) does not exist")
            }
            if let active = state.activeBackup, active != name { return .finished("the database is held by backup \(active)") }
            switch state.phase {
            case .created?:
                if backup.phase?.isFinished == true { return .finished("the Backup \(name) is \(backup.phase!.rawValue)") }
                if state.deleting { return .finished("the database is being deleted") }
                return .takeForBackup(name)
            case .backupRequested?:
                if backup.phase == nil { return .startBackup }
                return .beginDump
            case .backupInProgress?:
                return uploadStep(backup, maxAttempts: maxAttempts)
            case .backupCompleted?:
                return .releaseAfterBackup
            case let phase:
                if backup.phase == nil || backup.phase?.isFinished == false {
                    return .failBackup("the database is \(phase?.rawValue ?? "not created")")
                }
                return .finished("the database is \(phase?.rawValue ?? "not created")")
            }
        case .backupBeforeDelete:
            guard state.deleting else { return .finished("the database is not being deleted") }
            switch state.phase {
            case .created?:
                if !state.backupBeforeDelete { return .finished("the deletion policy no longer asks for a final backup") }
                if state.deletionBlocked { return .finished("deletion is blocked until the spec changes") }
                return .takeForFinalBackup(finalBackupName)
            case .backupBeforeDeleteRequested?:
                return .createFinalBackup(state.activeBackup ?? finalBackupName)
            case .backupBeforeDeleteInProgress?:
                guard let backup = state.backup, backup.exists else {
                    // Deleted with its namespace: made again in the operator's namespace.
                    if state.namespaceTerminating { return .createFinalBackup(state.activeBackup ?? finalBackupName) }
                    return .failBackup("the final Backup disappeared")
                }
                if backup.phase == nil { return .startBackup }
                return uploadStep(backup, maxAttempts: maxAttempts)
            case let phase:
                return .finished("the database is \(phase?.rawValue ?? "not created")")
            }
        case .delete:
            guard state.deleting else { return .finished("the database is not being deleted") }
            switch state.phase {
            case nil:
                return state.hasFinalizer ? .removeFinalizer : .finished("nothing holds the resource")
            case .created?:
                // Never drop a database whose policy wants a final backup that was not taken.
                if state.backupBeforeDelete { return .finished("the deletion policy asks for a final backup first") }
                return .requestDeletion
            case .creating?, .restoring?, .backupBeforeDeleteCompleted?:
                return .requestDeletion
            case .deletionRequested?:
                return .beginDrop
            case .deletionInProgress?:
                return .drop
            case .deleted?:
                return state.hasFinalizer ? .removeFinalizer : .finished("deleted")
            case let phase?:
                return .finished("the database is \(phase.rawValue); deletion waits for it")
            }
        }
    }

    private static func uploadStep(_ backup: BackupState, maxAttempts: Int) -> RuntimeStep {
        switch backup.phase {
        case nil: return .startBackup
        case .completed?: return .backupCompleted
        case .failed?: return .failBackup("the Backup \(backup.name) failed")
        case .starting?, .backingUp?:
            if backup.attempts >= maxAttempts {
                return .failBackup("gave up after \(backup.attempts) attempts (the limit is \(maxAttempts))")
            }
            return .upload
        }
    }
}
