import DriverProtocol
import Foundation
import KubeModel
import PostgreSQLDriver
import SQLSupport
import Testing
import TestSupport

/// What users' servers and machines differ in (SPEC section 11), and the mistakes
/// they make: a server newer than every pg_dump, an admin login without the rights,
/// a wrong S3 secret. Each is one clear condition and Event that names the fix, is
/// not retried, and never shows a password; nothing is dropped without its backup.
@Suite(
    "Compatibility: PostgreSQL versions and their client tools",
    .serialized,
    .enabled(if: TestServices.current.shouldRun(.postgresqlVersions) && TestServices.current.shouldRun(.s3), "needs PostgreSQL 15-18 and S3: run ci/services.sh start"))
struct CompatibilityTests {
    static let services = TestServices.current

    /// The newest server of the matrix, and the client tools of the oldest (Debian's 15).
    static func newestServerAndOldTools() throws -> (server: PostgreSQLServer, oldTools: String) {
        if let problem = services.check(.postgresqlVersions) { throw problem }
        let servers = services.postgresqlServers()
        let oldest = try #require(servers.first), newest = try #require(servers.last)
        #expect(newest.major > oldest.major)
        let old = try #require(services.postgresqlToolDirectories.first { FileManager.default.isExecutableFile(atPath: "\($0)/pg_dump") && $0.contains("/\(oldest.major)/") })
        return (newest, old)
    }

    @Test("pg_dump older than the server: the driver says ToolTooOld naming both versions, and starts no dump")
    func driverRefusesOldTool() async throws {
        let (server, oldTools) = try Self.newestServerAndOldTools()
        let engine = Engine.postgresql(server, limited: true)
        let login = try engine.admin()
        let target = engine.target(login, database: SQLDriverTests.unique("dbop_old"), user: SQLDriverTests.unique("dbop_uold"))
        try await engine.driver.create(target, password: "pw")
        let old = PostgreSQLDatabaseDriver(engine: PostgreSQLEngine(tools: PostgreSQLTools(directories: [oldTools])))
        let error = await #expect(throws: DriverError.self) { _ = try await old.backup(target) }
        #expect(error?.reason == "ToolTooOld")
        #expect(error?.retryable == false)
        #expect(error?.message.contains("PostgreSQL \(server.major).") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(oldTools) == true)
        // The newest tools dump it.
        let dump = try await engine.driver.backup(target)
        var size = 0
        for try await chunk in dump.bytes { size += chunk.readableBytes }
        #expect(size > 0)
        try await engine.driver.drop(target)
    }

