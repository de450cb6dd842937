import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Synchronization
import Testing

/// The runtime converges under the faults a real cluster produces.
@Suite("Controller runtime under faults")
struct ControllerConvergenceTests {
    /// Reconciles a ConfigMap by copying data.target into the annotation "observed",
    /// and records any moment two reconciles of one key overlapped.
    final class Mirror: Sendable {
        let inFlight = Mutex<Set<ObjectKey>>([])
        let overlaps = Atomic<Int>(0)
        let reconciles = Atomic<Int>(0)

        func reconcile(_ key: ObjectKey, api: any KubernetesAPI) async throws -> ReconcileResult {
            let entered = inFlight.withLock { $0.insert(key).inserted }
            if !entered { overlaps.add(1, ordering: .relaxed) }
            defer { if entered { _ = inFlight.withLock { $0.remove(key) } } }
            reconciles.add(1, ordering: .relaxed)
            let resource: Resource<ConfigMap>
            do {
                resource = try await api.get(ConfigMap.self, namespace: key.namespace, name: key.name)
            } catch let error as KubeError where error.code == .notFound {
                return .done
            }
            let target = resource.object.data?["target"]
            guard resource.metadata.annotations?["observed"] != target else { return .done }
            var changed = resource.object
            changed.metadata.annotations = (changed.metadata.annotations ?? [:]).merging(["observed": target ?? ""]) { _, new in new }
            _ = try await api.update(resource, to: changed)
            return .done
        }
    }

