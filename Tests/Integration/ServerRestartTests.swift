import Foundation
import KubeClient
import KubeModel
import PostgreSQLDriver
import SQLSupport
import Testing
import TestSupport

/// A database server restarted in the middle of a backup: the dump fails, the attempt
/// is retried, and the backup completes and restores. Runs alone (ci/test.sh): the
/// restart would break other tests' connections.
@Suite("Database server restarts", .serialized)
struct ServerRestartTests {
    static let services = TestServices.current

    @Test(
        "PostgreSQL restarted while pg_dump runs: the backup is retried and completes",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.s3) && ProcessInfo.processInfo.environment["DBOP_SERVICES"] != "external",
                 "needs the native services of ci/services.sh (it restarts PostgreSQL)"))
    func postgresqlRestart() async throws {
        let s3 = try Self.services.s3()
        let login = try Self.services.postgresqlLimited()
        let superuser = try Self.services.postgresql()
        let driver = try EndToEndTests.Driver(engine: Engine.postgresql)
        let ns = "restart-\(UUID().uuidString.prefix(6).lowercased())"
        try await LifecycleHarness.with(operatorArguments: ["--job-env", "DB_OPERATOR_MAX_BACKUP_ATTEMPTS=5"]) { harness in
            try await harness.createRealDatabase(namespace: ns, driver: "postgresql", login: login, s3: s3, policy: .delete)
            let secret = try #require(try await harness.secret("main", namespace: ns))
            let database = try #require(secret.value("database")), user = try #require(secret.value("username")), password = try #require(secret.value("password"))
            _ = try await driver.engine.runAs(login, user, password, database, ["CREATE TABLE items (id INT PRIMARY KEY)", "INSERT INTO items VALUES (1), (2), (3), (4)"])
            // Hold a lock that pg_dump must wait for, so the restart lands mid-dump.
            let holder = try await PGConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: user, password: password, database: database, tlsMode: .disable))
            try await holder.query("BEGIN")
            try await holder.query("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            try await harness.createBackup("main-1", namespace: ns, database: "main")
            try await eventually(timeout: .seconds(60), "pg_dump to be waiting on the lock") {
                let rows = try await driver.engine.runAsAdmin(superuser, nil, [
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'db-operator-backup' AND wait_event_type = 'Lock'",
                ])
                return rows == [["1"]]
            }
            // Output to a file: the restarted server must not inherit (and hold open) our pipes.
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("restart-\(ns).log").path
            let status = try await ChildProcess.runLeavingDaemons("/bin/bash", [Self.servicesScript, "restart-postgresql"], logPath: log)
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 0 || (status == nil && output.contains("ready on")), "\(output)")
            try await harness.waitForBackup("main-1", namespace: ns, .completed, timeout: .seconds(180))
            let backup = try #require(try await harness.backup("main-1", namespace: ns))
            #expect((backup.status?.attempts ?? 0) >= 2, "the interrupted attempt was retried")
            try await EndToEndTests.expectRestores(backup, driver: driver, s3: s3, rows: 4)
            try await harness.delete("main", namespace: ns)
            try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(120))
        }
    }

    static var servicesScript: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ci/services.sh").path
    }
}
