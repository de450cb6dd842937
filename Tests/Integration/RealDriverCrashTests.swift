import DriverAPI
import Foundation
import KubeClient
import KubeModel
import SQLSupport
import Testing
import TestSupport

/// SPEC section 9 with the real drivers: the driver process killed right after every
/// phase write of both lifecycles, and the operator killed mid-backup, for PostgreSQL
/// and MySQL — every lifecycle still ends right, the password never changes, and
/// the backups restore.
@Suite("Crash convergence with the real drivers", .serialized)
struct RealDriverCrashTests {
    static let services = TestServices.current

    @Test(
        "a driver killed after every transition, and the operator restarted, converge for postgresql and mysql",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.mysql) && services.shouldRun(.s3)))
    func killedEverywhere() async throws {
        let s3 = try Self.services.s3()
        let run = String(UUID().uuidString.prefix(6).lowercased())
        let drivers = [
            try EndToEndTests.Driver(engine: Engine.postgresql),
            try EndToEndTests.Driver(engine: Engine.mysql),
        ]
        try await LifecycleHarness.with(operatorArguments: ["--job-env", "DB_OPERATOR_MAX_BACKUP_ATTEMPTS=6", "--job-env", "DB_OPERATOR_PROGRESS_INTERVAL_MS=0"]) { harness in
            let path: [Transition] = [.d1, .d2, .d3, .b1, .d4, .b2, .b3, .b4, .d5, .d6, .d11, .d12, .d13, .d14, .d8, .d9]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for driver in drivers {
                    let ns = "crash-\(driver.name)-\(run)"
                    for transition in path { try harness.crashOnce(namespace: ns, database: "main", after: transition) }
                    group.addTask { try await Self.lifecycle(driver, namespace: ns, harness: harness, s3: s3) }
                }
                // The operator dies once both backups are under way, and comes back.
                group.addTask {
                    try await eventually(timeout: .seconds(180), "both backups to be under way") {
                        harness.recorder.objects(with: .d3).filter { $0.hasPrefix("crash-") && $0.hasSuffix("/main") }.count == 2
                    }
                    harness.stopOperator(abruptly: true)
                    try harness.startOperator()
                }
                try await group.waitForAll()
            }
            #expect(harness.pendingCrashes().isEmpty, "every crash point was reached: \(harness.pendingCrashes())")
        }
    }

    static func lifecycle(_ driver: EndToEndTests.Driver, namespace ns: String, harness: LifecycleHarness, s3: S3Settings) async throws {
        _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: ns)))
        try await EndToEndTests.secret(harness, ns, "admin", ["password": driver.login.password])
        try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
        let spec = LifecycleHarness.realDatabaseSpec(driver: driver.name, login: driver.login, s3: s3, prefix: "\(ns)/", policy: .backupBeforeDelete)
        try await harness.createDatabase("main", namespace: ns, spec: spec)
        try await harness.waitForPhase("main", namespace: ns, .created, timeout: .seconds(180))
        let secret = try #require(try await harness.secret("main", namespace: ns))
        let database = try #require(secret.value("database")), user = try #require(secret.value("username")), password = try #require(secret.value("password"))
        _ = try await driver.engine.runAs(driver.login, user, password, database, ["CREATE TABLE items (id INT PRIMARY KEY)", "INSERT INTO items VALUES (1), (2)"])
        try await harness.createBackup("main-1", namespace: ns, database: "main")
        try await harness.waitForBackup("main-1", namespace: ns, .completed, timeout: .seconds(180))
        try await eventually(timeout: .seconds(120), "main to be free again") {
            let main = try await harness.database("main", namespace: ns)
            return main?.phase == .created && main?.status?.activeBackup == ""
        }
        #expect(try await harness.secret("main", namespace: ns)?.value("password") == password, "the password never changes")
        try await EndToEndTests.expectRestores(try #require(try await harness.backup("main-1", namespace: ns)), driver: driver, s3: s3, rows: 2)
        try await harness.delete("main", namespace: ns)
        try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(240))
        let final = try #require(try await harness.api.list(Backup.self, namespace: ns).first { $0.name.hasPrefix("main-final-") })
        #expect(final.object.phase == .completed)
        try await EndToEndTests.expectRestores(final.object, driver: driver, s3: s3, rows: 2)
        #expect(!(try await driver.engine.inventory(driver.login).contains("db:\(database)")))
        let store = try CrashConvergenceTests.store(s3)
        #expect(try await store.listMultipartUploads(prefix: "\(ns)/").isEmpty, "no incomplete upload is left behind")
        try await store.shutdown()
    }
}
