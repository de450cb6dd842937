import Foundation
import KubeModel

/// What the operator knows about one Database when it decides: plain values taken
/// from the Database, its Backups and its Jobs.
public struct DecisionInput: Sendable {
    public var database: DatabaseFacts
    /// Backups naming this database, in any phase.
    public var backups: [BackupFacts]
    /// Jobs owned by this database, finished or not.
    public var jobs: [JobFacts]
    /// Completed Backups that their BackupSchedule's retention no longer keeps
    /// (`BackupScheduling.expired`), oldest first.
    public var expiredBackups: [String]
    public var now: Date

    public init(database: DatabaseFacts, backups: [BackupFacts], jobs: [JobFacts], expiredBackups: [String] = [], now: Date) {
        self.database = database
        self.backups = backups
        self.jobs = jobs
        self.expiredBackups = expiredBackups
        self.now = now
    }
}

/// The parts of a Database the decision reads.
public struct DatabaseFacts: Sendable, Hashable {
    public var generation: Int64
    public var phase: DatabasePhase?
    public var deleting: Bool
    public var hasFinalizer: Bool
    public var deletionPolicy: DeletionPolicy
    public var activeBackup: String?
    /// What is wrong with the spec; a non-empty list means no Job.
    public var specProblems: [SpecProblem]
    /// The generation at which the runtime blocked deletion (D17), if it did.
    public var deletionBlockedAtGeneration: Int64?
    /// Why the database may not be created or backed up although the spec is valid:
    /// its DatabaseServer does not exist, or does not allow its namespace.
    public var refusal: Refusal?
    /// The restore failed for good (`Ready=False`, `RestoreFailed` or a cause that
    /// cannot pass): it stays Restoring until deleted.
    public var restoreFailed = false

    public init(
        generation: Int64, phase: DatabasePhase?, deleting: Bool, hasFinalizer: Bool, deletionPolicy: DeletionPolicy,
        activeBackup: String? = nil, specProblems: [SpecProblem] = [], deletionBlockedAtGeneration: Int64? = nil, refusal: Refusal? = nil
    ) {
        self.refusal = refusal
        self.generation = generation
        self.phase = phase
        self.deleting = deleting
        self.hasFinalizer = hasFinalizer
        self.deletionPolicy = deletionPolicy
        self.activeBackup = activeBackup
        self.specProblems = specProblems
        self.deletionBlockedAtGeneration = deletionBlockedAtGeneration
    }
}

/// A reason, from outside the spec, that no Job may be created: `ServerNotFound`,
/// `NamespaceNotAllowed`.
public struct Refusal: Sendable, Hashable {
    public var reason: Reason
    public var message: String

    public init(reason: Reason, message: String) {
        self.reason = reason
        self.message = message
    }
}

/// The parts of a Backup the decision reads.
public struct BackupFacts: Sendable, Hashable {
    public var name: String
    public var creationTimestamp: String
    public var phase: BackupPhase?

    public init(name: String, creationTimestamp: String, phase: BackupPhase?) {
        self.name = name
        self.creationTimestamp = creationTimestamp
        self.phase = phase
    }
}

/// The parts of a Job the decision reads.
public struct JobFacts: Sendable, Hashable {
    public enum State: Sendable, Hashable { case running, succeeded, failed }

    public var name: String
    public var operation: DatabaseOperation
    public var backup: String?
    public var generation: Int64
    public var state: State
    /// When it finished (nil while running).
    public var finishedAt: Date?

    public init(name: String, operation: DatabaseOperation, backup: String?, generation: Int64, state: State, finishedAt: Date?) {
        self.name = name
        self.operation = operation
        self.backup = backup
        self.generation = generation
        self.state = state
        self.finishedAt = finishedAt
    }
}

/// A Job the operator should create.
public struct JobRequest: Sendable, Hashable {
    public var operation: DatabaseOperation
    public var backup: String?
    /// How many Jobs for this operation existed before: part of the name's hash.
    public var attempt: Int

    public init(operation: DatabaseOperation, backup: String?, attempt: Int) {
        self.operation = operation
        self.backup = backup
        self.attempt = attempt
    }
}

