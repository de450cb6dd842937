import DriverAPI
import KubeModel
import Testing

/// The runtime's "which phase next?" (SPEC 3.1), step by step for each operation.
@Suite("The runtime's next step")
struct RuntimeDeciderTests {
    static func state(
        _ phase: DatabasePhase?, deleting: Bool = false, finalizer: Bool = true, active: String? = nil,
        backup: BackupPhase?? = .none, attempts: Int = 0, blocked: Bool = false, backupBeforeDelete: Bool = false, backupName: String = "b"
    ) -> RuntimeState {
        let backupState: BackupState? = switch backup {
        case .none: nil
        case .some(let phase): BackupState(name: backupName, exists: true, phase: phase, attempts: attempts)
        }
        return RuntimeState(phase: phase, deleting: deleting, hasFinalizer: finalizer, activeBackup: active, backup: backupState, deletionBlocked: blocked, backupBeforeDelete: backupBeforeDelete)
    }

    static func next(_ operation: DatabaseOperation, _ state: RuntimeState, backup: String? = nil) -> RuntimeStep {
        RuntimeDecider.next(operation, state, backupName: backup, finalBackupName: "db-final-1", maxAttempts: 3)
    }

    @Test("create: D1, then the work and D2; nothing once Created or while deleting")
    func create() {
        #expect(Self.next(.create, Self.state(nil)) == .beginCreate)
        #expect(Self.next(.create, Self.state(.creating)) == .create)
        #expect(Self.next(.create, Self.state(.created)).isFinished)
        #expect(Self.next(.create, Self.state(.creating, deleting: true)).isFinished)
    }

    @Test("backup: D3, B1, D4, upload (B2-B4), D5, D6 — in that order")
    func backup() {
        #expect(Self.next(.backup, Self.state(.created, backup: .some(nil)), backup: "b") == .takeForBackup("b"))
        #expect(Self.next(.backup, Self.state(.backupRequested, active: "b", backup: .some(nil)), backup: "b") == .startBackup)
        #expect(Self.next(.backup, Self.state(.backupRequested, active: "b", backup: .starting), backup: "b") == .beginDump)
        #expect(Self.next(.backup, Self.state(.backupInProgress, active: "b", backup: .starting), backup: "b") == .upload)
        #expect(Self.next(.backup, Self.state(.backupInProgress, active: "b", backup: .backingUp, attempts: 1), backup: "b") == .upload)
        #expect(Self.next(.backup, Self.state(.backupInProgress, active: "b", backup: .completed), backup: "b") == .backupCompleted)
        #expect(Self.next(.backup, Self.state(.backupCompleted, active: "b", backup: .completed), backup: "b") == .releaseAfterBackup)
        #expect(Self.next(.backup, Self.state(.created, backup: .completed), backup: "b").isFinished)
    }

    @Test("backup: another backup's lock, a missing Backup, a deletion all stop it")
    func backupGuards() {
        #expect(Self.next(.backup, Self.state(.backupInProgress, active: "other", backup: .some(nil)), backup: "b").isFinished)
        #expect(Self.next(.backup, Self.state(.created), backup: "b").isFinished)
        #expect(Self.next(.backup, Self.state(.created, deleting: true, backup: .some(nil)), backup: "b").isFinished)
    }

    @Test("a Backup deleted while it holds the database releases it; a final Backup deleted with its namespace is made again elsewhere")
    func deletedBackups() {
        for phase in [DatabasePhase.backupRequested, .backupInProgress, .backupCompleted] {
            #expect(Self.next(.backup, Self.state(phase, active: "b"), backup: "b") == .releaseAfterBackup)
        }
        #expect(Self.next(.backup, Self.state(.backupInProgress, active: "other"), backup: "b").isFinished)
        var final = Self.state(.backupBeforeDeleteInProgress, deleting: true, active: "db-final-1", backupBeforeDelete: true)
        #expect(Self.next(.backupBeforeDelete, final) == .failBackup("the final Backup disappeared"))
        final.namespaceTerminating = true
        #expect(Self.next(.backupBeforeDelete, final) == .createFinalBackup("db-final-1"))
    }

