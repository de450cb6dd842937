import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// The operator (`db-operator run`): observes Databases, Backups, DatabaseServers,
/// BackupSchedules and Jobs, decides with `JobDecider` which Job should exist, and creates it. Of a
/// Database it never writes a phase, a finalizer or a Secret: only conditions (and
/// Events) that say why it creates no Job, and `status.expiresAt`; it deletes one
/// whose `spec.ttl` ran out. Of a DatabaseServer it writes the in-use finalizer, the
/// count and the conditions its probe does not (`DatabaseOperator+Servers.swift`).
/// Of a BackupSchedule it writes the status, and makes its Backups
/// (`DatabaseOperator+Schedules.swift`).
public final class DatabaseOperator: Service {
    /// How the operator runs; every field has a usable default.
    public struct Configuration: Sendable {
        /// Namespace to watch; nil for all.
        public var namespace: String?
        /// The drivers a Job can run: `spec.driver` must be one of them.
        public var knownDrivers: Set<String> = ["postgresql", "mysql"]
        public var jobTemplate = JobTemplate()
        public var retry = RetryPolicy()
        public var maxConcurrent = 8
        /// Where the Jobs of Databases on a DatabaseServer run, and where the servers'
        /// Secrets are (`--operator-namespace`).
        public var operatorNamespace = "db-operator"
        /// How often a usable DatabaseServer is probed again (`--server-probe-interval`).
        public var serverProbeInterval: TimeInterval = 600

        public init() {}
    }

    let api: any KubernetesAPI
    public let configuration: Configuration
    let logger: Logger
    let events: EventRecorder
    /// What `/metrics` shows.
    public let metrics: OperatorMetrics
    /// The UID of namespace kube-system, read at start: the cluster's identity.
    private let clusterID = Mutex<String?>(nil)
    /// The Databases as the Database controller sees them, for the server controller.
    let databaseCache = Mutex<ObjectCache<Database>?>(nil)