    @Test("through the real programs: the Backup fails once with ToolTooOld (one attempt, one Job), and BackupBeforeDelete keeps the database until the policy changes")
    func endToEndToolTooOld() async throws {
        let (server, oldTools) = try Self.newestServerAndOldTools()
        let engine = Engine.postgresql(server, limited: true)
        let login = try engine.admin()
        let s3 = try Self.services.s3()
        let ns = "old-tools-\(UUID().uuidString.prefix(6).lowercased())"
        try await LifecycleHarness.with(runnerEnvironment: ["DB_OPERATOR_PG_BIN_DIRS": oldTools]) { harness in
            try await harness.createRealDatabase(namespace: ns, driver: "postgresql", login: login, s3: s3, policy: .backupBeforeDelete)
            let secret = try #require(try await harness.secret("main", namespace: ns))
            let database = try #require(secret.value("database"))

            try await harness.createBackup("main-1", namespace: ns, database: "main")
            try await harness.waitForBackup("main-1", namespace: ns, .failed, timeout: .seconds(120))
            let backup = try #require(try await harness.backup("main-1", namespace: ns))
            let ready = try #require(backup.status?.conditions?[type: "Ready"])
            #expect(ready.reason == "ToolTooOld")
            #expect(ready.message.contains("PostgreSQL \(server.major)."), "\(ready.message)")
            #expect(backup.status?.attempts == 1)
            try await eventually("the Database to be back to Created, saying ToolTooOld") {
                let db = try await harness.database("main", namespace: ns)
                return db?.phase == .created && db?.status?.conditions?[type: "Ready"]?.reason == "ToolTooOld"
            }
            try await eventually("a ToolTooOld Warning Event on the Backup") {
                try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "main-1" && $0.object.reason == "ToolTooOld" && $0.object.type == "Warning" }
            }
            let backupJobs = try await harness.api.list(Job.self, namespace: ns).filter { $0.object.metadata.labels?["dboperator.io/operation"] == "backup" }
            #expect(backupJobs.count == 1, "one Job for the one attempt: \(backupJobs.map(\.name))")

            // Deleting: the final backup fails the same way, so nothing is dropped...
            try await harness.delete("main", namespace: ns)
            try await eventually(timeout: .seconds(120), "the deletion to be blocked") {
                try await harness.database("main", namespace: ns)?.status?.conditions?[type: "DeletionBlocked"]?.status == "True"
            }
            let blocked = try #require(try await harness.database("main", namespace: ns))
            #expect(blocked.status?.conditions?[type: "Ready"]?.message.contains("ToolTooOld") == true)
            #expect(try await engine.inventory(login).contains("db:\(database)"))
            // ...until the user says to delete without a backup.
            try await harness.modifyDatabase("main", namespace: ns) { $0.spec.deletionPolicy = .delete }
            try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(120))
            #expect(!(try await engine.inventory(login).contains("db:\(database)")))
        }
    }

    @Test("an admin login without CREATEROLE gets PermissionDenied naming the rights it needs, on every PostgreSQL of the matrix")
    func adminWithoutRights() async throws {
        for server in Self.services.postgresqlServers() {
            let engine = Engine.postgresql(server, limited: true)
            let superuser = try engine.superuser()
            let weak = "dbop_weak_\(UUID().uuidString.prefix(6).lowercased())", weakPassword = "weak-pw-\(UUID().uuidString.prefix(6))"
            try await Engine.postgresql(server, limited: false).prepare()  // the bookkeeping is the RDS-like admin's
            // A second admin in the RDS-like admin's group (so it may use the bookkeeping
            // that login made), but without CREATEROLE.
            _ = try await engine.runAsAdmin(superuser, nil, ["CREATE ROLE \(weak) LOGIN CREATEDB PASSWORD '\(weakPassword)' IN ROLE \(try engine.admin().user)"])
            let login = DatabaseServerLogin(host: superuser.host, port: superuser.port, user: weak, password: weakPassword)
            let target = engine.target(login, database: SQLDriverTests.unique("dbop_weak"), user: SQLDriverTests.unique("dbop_uweak"))
            let error = await #expect(throws: DriverError.self) { try await engine.driver.create(target, password: "tenant-pw") }
            #expect(error?.reason == "PermissionDenied", "\(server)")
            #expect(error?.retryable == false)
            #expect(error?.message.contains("permission denied to create role") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("the admin login needs CREATEDB and CREATEROLE") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains(weakPassword) == false)
            #expect(error?.message.contains("tenant-pw") == false)
            // The claim was recorded before the refusal; the RDS-like admin's drop removes it.
            try await engine.driver.drop(engine.target(try engine.admin(), database: target.databaseName, user: target.username, uid: target.owner.uid))
            _ = try await engine.runAsAdmin(superuser, nil, ["DROP ROLE \(weak)"])
        }
    }

    @Test(
        "a wrong S3 secret against the strict store: the Backup fails once with SignatureDoesNotMatch, says what to fix, and never shows the secret",
        .enabled(if: TestServices.current.shouldRun(.s3Strict)))
    func wrongSignature() async throws {
        let engine = Engine.postgresql
        let login = try engine.admin()
        var s3 = try Self.services.s3Strict()
        let wrongSecret = "wrong-secret-\(UUID().uuidString.prefix(8))"
        s3 = S3Settings(endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, accessKeyID: s3.accessKeyID, secretAccessKey: wrongSecret)
        let ns = "bad-sig-\(UUID().uuidString.prefix(6).lowercased())"
        try await LifecycleHarness.with { harness in
            try await harness.createRealDatabase(namespace: ns, driver: "postgresql", login: login, s3: s3, policy: .delete)
            try await harness.createBackup("main-1", namespace: ns, database: "main")
            try await harness.waitForBackup("main-1", namespace: ns, .failed, timeout: .seconds(120))
            let backup = try #require(try await harness.backup("main-1", namespace: ns))
            let ready = try #require(backup.status?.conditions?[type: "Ready"])
            #expect(ready.reason == "SignatureDoesNotMatch")
            #expect(ready.message.contains("secretAccessKey"), "\(ready.message)")
            #expect(!ready.message.contains(wrongSecret))
            #expect(backup.status?.attempts == 1, "a wrong key is not retried")
            try await eventually("a SignatureDoesNotMatch Warning Event") {
                try await harness.api.list(Event.self, namespace: ns).contains { $0.object.reason == "SignatureDoesNotMatch" && $0.object.type == "Warning" && !($0.object.message ?? "").contains(wrongSecret) }
            }
            try await harness.delete("main", namespace: ns)
            try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(120))
        }
    }
}