/// The operator's answer for one Database.
public enum JobDecision: Sendable, Hashable {
    /// Nothing to do until something changes.
    case idle
    /// A Job of this database is running; its end will bring the next decision.
    case waitForJob(String)
    /// Create this Job.
    case createJob(JobRequest)
    /// The last Job of this operation failed: try again after `delay`.
    case backoff(DatabaseOperation, delay: TimeInterval)
    /// The spec cannot be acted on: say so in a condition, create nothing.
    case invalidSpec([SpecProblem])
    /// The database may not be created or backed up here (see `Refusal`): say so,
    /// create nothing.
    case refused(Refusal)
    /// Deletion waits for the user: the final backup failed for good (D17) and the
    /// spec has not changed since.
    case deletionBlocked
}

/// Failed Jobs are retried after 10 s, doubling to at most 10 minutes.
public struct RetryPolicy: Sendable, Hashable {
    public var base: TimeInterval
    public var max: TimeInterval

    public init(base: TimeInterval = 10, max: TimeInterval = 600) {
        self.base = base
        self.max = max
    }

    /// The wait after `failures` consecutive failures (1 = the first).
    public func delay(afterFailures failures: Int) -> TimeInterval {
        guard failures > 0 else { return 0 }
        return Swift.min(max, base * pow(2, Double(Swift.min(failures - 1, 30))))
    }
}

/// The operator's decision of SPEC section 3.2, a pure function: from a Database, its
/// Backups and its Jobs, the one Job that should exist now.
public enum JobDecider {
    /// The operation the database's phase calls for, with the Backup it concerns,
    /// or nil when none is needed.
    public static func wantedOperation(_ input: DecisionInput) -> (DatabaseOperation, String?)? {
        let database = input.database
        if database.deleting {
            guard database.hasFinalizer else { return nil }  // nothing holds it: it is going away
            switch database.phase {
            case nil, .creating, .restoring:
                return (.delete, nil)
            case .created:
                if database.deletionPolicy == .backupBeforeDelete { return (.backupBeforeDelete, nil) }
                return (.delete, nil)
            case .backupRequested, .backupInProgress, .backupCompleted:
                // A deletion requested during a backup waits for the backup to end.
                return database.activeBackup.map { (.backup, $0) }
            case .backupBeforeDeleteRequested, .backupBeforeDeleteInProgress:
                return (.backupBeforeDelete, nil)
            case .backupBeforeDeleteCompleted, .deletionRequested, .deletionInProgress, .deleted:
                return (.delete, nil)
            }
        }
        switch database.phase {
        case nil, .creating:
            return (.create, nil)
        case .restoring:
            return database.restoreFailed ? nil : (.create, nil)
        case .created:
            // Backups asked for first; then retention's deletions, one at a time.
            if let pending = oldestPendingBackup(input.backups) { return (.backup, pending.name) }
            return input.expiredBackups.first.map { (.expireBackup, $0) }
        case .backupRequested, .backupInProgress, .backupCompleted:
            return database.activeBackup.map { (.backup, $0) }
        case .backupBeforeDeleteRequested, .backupBeforeDeleteInProgress:
            return (.backupBeforeDelete, nil)
        case .backupBeforeDeleteCompleted, .deletionRequested, .deletionInProgress, .deleted:
            // Only reachable with a deletionTimestamp; finish what was started.
            return (.delete, nil)
        }
    }

    /// Backups waiting to run, oldest first (name breaks ties).
    public static func pendingBackups(_ backups: [BackupFacts]) -> [BackupFacts] {
        backups.filter { $0.phase == nil }.sorted { ($0.creationTimestamp, $0.name) < ($1.creationTimestamp, $1.name) }
    }

    static func oldestPendingBackup(_ backups: [BackupFacts]) -> BackupFacts? { pendingBackups(backups).first }

    /// Why a Backup without a phase waits, as its `Ready=False` condition says it.
    public struct Waiting: Sendable, Hashable {
        public var backup: String
        public var reason: Reason
        public var message: String
    }

