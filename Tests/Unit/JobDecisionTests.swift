import Foundation
import KubeModel
import Operator
import Testing

/// The operator's decision (SPEC 3.2), exhaustively: every phase x deletion requested
/// or not x backups pending or not x the Job of the wanted operation absent, running,
/// succeeded or failed — and the rules around it.
@Suite("The operator's job decision")
struct JobDecisionTests {
    enum JobState: CaseIterable { case none, running, succeeded, failed }

    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let phases: [DatabasePhase?] = [nil] + DatabasePhase.allCases.map { $0 }

    /// The operation each phase calls for, written as the spec's table (not as the code's switch).
    static func expected(phase: DatabasePhase?, deleting: Bool, pending: Bool, policy: DeletionPolicy) -> (DatabaseOperation, String?)? {
        let active = "held-backup"
        let table: [DatabasePhase?: (notDeleting: (DatabaseOperation, String?)?, deleting: (DatabaseOperation, String?)?)] = [
            nil: ((.create, nil), (.delete, nil)),
            .creating: ((.create, nil), (.delete, nil)),  // recovery; D15
            .restoring: ((.create, nil), (.delete, nil)),  // the create Job loads it; R3
            .created: (pending ? (.backup, "old") : nil, policy == .backupBeforeDelete ? (.backupBeforeDelete, nil) : (.delete, nil)),
            .backupRequested: ((.backup, active), (.backup, active)),  // deletion waits for the backup
            .backupInProgress: ((.backup, active), (.backup, active)),
            .backupCompleted: ((.backup, active), (.backup, active)),
            .backupBeforeDeleteRequested: ((.backupBeforeDelete, nil), (.backupBeforeDelete, nil)),
            .backupBeforeDeleteInProgress: ((.backupBeforeDelete, nil), (.backupBeforeDelete, nil)),
            .backupBeforeDeleteCompleted: ((.delete, nil), (.delete, nil)),  // D14
            .deletionRequested: ((.delete, nil), (.delete, nil)),
            .deletionInProgress: ((.delete, nil), (.delete, nil)),
            .deleted: ((.delete, nil), (.delete, nil)),
        ]
        let row = table[phase]!
        return deleting ? row.deleting : row.notDeleting
    }

    static func input(phase: DatabasePhase?, deleting: Bool, pending: Bool, policy: DeletionPolicy, jobs: [JobFacts] = []) -> DecisionInput {
        let holding = [DatabasePhase.backupRequested, .backupInProgress, .backupCompleted].contains(phase)
        var backups = [BackupFacts(name: "done", creationTimestamp: "2026-01-01T00:00:00Z", phase: .completed)]
        if pending {
            backups.append(BackupFacts(name: "young", creationTimestamp: "2026-03-01T00:00:00Z", phase: nil))
            backups.append(BackupFacts(name: "old", creationTimestamp: "2026-02-01T00:00:00Z", phase: nil))
        }
        return DecisionInput(
            database: DatabaseFacts(
                generation: 3, phase: phase, deleting: deleting, hasFinalizer: true, deletionPolicy: policy,
                activeBackup: holding ? "held-backup" : nil),
            backups: backups, jobs: jobs, now: now)
    }

    @Test("every phase x deleting x pending backups x job state x policy gives the spec's answer")
    func exhaustive() {
        var cases = 0
        for phase in Self.phases {
            for deleting in [false, true] {
                for pending in [false, true] {
                    for policy in [DeletionPolicy.delete, .backupBeforeDelete] {
                        for state in JobState.allCases {
                            cases += 1
                            let wanted = Self.expected(phase: phase, deleting: deleting, pending: pending, policy: policy)
                            var jobs: [JobFacts] = []
                            let jobOperation = wanted?.0 ?? .create
                            switch state {
                            case .none: break
                            case .running:
                                jobs = [JobFacts(name: "j", operation: jobOperation, backup: wanted?.1, generation: 3, state: .running, finishedAt: nil)]
                            case .succeeded, .failed:
                                jobs = [JobFacts(
                                    name: "j", operation: jobOperation, backup: wanted?.1, generation: 3,
                                    state: state == .succeeded ? .succeeded : .failed, finishedAt: Self.now.addingTimeInterval(-1))]
                            }
                            let decision = JobDecider.decide(Self.input(phase: phase, deleting: deleting, pending: pending, policy: policy, jobs: jobs))
                            let label = "phase \(phase?.rawValue ?? "none") deleting \(deleting) pending \(pending) policy \(policy) job \(state)"
                            switch (wanted, state) {
                            case (_, .running):
                                #expect(decision == .waitForJob("j"), "\(label)")
                            case (nil, _):
                                #expect(decision == .idle, "\(label)")
                            case (let (operation, backup)?, .none):
                                #expect(decision == .createJob(JobRequest(operation: operation, backup: backup, attempt: 0)), "\(label)")
                            case (let (operation, _)?, .succeeded), (let (operation, _)?, .failed):
                                // Ended one second ago without converging: wait out the 10 s backoff.
                                #expect(decision == .backoff(operation, delay: 9), "\(label)")
                            }
                        }
                    }
                }
            }
        }
        #expect(cases == 13 * 2 * 2 * 2 * 4)
    }

