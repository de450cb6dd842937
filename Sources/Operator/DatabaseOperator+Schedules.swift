import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging

/// The BackupSchedule controller (SPEC section 14): makes the Backup of each run
/// (`BackupScheduling.decide`), labelled and owned by the schedule, one at a time,
/// and writes the schedule's status and Events. Retention's deletions are the
/// Database's Jobs (`expire-backup`): the Database controller asks
/// `BackupScheduling.retentionExpired` which Backups go, and `JobDecider` schedules them.
extension DatabaseOperator {
    func scheduleController() -> Controller<BackupSchedule> {
        var configuration = Controller<BackupSchedule>.Configuration(name: "backupschedules", watcher: .init(namespace: self.configuration.namespace))
        configuration.maxConcurrent = 2
        configuration.errorBaseDelay = .milliseconds(200)
        configuration.errorMaxDelay = .seconds(60)
        return Controller<BackupSchedule>(api: api, configuration: configuration, logger: logger, sources: [backupsToSchedules()]) { key, _ in
            try await self.reconcile(schedule: key)
        }
    }

    /// Queues the schedule of each Backup a schedule made when it changes or goes:
    /// success times, skipped runs and retention follow.
    private func backupsToSchedules() -> Controller<BackupSchedule>.KeySource {
        let api = self.api, logger = self.logger
        let configuration = Watcher<Backup>.Configuration(namespace: configuration.namespace, labelSelector: LabelKey.schedule)
        return { enqueue in
            for try await event in Watcher<Backup>(api: api, configuration: configuration, logger: logger) {
                for backup in event.resources {
                    if let owner = backup.metadata.ownerReferences?.first(where: { $0.kind == BackupSchedule.resource.kind && $0.controller == true }) {
                        await enqueue(ObjectKey(namespace: backup.namespace, name: owner.name))
                    }
                }
            }
        }
    }

    func reconcile(schedule key: ObjectKey) async throws -> ReconcileResult {
        guard let namespace = key.namespace else { return .done }
        let schedule: Resource<BackupSchedule>
        do {
            schedule = try await api.get(BackupSchedule.self, namespace: namespace, name: key.name)
        } catch let error as KubeError where error.code == .notFound {
            return .done  // its Backups go with it (owner references)
        }
        guard schedule.metadata.deletionTimestamp == nil else { return .done }
        let spec = schedule.object.spec
        let now = Date()
        var status = schedule.object.status ?? BackupScheduleStatus()
        var conditions = status.conditions ?? []
        let generation = schedule.metadata.generation
        var events: [(EventRecorder.EventType, Reason, String)] = []
        func ready(_ value: String, _ reason: Reason, _ message: String) {
            conditions.set(Condition(type: ConditionType.ready, status: value, reason: reason, message: message, lastTransitionTime: KubeTime.now(), observedGeneration: generation))
        }
        // Fresh reads: what is made here must not be made twice.
        let backups = try await api.list(Backup.self, namespace: namespace, labelSelector: "\(LabelKey.schedule)=\(LabelValue.valid(key.name))")
            .filter { BackupScheduling.made($0, by: schedule) }
        if let newest = backups.compactMap({ $0.phase == .completed ? $0.object.status?.completedAt : nil }).max() {
            status.lastSuccessfulTime = max(newest, status.lastSuccessfulTime ?? "")
        }
        // Retention's failures, written on the Backups by their Jobs.
        let failing = backups.compactMap { backup in
            backup.object.status?.conditions?[type: ConditionType.expiring].flatMap { $0.status == "False" ? "\(backup.name): \($0.reason): \($0.message)" : nil }
        }.sorted()
        if !failing.isEmpty {
            conditions.set(Condition(
                type: ConditionType.retention, status: "False", reason: .deletionFailed,
                message: "retention cannot delete \(failing.count) expired Backup(s), retried: " + failing.joined(separator: "; "),
                lastTransitionTime: KubeTime.now(), observedGeneration: generation))
        } else if spec.retention != nil {
            conditions.set(Condition(
                type: ConditionType.retention, status: "True", reason: .applied, message: "expired Backups are deleted with their objects",
                lastTransitionTime: KubeTime.now(), observedGeneration: generation))
        }
        var result: ReconcileResult = .done
        switch BackupScheduling.parse(spec, name: key.name) {
        case .failure(let problem):
            ready("False", .invalidSpec, "no Backups are made until the spec is fixed: \(problem.message)")
            status.nextScheduleTime = nil
            events.append((.warning, .invalidSpec, problem.message))
        case .success(let (cron, zone)):
            let database = try await databaseState(namespace: namespace, name: spec.database)
            let decision = BackupScheduling.decide(
                schedule: key.name, cron: cron, timeZone: zone, suspend: spec.suspend ?? false,
                lastScheduleTime: status.lastScheduleTime.flatMap(KubeTime.parse),
                created: schedule.metadata.creationTimestamp.flatMap(KubeTime.parse) ?? now, backups: BackupScheduling.scheduleFacts(backups), now: now)
            var next: Date?
            switch decision {
            case .suspended:
                ready("True", .suspended, "spec.suspend is true: no new runs")
                status.nextScheduleTime = nil
            case .wait(let upcoming):
                next = upcoming
                if let problem = database { ready("False", problem.0, problem.1) } else { ready("True", .scheduled, "next run at \(upcoming.map(KubeTime.format) ?? "never")") }
            case .createBackup(let name, let scheduledTime, let missed, let upcoming):
                next = upcoming
                if let problem = database {
                    // Not made, not counted: the next pass after the Database is back makes one for the latest run.
                    ready("False", problem.0, problem.1)
                    break
                }
                try await createBackup(name, for: schedule, scheduledTime: scheduledTime)
                status.lastScheduleTime = KubeTime.format(scheduledTime)
                status.lastBackup = name
                ready("True", .scheduled, "made Backup \(name) for the run at \(KubeTime.format(scheduledTime)); next run at \(upcoming.map(KubeTime.format) ?? "never")")
                events.append((.normal, .backupCreated, "made Backup \(name) for the run at \(KubeTime.format(scheduledTime))"))
                if missed > 0 {
                    events.append((.warning, .missedRuns, "\(missed) earlier run(s) were missed (the operator was not running, or the Database was missing); one Backup is made for the latest"))
                }
            case .skipRunning(let scheduledTime, let missed, let upcoming):
                next = upcoming
                let name = BackupScheduling.backupName(schedule: key.name, scheduledTime: scheduledTime)
                status.lastScheduleTime = KubeTime.format(scheduledTime)
                if backups.contains(where: { $0.name == name }) {
                    status.lastBackup = name  // made by an earlier pass whose status write was lost
                } else {
                    let running = backups.filter { !($0.phase?.isFinished ?? false) }.map(\.name).sorted().joined(separator: ", ")
                    events.append((.warning, .runSkipped, "the run at \(KubeTime.format(scheduledTime)) is skipped: Backup \(running) is not finished (one at a time)"
                        + (missed > 0 ? "; \(missed) earlier run(s) were missed" : "")))
                }
                ready("True", .scheduled, "next run at \(upcoming.map(KubeTime.format) ?? "never")")
            }
            status.nextScheduleTime = next.map(KubeTime.format)
            if let next { result = .requeue(after: .milliseconds(max(100, Int64(next.timeIntervalSince(Date()) * 1000) + 50))) }
            if database != nil { result = .requeue(after: .seconds(30)) }
        }
        status.conditions = conditions
        status.observedGeneration = generation
        let changed = !Self.sameStatus(status, schedule.object.status) || !Self.sameConditions(conditions, schedule.object.status?.conditions ?? [])
        if changed {
            var written = schedule.object
            written.status = status
            _ = try await api.updateStatus(schedule, to: written)  // a conflict re-reads and re-decides
        }
        // An invalid spec is said once, not on every pass.
        for (type, reason, message) in events where changed || reason != .invalidSpec {
            await self.events.record(schedule.object, type: type, reason: reason, message: message)
        }
        return result
    }

