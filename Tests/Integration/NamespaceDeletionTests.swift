import Foundation
import KubeClient
import KubeModel
import SQLSupport
import Testing
import TestSupport

/// Deleting a namespace that has Databases finishes (#16 item 8). The fake deletes a
/// namespace as the real namespace controller does: everything in it at once, nothing
/// new may be created in it, finalizers respected. The Secrets a Database needs carry
/// the in-use finalizer until no Database needs them; the Jobs of a Database whose
/// namespace is being deleted run in the operator's namespace; a final backup is kept
/// there (where its record outlives the namespace).
@Suite("Deleting a namespace with Databases", .serialized)
struct NamespaceDeletionTests {
    static let services = TestServices.current
    static let operatorNamespace = LifecycleHarness.operatorNamespace

    static func namespaceGone(_ harness: LifecycleHarness, _ name: String) async throws -> Bool {
        do {
            _ = try await harness.api.get(Namespace.self, namespace: nil, name: name)
            return false
        } catch let error as KubeError where error.code == .notFound {
            return true
        }
    }

    static func finalBackups(_ harness: LifecycleHarness, of namespace: String) async throws -> [Resource<Backup>] {
        try await harness.api.list(Backup.self, namespace: Self.operatorNamespace, labelSelector: "\(LabelKey.databaseNamespace)=\(namespace)")
    }

    @Test("test driver: Secrets are kept while needed (also from a direct delete), the namespace goes, the databases are dropped, the final backup is kept in db-operator", .enabled(if: services.shouldRun(.s3)))
    func testDriver() async throws {
        let s3 = try Self.services.s3()
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with { harness in
            let ns = "nsdel-\(run)"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            try await EndToEndTests.secret(harness, ns, "unrelated", ["k": "v"])
            try await harness.createDatabase("kept", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-nsdel-\(run)", policy: .backupBeforeDelete, s3: s3, prefix: "nsdel-\(run)/"))
            try await harness.createDatabase("plain", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-nsdel-\(run)", policy: .delete, s3: nil))
            try await harness.waitForPhase("kept", namespace: ns, .created)
            try await harness.waitForPhase("plain", namespace: ns, .created)
            for name in ["dbpassword", "s3-creds"] {
                let secret = try #require(try await harness.secret(name, namespace: ns))
                #expect(secret.metadata.finalizers == [Database.secretInUseFinalizer], "\(name)")
            }
            #expect(try await harness.secret("unrelated", namespace: ns)?.metadata.finalizers == nil)

            // Deleting the admin Secret first (kubectl delete -f of a directory, say) waits for the Databases.
            try await harness.api.delete(Secret.self, namespace: ns, name: "dbpassword")
            #expect(try await harness.secret("dbpassword", namespace: ns)?.metadata.deletionTimestamp != nil)
            try await harness.delete("plain", namespace: ns)
            try await harness.waitUntilGone("plain", namespace: ns)
            #expect(harness.instanceRecord(host: "instance-nsdel-\(run)", database: "nsdel_\(run)_plain") == nil)
            #expect(try await harness.secret("dbpassword", namespace: ns) != nil, "kept still needs it")

            try await harness.api.delete(Namespace.self, namespace: nil, name: ns)
            try await eventually(timeout: .seconds(120), "the namespace to go") { try await Self.namespaceGone(harness, ns) }
            #expect(harness.instanceRecord(host: "instance-nsdel-\(run)", database: "nsdel_\(run)_kept") == nil, "dropped")
            let finals = try await Self.finalBackups(harness, of: ns)
            #expect(finals.count == 1 && finals.first?.phase == .completed, "\(finals.map { "\($0.name) \($0.phase?.rawValue ?? "-")" })")
            #expect(finals.first?.metadata.annotations?[AnnotationKey.databaseName] == "kept")
            #expect(finals.first?.object.status?.destination?.contains("/\(ns)/kept/") == true)
            // The operator leaves the kept record alone (no DatabaseNotFound on it).
            #expect(finals.first?.object.status?.conditions?[type: "Ready"]?.reason == "Completed")
        }
    }

    @Test(
        "both drivers on real servers: deleting the namespace drops every database (after a final backup where the policy says so) and the namespace goes",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.mysql) && services.shouldRun(.s3)))
    func realServers() async throws {
        let s3 = try Self.services.s3()
        let pg = try EndToEndTests.Driver(engine: Engine.postgresql), mysql = try EndToEndTests.Driver(engine: Engine.mysql)
        for driver in [pg, mysql] { try await driver.engine.prepare() }
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with { harness in
            let ns = "nsdel-real-\(run)"
            _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: ns)))
            try await EndToEndTests.secret(harness, ns, "pg-admin", ["password": pg.login.password])
            try await EndToEndTests.secret(harness, ns, "mysql-admin", ["password": mysql.login.password])
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            func spec(_ driver: EndToEndTests.Driver, admin: String, policy: DeletionPolicy) -> DatabaseSpec {
                var spec = LifecycleHarness.realDatabaseSpec(driver: driver.name, login: driver.login, s3: s3, prefix: "nsdel-\(run)/", policy: policy)
                spec.credentials?.password = ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: admin, key: "password")))
                return spec
            }
            try await harness.createDatabase("orders", namespace: ns, spec: spec(pg, admin: "pg-admin", policy: .backupBeforeDelete))
            try await harness.createDatabase("inventory", namespace: ns, spec: spec(mysql, admin: "mysql-admin", policy: .delete))
            var logins: [(EndToEndTests.Driver, String, String, String)] = []
            for (name, driver) in [("orders", pg), ("inventory", mysql)] {
                try await harness.waitForPhase(name, namespace: ns, .created, timeout: .seconds(120))
                let secret = try #require(try await harness.secret(name, namespace: ns))
                let login = (driver, try #require(secret.value("username")), try #require(secret.value("password")), try #require(secret.value("database")))
                _ = try await driver.engine.runAs(driver.login, login.1, login.2, login.3, [
                    "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(50))", "INSERT INTO items VALUES (1, 'one'), (2, 'two')",
                ])
                logins.append(login)
            }

            try await harness.api.delete(Namespace.self, namespace: nil, name: ns)
            try await eventually(timeout: .seconds(240), "the namespace to go") { try await Self.namespaceGone(harness, ns) }
            for (driver, user, password, database) in logins {
                await #expect(throws: SQLError.self, "\(database) is dropped") { _ = try await driver.engine.runAs(driver.login, user, password, database, ["SELECT 1"]) }
            }
            let finals = try await Self.finalBackups(harness, of: ns)
            #expect(finals.map { $0.metadata.annotations?[AnnotationKey.databaseName] } == ["orders"], "only BackupBeforeDelete takes one")
            let final = try #require(finals.first)
            #expect(final.phase == .completed)
            try await EndToEndTests.expectRestores(final.object, driver: pg, s3: s3, rows: 2)
        }
    }
}