    @Test("a Job that failed long enough ago is retried under a new attempt number")
    func retryAfterBackoff() {
        let failed = (0..<3).map { JobFacts(name: "j\($0)", operation: .create, backup: nil, generation: 3, state: .failed, finishedAt: Self.now.addingTimeInterval(-Double(100 - $0))) }
        // Three failures: 40 s of backoff after the last, which ended 98 s ago.
        #expect(JobDecider.decide(Self.input(phase: .creating, deleting: false, pending: false, policy: .delete, jobs: failed))
            == .createJob(JobRequest(operation: .create, backup: nil, attempt: 3)))
        let recent = failed + [JobFacts(name: "j3", operation: .create, backup: nil, generation: 3, state: .failed, finishedAt: Self.now.addingTimeInterval(-5))]
        #expect(JobDecider.decide(Self.input(phase: .creating, deleting: false, pending: false, policy: .delete, jobs: recent)) == .backoff(.create, delay: 75))
    }

    @Test("backoff doubles from 10 s and stops at 10 minutes")
    func backoffCurve() {
        let policy = RetryPolicy()
        #expect((1...8).map { policy.delay(afterFailures: $0) } == [10, 20, 40, 80, 160, 320, 600, 600])
        #expect(policy.delay(afterFailures: 1000) == 600)
    }

    @Test("a decision reads in a log line as what it is, without the Swift type names reflection would print")
    func decisionDescriptions() {
        #expect("\(JobDecision.idle)" == "idle")
        #expect("\(JobDecision.waitForJob("orders-create-1a2b3c4d"))" == "wait for Job orders-create-1a2b3c4d")
        #expect("\(JobDecision.createJob(JobRequest(operation: .create, backup: nil, attempt: 1)))" == "create Job: create, attempt 1")
        #expect("\(JobDecision.createJob(JobRequest(operation: .backup, backup: "nightly", attempt: 2)))" == "create Job: backup of Backup nightly, attempt 2")
        #expect("\(JobDecision.backoff(.create, delay: 74.2))" == "back off create for 75 s")
        #expect("\(JobDecision.invalidSpec([SpecProblem(field: "spec.driver", message: "unknown driver"), SpecProblem(field: "spec.connect", message: "required")]))"
            == "invalid spec: spec.driver: unknown driver; spec.connect: required")
        #expect("\(JobDecision.refused(Refusal(reason: .invalidSpec, message: "no")))" == "refused: InvalidSpec: no")
        #expect("\(JobDecision.deletionBlocked)" == "deletion blocked")
    }

    @Test("a spec change (new generation) retries at once")
    func specChangeRetriesAtOnce() {
        let failedEarlier = JobFacts(name: "j", operation: .create, backup: nil, generation: 2, state: .failed, finishedAt: Self.now)
        #expect(JobDecider.decide(Self.input(phase: .creating, deleting: false, pending: false, policy: .delete, jobs: [failedEarlier]))
            == .createJob(JobRequest(operation: .create, backup: nil, attempt: 1)))
    }

    @Test("any running Job of the database holds every other operation")
    func oneJobAtATime() {
        let running = JobFacts(name: "create-job", operation: .create, backup: nil, generation: 3, state: .running, finishedAt: nil)
        #expect(JobDecider.decide(Self.input(phase: .creating, deleting: true, pending: false, policy: .delete, jobs: [running])) == .waitForJob("create-job"))
    }

    @Test("backups run oldest first, one at a time")
    func oldestFirst() {
        let decision = JobDecider.decide(Self.input(phase: .created, deleting: false, pending: true, policy: .delete))
        #expect(decision == .createJob(JobRequest(operation: .backup, backup: "old", attempt: 0)))
        let backups = [
            BackupFacts(name: "b", creationTimestamp: "2026-01-01T00:00:00Z", phase: nil),
            BackupFacts(name: "a", creationTimestamp: "2026-01-01T00:00:00Z", phase: nil),
            BackupFacts(name: "failed", creationTimestamp: "2025-01-01T00:00:00Z", phase: .failed),
        ]
        #expect(JobDecider.pendingBackups(backups).map(\.name) == ["a", "b"])
    }

    @Test("an invalid spec creates no Job, whatever the phase, unless a deletion holds the finalizer: then it decides as with a valid spec")
    func invalidSpec() {
        for phase in Self.phases {
            var input = Self.input(phase: phase, deleting: false, pending: true, policy: .delete)
            input.database.specProblems = [SpecProblem(field: "spec.driver", message: "unknown")]
            #expect(JobDecider.decide(input) == .invalidSpec(input.database.specProblems))
            var deleting = Self.input(phase: phase, deleting: true, pending: false, policy: .delete)
            let valid = JobDecider.decide(deleting)
            deleting.database.specProblems = input.database.specProblems
            #expect(JobDecider.decide(deleting) == valid, "\(String(describing: phase))")
            if phase == nil || phase == .creating || phase == .created {
                #expect(valid == .createJob(JobRequest(operation: .delete, backup: nil, attempt: 0)), "\(String(describing: phase))")
            }
        }
    }

    @Test("a blocked deletion waits for a spec change; a changed spec tries again")
    func deletionBlocked() {
        var input = Self.input(phase: .created, deleting: true, pending: false, policy: .backupBeforeDelete)
        input.database.deletionBlockedAtGeneration = 3
        #expect(JobDecider.decide(input) == .deletionBlocked)
        input.database.generation = 4
        #expect(JobDecider.decide(input) == .createJob(JobRequest(operation: .backupBeforeDelete, backup: nil, attempt: 0)))
        input.database.generation = 3
        input.database.deletionPolicy = .delete
        #expect(JobDecider.decide(input) == .createJob(JobRequest(operation: .delete, backup: nil, attempt: 0)))
    }

    @Test("a resource being deleted without the finalizer needs nothing")
    func noFinalizer() {
        var input = Self.input(phase: nil, deleting: true, pending: false, policy: .delete)
        input.database.hasFinalizer = false
        #expect(JobDecider.decide(input) == .idle)
    }
}

