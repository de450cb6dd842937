import Foundation
import KubeClient
import KubeModel
import Logging
import SQLSupport
import Testing
import TestSupport

/// DatabaseServer (SPEC section 12) through the real programs on the fake API server:
/// an admin registers an instance once, in the operator's namespace; tenants name it
/// and never hold its admin password or its S3 keys.
@Suite("DatabaseServer: instances registered once", .serialized)
struct DatabaseServerTests {
    static let services = TestServices.current
    static let operatorNamespace = LifecycleHarness.operatorNamespace

    /// A server of the test driver whose admin password is in Secret `<name>-admin`
    /// of the operator's namespace.
    static func testServer(_ name: String, host: String, allowed: LabelSelector?, backupTo: BackupTarget? = nil) -> DatabaseServer {
        DatabaseServer(
            metadata: ObjectMeta(name: name),
            spec: DatabaseServerSpec(
                driver: "test", connect: ConnectSpec(host: host),
                credentials: CredentialsSpec(
                    username: ValueSource(value: "admin"), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "\(name)-admin", key: "password")))),
                allowedNamespaces: allowed.map { AllowedNamespaces(selector: $0) }, backupTo: backupTo))
    }

    static func server(_ harness: LifecycleHarness, _ name: String) async throws -> DatabaseServer? {
        do {
            return try await harness.api.get(DatabaseServer.self, namespace: nil, name: name).object
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    static func namespace(_ harness: LifecycleHarness, _ name: String, labels: [String: String]? = nil) async throws {
        _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: name, labels: labels)))
    }

    @Test("probe, allowed namespaces, Jobs in the operator's namespace, the count, and deletion held while Databases remain (test driver)")
    func rules() async throws {
        try await LifecycleHarness.with { harness in
            let run = String(UUID().uuidString.prefix(6).lowercased())
            let tenant = "srv-tenant-\(run)", outsider = "srv-outsider-\(run)"
            try await EndToEndTests.secret(harness, Self.operatorNamespace, "shared-admin", ["password": "admin-pw"])
            let selector = LabelSelector(matchLabels: ["db-operator.io/tenant": "true"])
            _ = try await harness.api.create(Self.testServer("shared", host: "instance-shared-\(run)", allowed: selector))

            // The probe: Connected, the version, and the finalizer that holds the server.
            try await eventually(timeout: .seconds(60), "the server to be probed") {
                let server = try await Self.server(harness, "shared")
                return server?.status?.conditions?[type: "Ready"]?.reason == "Connected" && server?.status?.version == "test-1"
            }
            let probed = try #require(try await Self.server(harness, "shared"))
            #expect(probed.metadata.finalizers == [DatabaseServer.inUseFinalizer])
            #expect(probed.status?.observedGeneration == probed.metadata.generation)

            try await Self.namespace(harness, tenant, labels: ["db-operator.io/tenant": "true"])
            try await Self.namespace(harness, outsider)
            let spec = DatabaseSpec(driver: nil, connect: nil, server: "shared")
            try await harness.createDatabase("app", namespace: tenant, spec: spec)
            try await harness.createDatabase("app", namespace: outsider, spec: spec)
            try await harness.waitForPhase("app", namespace: tenant, .created)
            let created = try #require(try await harness.database("app", namespace: tenant))
            #expect(created.status?.server == "shared" && created.status?.driver == "test")
            #expect(try await harness.secret("app", namespace: tenant)?.value("host") == "instance-shared-\(run)")
            // Its Job ran in the operator's namespace; the tenant has none.
            let operatorJobs = try await harness.api.list(Job.self, namespace: Self.operatorNamespace)
            #expect(operatorJobs.contains { $0.metadata.annotations?["dboperator.io/database-name"] == "app" && $0.metadata.labels?["dboperator.io/database-namespace"] == tenant })
            #expect(try await harness.api.list(Job.self, namespace: tenant).isEmpty)

            // A namespace the server does not allow: a condition and an Event, no Job, nothing in the instance.
            try await eventually("the outsider to be refused") {
                try await harness.database("app", namespace: outsider)?.status?.conditions?[type: "Ready"]?.reason == "NamespaceNotAllowed"
            }
            #expect(try await harness.api.list(Event.self, namespace: outsider).contains { $0.object.reason == "NamespaceNotAllowed" })
            #expect(try await harness.database("app", namespace: outsider)?.phase == nil)
            #expect(try await harness.api.list(Job.self, namespace: Self.operatorNamespace).allSatisfy { $0.metadata.labels?["dboperator.io/database-namespace"] != outsider })
            #expect(try await harness.api.list(Job.self, namespace: outsider).isEmpty)
            // Giving connect as well is InvalidSpec.
            var both = spec
            both.connect = ConnectSpec(host: "elsewhere")
            try await harness.createDatabase("both", namespace: tenant, spec: both)
            try await eventually("server and connect together to be refused") {
                let ready = try await harness.database("both", namespace: tenant)?.status?.conditions?[type: "Ready"]
                return ready?.reason == "InvalidSpec" && ready?.message.contains("spec.server") == true
            }
            // A server that does not exist.
            try await harness.createDatabase("lost", namespace: tenant, spec: DatabaseSpec(driver: nil, connect: nil, server: "no-such-server"))
            try await eventually("a missing server to be reported") {
                try await harness.database("lost", namespace: tenant)?.status?.conditions?[type: "Ready"]?.reason == "ServerNotFound"
            }

            // The count: the tenant's app, and the refused ones (they name it too).
            try await eventually("the server to count its Databases") { try await Self.server(harness, "shared")?.status?.databases == 3 }

            // Deleting the server is held while Databases use it, and says by whom.
            try await harness.api.delete(DatabaseServer.self, namespace: nil, name: "shared")
            try await eventually("the deletion to be held") {
                let inUse = try await Self.server(harness, "shared")?.status?.conditions?[type: "InUse"]
                return inUse?.status == "True" && inUse?.message.contains("\(tenant)/app") == true
            }
            for (name, namespace) in [("app", tenant), ("both", tenant), ("app", outsider)] { try await harness.delete(name, namespace: namespace) }
            for (name, namespace) in [("app", tenant), ("both", tenant), ("app", outsider)] { try await harness.waitUntilGone(name, namespace: namespace) }
            #expect(harness.instanceRecord(host: "instance-shared-\(run)", database: "srv_tenant_\(run)_app") == nil, "dropped through the server")
            try await eventually("the server to go once no Database names it") { try await Self.server(harness, "shared") == nil }
            try await harness.delete("lost", namespace: tenant)
            try await harness.waitUntilGone("lost", namespace: tenant)

            // A probe that fails is a condition and an Event, not a crash loop; fixing the spec probes again.
            try await EndToEndTests.secret(harness, Self.operatorNamespace, "refusing-admin", ["password": "pw"])
            try harness.setFlag("instance-refusing-\(run)", "fail-probe")
            _ = try await harness.api.create(Self.testServer("refusing", host: "instance-refusing-\(run)", allowed: nil))
            try await eventually(timeout: .seconds(60), "the failed probe to be reported") {
                try await Self.server(harness, "refusing")?.status?.conditions?[type: "Ready"]?.reason == "AdminLoginFailed"
            }
            try await eventually("a Warning Event on the server") {
                try await harness.api.list(Event.self, namespace: "default").contains { $0.object.involvedObject.name == "refusing" && $0.object.reason == "AdminLoginFailed" }
            }
            try await eventually("the probe Job to end") {
                try await harness.api.list(Job.self, namespace: Self.operatorNamespace).filter { $0.name.hasPrefix("refusing-probe-") }.allSatisfy { $0.object.isFinished }
            }
            let probes = try await harness.api.list(Job.self, namespace: Self.operatorNamespace).filter { $0.name.hasPrefix("refusing-probe-") }
            #expect(probes.count == 1 && probes.allSatisfy { $0.object.condition("Complete") != nil }, "a failed probe is a result, not a failed Job")
            let current = try await harness.api.get(DatabaseServer.self, namespace: nil, name: "refusing")
            var fixed = current.object
            fixed.spec.connect.host = "instance-fixed-\(run)"
            _ = try await harness.api.update(current, to: fixed)
            try await eventually(timeout: .seconds(60), "the changed spec to be probed at once") {
                let server = try await Self.server(harness, "refusing")
                return server?.status?.conditions?[type: "Ready"]?.reason == "Connected" && server?.status?.observedGeneration == server?.metadata.generation
            }
            try await harness.api.delete(DatabaseServer.self, namespace: nil, name: "refusing")
            try await eventually("an unused server to go at once") { try await Self.server(harness, "refusing") == nil }
        }
    }
}