    /// Why each pending Backup of a Database waits, given the decision taken for the
    /// Database: the Database controller writes exactly this (one writer per condition).
    public static func waitingReasons(_ input: DecisionInput, decision: JobDecision, databaseName: String, hasBackupTarget: Bool) -> [Waiting] {
        let database = input.database
        let pending = pendingBackups(input.backups)
        return pending.enumerated().map { index, facts in
            let (reason, message): (Reason, String)
            if database.deleting {
                (reason, message) = (.databaseDeleting, "the database \(databaseName) is being deleted; this backup will not run")
            } else if !database.specProblems.isEmpty {
                (reason, message) = (.databaseInvalid, "the database's spec is invalid; see its Ready condition")
            } else if let refusal = database.refusal {
                (reason, message) = (refusal.reason, refusal.message)
            } else if !hasBackupTarget {
                (reason, message) = (.noBackupTarget, "the database \(databaseName) has no spec.backupTo")
            } else if database.phase != .created || database.activeBackup.map({ !$0.isEmpty }) == true {
                (reason, message) = (.databaseBusy, "waiting for the database to be Created and free (phase \(database.phase?.rawValue ?? "none"))")
            } else if index > 0 {
                (reason, message) = (.queued, "waiting for \(pending[0].name): one backup per database at a time, oldest first")
            } else if case .backoff(_, let delay) = decision {
                (reason, message) = (.retryingAfterFailure, "the last attempt failed; retrying in \(Int(delay.rounded(.up))) s")
            } else {
                (reason, message) = (.scheduled, "a backup Job is being started")
            }
            return Waiting(backup: facts.name, reason: reason, message: message)
        }
    }

    /// Why each pending Backup of a Database that does not exist waits: it runs once
    /// the Database is made (the Database's creation queues it).
    public static func waitingReasons(missingDatabase name: String, namespace: String, backups: [BackupFacts]) -> [Waiting] {
        pendingBackups(backups).map {
            Waiting(backup: $0.name, reason: .databaseNotFound, message: "the Database \(name) does not exist in namespace \(namespace)")
        }
    }

    public static func decide(_ input: DecisionInput, retry: RetryPolicy = RetryPolicy()) -> JobDecision {
        let database = input.database
        // An invalid spec creates and backs up nothing, but never blocks a deletion the
        // runtime holds a finalizer for: it drops what it recorded at Created, or
        // releases a database that never got there.
        if !database.specProblems.isEmpty, !(database.deleting && database.hasFinalizer) { return .invalidSpec(database.specProblems) }
        if let refusal = database.refusal, !(database.deleting && database.hasFinalizer) { return .refused(refusal) }
        // One Job per database at a time, whatever it does.
        if let running = input.jobs.first(where: { $0.state == .running }) { return .waitForJob(running.name) }
        guard let (operation, backup) = wantedOperation(input) else { return .idle }
        if operation == .backupBeforeDelete, database.phase == .created,
            let blocked = database.deletionBlockedAtGeneration, blocked >= database.generation
        {
            return .deletionBlocked
        }
        let earlier = input.jobs.filter { $0.operation == operation && $0.backup == backup }
        // A Job that ended while its operation is still wanted did not converge (it
        // failed, or its pod died): back off, unless the spec changed since.
        let unconverged = earlier.filter { $0.generation >= database.generation }
        if let last = unconverged.compactMap(\.finishedAt).max() {
            let wait = retry.delay(afterFailures: unconverged.count) - input.now.timeIntervalSince(last)
            if wait > 0 { return .backoff(operation, delay: wait) }
        }
        return .createJob(JobRequest(operation: operation, backup: backup, attempt: earlier.count))
    }
}

/// What a log line says of a decision: short, and without reflection (describing the
/// enum by reflection cost about as much as writing the whole line; `run` logs one per
/// Job made, and one per decision at debug).
extension JobDecision: CustomStringConvertible {
    public var description: String {
        switch self {
        case .idle: "idle"
        case .waitForJob(let name): "wait for Job \(name)"
        case .createJob(let request): "create Job: \(request)"
        case .backoff(let operation, let delay): "back off \(operation.rawValue) for \(Int(delay.rounded(.up))) s"
        case .invalidSpec(let problems): "invalid spec: \(problems.map(\.description).joined(separator: "; "))"
        case .refused(let refusal): "refused: \(refusal.reason.rawValue): \(refusal.message)"
        case .deletionBlocked: "deletion blocked"
        }
    }
}

extension JobRequest: CustomStringConvertible {
    /// "backup of Backup nightly, attempt 2".
    public var description: String {
        "\(operation.rawValue)\(backup.map { " of Backup \($0)" } ?? ""), attempt \(attempt)"
    }
}
