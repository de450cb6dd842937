import Foundation
import KubeModel
@testable import Operator
import Testing

/// What the operator decides for schedules beyond `BackupScheduling`: which Backups of
/// a Database retention deletes (only those its schedules made, per schedule, oldest
/// first), when their `expire-backup` Jobs run, which object keys a Job may delete, and
/// the spec errors it reports.
@Suite("Backup schedules: retention's choice, its Jobs, its keys")
struct ScheduleRetentionTests {
    static func schedule(_ name: String, uid: String, database: String = "orders", retention: BackupRetention? = BackupRetention(keepLast: 1), zone: String? = nil)
        -> Resource<BackupSchedule>
    {
        var metadata = ObjectMeta(name: name, namespace: "shop")
        metadata.uid = uid
        return try! Resource(object: BackupSchedule(
            metadata: metadata, spec: BackupScheduleSpec(database: database, schedule: "@daily", timeZone: zone, retention: retention)))
    }

    static func backup(_ name: String, schedule: Resource<BackupSchedule>?, hour: Int, phase: BackupPhase?, database: String = "orders") -> Resource<Backup> {
        var metadata = ObjectMeta(name: name, namespace: "shop")
        if let schedule {
            metadata.labels = [LabelKey.schedule: schedule.name]
            metadata.annotations = [AnnotationKey.scheduledTime: String(format: "2026-11-25T%02d:00:00Z", hour)]
            metadata.ownerReferences = [OwnerReference(apiVersion: "dboperator.io/v1alpha1", kind: "BackupSchedule", name: schedule.name, uid: schedule.metadata.uid ?? "", controller: true)]
        }
        return try! Resource(object: Backup(metadata: metadata, spec: BackupSpec(database: database), status: phase.map { BackupStatus(phase: $0) }))
    }

    @Test("each schedule keeps its own; Backups it did not make (manual, another owner, another Database) are never chosen; oldest first")
    func perSchedule() {
        let nightly = Self.schedule("nightly", uid: "u1")
        let hourly = Self.schedule("hourly", uid: "u2", retention: BackupRetention(keepLast: 2))
        let unlimited = Self.schedule("all", uid: "u3", retention: nil)
        let impostor = Self.schedule("nightly", uid: "old-uid")  // an earlier schedule of the same name
        let backups = [
            Self.backup("nightly-1", schedule: nightly, hour: 1, phase: .completed),
            Self.backup("nightly-2", schedule: nightly, hour: 2, phase: .completed),
            Self.backup("nightly-3", schedule: nightly, hour: 3, phase: .failed),
            Self.backup("nightly-4", schedule: nightly, hour: 4, phase: .backingUp),
            Self.backup("nightly-0", schedule: impostor, hour: 0, phase: .completed),
            Self.backup("hourly-1", schedule: hourly, hour: 1, phase: .completed),
            Self.backup("hourly-2", schedule: hourly, hour: 2, phase: .completed),
            Self.backup("hourly-3", schedule: hourly, hour: 3, phase: .completed),
            Self.backup("all-1", schedule: unlimited, hour: 1, phase: .completed),
            Self.backup("all-2", schedule: unlimited, hour: 2, phase: .completed),
            Self.backup("manual", schedule: nil, hour: 0, phase: .completed),
        ]
        let expired = BackupScheduling.retentionExpired(database: "orders", backups: backups, schedules: [nightly, hourly, unlimited])
        #expect(expired == ["hourly-1", "nightly-1"])
        #expect(BackupScheduling.retentionExpired(database: "other", backups: backups, schedules: [nightly, hourly]).isEmpty)
        // A schedule with a zone this system does not know decides nothing.
        #expect(BackupScheduling.retentionExpired(database: "orders", backups: backups, schedules: [Self.schedule("nightly", uid: "u1", zone: "Mars/Olympus")]).isEmpty)
    }

