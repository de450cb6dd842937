import DriverAPI
import Foundation
import KubeClient
import KubeModel
import Logging
import ObjectStore
import Testing
import TestSupport

/// SPEC section 9: the driver process killed right after every phase write, and the
/// operator killed and restarted mid-lifecycle, still end in the right state with
/// the Secret's password unchanged and nothing left half-done.
@Suite("Crash convergence through the real programs", .serialized)
struct CrashConvergenceTests {
    static let services = TestServices.current

    @Test(
        "a driver killed after each transition, and an operator restarted, still converge",
        .enabled(if: services.shouldRun(.s3)))
    func killedAtEveryPhase() async throws {
        let s3 = try Self.services.s3()
        let prefix = "crash-\(UUID().uuidString.prefix(8))/"
        try await LifecycleHarness.with(operatorArguments: ["--job-env", "DB_OPERATOR_MAX_BACKUP_ATTEMPTS=6"]) { harness in
            let ns = "crash"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            let spec = LifecycleHarness.databaseSpec(host: "instance-9", policy: .backupBeforeDelete, s3: s3, prefix: prefix)
            // Big and slow enough for a multipart upload and a progress write, so a
            // crash after B2 or B3 leaves an incomplete upload for the next run to clean.
            try harness.setFlag("crash_main", "backup-bytes", "\(20 << 20)")
            try harness.setFlag("crash_main", "backup-seconds", "3")
            let happyPath: [Transition] = [.d1, .d2, .d3, .b1, .d4, .b2, .b4, .d5, .d6, .d11, .d12, .d13, .d14, .d8, .d9]
            for transition in happyPath { try harness.crashOnce(namespace: ns, database: "main", after: transition) }
            // The first B3 after the crash at B2 is the resumed attempt's start; the
            // second is a progress write with parts uploaded: a crash mid-upload.
            try harness.crashOnce(namespace: ns, database: "main", after: .b3, occurrence: 2)
            // Deleted while Creating: D1, D15, D8, D9.
            try harness.setFlag("crash_early", "fail-create")
            for transition: Transition in [.d1, .d15, .d8, .d9] { try harness.crashOnce(namespace: ns, database: "early", after: transition) }
            // Failures for good: B5 and D16 for a backup, B5 and D17 for the final one.
            try harness.setFlag("crash_failing", "fail-backup")
            for transition: Transition in [.b5, .d16, .d17] { try harness.crashOnce(namespace: ns, database: "failing", after: transition) }

            try await harness.createDatabase("main", namespace: ns, spec: spec)
            try await harness.createDatabase("early", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-9", s3: nil))
            try await harness.createDatabase("failing", namespace: ns, spec: spec)
            try await harness.waitForPhase("main", namespace: ns, .created, timeout: .seconds(120))
            try await harness.waitForPhase("failing", namespace: ns, .created, timeout: .seconds(120))
            let password = try #require(try await harness.secret("main", namespace: ns)?.value("password"))
            #expect(harness.instanceRecord(host: "instance-9", database: "crash_main")?["password"] == password, "the instance has the Secret's password")

            try await harness.createBackup("main-1", namespace: ns, database: "main")
            try await harness.createBackup("failing-1", namespace: ns, database: "failing")
            // The operator dies mid-backup and comes back.
            try await eventually(timeout: .seconds(60), "main's backup to start") {
                try await harness.database("main", namespace: ns)?.phase == .backupInProgress
            }
            harness.stopOperator(abruptly: true)
            try harness.startOperator()
            try await harness.waitForBackup("main-1", namespace: ns, .completed, timeout: .seconds(180))
            try await harness.waitForBackup("failing-1", namespace: ns, .failed, timeout: .seconds(120))
            try await eventually(timeout: .seconds(60), "both databases free again") {
                let main = try await harness.database("main", namespace: ns), failing = try await harness.database("failing", namespace: ns)
                return main?.phase == .created && main?.status?.activeBackup == "" && failing?.phase == .created && failing?.status?.activeBackup == ""
            }
            #expect(try await harness.secret("main", namespace: ns)?.value("password") == password, "the password never changes")
            #expect(harness.instanceRecord(host: "instance-9", database: "crash_main")?["password"] == password)
            let backup = try #require(try await harness.backup("main-1", namespace: ns))
            #expect(backup.status?.size == Int64(20 << 20) + Int64("test-driver dump of crash_main for crash/main (uid \(try #require(try await harness.database("main", namespace: ns)?.metadata.uid)))\n".utf8.count))
            try await DatabaseLifecycleTests.expectStored(backup, s3: s3)

            for name in ["main", "early", "failing"] { try await harness.delete(name, namespace: ns) }
            try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(180))
            try await harness.waitUntilGone("early", namespace: ns, timeout: .seconds(120))
            try await eventually(timeout: .seconds(120), "failing's deletion to be blocked by its failed final backup") {
                try await harness.database("failing", namespace: ns)?.status?.conditions?[type: "DeletionBlocked"]?.status == "True"
            }
            #expect(harness.instanceRecord(host: "instance-9", database: "crash_failing") != nil, "not dropped without its final backup")
            #expect(harness.instanceRecord(host: "instance-9", database: "crash_main") == nil)
            #expect(try await harness.secret("main", namespace: ns) == nil)
            let final = try #require(try await harness.api.list(Backup.self, namespace: ns).first { $0.name.hasPrefix("main-final-") })
            #expect(final.object.phase == .completed)
            try await DatabaseLifecycleTests.expectStored(final.object, s3: s3)
            #expect(harness.pendingCrashes().isEmpty, "every crash point was reached: \(harness.pendingCrashes())")
            let store = try Self.store(s3)
            #expect(try await store.listMultipartUploads(prefix: prefix).isEmpty, "no incomplete upload is left behind")
            try await store.shutdown()
        }
    }

    static func store(_ s3: S3Settings) throws -> S3ObjectStore {
        var configuration = S3ObjectStore.Configuration(
            endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket,
            credentials: S3Credentials(accessKeyID: s3.accessKeyID, secretAccessKey: s3.secretAccessKey))
        configuration.forcePathStyle = true
        return try S3ObjectStore(configuration: configuration, logger: Logger(label: "test"))
    }
}
