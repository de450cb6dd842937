import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import Logging
import Synchronization

/// The fake API server alone (#15 item 4: it must never be the bottleneck of the
/// control-plane figures): N ConfigMaps created by 16 concurrent clients, one list
/// of all of them (unpaged, as a relist), and the watch events of N updates as one
/// watcher receives them. Prints creates/s, the list's time and events/s.
enum FakeServerBench {
    static func run(objects: Int) async throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let cluster = try await InProcessCluster.start(name: "fake-bench", historyLimit: max(100_000, objects * 4), logger: logger)
        defer { cluster.close() }
        let api = cluster.api
        _ = try await api.create(Namespace(metadata: ObjectMeta(name: "fake-bench")))

        let clock = ContinuousClock()
        let created = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        for index in stride(from: worker, to: objects, by: 16) {
                            _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "cm-\(index)", namespace: "fake-bench"), data: ["index": "\(index)"]))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        var listed: [Duration] = []
        for _ in 0..<3 {
            listed.append(try await clock.measure {
                let page = try await api.list(ConfigMap.resource, namespace: "fake-bench", options: ListOptions())
                guard page.items.count == objects else { throw KubeError(code: .serverError, message: "listed \(page.items.count) of \(objects)") }
            })
        }
        // Watch events: one watcher from now, N updates by 16 clients.
        let start = try await api.list(ConfigMap.resource, namespace: "fake-bench", options: ListOptions(limit: 1)).resourceVersion
        let received = Atomic<Int>(0)
        let watching = Task {
            let events = try await api.watch(ConfigMap.resource, namespace: "fake-bench", options: WatchOptions(resourceVersion: start, timeoutSeconds: 600))
            for try await _ in events {
                if received.add(1, ordering: .relaxed).newValue >= objects { return }
            }
        }
        let watched = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<16 {
                    group.addTask {
                        for index in stride(from: worker, to: objects, by: 16) {
                            _ = try await api.patch(
                                ConfigMap.resource, namespace: "fake-bench", name: "cm-\(index)", patch: ["data": ["seen": "yes"]], type: .merge, subresource: nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await watching.value
        }
        func seconds(_ duration: Duration) -> Double { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
        print(String(format: "fake API server: %d creates in %.2f s (%.0f/s; 16 clients)", objects, seconds(created), Double(objects) / seconds(created)))
        print("fake API server: a list of \(objects) objects: " + listed.map { String(format: "%.0f ms", seconds($0) * 1000) }.joined(separator: ", "))
        print(String(format: "fake API server: %d merge patches seen by a watcher in %.2f s (%.0f events/s)", objects, seconds(watched), Double(objects) / seconds(watched)))
    }
}