    public init(api: any KubernetesAPI, configuration: Configuration, logger: Logger, metrics: OperatorMetrics = OperatorMetrics()) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        events = EventRecorder(api: api, component: "db-operator", logger: logger)
    }

    public func run() async throws {
        await readClusterIdentity()
        let servers = serverController()
        let schedules = scheduleController()
        var databases = Controller<Database>.Configuration(name: "databases", watcher: .init(namespace: configuration.namespace))
        databases.watcher.droppedFields = [Watcher<Database>.Configuration.managedFields]
        // Only the typed view is cached (a third of a Database's memory was its text):
        // the fresh read before a Job brings the server's text, and a write from the
        // cache reads it first (`KubernetesAPI.update`).
        databases.watcher.keepsJSON = false
        databases.observe = Self.databasesToServers(servers)
        databases.maxConcurrent = configuration.maxConcurrent
        databases.errorBaseDelay = .milliseconds(200)
        databases.errorMaxDelay = .seconds(60)
        // The Jobs and Backups a reconcile reads come from these caches, indexed, never
        // from a list per reconcile (#15); every change queues its Database.
        var jobNamespaces = [configuration.namespace]
        if let namespace = configuration.namespace, namespace != configuration.operatorNamespace { jobNamespaces.append(configuration.operatorNamespace) }
        let jobs = jobNamespaces.map { namespace in
            var watch = Watcher<JobRecord>.Configuration(namespace: namespace, labelSelector: LabelKey.databaseUID)
            watch.droppedFields = Self.jobDroppedFields
            watch.keepsJSON = false
            // A Job's page is parsed whole (pod templates and all) before it is cut
            // down to records: smaller pages keep a restart's peak memory down.
            watch.pageSize = 100
            return Informer<JobRecord>(
                api: api, configuration: watch,
                indexes: [Self.byDatabaseUID: { [$0.object.databaseUID].compactMap { $0 } }], logger: logger)
        }
        var backupWatch = Watcher<Backup>.Configuration(namespace: configuration.namespace)
        backupWatch.droppedFields = [Watcher<Backup>.Configuration.managedFields]
        let backupInformer = Informer<Backup>(
            api: api, configuration: backupWatch,
            indexes: [Self.byDatabase: { [Self.databaseIndexValue(namespace: $0.namespace ?? "", database: $0.object.spec.database)] }], logger: logger)
        let caches = Caches(jobs: jobs, backups: backupInformer, servers: servers.cache, schedules: schedules.cache)
        let databaseController = Controller<Database>(
            api: api, configuration: databases, logger: logger,
            sources: jobs.map(jobsToDatabases) + [backupsToDatabases(backupInformer), serversToDatabases(), schedulesToDatabases()]
        ) { key, controller in
            do {
                return try await self.reconcile(database: key, cache: controller.cache, caches: caches)
            } catch {
                self.metrics.recordReconcileError()
                throw error
            }
        }
        databaseCache.withLock { $0 = databaseController.cache }
        metrics.isReady = true
        defer { metrics.isReady = false }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await databaseController.run() }
            group.addTask { try await servers.run() }
            group.addTask { try await schedules.run() }
        }
    }

    /// Reads the cluster's identity, as other tools take it: the UID of namespace
    /// kube-system. Without it a database retained by an earlier Database is not
    /// adopted (except with `spec.adopt`), so failing to read it is only a warning.
    private func readClusterIdentity() async {
        do {
            let namespace = try await api.get(Namespace.self, namespace: nil, name: "kube-system")
            clusterID.withLock { $0 = namespace.metadata.uid }
            logger.info("cluster identity read", metadata: ["cluster.id": "\(namespace.metadata.uid ?? "")"])
        } catch {
            logger.warning(
                "cannot read namespace kube-system, the cluster's identity: databases retained by deleted Databases are adopted only with spec.adopt",
                metadata: ["error": "\(error)"])
        }
    }

    /// What a Database's reconcile reads besides the Database: informers' caches.
    struct Caches: Sendable {
        var jobs: [Informer<JobRecord>]
        var backups: Informer<Backup>
        var servers: ObjectCache<DatabaseServer>
        var schedules: ObjectCache<BackupSchedule>
    }

    /// What a Job's JSON loses before it is decoded as a `JobRecord`: its spec (the
    /// pod template, most of its size) and managedFields, cut from the text.
    static let jobDroppedFields = [["spec"], Watcher<JobRecord>.Configuration.managedFields]

    /// The Job index: the UID of the Database a Job works for (its label).
    static let byDatabaseUID = "database-uid"
    /// The Backup index: `<namespace>/<spec.database>`.
    static let byDatabase = "database"

    static func databaseIndexValue(namespace: String, database: String) -> String { "\(namespace)/\(database)" }

    /// Runs a Job informer and queues the Database of each driver Job that changes:
    /// its owner, or for a Job in the operator's namespace the Database its labels name.
    private func jobsToDatabases(_ informer: Informer<JobRecord>) -> Controller<Database>.KeySource {
        { enqueue in
            try await informer.run { change in
                if let job = change.new ?? change.old, let key = Self.databaseKey(of: job.object) { await enqueue(key) }
            }
        }
    }

    /// The Database a driver Job works for.
    static func databaseKey(of job: JobRecord) -> ObjectKey? {
        if let namespace = job.databaseNamespace, let name = job.databaseName {
            return ObjectKey(namespace: namespace, name: name)
        }
        return job.owner.map { ObjectKey(namespace: job.metadata.namespace, name: $0) }
    }

    /// Queues every Database on a DatabaseServer when the server changes (its backup
    /// target, its allowed namespaces, its existence).
    private func serversToDatabases() -> Controller<Database>.KeySource {
        let api = self.api, logger = self.logger
        return { [self] enqueue in
            for try await event in Watcher<DatabaseServer>(api: api, configuration: .init(), logger: logger) {
                let names = Set(event.resources.map(\.name))
                guard let cache = databaseCache.withLock({ $0 }) else { continue }
                for database in cache.all where database.object.serverName.map(names.contains) == true {
                    await enqueue(ObjectKey(database.metadata))
                }
            }
        }
    }

    /// Queues the Database of a BackupSchedule when the schedule changes (its retention).
    private func schedulesToDatabases() -> Controller<Database>.KeySource {
        let api = self.api, logger = self.logger, namespace = configuration.namespace
        return { enqueue in
            for try await event in Watcher<BackupSchedule>(api: api, configuration: .init(namespace: namespace), logger: logger) {
                for schedule in event.resources {
                    await enqueue(ObjectKey(namespace: schedule.namespace, name: schedule.object.spec.database))
                }
            }
        }
    }

    /// Runs the Backup informer and queues the Database a Backup names when the Backup
    /// changes in a way its decisions see: a progress write of a running backup (every
    /// few seconds) queues nothing.
    private func backupsToDatabases(_ informer: Informer<Backup>) -> Controller<Database>.KeySource {
        { enqueue in
            try await informer.run { change in
                guard let backup = change.new ?? change.old, !Self.onlyProgress(change.old, change.new) else { return }
                let namespace = backup.metadata.labels?[LabelKey.databaseNamespace] ?? backup.namespace
                await enqueue(ObjectKey(namespace: namespace, name: backup.object.spec.database))
            }
        }
    }

    /// Whether a Backup's change touches only its progress (and the versions every write moves).
    static func onlyProgress(_ old: Resource<Backup>?, _ new: Resource<Backup>?) -> Bool {
        guard let old, let new else { return false }
        func stripped(_ raw: JSONValue) -> JSONValue {
            guard case .object(var top) = raw else { return raw }
            if case .object(var metadata)? = top["metadata"] {
                for key in ["resourceVersion", "managedFields"] { metadata[key] = nil }
                top["metadata"] = .object(metadata)
            }
            if case .object(var status)? = top["status"] {
                status["progress"] = nil
                top["status"] = .object(status)
            }
            return .object(top)
        }
        return stripped(old.raw) == stripped(new.raw)
    }

    // MARK: Databases

    func reconcile(database key: ObjectKey, cache: ObjectCache<Database>, caches: Caches) async throws -> ReconcileResult {
        guard let namespace = key.namespace else { return .done }
        // An empty cache before its first list is not "no Jobs": that would start every
        // Database's Jobs again after a restart.
        for informer in caches.jobs { await informer.waitUntilSynced() }
        await caches.backups.waitUntilSynced()
        try Task.checkCancellation()
        // Jobs first, then (before acting) a fresh read of the Database: a Job seen
        // finished has made its writes, so the Database read after it shows them.
        // Where the Jobs are and their label come from the cached Database (its UID
        // and server do not change).
        var known = cache[key]
        if known == nil {
            do {
                known = try await api.get(Database.self, namespace: namespace, name: key.name)
            } catch let error as KubeError where error.code == .notFound {
                metrics.forget(database: key)
                try await reportMissing(database: key, caches: caches)
                return .done
            }
        }
        guard let known else { return .done }
        // Jobs of a Database on a server run in the operator's namespace; so do those
        // of a Database whose namespace is being deleted (nothing can be created there).
        let terminating = known.object.isBeingDeleted && known.object.serverName == nil ? try await namespaceTerminating(namespace) : false
        var jobNamespaces = known.object.serverName == nil ? [namespace] : [configuration.operatorNamespace]
        if terminating { jobNamespaces.append(configuration.operatorNamespace) }
        var jobs: [Resource<JobRecord>] = []
        for informer in caches.jobs {
            jobs += informer.cache.indexed(Self.byDatabaseUID, known.metadata.uid ?? "").filter { jobNamespaces.contains($0.namespace ?? "") }
        }
        let owned = jobs.filter { job in
            Self.databaseKey(of: job.object) == key
        }
        let backups = caches.backups.cache.indexed(Self.byDatabase, Self.databaseIndexValue(namespace: namespace, database: key.name))
        func decide(_ database: Resource<Database>) async throws -> (DecisionInput, JobDecision, DatabaseServer?, Refusal?) {
            var server: DatabaseServer?
            var refusal: Refusal?
            if let name = database.object.serverName {
                (server, refusal) = try await serverFor(database.object, name: name, servers: caches.servers)
            }
            var input = Self.decisionInput(
                database: database.object, backups: backups.map(\.object), jobs: owned.map(\.object), knownDrivers: configuration.knownDrivers, server: server)
            input.database.refusal = refusal
            input.expiredBackups = BackupScheduling.retentionExpired(
                database: key.name, backups: backups, schedules: caches.schedules.all.filter { $0.namespace == namespace })
            return (input, JobDecider.decide(input, retry: configuration.retry), server, refusal)
        }
        // Decided on the cached Database; one that would make a Job or expire is read
        // fresh and decided again (a Job is a pod; the cache may lag the Jobs'
        // writes). A decision to wait on a stale copy is mended by the event that
        // brings the fresh one.
        var database = known
        var (input, decision, server, refusal) = try await decide(database)
        if Self.actsOn(decision) || database.object.expiry.map({ $0.timeIntervalSinceNow <= 0 }) == true {
            do {
                database = try await api.get(Database.self, namespace: namespace, name: key.name, reusing: known)
            } catch let error as KubeError where error.code == .notFound {
                metrics.forget(database: key)
                try await reportMissing(database: key, caches: caches)
                return .done
            }
            guard database.metadata.uid == known.metadata.uid, database.object.serverName == known.object.serverName else {
                return .requeue(after: .milliseconds(100))  // re-created or moved meanwhile; the cache catches up
            }
            // The same version decides the same (the cache was fresh: the usual case).
            if database.metadata.resourceVersion != known.metadata.resourceVersion {
                (input, decision, server, refusal) = try await decide(database)
            }
        }
        metrics.record(decision)
        metrics.observe(
            database: key, creationTimestamp: database.metadata.creationTimestamp,
            expectsBackups: database.object.spec.backupTo != nil || server?.spec.backupTo != nil)
        for backup in backups { metrics.observe(backup: backup.object) }
        // Made only when a line is written: describing a decision reflects on its enum
        // (~2% of the operator's CPU with 10,000 Databases).
        func metadata() -> Logger.Metadata { ["k8s.namespace": "\(namespace)", "k8s.database": "\(key.name)", "decision": "\(decision)"] }
        logger.debug("decided", metadata: metadata())
        let expiry = database.object.expiry
        try await reportSpec(database, problems: input.database.specProblems, refusal: refusal, expiry: expiry)
        let waiting = JobDecider.waitingReasons(
            input, decision: decision, databaseName: key.name, hasBackupTarget: database.object.backupTarget(server: server)?.target.s3Spec != nil)
        for reason in waiting {
            guard let backup = backups.first(where: { $0.name == reason.backup }) else { continue }
            try await setWaitingCondition(backup, reason: reason.reason, message: reason.message)
        }
        // A time to live: deleted when it runs out (the deletion policy applies), looked at again then.
        var untilExpiry: ReconcileResult = .done
        if let expiry, !database.object.isBeingDeleted {
            let remaining = expiry.timeIntervalSinceNow
            if remaining <= 0 {
                try await expire(database)
                return .done
            }
            untilExpiry = .requeue(after: .milliseconds(Int64(remaining * 1000) + 50))
        }
        switch decision {
        case .idle, .waitForJob, .deletionBlocked:
            return untilExpiry
        case .invalidSpec:
            return .done
        case .refused:
            // A server may come, a namespace may be labelled: those changes queue the
            // Database too, but a namespace's labels are not watched.
            return .requeue(after: .seconds(30))
        case .backoff(_, let delay):
            return .requeue(after: .milliseconds(Int64(delay * 1000) + 10))
        case .createJob(let request):
            // The Backups came from the cache, which may lag: a Job is a pod, so the
            // Backup it is for is read fresh first, and a cache behind it decides again
            // once it catches up (a finished Backup may still need its Job: the release).
            if request.operation == .backup, let name = request.backup {
                let fresh = try? await api.get(Backup.self, namespace: namespace, name: name)
                let cached = backups.first { $0.name == name }
                guard let fresh, fresh.phase == cached?.phase else { return .requeue(after: .milliseconds(200)) }
            }
            let job = configuration.jobTemplate.job(
                for: database.object, request: request, clusterID: clusterID.withLock { $0 }, operatorNamespace: configuration.operatorNamespace,
                inOperatorNamespace: terminating)
            do {
                try await api.createIgnoringResponse(job)
                metrics.recordJobCreated(request.operation.rawValue)
                logger.info("created job", metadata: metadata().merging(["k8s.job": "\(job.metadata.namespace ?? "")/\(job.metadata.name ?? "")"]) { $1 })
            } catch let error as KubeError where error.code == .alreadyExists {
                // Made by an earlier reconcile whose Job we have not seen yet.
            }
            return untilExpiry
        }
    }

    /// Whether a decision makes something in the cluster (a Job), so it is taken again
    /// on a fresh read of the Database first.
    static func actsOn(_ decision: JobDecision) -> Bool {
        if case .createJob = decision { return true }
        return false
    }

    /// Deletes a Database whose `spec.ttl` ran out (only that one: the UID is a precondition).
    private func expire(_ database: Resource<Database>) async throws {
        let message = "spec.ttl \(database.object.spec.ttl ?? "") ran out at \(database.object.status?.expiresAt ?? ""): deleting the Database (deletionPolicy \(database.object.effectiveDeletionPolicy().rawValue))"
        do {
            try await api.delete(
                Database.resource, namespace: database.namespace, name: database.name, propagation: nil, preconditionUID: database.metadata.uid)
        } catch let error as KubeError where error.code == .notFound || error.code == .conflict {
            return  // gone, or another Database of that name meanwhile
        }
        metrics.recordExpired()
        logger.info("expired", metadata: ["k8s.namespace": "\(database.namespace ?? "")", "k8s.database": "\(database.name)", "ttl": "\(database.object.spec.ttl ?? "")"])
        await events.record(database.object, type: .normal, reason: .expired, message: message)
    }

    /// Whether a namespace is being deleted (or gone).
    private func namespaceTerminating(_ name: String) async throws -> Bool {
        do {
            return try await api.get(Namespace.self, namespace: nil, name: name).metadata.deletionTimestamp != nil
        } catch let error as KubeError where error.code == .notFound {
            return true
        }
    }

    /// The DatabaseServer a Database names, and why it may not be used: it does not
    /// exist, or the Database's namespace is not among those it allows.
    private func serverFor(_ database: Database, name: String, servers: ObjectCache<DatabaseServer>) async throws -> (DatabaseServer?, Refusal?) {
        var server = servers[ObjectKey(namespace: nil, name: name)]?.object
        if server == nil {
            do {
                server = try await api.get(DatabaseServer.self, namespace: nil, name: name).object
            } catch let error as KubeError where error.code == .notFound {
                return (nil, Refusal(reason: .serverNotFound, message: "DatabaseServer \(name) does not exist"))
            }
        }
        guard let server else { return (nil, nil) }
        let namespace = database.metadata.namespace ?? ""
        if server.spec.allowedNamespaces?.selector != nil {
            let labels = try await api.get(Namespace.self, namespace: nil, name: namespace).metadata.labels ?? [:]
            if !server.allows(namespaceLabels: labels) {
                return (server, Refusal(
                    reason: .namespaceNotAllowed,
                    message: "DatabaseServer \(name) does not allow namespace \(namespace) (see its spec.allowedNamespaces); no Job is created"))
            }
        }
        return (server, nil)
    }

    /// The decision's input from the objects as read.
    static func decisionInput(
        database: Database, backups: [Backup], jobs: [JobRecord], knownDrivers: Set<String>, server: DatabaseServer? = nil, now: Date = Date()
    ) -> DecisionInput {
        let generation = database.metadata.generation ?? 0
        let blocked = database.status?.conditions?[type: ConditionType.deletionBlocked].flatMap { $0.status == "True" ? ($0.observedGeneration ?? 0) : nil }
        var facts = DatabaseFacts(
            generation: generation, phase: database.phase, deleting: database.isBeingDeleted,
            hasFinalizer: database.metadata.finalizers?.contains(Database.finalizer) ?? false,
            deletionPolicy: database.effectiveDeletionPolicy(server: server),
            activeBackup: database.status?.activeBackup.flatMap { $0.isEmpty ? nil : $0 },
            specProblems: database.validate(knownDrivers: knownDrivers, server: server), deletionBlockedAtGeneration: blocked)
        facts.restoreFailed = database.restoreFailed
        let backupFacts = backups.map {
            BackupFacts(name: $0.metadata.name ?? "", creationTimestamp: $0.metadata.creationTimestamp ?? "", phase: $0.phase)
        }
        let jobFacts = jobs.compactMap { $0.facts(now: now) }
        return DecisionInput(database: facts, backups: backupFacts, jobs: jobFacts, now: now)
    }

    /// An invalid spec gets `Ready=False, reason InvalidSpec` and a Warning Event (a
    /// refusal its own reason); a change to an immutable field gets a
    /// `SpecChangeIgnored` condition.
    private func reportSpec(_ database: Resource<Database>, problems: [SpecProblem], refusal: Refusal?, expiry: Date?) async throws {
        let generation = database.metadata.generation
        var status = database.object.status ?? DatabaseStatus()
        var conditions = status.conditions ?? []
        let now = KubeTime.now()
        var warnings: [(Reason, String)] = []
        if !problems.isEmpty {
            let message = "no Job is created until the spec is fixed: " + problems.map(\.description).joined(separator: "; ")
            conditions.set(Condition(type: ConditionType.ready, status: "False", reason: .invalidSpec, message: message, lastTransitionTime: now, observedGeneration: generation))
            warnings.append((.invalidSpec, message))
        } else if let refusal, database.object.phase == nil || database.object.phase == .creating {
            conditions.set(Condition(type: ConditionType.ready, status: "False", reason: refusal.reason, message: refusal.message, lastTransitionTime: now, observedGeneration: generation))
            warnings.append((refusal.reason, refusal.message))
        } else if let ready = conditions[type: ConditionType.ready], ready.reason == .invalidSpec
            || (refusal == nil && (database.object.phase ?? .creating) == .creating && [Reason.serverNotFound, .namespaceNotAllowed].contains(ready.reason))
        {
            // Fixed: say so until the runtime writes the next real state.
            conditions.set(Condition(type: ConditionType.ready, status: "False", reason: .specAccepted, message: "the spec is valid; waiting for the driver", lastTransitionTime: now, observedGeneration: generation))
        }
        let changes = database.object.immutableFieldChanges
        if !changes.isEmpty {
            let message = "fields that cannot change once created were changed and are ignored: " + changes.joined(separator: ", ")
            conditions.set(Condition(type: ConditionType.specChangeIgnored, status: "True", reason: .immutableField, message: message, lastTransitionTime: now, observedGeneration: generation))
            warnings.append((.immutableField, message))
        } else if conditions[type: ConditionType.specChangeIgnored]?.status == "True" {
            conditions.set(Condition(type: ConditionType.specChangeIgnored, status: "False", reason: .specMatches, message: "the spec matches the database", lastTransitionTime: now, observedGeneration: generation))
        }
        let expiresAt = expiry.map(KubeTime.format)
        guard !Self.sameConditions(conditions, status.conditions ?? []) || status.expiresAt != expiresAt else { return }
        status.conditions = conditions
        status.expiresAt = expiresAt
        var modified = database.object
        modified.status = status
        do {
            _ = try await api.updateStatus(database, to: modified)
        } catch let error as KubeError where error.code == .conflict {
            throw error  // re-read and re-decide
        }
        for (reason, message) in warnings { await events.record(database.object, type: .warning, reason: reason, message: message) }
    }

    // MARK: Backups

    /// The Backups waiting for a Database that does not exist get a condition and an
    /// Event (`JobDecider.waitingReasons(missingDatabase:)`). The Database controller
    /// is the one writer of a waiting Backup's condition: every Backup change queues the
    /// Database it names, found or not, and the Database's creation queues it again.
    private func reportMissing(database key: ObjectKey, caches: Caches) async throws {
        guard let namespace = key.namespace else { return }
        let backups = caches.backups.cache.indexed(Self.byDatabase, Self.databaseIndexValue(namespace: namespace, database: key.name))
            .filter { !$0.object.isKeptForAnotherNamespace }
        let facts = backups.map { BackupFacts(name: $0.metadata.name ?? "", creationTimestamp: $0.metadata.creationTimestamp ?? "", phase: $0.phase) }
        for waiting in JobDecider.waitingReasons(missingDatabase: key.name, namespace: namespace, backups: facts) {
            guard let cached = backups.first(where: { $0.name == waiting.backup }) else { continue }
            // The cache may lag a write of the Backup: the fresh copy is what is written.
            guard let backup = try? await api.get(Backup.self, namespace: namespace, name: cached.name), backup.phase == nil,
                backup.metadata.uid == cached.metadata.uid
            else { continue }
            if try await setWaitingCondition(backup, reason: waiting.reason, message: waiting.message) {
                await events.record(backup.object, type: .warning, reason: waiting.reason, message: waiting.message)
            }
        }
    }

    /// Sets `Ready=False` with `reason` on a Backup without a phase; true if it changed.
    @discardableResult
    private func setWaitingCondition(_ backup: Resource<Backup>, reason: Reason, message: String) async throws -> Bool {
        var status = backup.object.status ?? BackupStatus()
        var conditions = status.conditions ?? []
        conditions.set(Condition(type: ConditionType.ready, status: "False", reason: reason, message: message, lastTransitionTime: KubeTime.now(), observedGeneration: backup.metadata.generation))
        guard !Self.sameConditions(conditions, status.conditions ?? []) else { return false }
        status.conditions = conditions
        var modified = backup.object
        modified.status = status
        _ = try await api.updateStatus(backup, to: modified)
        return true
    }

    /// Equal but for `lastTransitionTime`, which `set` keeps when the status holds.
    static func sameConditions(_ a: [Condition], _ b: [Condition]) -> Bool {
        func strip(_ conditions: [Condition]) -> [Condition] { conditions.map { var c = $0; c.lastTransitionTime = ""; return c } }
        return strip(a) == strip(b)
    }
}