@Suite("The operator's Jobs")
struct JobTemplateTests {
    static func database(name: String = "orders") -> Database {
        var metadata = ObjectMeta(name: name, namespace: "shop")
        metadata.uid = "9b1c2d3e-0000-4000-8000-000000000001"
        metadata.generation = 4
        return Database(metadata: metadata, spec: DatabaseSpec(driver: "postgresql", connect: ConnectSpec(host: "db")))
    }

    @Test("a Job has the name, labels, owner, env and policies of SPEC 3.2")
    func shape() throws {
        var template = JobTemplate()
        template.image = "registry.example/db-operator:1.2"
        template.serviceAccountName = "db-operator-driver"
        template.environment = ["EXTRA": "1"]
        let job = template.job(for: Self.database(), request: JobRequest(operation: .backup, backup: "nightly", attempt: 2))
        let name = try #require(job.metadata.name)
        #expect(name.hasPrefix("orders-backup-") && name.count == "orders-backup-".count + 8)
        #expect(job.metadata.labels?[LabelKey.database] == "orders")
        #expect(job.metadata.labels?["dboperator.io/operation"] == "backup")
        #expect(job.metadata.ownerReferences == [OwnerReference(apiVersion: "dboperator.io/v1alpha1", kind: "Database", name: "orders", uid: "9b1c2d3e-0000-4000-8000-000000000001", controller: true, blockOwnerDeletion: true)])
        #expect(job.spec?.backoffLimit == 2)
        #expect(job.spec?.ttlSecondsAfterFinished != nil)
        #expect(job.spec?.activeDeadlineSeconds == 21_600, "a backup may run six hours by default")
        #expect(template.job(for: Self.database(), request: JobRequest(operation: .create, backup: nil, attempt: 0)).spec?.activeDeadlineSeconds == 600)
        template.activeDeadlines[.create] = 30
        #expect(template.job(for: Self.database(), request: JobRequest(operation: .create, backup: nil, attempt: 0)).spec?.activeDeadlineSeconds == 30)
        let pod = try #require(job.spec?.template.spec)
        #expect(pod.restartPolicy == "Never")
        #expect(pod.serviceAccountName == "db-operator-driver")
        let env = Dictionary(uniqueKeysWithValues: (pod.containers[0].env ?? []).map { ($0.name, $0.value ?? "") })
        #expect(env == ["DB_OPERATOR_DATABASE": "orders", "DB_OPERATOR_NAMESPACE": "shop", "DB_OPERATOR_OPERATION": "backup", "DB_OPERATOR_BACKUP": "nightly", "EXTRA": "1"])
        #expect(pod.containers[0].image == "registry.example/db-operator:1.2")
    }