    @Test("backup: past the attempt limit it fails for good (B5, D16); a Failed Backup releases the database")
    func backupGivesUp() {
        #expect(Self.next(.backup, Self.state(.backupInProgress, active: "b", backup: .backingUp, attempts: 3), backup: "b")
            == .failBackup("gave up after 3 attempts (the limit is 3)"))
        if case .failBackup = Self.next(.backup, Self.state(.backupInProgress, active: "b", backup: .failed), backup: "b") {} else {
            Issue.record("a Failed Backup must release the database (D16)")
        }
    }

    @Test("backup-before-delete: D11, D12, B1, upload, D13; blocked or no longer wanted stops it")
    func backupBeforeDelete() {
        let bbd = { (phase: DatabasePhase, backup: BackupPhase??, attempts: Int) in
            Self.next(.backupBeforeDelete, Self.state(phase, deleting: true, active: "db-final-1", backup: backup, attempts: attempts, backupBeforeDelete: true, backupName: "db-final-1"))
        }
        #expect(bbd(.created, .none, 0) == .takeForFinalBackup("db-final-1"))
        #expect(bbd(.backupBeforeDeleteRequested, .none, 0) == .createFinalBackup("db-final-1"))
        #expect(bbd(.backupBeforeDeleteInProgress, .some(nil), 0) == .startBackup)
        #expect(bbd(.backupBeforeDeleteInProgress, .starting, 0) == .upload)
        #expect(bbd(.backupBeforeDeleteInProgress, .completed, 1) == .backupCompleted)
        #expect(bbd(.backupBeforeDeleteCompleted, .completed, 1).isFinished)
        if case .failBackup = bbd(.backupBeforeDeleteInProgress, .backingUp, 3) {} else { Issue.record("D17 expected past the limit") }
        #expect(Self.next(.backupBeforeDelete, Self.state(.created, deleting: true, blocked: true, backupBeforeDelete: true)).isFinished)
        #expect(Self.next(.backupBeforeDelete, Self.state(.created, deleting: true, backupBeforeDelete: false)).isFinished)
        #expect(Self.next(.backupBeforeDelete, Self.state(.created, deleting: false, backupBeforeDelete: true)).isFinished)
    }

    @Test("delete: D7/D14/D15, D8, the drop and D9, D10; never from Created when a final backup is due")
    func delete() {
        #expect(Self.next(.delete, Self.state(.created, deleting: true)) == .requestDeletion)
        #expect(Self.next(.delete, Self.state(.creating, deleting: true)) == .requestDeletion)
        #expect(Self.next(.delete, Self.state(.backupBeforeDeleteCompleted, deleting: true, backupBeforeDelete: true)) == .requestDeletion)
        #expect(Self.next(.delete, Self.state(.created, deleting: true, backupBeforeDelete: true)).isFinished)
        #expect(Self.next(.delete, Self.state(.deletionRequested, deleting: true)) == .beginDrop)
        #expect(Self.next(.delete, Self.state(.deletionInProgress, deleting: true)) == .drop)
        #expect(Self.next(.delete, Self.state(.deleted, deleting: true)) == .removeFinalizer)
        #expect(Self.next(.delete, Self.state(nil, deleting: true)) == .removeFinalizer)
        #expect(Self.next(.delete, Self.state(.created)).isFinished)
        #expect(Self.next(.delete, Self.state(.backupInProgress, deleting: true, active: "b")).isFinished)
    }

    @Test("each phase change maps to its transition number")
    func transitions() {
        #expect(Transition.database(from: nil, to: .creating) == .d1)
        #expect(Transition.database(from: .creating, to: .deletionRequested) == .d15)
        #expect(Transition.database(from: .backupBeforeDeleteInProgress, to: .created) == .d17)
        #expect(Transition.database(from: .deleted, to: nil) == .d10)
        #expect(Transition.database(from: .created, to: .deleted) == nil)
        #expect(Transition.backup(from: .backingUp, to: .backingUp) == .b3)
        #expect(Transition.backup(from: .starting, to: .failed) == .b5)
    }
}

extension RuntimeStep {
    var isFinished: Bool {
        if case .finished = self { return true }
        return false
    }
}