    /// Equal but for the conditions' `lastTransitionTime`.
    static func sameStatus(_ a: BackupScheduleStatus, _ b: BackupScheduleStatus?) -> Bool {
        guard let b else { return false }
        var left = a, right = b
        left.conditions = nil
        right.conditions = nil
        return left == right
    }

    /// Why no Backup can be made for the Database now (reason, message), or nil.
    private func databaseState(namespace: String, name: String) async throws -> (Reason, String)? {
        do {
            let database = try await api.get(Database.self, namespace: namespace, name: name)
            if database.object.isBeingDeleted { return (.databaseDeleting, "the Database \(name) is being deleted: no runs") }
            return nil
        } catch let error as KubeError where error.code == .notFound {
            return (.databaseNotFound, "the Database \(name) does not exist in namespace \(namespace): no runs until it does")
        }
    }

    /// The Backup of one run: labelled and owned by the schedule (made already by an
    /// earlier pass is fine).
    private func createBackup(_ name: String, for schedule: Resource<BackupSchedule>, scheduledTime: Date) async throws {
        let owner = OwnerReference(
            apiVersion: BackupSchedule.resource.apiVersion, kind: BackupSchedule.resource.kind, name: schedule.name, uid: schedule.metadata.uid ?? "",
            controller: true)
        let backup = Backup(
            metadata: ObjectMeta(
                name: name, namespace: schedule.namespace, labels: [LabelKey.schedule: LabelValue.valid(schedule.name)],
                annotations: [AnnotationKey.scheduledTime: KubeTime.format(scheduledTime)], ownerReferences: [owner]),
            spec: BackupSpec(database: schedule.object.spec.database))
        do {
            _ = try await api.create(backup)
            logger.info("scheduled backup", metadata: ["k8s.namespace": "\(schedule.namespace ?? "")", "k8s.backup": "\(name)", "schedule": "\(schedule.name)"])
        } catch let error as KubeError where error.code == .alreadyExists {
        }
    }
}
