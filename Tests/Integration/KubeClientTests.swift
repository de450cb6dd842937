import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import Synchronization
import Testing

@Suite("KubeClient against the fake API server")
struct KubeClientTests {
    @Test("typed create, get, list, compare-and-swap update and delete of a Secret")
    func secretLifecycle() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            var secret = Secret(metadata: ObjectMeta(name: "login", namespace: "default", labels: ["app": "db"]))
            secret.setValue("hunter2", for: "password")
            let created = try await api.create(secret)
            #expect(created.object.value("password") == "hunter2")
            #expect(created.metadata.uid != nil)
            let listed = try await api.list(Secret.self, namespace: "default", labelSelector: "app=db")
            #expect(listed.map(\.name) == ["login"])
            var changed = created.object
            changed.setValue("new", for: "password")
            let updated = try await api.update(created, to: changed)
            #expect(updated.object.value("password") == "new")
            await #expect(throws: KubeError.self) { _ = try await api.update(created, to: changed) }
            try await api.delete(Secret.self, namespace: "default", name: "login")
            let error = await #expect(throws: KubeError.self) { _ = try await api.get(Secret.self, namespace: "default", name: "login") }
            #expect(error?.code == .notFound)
        }
    }

    @Test("fields the typed view does not model survive a read-modify-write, and nil is omitted, not null")
    func unknownFieldsSurvive() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            _ = try await api.create(ConfigMap.resource, namespace: "default", object: [
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "cm", "annotations": ["keep": "me"]],
                "data": ["a": "1"], "binaryData": ["blob": "AAEC"], "immutable": false,
            ])
            let read = try await api.get(ConfigMap.self, namespace: "default", name: "cm")
            var modified = read.object
            modified.data = ["a": "2"]
            let written = try await api.update(read, to: modified)
            #expect(written.raw["binaryData"] == ["blob": "AAEC"])
            #expect(written.raw["immutable"] == false)
            #expect(written.raw[path: ["metadata", "annotations"]] == ["keep": "me"])
            #expect(written.object.data == ["a": "2"])
            let encoded = String(decoding: try JSONValue(encoding: ObjectMeta(name: "x")).encoded(), as: UTF8.self)
            #expect(encoded == #"{"name":"x"}"#)
        }
    }

    @Test("a token file is read again after tokenFileRefresh, not on every request")
    func tokenFileIsCached() async throws {
        try await FakeCluster.with { cluster in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let tokenFile = directory.appendingPathComponent("token").path
            try "operator-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            let reviews = ResourceDescriptor(group: "authentication.k8s.io", version: "v1", plural: "selfsubjectreviews", kind: "SelfSubjectReview", namespaced: false)
            func whoami(_ api: HTTPKubernetesClient) async throws -> String? {
                try await api.create(reviews, namespace: nil, object: ["apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"])[
                    path: ["status", "userInfo", "username"]]?.stringValue
            }
            var configuration = cluster.client.configuration
            configuration.token = nil
            configuration.tokenFile = tokenFile
            configuration.tokenFileRefresh = .seconds(3600)
            let cached = try HTTPKubernetesClient(configuration: configuration, logger: FakeCluster.logger)
            configuration.tokenFileRefresh = .zero
            let rereading = try HTTPKubernetesClient(configuration: configuration, logger: FakeCluster.logger)
            #expect(try await whoami(cached) == "operator")
            #expect(try await whoami(rereading) == "operator")
            // The kubelet rotates the token: a client sees it once its copy is due.
            try "job-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
            #expect(try await whoami(cached) == "operator")
            #expect(try await whoami(rereading) == "job")
            try await cached.shutdown()
            try await rereading.shutdown()
        }
    }

    @Test("the client's observer is told how every attempt ended: a 429 retried, a 404 and a failed POST not, a watch opened, no answer from a closed port retried, an unreadable token file not counted")
    func requestOutcomes() async throws {
        try await FakeCluster.with { cluster in
            let seen = Mutex<[HTTPKubernetesClient.RequestOutcome]>([])
            var configuration = cluster.client.configuration
            configuration.initialBackoff = .milliseconds(10)
            let api = try HTTPKubernetesClient(configuration: configuration, logger: FakeCluster.logger) { outcome in seen.withLock { $0.append(outcome) } }
            func take() -> [HTTPKubernetesClient.RequestOutcome] { seen.withLock { outcomes in defer { outcomes.removeAll() }; return outcomes } }
            _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "cm", namespace: "default")))
            #expect(take() == [.init(method: "POST", status: 201, retrying: false)])
            cluster.server.injectFault(FaultRule(verb: "get", resource: "configmaps", status: 429, count: 1))
            _ = try await api.get(ConfigMap.self, namespace: "default", name: "cm")
            #expect(take() == [.init(method: "GET", status: 429, retrying: true), .init(method: "GET", status: 200, retrying: false)])
            await #expect(throws: KubeError.self) { try await api.get(ConfigMap.self, namespace: "default", name: "missing") }
            #expect(take() == [.init(method: "GET", status: 404, retrying: false)])
            cluster.server.injectFault(FaultRule(verb: "create", resource: "configmaps", status: 500, count: 1))
            await #expect(throws: KubeError.self) { _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "other", namespace: "default"))) }
            #expect(take() == [.init(method: "POST", status: 500, retrying: false)], "a POST is not repeated after a 5xx: it may have been done")
            let stream = try await api.watch(ConfigMap.resource, namespace: "default", options: WatchOptions(timeoutSeconds: 1))
            #expect(take() == [.init(method: "WATCH", status: 200, retrying: false)])
            for try await _ in stream {}  // the server ends it after its timeout
            try await api.shutdown()

            // Nothing listens: no answer (AsyncHTTPClient keeps trying to connect until
            // the request's deadline), tried again up to maxAttempts.
            configuration.server = "https://127.0.0.1:1"
            configuration.maxAttempts = 3
            configuration.requestTimeout = .seconds(1)
            let unreachable = try HTTPKubernetesClient(configuration: configuration, logger: FakeCluster.logger) { outcome in seen.withLock { $0.append(outcome) } }
            await #expect(throws: KubeError.self) { _ = try await unreachable.get(ConfigMap.self, namespace: "default", name: "cm") }
            #expect(take() == [
                .init(method: "GET", status: nil, retrying: true), .init(method: "GET", status: nil, retrying: true), .init(method: "GET", status: nil, retrying: false),
            ])
            try await unreachable.shutdown()

            // A token file that cannot be read sends nothing: an error, no attempt counted.
            configuration = cluster.client.configuration
            configuration.token = nil
            configuration.tokenFile = "/nonexistent/token"
            let unconfigured = try HTTPKubernetesClient(configuration: configuration, logger: FakeCluster.logger) { outcome in seen.withLock { $0.append(outcome) } }
            let error = await #expect(throws: KubeError.self) { _ = try await unconfigured.get(ConfigMap.self, namespace: "default", name: "cm") }
            #expect(error?.code == .configuration)
            await #expect(throws: KubeError.self) { _ = try await unconfigured.watch(ConfigMap.resource, namespace: "default", options: WatchOptions()) }
            #expect(take() == [])
            try await unconfigured.shutdown()
        }
    }

    @Test("a fresh read reusing a cached copy gives the copy at the same resourceVersion and the server's object after a change")
    func getReusingCopy() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "cm", namespace: "default"), data: ["a": "1"]))
            var copy = try await api.get(ConfigMap.self, namespace: "default", name: "cm")
            // A local mark the server does not have shows which one came back.
            copy.object.data = ["a": "1", "mark": "copy"]
            let same = try await api.get(ConfigMap.self, namespace: "default", name: "cm", reusing: copy)
            #expect(same.object.data == ["a": "1", "mark": "copy"])
            _ = try await api.patch(ConfigMap.resource, namespace: "default", name: "cm", patch: ["data": ["a": "2"]], type: .merge, subresource: nil)
            let fresh = try await api.get(ConfigMap.self, namespace: "default", name: "cm", reusing: copy)
            #expect(fresh.object.data == ["a": "2"])
            #expect(fresh.metadata.resourceVersion != copy.metadata.resourceVersion)
            let missing = await #expect(throws: KubeError.self) { _ = try await api.get(ConfigMap.self, namespace: "default", name: "gone", reusing: copy) }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("a copy from a cache that keeps no JSON is written after reading the server's text (unknown fields kept); a stale one is a Conflict that writes nothing")
    func writeFromCopyWithoutJSON() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let raw = try await api.create(ConfigMap.resource, namespace: "default", object: [
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "cm", "namespace": "default"], "data": ["a": "1"], "binaryData": ["b": "AA=="],
            ])
            let copy = try Resource<ConfigMap>(raw: raw, keepingJSON: false)
            #expect(!copy.keepsJSON && copy.raw == .null)
            // A fresh read at the same version gives the copy with the server's text.
            let reread = try await api.get(ConfigMap.self, namespace: "default", name: "cm", reusing: copy)
            #expect(reread.keepsJSON && reread.raw["binaryData"] == ["b": "AA=="])
            var modified = copy.object
            modified.data = ["a": "2"]
            let written = try await api.update(copy, to: modified)
            #expect(written.object.data == ["a": "2"] && written.raw["binaryData"] == ["b": "AA=="], "the field the typed view does not know is kept")
            // The copy is now stale: Conflict, and the object stays as written.
            modified.data = ["a": "3"]
            let conflict = await #expect(throws: KubeError.self) { _ = try await api.update(copy, to: modified) }
            #expect(conflict?.code == .conflict)
            #expect(try await api.get(ConfigMap.self, namespace: "default", name: "cm").object.data == ["a": "2"])
        }
    }

    /// A view of ConfigMaps that requires a field they do not have (and does not send it).
    struct StrictConfigMap: KubernetesObject {
        static let resource = ConfigMap.resource
        var apiVersion: String? = "v1"
        var kind: String? = "ConfigMap"
        var metadata: ObjectMeta
        var required: String

        enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, required }

        init(metadata: ObjectMeta, required: String) {
            self.metadata = metadata
            self.required = required
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encodeIfPresent(apiVersion, forKey: .apiVersion)
            try container.encodeIfPresent(kind, forKey: .kind)
            try container.encode(metadata, forKey: .metadata)
        }
    }

    @Test("a typed answer that does not decode is a .decoding KubeError naming the request (a get, a create that did happen)")
    func undecodableAnswer() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let created = try await api.create(ConfigMap(metadata: ObjectMeta(name: "cm", namespace: "default"), data: ["a": "1"]))
            let read = await #expect(throws: KubeError.self) { _ = try await api.get(StrictConfigMap.self, namespace: "default", name: "cm") }
            #expect(read?.code == .decoding && read?.request == "GET /api/v1/namespaces/default/configmaps/cm", "\(String(describing: read))")
            let strict = StrictConfigMap(metadata: ObjectMeta(name: "strict", namespace: "default"), required: "x")
            let made = await #expect(throws: KubeError.self) { _ = try await api.create(strict) }
            #expect(made?.code == .decoding && made?.request == "POST /api/v1/namespaces/default/configmaps")
            // The create itself happened: only its answer could not be read as the type.
            #expect(try await api.get(ConfigMap.self, namespace: "default", name: "strict").name == "strict")
            #expect(created.object.data == ["a": "1"])
        }
    }

    @Test("API errors arrive as typed errors: AlreadyExists, Conflict, Invalid, NotFound")
    func typedErrors() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let secret = Secret(metadata: ObjectMeta(name: "s", namespace: "default"))
            _ = try await api.create(secret)
            let exists = await #expect(throws: KubeError.self) { _ = try await api.create(secret) }
            #expect(exists?.code == .alreadyExists)
            let invalid = await #expect(throws: KubeError.self) {
                _ = try await api.create(Secret(metadata: ObjectMeta(name: "Not Valid", namespace: "default")))
            }
            #expect(invalid?.code == .invalid)
            #expect(invalid?.status?.details?.causes?.first?.field == "metadata.name")
            let missing = await #expect(throws: KubeError.self) {
                _ = try await api.create(Secret(metadata: ObjectMeta(name: "s", namespace: "nowhere")))
            }
            #expect(missing?.code == .notFound)
        }
    }

    @Test("429 with Retry-After and 500 on a GET are retried until they succeed")
    func retries() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            _ = try await api.create(Secret(metadata: ObjectMeta(name: "s", namespace: "default")))
            cluster.server.injectFault(FaultRule(verb: "get", resource: "secrets", status: 429, retryAfterSeconds: 1, count: 1))
            cluster.server.injectFault(FaultRule(verb: "get", resource: "secrets", status: 500, count: 2))
            let start = ContinuousClock.now
            #expect(try await api.get(Secret.self, namespace: "default", name: "s").name == "s")
            #expect(ContinuousClock.now - start >= .seconds(1), "Retry-After was honoured")
        }
    }

    @Test("a 500 on a create is not retried: the error reaches the caller")
    func noRetryForNonIdempotent() async throws {
        try await FakeCluster.with { cluster in
            cluster.server.injectFault(FaultRule(verb: "create", resource: "secrets", status: 500, count: 1))
            let error = await #expect(throws: KubeError.self) {
                _ = try await cluster.client.create(Secret(metadata: ObjectMeta(name: "s", namespace: "default")))
            }
            #expect(error?.code == .serverError)
            _ = try await cluster.client.create(Secret(metadata: ObjectMeta(name: "s", namespace: "default")))
        }
    }

    @Test("a watch streams events as they happen, framed by lines")
    func watch() async throws {
        try await FakeCluster.with { cluster in
            let api = cluster.client
            let list = try await api.list(ConfigMap.resource, namespace: "default", options: ListOptions())
            let stream = try await api.watch(ConfigMap.resource, namespace: "default", options: WatchOptions(resourceVersion: list.resourceVersion))
            async let events: [WatchEvent] = {
                var seen: [WatchEvent] = []
                for try await event in stream where event.type != .bookmark {
                    seen.append(event)
                    if seen.count == 3 { break }
                }
                return seen
            }()
            for i in 0..<3 {
                _ = try await api.create(ConfigMap(metadata: ObjectMeta(name: "cm-\(i)", namespace: "default"), data: ["k": String(repeating: "x", count: 70_000)]))
            }
            let received = try await events
            #expect(received.map(\.type) == [.added, .added, .added])
            #expect(received.compactMap { $0.object[path: ["metadata", "name"]]?.stringValue } == ["cm-0", "cm-1", "cm-2"])
        }
    }
}