    @Test("1,000 keys changed while watches drop, history compacts and requests fail all reconcile to their final state, none twice at once")
    func convergesUnderFaults() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let namespace = "converge"
            _ = try await api.create(Namespace(metadata: ObjectMeta(name: namespace)))
            let count = 1_000
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<count {
                    group.addTask {
                        _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "cm-\(i)", namespace: namespace), data: ["target": "0"]))
                    }
                    if i % 32 == 31 { try await group.waitForAll() }
                }
                try await group.waitForAll()
            }
            let mirror = Mirror()
            var configuration = Controller<ConfigMap>.Configuration(name: "mirror", watcher: .init(namespace: namespace))
            configuration.maxConcurrent = 8
            configuration.errorBaseDelay = .milliseconds(10)
            configuration.errorMaxDelay = .milliseconds(500)
            let controller = Controller<ConfigMap>(api: api, configuration: configuration, logger: FakeCluster.logger) { key, _ in
                try await mirror.reconcile(key, api: api)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await controller.run() }
                for round in 1...2 {
                    cluster.server.injectFault(FaultRule(verb: "get", resource: "configmaps", status: 500, count: 150))
                    cluster.server.injectFault(FaultRule(verb: "update", resource: "configmaps", user: "operator", status: 409, count: 100))
                    cluster.server.injectFault(FaultRule(verb: "update", resource: "configmaps", status: 429, retryAfterSeconds: 0, count: 50))
                    for i in 0..<count {
                        let key = "cm-\(i)"
                        _ = try await api.patch(ConfigMap.resource, namespace: namespace, name: key, patch: ["data": ["target": .string(String(round))]], type: .merge, subresource: nil)
                        if i == count / 3 { cluster.server.dropWatches(resource: "configmaps") }
                        if i == 2 * count / 3 {
                            cluster.server.compactHistory()
                            cluster.server.dropWatches(resource: "configmaps")
                        }
                    }
                }
                try await eventually(timeout: .seconds(120), "every ConfigMap to be mirrored") {
                    let items = try await api.list(ConfigMap.self, namespace: namespace)
                    return items.count == count && items.allSatisfy { $0.metadata.annotations?["observed"] == "2" }
                }
                group.cancelAll()
            }
            #expect(mirror.overlaps.load(ordering: .relaxed) == 0)
            #expect(mirror.reconciles.load(ordering: .relaxed) >= count)
        }
    }

    @Test("a list of several pages, decoded in parts: every object once, in the server's order, its text kept without the dropped members, a page's failed request recovered from")
    func pagedListDecodedInParts() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let names = (0..<333).map { String(format: "cm-%03d", $0) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for name in names[worker...].striding(by: 8) {
                            _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: name, namespace: "default"), data: ["keep": name, "drop": "x"]))
                        }
                    }
                }
                try await group.waitForAll()
            }
            // A page's request fails once (a 500 on a GET is retried).
            cluster.server.injectFault(FaultRule(verb: "list", resource: "configmaps", status: 500, count: 1))
            var configuration = Watcher<ConfigMap>.Configuration(namespace: "default")
            configuration.pageSize = 120  // 120, 120, 93: more than one part each
            configuration.droppedFields = [["data", "drop"]]
            var events = Watcher<ConfigMap>(api: api, configuration: configuration, logger: FakeCluster.logger).makeAsyncIterator()
            guard case .restarted(let items) = try await events.next() else {
                Issue.record("the first event is not the list")
                return
            }
            #expect(items.map(\.name) == names)
            #expect(cluster.server.activeFaults.isEmpty, "the injected 500 was served")
            #expect(items.allSatisfy { $0.object.data == ["keep": $0.name] })
            #expect(items.allSatisfy { $0.raw["kind"] == "ConfigMap" && $0.raw["apiVersion"] == "v1" && $0.raw[path: ["data", "drop"]] == nil })
        }
    }

    @Test("the watcher relists after 410 Gone and resumes after a dropped watch, losing no change")
    func watcherRecovers() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let cache = ObjectCache<Secret>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await event in Watcher<Secret>(api: api, configuration: .init(namespace: "default"), logger: FakeCluster.logger) {
                        cache.apply(event)
                    }
                }
                _ = try await api.create(Secret(metadata: ObjectMeta(name: "a", namespace: "default")))
                try await eventually("a in the cache") { cache[ObjectKey(namespace: "default", name: "a")] != nil }
                cluster.server.dropWatches()
                _ = try await api.create(Secret(metadata: ObjectMeta(name: "b", namespace: "default")))
                try await eventually("b in the cache after a dropped watch") { cache[ObjectKey(namespace: "default", name: "b")] != nil }
                cluster.server.compactHistory()
                cluster.server.dropWatches()
                try await api.delete(Secret.self, namespace: "default", name: "a")
                _ = try await api.create(Secret(metadata: ObjectMeta(name: "c", namespace: "default")))
                try await eventually("the cache to match after 410 and a relist") {
                    Set(cache.all.map(\.name)) == ["b", "c"]
                }
                group.cancelAll()
            }
        }
    }

    @Test("an informer's indexes match the server after moves between index values, deletes, dropped watches, 410 and faults; waitUntilSynced waits for the first list")
    func indexedInformerConverges() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let namespace = "informer"
            _ = try await api.create(Namespace(metadata: ObjectMeta(name: namespace)))
            let informer = Informer<ConfigMap>(
                api: api, configuration: .init(namespace: namespace), indexes: ["owner": { [$0.object.data?["owner"]].compactMap { $0 } }], logger: FakeCluster.logger)
            #expect(!informer.cache.hasSynced)
            // A reader that gives up waiting is let go.
            let waiting = Task { await informer.waitUntilSynced() }
            waiting.cancel()
            await waiting.value
            let changes = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await informer.run { _ in changes.value.add(1, ordering: .relaxed) } }
                await informer.waitUntilSynced()
                #expect(informer.cache.hasSynced)
                cluster.server.injectFault(FaultRule(verb: "list", resource: "configmaps", status: 429, retryAfterSeconds: 0, count: 3))
                cluster.server.injectFault(FaultRule(verb: "watch", resource: "configmaps", status: 500, count: 3))
                for i in 0..<300 {
                    _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "cm-\(i)", namespace: namespace), data: ["owner": "o\(i % 7)"]))
                    if i == 100 { cluster.server.dropWatches(resource: "configmaps") }
                }
                for i in stride(from: 0, to: 300, by: 3) {
                    // Moved to another owner, or deleted.
                    if i % 2 == 0 {
                        _ = try await api.patch(ConfigMap.resource, namespace: namespace, name: "cm-\(i)", patch: ["data": ["owner": "moved"]], type: .merge, subresource: nil)
                    } else {
                        try await api.delete(ConfigMap.self, namespace: namespace, name: "cm-\(i)")
                    }
                    if i == 150 {
                        cluster.server.compactHistory()
                        cluster.server.dropWatches(resource: "configmaps")
                    }
                }
                try await eventually(timeout: .seconds(60), "every index value to list what the server holds") {
                    let items = try await api.list(ConfigMap.self, namespace: namespace)
                    for owner in (0..<7).map({ "o\($0)" }) + ["moved", "none"] {
                        let expected = Set(items.filter { $0.object.data?["owner"] == owner }.map(\.name))
                        guard Set(informer.cache.indexed("owner", owner).map(\.name)) == expected else { return false }
                    }
                    return informer.cache.count == items.count
                }
                group.cancelAll()
            }
            #expect(changes.value.load(ordering: .relaxed) >= 300)
        }
    }
}

/// A count shared with a handler.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
