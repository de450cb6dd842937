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

    @Test(
        "probe, allowed namespaces, Jobs in the operator's namespace, the count, and deletion held while Databases remain (test driver; RBAC on, deploy/'s rules)",
        .enabled(if: services.shouldRun(.kubectl)))
    func rules() async throws {
        try await LifecycleHarness.with(rbac: true) { harness in
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
            #expect(!probes.isEmpty && probes.allSatisfy { $0.object.condition("Complete") != nil }, "a failed probe is a result, not a failed Job")
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

    @Test(
        "both drivers on real servers: a tenant names only the server, creates, backs up to the server's bucket, is dropped after a final backup, and its namespace never holds the admin password or the S3 key",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.mysql) && services.shouldRun(.s3) && services.shouldRun(.databaseTLS) && services.shouldRun(.kubectl)))
    func realServers() async throws {
        let s3 = try Self.services.s3()
        let tls = try Self.services.databaseTLS()
        let drivers = [try EndToEndTests.Driver(engine: Engine.postgresql), try EndToEndTests.Driver(engine: Engine.mysql)]
        for driver in drivers { try await driver.engine.prepare() }
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with(rbac: true) { harness in
            // The admin's side: the S3 keys of the shared bucket, in the operator's namespace.
            try await EndToEndTests.secret(harness, Self.operatorNamespace, "shared-s3", ["accessKeyId": s3.accessKeyID, "secretAccessKey": s3.secretAccessKey])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for driver in drivers { group.addTask { try await Self.tenantLifecycle(driver, harness: harness, s3: s3, run: run) } }
                try await group.waitForAll()
            }
            try await Self.tlsProbe(harness, tls: tls, run: run)
        }
    }

    static func tenantLifecycle(_ driver: EndToEndTests.Driver, harness: LifecycleHarness, s3: S3Settings, run: String) async throws {
        let name = "shared-\(driver.label)-\(run)", tenant = "srv-\(driver.label)-\(run)", outsider = "srv-\(driver.label)-\(run)-out"
        try await EndToEndTests.secret(harness, Self.operatorNamespace, "\(name)-admin", ["password": driver.login.password])
        let server = DatabaseServer(
            metadata: ObjectMeta(name: name),
            spec: DatabaseServerSpec(
                driver: driver.name, connect: ConnectSpec(host: driver.login.host, port: driver.login.port, sslMode: .disable),
                credentials: CredentialsSpec(
                    username: ValueSource(value: driver.login.user), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "\(name)-admin", key: "password")))),
                allowedNamespaces: AllowedNamespaces(selector: LabelSelector(matchLabels: ["db-operator.io/tenant": name])),
                backupTo: BackupTarget(s3: S3Spec(
                    region: s3.region, bucket: s3.bucket, prefix: "srv-\(run)/", endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "shared-s3"))))
        _ = try await harness.api.create(server)
        try await eventually(timeout: .seconds(300), "DatabaseServer \(name) to be probed") {
            let probed = try await Self.server(harness, name)
            return probed?.status?.conditions?[type: "Ready"]?.reason == "Connected" && probed?.status?.version?.isEmpty == false
        }
        let version = try #require(try await Self.server(harness, name)?.status?.version)
        #expect(driver.name == "postgresql" ? version.first?.isNumber == true : version.contains("MariaDB"), "\(version)")

        // A tenant (labelled as allowed) names only the server.
        try await Self.namespace(harness, tenant, labels: ["db-operator.io/tenant": name])
        try await Self.namespace(harness, outsider)
        let spec = DatabaseSpec(driver: nil, connect: nil, server: name)
        try await harness.createDatabase("orders", namespace: tenant, spec: spec)
        try await harness.createDatabase("orders", namespace: outsider, spec: spec)
        try await harness.waitForPhase("orders", namespace: tenant, .created, timeout: .seconds(300))
        let created = try #require(try await harness.database("orders", namespace: tenant))
        #expect(created.status?.deletionPolicy == .backupBeforeDelete, "the server's backup target makes BackupBeforeDelete the default")
        let secret = try #require(try await harness.secret("orders", namespace: tenant))
        let database = try #require(secret.value("database")), user = try #require(secret.value("username")), password = try #require(secret.value("password"))
        #expect(secret.value("host") == driver.login.host && secret.value("port") == String(driver.login.port))
        _ = try await driver.engine.runAs(driver.login, user, password, database, [
            "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(50))", "INSERT INTO items VALUES (1, 'one'), (2, 'two')",
        ])
        try await eventually("the outsider to be refused") {
            try await harness.database("orders", namespace: outsider)?.status?.conditions?[type: "Ready"]?.reason == "NamespaceNotAllowed"
        }

        // A Backup goes to the server's bucket, with the server's keys.
        try await harness.createBackup("orders-1", namespace: tenant, database: "orders")
        try await harness.waitForBackup("orders-1", namespace: tenant, .completed, timeout: .seconds(180))
        let backup = try #require(try await harness.backup("orders-1", namespace: tenant))
        #expect(backup.status?.destination?.hasPrefix("s3://\(s3.bucket)/srv-\(run)/\(tenant)/orders/") == true, "\(backup.status?.destination ?? "")")
        try await EndToEndTests.expectRestores(backup, driver: driver, s3: s3, rows: 2)
        try await eventually("the server to count its Databases") { try await Self.server(harness, name)?.status?.databases == 2 }

        // Deleting takes the final backup, then drops.
        try await harness.delete("orders", namespace: tenant)
        try await harness.waitUntilGone("orders", namespace: tenant, timeout: .seconds(180))
        await #expect(throws: SQLError.self) { _ = try await driver.engine.runAs(driver.login, user, password, database, ["SELECT 1"]) }
        let final = try #require(try await harness.api.list(Backup.self, namespace: tenant).first { $0.name.hasPrefix("orders-final-") })
        #expect(final.object.phase == .completed)
        try await EndToEndTests.expectRestores(final.object, driver: driver, s3: s3, rows: 2)

        // Nothing in the tenant's namespace holds the admin password or the server's S3 key
        // (while the operator's namespace does: the scan can find them).
        let secrets = [driver.login.password, s3.secretAccessKey]
        let found = try await Self.scan(harness, namespace: tenant, for: secrets)
        #expect(found.isEmpty, "found in namespace \(tenant): \(found)")
        #expect(try await Self.scan(harness, namespace: Self.operatorNamespace, for: secrets).count >= 2)
        // Its Jobs ran in the operator's namespace.
        #expect(try await harness.api.list(Job.self, namespace: tenant).isEmpty)

        try await harness.delete("orders", namespace: outsider)
        try await harness.waitUntilGone("orders", namespace: outsider)
        try await harness.api.delete(DatabaseServer.self, namespace: nil, name: name)
        try await eventually("the server to go") { try await Self.server(harness, name) == nil }
    }

    /// Where any of `values` appears in the namespace's objects: Secrets (every value
    /// decoded), Jobs, Pods, Events, Databases, Backups, ConfigMaps.
    static func scan(_ harness: LifecycleHarness, namespace: String, for values: [String]) async throws -> [String] {
        var found: [String] = []
        let kinds: [ResourceDescriptor] = [
            Secret.resource, Job.resource, Event.resource, Database.resource, Backup.resource,
            ResourceDescriptor(group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true),
            ResourceDescriptor(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true),
        ]
        for kind in kinds {
            for item in try await harness.api.list(kind, namespace: namespace, options: ListOptions()).items {
                var text = String(decoding: try JSONEncoder().encode(item), as: UTF8.self)
                if kind == Secret.resource {
                    let secret = try item.decode(as: Secret.self)
                    text += (secret.data ?? [:]).keys.compactMap { secret.value($0) }.joined(separator: "\n")
                }
                for (index, value) in values.enumerated() where text.contains(value) {
                    found.append("value #\(index) in \(kind.plural)/\(item[path: ["metadata", "name"]]?.stringValue ?? "?")")
                }
            }
        }
        return found
    }

    /// A server behind verify-full TLS: its CA comes from the operator's namespace.
    /// The right CA connects; another CA is TLSRefused, said in the server's status.
    static func tlsProbe(_ harness: LifecycleHarness, tls: DatabaseTLSSettings, run: String) async throws {
        try await EndToEndTests.secret(harness, Self.operatorNamespace, "tls-admin", ["password": tls.postgresql.password])
        try await EndToEndTests.secret(harness, Self.operatorNamespace, "tls-ca", ["ca.crt": tls.certificateAuthorityPEM])
        try await EndToEndTests.secret(harness, Self.operatorNamespace, "other-ca", ["ca.crt": tls.otherCertificateAuthorityPEM])
        for (name, ca, reason) in [("tls-good-\(run)", "tls-ca", "Connected"), ("tls-bad-\(run)", "other-ca", "TLSRefused")] {
            _ = try await harness.api.create(DatabaseServer(
                metadata: ObjectMeta(name: name),
                spec: DatabaseServerSpec(
                    driver: "postgresql", connect: ConnectSpec(host: tls.postgresql.host, port: tls.postgresql.port, sslMode: .verifyFull, caSecret: ca),
                    credentials: CredentialsSpec(
                        username: ValueSource(value: tls.postgresql.user), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "tls-admin", key: "password")))))))
            try await eventually(timeout: .seconds(300), "DatabaseServer \(name) to be probed: \(reason)") {
                try await Self.server(harness, name)?.status?.conditions?[type: "Ready"]?.reason.rawValue == reason
            }
            try await harness.api.delete(DatabaseServer.self, namespace: nil, name: name)
        }
    }
}
