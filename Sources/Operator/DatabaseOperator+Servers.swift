import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging

/// The DatabaseServer controller (SPEC section 12): holds a server with a finalizer
/// while Databases name it, counts them in `status.databases`, reports an invalid
/// spec, and has the server probed by a Job (`ProbeDecider` says when). The probe
/// itself writes `Ready`, `version` and `lastProbeTime`.
extension DatabaseOperator {
    func serverController() -> Controller<DatabaseServer> {
        var configuration = Controller<DatabaseServer>.Configuration(name: "databaseservers", watcher: .init())
        configuration.maxConcurrent = 2
        configuration.errorBaseDelay = .milliseconds(200)
        configuration.errorMaxDelay = .seconds(60)
        return Controller<DatabaseServer>(
            api: api, configuration: configuration, logger: logger, sources: [probeJobsToServers()]
        ) { key, _ in
            try await self.reconcile(server: key)
        }
    }

    /// Queues the server of each probe Job that changes.
    private func probeJobsToServers() -> Controller<DatabaseServer>.KeySource {
        let api = self.api, logger = self.logger
        let configuration = Watcher<Job>.Configuration(namespace: self.configuration.operatorNamespace, labelSelector: LabelKey.serverUID)
        return { enqueue in
            for try await event in Watcher<Job>(api: api, configuration: configuration, logger: logger) {
                let jobs = event.resources
                for job in jobs {
                    if let name = job.metadata.annotations?[AnnotationKey.server] { await enqueue(ObjectKey(namespace: nil, name: name)) }
                }
            }
        }
    }

    /// Queues the server a Database names when the Database comes, goes or changes:
    /// the count and a held deletion follow. Fed by the Database controller's watch
    /// (`Controller.Configuration.observe`), not a watch of its own.
    static func databasesToServers(_ servers: Controller<DatabaseServer>) -> @Sendable (WatcherEvent<Database>) async -> Void {
        { event in
            for name in serverNames(in: event) { await servers.enqueue(ObjectKey(namespace: nil, name: name)) }
        }
    }

    /// The DatabaseServers the Databases of a watch event name (recorded or asked for), once each.
    static func serverNames(in event: WatcherEvent<Database>) -> Set<String> {
        Set(event.resources.compactMap { $0.object.serverName ?? $0.object.spec.server })
    }

    func reconcile(server key: ObjectKey) async throws -> ReconcileResult {
        var server: Resource<DatabaseServer>
        do {
            server = try await api.get(DatabaseServer.self, namespace: nil, name: key.name)
        } catch let error as KubeError where error.code == .notFound {
            return .done
        }
        let holding = server.metadata.finalizers?.contains(DatabaseServer.inUseFinalizer) ?? false
        if server.object.isBeingDeleted {
            guard holding else { return .done }
            // Fresh, not cached: releasing too early would orphan databases.
            let users = try await api.list(Database.self, namespace: configuration.namespace)
                .filter { ($0.object.serverName ?? $0.object.spec.server) == key.name }
            if users.isEmpty {
                var released = server.object
                released.metadata.finalizers?.removeAll { $0 == DatabaseServer.inUseFinalizer }
                _ = try await api.update(server, to: released)
                logger.info("released DatabaseServer: no Database uses it", metadata: ["k8s.databaseserver": "\(key.name)"])
                return .done
            }
            let names = users.map { "\($0.namespace ?? "")/\($0.name)" }.sorted()
            let message = "\(users.count) Database\(users.count == 1 ? "" : "s") still use\(users.count == 1 ? "s" : "") this server"
                + " and hold\(users.count == 1 ? "s" : "") its deletion: " + names.prefix(10).joined(separator: ", ") + (names.count > 10 ? ", …" : "")
            if try await setServerStatus(server, count: users.count, condition: (ConditionType.inUse, "True", .databasesRemain, message)) {
                await events.record(server.object, type: .normal, reason: .deletionHeld, message: message)
            }
            return .requeue(after: .seconds(30))
        }
        if !holding {
            var held = server.object
            held.metadata.finalizers = (held.metadata.finalizers ?? []) + [DatabaseServer.inUseFinalizer]
            server = try await api.update(server, to: held)
        }
        let count = databaseCache.withLock { $0 }?.all.filter { $0.object.serverName == key.name }.count ?? 0
        let problems = server.object.validate(knownDrivers: configuration.knownDrivers)
        if !problems.isEmpty {
            let message = "the server is not probed until the spec is fixed: " + problems.map(\.description).joined(separator: "; ")
            if try await setServerStatus(server, count: count, condition: (ConditionType.ready, "False", .invalidSpec, message)) {
                await events.record(server.object, type: .warning, reason: .invalidSpec, message: message)
            }
            return .done
        }
        if try await setServerStatus(server, count: count, condition: nil) { return .done }  // the write brings the next reconcile
        let probes = try await api.list(Job.self, namespace: configuration.operatorNamespace, labelSelector: "\(LabelKey.serverUID)=\(server.metadata.uid ?? "")")
        let generation = server.metadata.generation ?? 0
        let status = server.object.status
        let current = probes.filter { $0.metadata.annotations?[AnnotationKey.generation] == String(generation) }
        let facts = ServerFacts(
            generation: generation, probedGeneration: status?.observedGeneration, lastProbe: status?.lastProbeTime.flatMap(KubeTime.parse),
            ready: status?.conditions?[type: ConditionType.ready]?.status == "True", probing: probes.contains { !$0.object.isFinished },
            lastProbeJobFinished: current.compactMap { job in
                (job.object.condition("Complete") ?? job.object.condition("Failed"))?.lastTransitionTime.flatMap(KubeTime.parse)
            }.max())
        switch ProbeDecider.decide(facts, now: Date(), interval: configuration.serverProbeInterval) {
        case .wait:
            return .done
        case .later(let seconds):
            return .requeue(after: .milliseconds(Int64(seconds * 1000) + 10))
        case .probe:
            let job = configuration.jobTemplate.probeJob(
                for: server.object, seed: "\(generation)|\(Date().timeIntervalSince1970)", operatorNamespace: configuration.operatorNamespace)
            do {
                _ = try await api.create(job)
                metrics.recordJobCreated("probe")
                logger.info("probing DatabaseServer", metadata: ["k8s.databaseserver": "\(key.name)", "k8s.job": "\(job.metadata.name ?? "")"])
            } catch let error as KubeError where error.code == .alreadyExists {}
            return .done
        }
    }

    /// Writes `databases` and, when given, one condition; true if anything changed.
    private func setServerStatus(_ server: Resource<DatabaseServer>, count: Int, condition: (String, String, Reason, String)?) async throws -> Bool {
        var status = server.object.status ?? DatabaseServerStatus()
        let before = status
        status.databases = count
        if let (type, value, reason, message) = condition {
            var conditions = status.conditions ?? []
            conditions.set(Condition(
                type: type, status: value, reason: reason, message: message, lastTransitionTime: KubeTime.now(), observedGeneration: server.metadata.generation))
            if !Self.sameConditions(conditions, status.conditions ?? []) { status.conditions = conditions }
        }
        guard status != before else { return false }
        var modified = server.object
        modified.status = status
        _ = try await api.updateStatus(server, to: modified)
        return true
    }
}