    static func input(phase: DatabasePhase, pending: Bool, expired: [String], jobs: [JobFacts] = [], deleting: Bool = false) -> DecisionInput {
        var backups = [BackupFacts(name: "old", creationTimestamp: "2026-01-01T00:00:00Z", phase: .completed)]
        if pending { backups.append(BackupFacts(name: "asked", creationTimestamp: "2026-01-02T00:00:00Z", phase: nil)) }
        return DecisionInput(
            database: DatabaseFacts(generation: 1, phase: phase, deleting: deleting, hasFinalizer: true, deletionPolicy: .delete),
            backups: backups, jobs: jobs, expiredBackups: expired, now: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test("expire-backup Jobs: only at Created, after the Backups asked for, one at a time, backed off after a failure; never while deleting")
    func expiryJobs() {
        #expect(JobDecider.decide(Self.input(phase: .created, pending: false, expired: ["a", "b"])) == .createJob(JobRequest(operation: .expireBackup, backup: "a", attempt: 0)))
        #expect(JobDecider.decide(Self.input(phase: .created, pending: true, expired: ["a"])) == .createJob(JobRequest(operation: .backup, backup: "asked", attempt: 0)))
        #expect(JobDecider.decide(Self.input(phase: .created, pending: false, expired: [])) == .idle)
        #expect(JobDecider.decide(Self.input(phase: .created, pending: false, expired: ["a"], deleting: true)) == .createJob(JobRequest(operation: .delete, backup: nil, attempt: 0)))
        #expect(JobDecider.decide(Self.input(phase: .backupInProgress, pending: false, expired: ["a"])) == .idle)
        let running = JobFacts(name: "j", operation: .expireBackup, backup: "a", generation: 1, state: .running, finishedAt: nil)
        #expect(JobDecider.decide(Self.input(phase: .created, pending: false, expired: ["a"], jobs: [running])) == .waitForJob("j"))
        let failed = JobFacts(name: "j", operation: .expireBackup, backup: "a", generation: 1, state: .failed, finishedAt: Date(timeIntervalSince1970: 1_800_000_000 - 4))
        #expect(JobDecider.decide(Self.input(phase: .created, pending: false, expired: ["a"], jobs: [failed])) == .backoff(.expireBackup, delay: 6))
        let longAgo = JobFacts(name: "j", operation: .expireBackup, backup: "a", generation: 1, state: .failed, finishedAt: Date(timeIntervalSince1970: 1_800_000_000 - 60))
        #expect(JobDecider.decide(Self.input(phase: .created, pending: false, expired: ["a"], jobs: [longAgo])) == .createJob(JobRequest(operation: .expireBackup, backup: "a", attempt: 1)))
    }

    @Test("a Job deletes only an object of its own Backup in the Database's current target")
    func objectKeys() {
        let location = S3Location(region: "r", bucket: "b", prefix: "backups/", endpoint: nil, forcePathStyle: true, credentialsSecret: nil)
        let key = location.key(namespace: "shop", database: "orders", backup: "nightly-202611250300", timestamp: "20261125T030000Z", fileExtension: "pgdump")
        let destination = location.url(key: key)
        #expect(location.key(ofDestination: destination, namespace: "shop", database: "orders", backup: "nightly-202611250300") == key)
        #expect(location.key(ofDestination: destination, namespace: "shop", database: "orders", backup: "nightly-2026112503") == nil, "another Backup's prefix")
        #expect(location.key(ofDestination: destination, namespace: "shop", database: "billing", backup: "nightly-202611250300") == nil)
        #expect(location.key(ofDestination: "s3://other/\(key)", namespace: "shop", database: "orders", backup: "nightly-202611250300") == nil, "another bucket")
        var moved = location
        moved.prefix = "elsewhere/"
        #expect(moved.key(ofDestination: destination, namespace: "shop", database: "orders", backup: "nightly-202611250300") == nil, "the target moved")
        #expect(location.key(ofDestination: "s3://b/backups/shop/orders/nightly-202611250300-x/y", namespace: "shop", database: "orders", backup: "nightly-202611250300") == nil)
    }

    @Test("spec errors name the field: cron, time zone, a name too long for its Backups")
    func specErrors() {
        func message(_ spec: BackupScheduleSpec, name: String = "nightly") -> String? {
            if case .failure(let error) = BackupScheduling.parse(spec, name: name) { return error.message }
            return nil
        }
        #expect(message(BackupScheduleSpec(database: "d", schedule: "0 3 * * *", timeZone: "Europe/Amsterdam")) == nil)
        #expect(message(BackupScheduleSpec(database: "d", schedule: "0 3 * *"))?.hasPrefix("spec.schedule:") == true)
        #expect(message(BackupScheduleSpec(database: "d", schedule: "@daily", timeZone: "Mars/Olympus"))?.hasPrefix("spec.timeZone:") == true)
        #expect(message(BackupScheduleSpec(database: "d", schedule: "@daily"), name: String(repeating: "a", count: 241))?.hasPrefix("metadata.name:") == true)
    }
}