    @Test("names differ per operation, backup and attempt, and stay within 63 characters")
    func names() {
        let uid = "u"
        let a = JobTemplate.jobName(database: "orders", uid: uid, request: JobRequest(operation: .backup, backup: "x", attempt: 0))
        let b = JobTemplate.jobName(database: "orders", uid: uid, request: JobRequest(operation: .backup, backup: "x", attempt: 1))
        let c = JobTemplate.jobName(database: "orders", uid: uid, request: JobRequest(operation: .backup, backup: "y", attempt: 0))
        #expect(Set([a, b, c]).count == 3)
        let long = JobTemplate.jobName(database: String(repeating: "a", count: 200) + ".b", uid: uid, request: JobRequest(operation: .backupBeforeDelete, backup: nil, attempt: 0))
        #expect(long.count <= 63)
        #expect(!long.contains("."))
    }
}

@Suite("Label values")
struct LabelValueTests {
    @Test("names become valid label values: at most 63 characters, alphanumeric at both ends")
    func valid() {
        #expect(LabelValue.valid("orders") == "orders")
        let long = String(repeating: "a", count: 62) + "-b"  // 64 characters, a '-' at 63
        #expect(LabelValue.valid(long) == String(repeating: "a", count: 62))
        #expect(LabelValue.valid(String(repeating: "x", count: 63)).count == 63)
        #expect(LabelValue.valid("-a.b_c-") == "a.b_c")
        #expect(LabelValue.valid("") == "")
    }

    @Test("why pending Backups wait: deleting, invalid, refused, no target, busy, queued behind the oldest, retrying, scheduled")
    func waitingReasons() {
        let backups = [
            BackupFacts(name: "b", creationTimestamp: "2026-12-02T10:00:01Z", phase: nil),
            BackupFacts(name: "a", creationTimestamp: "2026-12-02T10:00:00Z", phase: nil),
            BackupFacts(name: "done", creationTimestamp: "2026-12-02T09:00:00Z", phase: .completed),
        ]
        func reasons(_ database: DatabaseFacts, decision: JobDecision = .idle, target: Bool = true) -> [String] {
            let input = DecisionInput(database: database, backups: backups, jobs: [], now: Date())
            return JobDecider.waitingReasons(input, decision: decision, databaseName: "shop", hasBackupTarget: target).map { "\($0.backup):\($0.reason)" }
        }
        let free = DatabaseFacts(generation: 1, phase: .created, deleting: false, hasFinalizer: true, deletionPolicy: .delete, activeBackup: "")
        #expect(reasons(free) == ["a:Scheduled", "b:Queued"])
        #expect(reasons(free, decision: .backoff(.backup, delay: 9.2)) == ["a:RetryingAfterFailure", "b:Queued"])
        #expect(reasons(free, target: false) == ["a:NoBackupTarget", "b:NoBackupTarget"])
        var busy = free
        busy.activeBackup = "other"
        #expect(reasons(busy) == ["a:DatabaseBusy", "b:DatabaseBusy"])
        var creating = free
        creating.phase = .creating
        #expect(reasons(creating) == ["a:DatabaseBusy", "b:DatabaseBusy"])
        var refused = free
        refused.refusal = Refusal(reason: .serverNotFound, message: "no server")
        #expect(reasons(refused) == ["a:ServerNotFound", "b:ServerNotFound"])
        var invalid = free
        invalid.specProblems = [SpecProblem(field: "spec.driver", message: "unknown")]
        #expect(reasons(invalid) == ["a:DatabaseInvalid", "b:DatabaseInvalid"])
        var deleting = invalid
        deleting.deleting = true
        #expect(reasons(deleting) == ["a:DatabaseDeleting", "b:DatabaseDeleting"])
        // No Database: every pending Backup says so, oldest first; finished ones are left alone.
        let missing = JobDecider.waitingReasons(missingDatabase: "shop", namespace: "team", backups: backups)
        #expect(missing.map { "\($0.backup):\($0.reason)" } == ["a:DatabaseNotFound", "b:DatabaseNotFound"])
        #expect(missing.allSatisfy { $0.message == "the Database shop does not exist in namespace team" })
    }
}
