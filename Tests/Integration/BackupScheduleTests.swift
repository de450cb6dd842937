import BackupData
import DriverAPI
import Foundation
import KubeClient
import KubeModel
import NIOCore
import ObjectStore
import SQLSupport
import Testing
import TestSupport

/// BackupSchedule (SPEC section 14): Backups made on a cron schedule, retention that
/// deletes the Backups it no longer keeps together with their objects and manifests,
/// the schedule's status and Events, `suspend`, and `kubectl get backupschedules`.
/// Under deploy/'s RBAC: the operator makes the Backups, the Database's Jobs delete.
@Suite("Backup schedules", .serialized)
struct BackupScheduleTests {
    static let services = TestServices.current

    /// A Backup as the schedule makes it (label, owner, the run's time), for a run
    /// `hoursAgo` hours back: a schedule's retention treats it as one of its runs.
    static func scheduledBackup(_ name: String, of schedule: Resource<BackupSchedule>, hoursAgo: Double) -> Backup {
        Backup(
            metadata: ObjectMeta(
                name: name, namespace: schedule.namespace, labels: [LabelKey.schedule: schedule.name],
                annotations: [AnnotationKey.scheduledTime: KubeTime.format(Date().addingTimeInterval(-hoursAgo * 3600))],
                ownerReferences: [OwnerReference(
                    apiVersion: BackupSchedule.resource.apiVersion, kind: BackupSchedule.resource.kind, name: schedule.name,
                    uid: schedule.metadata.uid ?? "", controller: true)]),
            spec: BackupSpec(database: schedule.object.spec.database))
    }

    /// The keys under `prefix` in the store.
    static func keys(_ s3: S3Settings, prefix: String) async throws -> Set<String> {
        let store = try CrashConvergenceTests.store(s3)
        defer { Task { try? await store.shutdown() } }
        return Set(try await store.listObjects(prefix: prefix).map(\.key))
    }

    /// The key of a Backup's object and of its manifest.
    static func objectKeys(_ backup: Backup, s3: S3Settings) throws -> Set<String> {
        let destination = try #require(backup.status?.destination)
        let key = String(destination.dropFirst("s3://\(s3.bucket)/".count))
        return [key, BackupManifest.key(for: key)]
    }

    @Test(
        "test driver: retention deletes the expired Backup, its object and manifest; a manual Backup is never expired; a deletion that cannot be done is reported on the schedule; status and kubectl columns",
        .enabled(if: services.shouldRun(.s3) && services.shouldRun(.kubectl)))
    func retention() async throws {
        let s3 = try Self.services.s3()
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "sched-\(run)"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            let prefix = "sched-\(run)/"
            try await harness.createDatabase(
                "main", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-sched-\(run)", policy: .delete, s3: s3, prefix: prefix))
            try await harness.waitForPhase("main", namespace: ns, .created)
            // Its own runs are a year apart: the runs here are made as it makes them.
            let schedule = try await harness.api.create(BackupSchedule(
                metadata: ObjectMeta(name: "yearly", namespace: ns),
                spec: BackupScheduleSpec(database: "main", schedule: "@yearly", retention: BackupRetention(keepLast: 1))))
            func made(_ name: String, hoursAgo: Double) async throws -> Backup {
                _ = try await harness.api.create(Self.scheduledBackup(name, of: schedule, hoursAgo: hoursAgo))
                try await harness.waitForBackup(name, namespace: ns, .completed, timeout: .seconds(120))
                return try #require(try await harness.backup(name, namespace: ns))
            }
            let a = try await made("yearly-a", hoursAgo: 3)
            let aKeys = try Self.objectKeys(a, s3: s3)
            #expect(try await Self.keys(s3, prefix: prefix).isSuperset(of: aKeys))
            let b = try await made("yearly-b", hoursAgo: 2)
            let bKeys = try Self.objectKeys(b, s3: s3)
            // keepLast 1: a goes, with its object and manifest; b (the newest) stays.
            try await eventually(timeout: .seconds(120), "yearly-a to be expired") { try await harness.backup("yearly-a", namespace: ns) == nil }
            try await harness.createBackup("manual", namespace: ns, database: "main")
            try await harness.waitForBackup("manual", namespace: ns, .completed, timeout: .seconds(120))
            let manualKeys = try Self.objectKeys(try #require(try await harness.backup("manual", namespace: ns)), s3: s3)
            #expect(try await Self.keys(s3, prefix: prefix) == bKeys.union(manualKeys), "a's object and manifest deleted, b's and the manual one's kept")
            let events = try await harness.api.list(Event.self, namespace: ns).map(\.object)
            #expect(events.contains { $0.involvedObject.name == "yearly-a" && $0.reason == "Expired" && $0.message?.contains("BackupSchedule yearly") == true })
            // The target moves: b's object is no longer where the Database backs up to.
            // Retention cannot delete it and says so; nothing else is touched.
            try await harness.modifyDatabase("main", namespace: ns) { $0.spec.backupTo?.S3?.Prefix = prefix + "moved/" }
            let c = try await made("yearly-c", hoursAgo: 1)
            try await eventually(timeout: .seconds(120), "the schedule to report the failed deletion") {
                let retention = try await harness.api.get(BackupSchedule.self, namespace: ns, name: "yearly").object.status?.conditions?[type: "Retention"]
                return retention?.status == "False" && retention?.reason == "DeletionFailed"
                    && retention?.message.contains("yearly-b: BackupTargetChanged") == true
            }
            #expect(try await harness.backup("yearly-b", namespace: ns) != nil, "kept while its object cannot be deleted")
            #expect(try await harness.backup("manual", namespace: ns) != nil, "a Backup no schedule made is never expired")
            #expect(try await Self.keys(s3, prefix: prefix).isSuperset(of: bKeys.union(manualKeys).union(try Self.objectKeys(c, s3: s3))))
            #expect(try await harness.api.list(Event.self, namespace: ns).contains {
                $0.object.involvedObject.name == "yearly-b" && $0.object.reason == "BackupTargetChanged" && $0.object.type == "Warning"
            })
            // Status: the last success is c's; the next run is the next 1 January, 00:00 UTC.
            let status = try #require(try await harness.api.get(BackupSchedule.self, namespace: ns, name: "yearly").object.status)
            #expect(status.lastSuccessfulTime == c.status?.completedAt)
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            let nextYear = utc.component(.year, from: Date()) + 1
            #expect(status.nextScheduleTime == "\(nextYear)-01-01T00:00:00Z", "\(status)")
            #expect(status.conditions?[type: "Ready"]?.reason == "Scheduled")
            #expect(status.lastScheduleTime == nil, "no run of its own was due")
            // kubectl shows the columns.
            let table = try await harness.kubectl(["get", "backupschedules", "-n", ns])
            let header = table.split(separator: "\n").first.map(String.init) ?? ""
            for column in ["NAME", "DATABASE", "SCHEDULE", "SUSPENDED", "LAST SUCCESS", "NEXT", "AGE"] {
                #expect(header.contains(column), "\(table)")
            }
            let row = table.split(separator: "\n").first { $0.hasPrefix("yearly ") }.map(String.init) ?? ""
            #expect(row.contains("@yearly") && row.contains("\(nextYear)-01-01T00:00:00Z"), "\(table)")
            // A bad schedule or time zone is InvalidSpec, with the field named.
            _ = try await harness.api.create(BackupSchedule(
                metadata: ObjectMeta(name: "bad-zone", namespace: ns), spec: BackupScheduleSpec(database: "main", schedule: "0 3 * * *", timeZone: "Mars/Olympus")))
            _ = try await harness.api.create(BackupSchedule(
                metadata: ObjectMeta(name: "bad-cron", namespace: ns), spec: BackupScheduleSpec(database: "main", schedule: "61 * * * *")))
            try await eventually("both to be InvalidSpec") {
                let zone = try await harness.api.get(BackupSchedule.self, namespace: ns, name: "bad-zone").object.status?.conditions?[type: "Ready"]
                let cron = try await harness.api.get(BackupSchedule.self, namespace: ns, name: "bad-cron").object.status?.conditions?[type: "Ready"]
                return zone?.reason == "InvalidSpec" && zone?.message.contains("spec.timeZone") == true
                    && cron?.reason == "InvalidSpec" && cron?.message.contains("minute field") == true
            }
        }
    }

    @Test(
        "both drivers on real servers: every minute with keepLast 2 leaves exactly two Completed Backups and their objects; status; suspend stops runs",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.mysql) && services.shouldRun(.s3)))
    func everyMinute() async throws {
        try await LifecycleHarness.withRealDrivers { driver, harness, s3, run in try await Self.everyMinute(driver, harness: harness, s3: s3, run: run) }
    }

    static func everyMinute(_ driver: EndToEndTests.Driver, harness: LifecycleHarness, s3: S3Settings, run: String) async throws {
        let ns = "sched-\(driver.label)-\(run)"
        try await harness.makeRealNamespace(ns, driver: driver, s3: s3)
        let prefix = "\(ns)/"
        try await harness.createDatabase(
            "main", namespace: ns, spec: LifecycleHarness.realDatabaseSpec(driver: driver.name, login: driver.login, s3: s3, prefix: prefix, policy: .delete))
        try await harness.waitForPhase("main", namespace: ns, .created, timeout: .seconds(180))
        let secret = try #require(try await harness.secret("main", namespace: ns))
        let database = try #require(secret.value("database")), user = try #require(secret.value("username")), password = try #require(secret.value("password"))
        _ = try await driver.engine.runAs(driver.login, user, password, database, [
            "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(50))", "INSERT INTO items VALUES (1, 'one'), (2, 'two')",
        ])
        _ = try await harness.api.create(BackupSchedule(
            metadata: ObjectMeta(name: "minutely", namespace: ns),
            spec: BackupScheduleSpec(database: "main", schedule: "* * * * *", retention: BackupRetention(keepLast: 2))))
        _ = try await harness.api.create(BackupSchedule(
            metadata: ObjectMeta(name: "paused", namespace: ns), spec: BackupScheduleSpec(database: "main", schedule: "* * * * *", suspend: true)))
        func created() async throws -> [String] {
            let events: [Event] = try await harness.api.list(Event.self, namespace: ns).map(\.object)
            var names: [String] = []
            for event in events where event.involvedObject.name == "minutely" && event.reason == "BackupCreated" {
                // "made Backup <name> for the run at <time>"
                let words = (event.message ?? "").split(separator: " ")
                if words.count > 2 { names.append(String(words[2])) }
            }
            return names
        }
        try await eventually(timeout: .seconds(330), "three runs of the schedule") { try await created().count >= 3 }
        // Suspended now: what runs finishes, retention catches up, and nothing new starts.
        while true {
            let current = try await harness.api.get(BackupSchedule.self, namespace: ns, name: "minutely")
            var modified = current.object
            modified.spec.suspend = true
            do {
                _ = try await harness.api.update(current, to: modified)
                break
            } catch let error as KubeError where error.code == .conflict {
                continue
            }
        }
        func ownBackups() async throws -> [Backup] {
            try await harness.api.list(Backup.self, namespace: ns, labelSelector: "\(LabelKey.schedule)=minutely").map(\.object)
        }
        try await eventually(timeout: .seconds(240), "exactly two Completed Backups of the schedule, nothing unfinished") {
            let backups = try await ownBackups()
            return backups.count == 2 && backups.allSatisfy { $0.phase == .completed }
        }
        let kept = try await ownBackups().sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
        let names = try await created()
        #expect(names.count >= 3)
        #expect(kept.map { $0.metadata.name ?? "" } == Array(names.sorted().suffix(2)), "the two newest runs are kept: \(names)")
        for backup in kept {
            let name = backup.metadata.name ?? ""
            #expect(name.range(of: "^minutely-[0-9]{12}$", options: .regularExpression) != nil, "\(name)")
            #expect(backup.metadata.ownerReferences?.first?.kind == "BackupSchedule")
        }
        // In the store: exactly their two objects and two manifests.
        let expected = try kept.reduce(into: Set<String>()) { $0.formUnion(try objectKeys($1, s3: s3)) }
        #expect(try await keys(s3, prefix: prefix) == expected)
        // The newest restores with the standard tools.
        try await EndToEndTests.expectRestores(kept[1], driver: driver, s3: s3, rows: 2)
        let schedule = try await harness.api.get(BackupSchedule.self, namespace: ns, name: "minutely").object
        let status = try #require(schedule.status)
        #expect(status.lastSuccessfulTime == kept.compactMap { $0.status?.completedAt }.max())
        #expect(status.lastScheduleTime == kept[1].metadata.annotations?[AnnotationKey.scheduledTime], "\(status)")
        #expect(status.lastBackup == kept[1].metadata.name)
        #expect(status.nextScheduleTime == nil, "suspended")
        #expect(status.conditions?[type: "Ready"]?.reason == "Suspended")
        #expect(status.conditions?[type: "Retention"]?.status == "True")
        let events = try await harness.api.list(Event.self, namespace: ns).map(\.object)
        #expect(events.filter { $0.reason == "Expired" }.count >= names.count - 2, "each expired run's Backup says so")
        // The schedule suspended from the start made nothing.
        #expect(try await harness.api.list(Backup.self, namespace: ns, labelSelector: "\(LabelKey.schedule)=paused").isEmpty)
        let paused = try await harness.api.get(BackupSchedule.self, namespace: ns, name: "paused").object.status
        #expect(paused?.conditions?[type: "Ready"]?.reason == "Suspended" && paused?.lastScheduleTime == nil)
    }
}
