import BackupData
import DriverAPI
import Foundation
import KubeClient
import KubeModel
import ObjectStore
import Logging
import NIOCore
import Testing
import TestSupport

/// Both lifecycles of SPEC section 3 through the real programs — fake API server,
/// `db-operator run`, `db-operator job-runner`, `db-operator driver` — with the test
/// driver and a real S3 store: every transition D1-D17 and B1-B5 must be seen on a
/// watch, and every end state must be right. It runs with RBAC on, under deploy/'s
/// rules: the operator and every Job as their service accounts, no 403 allowed.
@Suite("Database and Backup lifecycles through the real programs", .serialized)
struct DatabaseLifecycleTests {
    static let services = TestServices.current

    @Test(
        "every transition D1-D17, B1-B5 and R1-R3 is observed, and each lifecycle ends in the right state (RBAC on, deploy/'s rules, no 403)",
        .enabled(if: services.shouldRun(.s3) && services.shouldRun(.kubectl)))
    func everyTransition() async throws {
        let s3 = try Self.services.s3()
        let prefix = "lifecycle-\(UUID().uuidString.prefix(8))/"
        try await LifecycleHarness.with(operatorArguments: ["--metrics-addr", "127.0.0.1:0"], rbac: true) { harness in
            let ns = "shop"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            let withBackups = { (host: String, policy: DeletionPolicy?) in LifecycleHarness.databaseSpec(host: host, policy: policy, s3: s3, prefix: prefix) }

            // a: created, backed up (slowly, so progress is written), backed up before delete, deleted.
            try harness.setFlag("shop_orders", "backup-seconds", "5")
            try harness.setFlag("shop_orders", "backup-bytes", "\(3 << 20)")
            try await harness.createDatabase("orders", namespace: ns, spec: withBackups("instance-1", nil))
            // b: plain delete.
            try await harness.createDatabase("plain", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-1", s3: nil))
            // c: a backup that fails for good.
            try harness.setFlag("shop_broken", "fail-backup")
            try await harness.createDatabase("broken", namespace: ns, spec: withBackups("instance-1", .backupBeforeDelete))
            // e: deleted while still Creating.
            try harness.setFlag("shop_never", "fail-create")
            try await harness.createDatabase("never", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-1", s3: nil))

            for name in ["orders", "plain", "broken"] { try await harness.waitForPhase(name, namespace: ns, .created) }

            // The Secret (SPEC 2.2) and the instance agree on the password.
            let secret = try #require(try await harness.secret("orders", namespace: ns))
            let password = try #require(secret.value("password"))
            #expect(password.count == 32)
            #expect(secret.value("database") == "shop_orders")
            #expect(secret.value("username") == "shop_orders")
            #expect(secret.value("host") == "instance-1")
            #expect(secret.value("uri") == "test://shop_orders:\(password)@instance-1:1/shop_orders")
            #expect(secret.metadata.labels?["app.kubernetes.io/managed-by"] == "db-operator")
            #expect(secret.metadata.ownerReferences?.first?.kind == "Database")
            #expect(harness.instanceRecord(host: "instance-1", database: "shop_orders")?["password"] == password)
            let orders = try #require(try await harness.database("orders", namespace: ns))
            #expect(orders.metadata.finalizers == [Database.finalizer])
            #expect(orders.status?.conditions?[type: "Ready"]?.status == "True")

            // Backups: a-1 completes with progress; c-1 fails for good.
            try await harness.createBackup("orders-1", namespace: ns, database: "orders")
            try await harness.createBackup("broken-1", namespace: ns, database: "broken")
            try await harness.waitForBackup("orders-1", namespace: ns, .completed)
            try await harness.waitForBackup("broken-1", namespace: ns, .failed)
            try await harness.waitForPhase("orders", namespace: ns, .created)
            try await eventually("broken to be back to Created after its failed backup") {
                let broken = try await harness.database("broken", namespace: ns)
                return broken?.phase == .created && broken?.status?.activeBackup == ""
            }
            let broken = try #require(try await harness.database("broken", namespace: ns))
            #expect(broken.status?.conditions?[type: "Ready"]?.reason == "BackupFailed")
            let backup = try #require(try await harness.backup("orders-1", namespace: ns))
            let destination = try #require(backup.status?.destination)
            #expect(destination.hasPrefix("s3://\(s3.bucket)/\(prefix)shop/orders/orders-1-"))
            #expect(destination.hasSuffix(".testdump"))
            #expect(backup.status?.progress?.percent == 100)
            #expect(backup.status?.attempts == 1)
            try await Self.expectStored(backup, s3: s3)
            let afterBackup = try #require(try await harness.database("orders", namespace: ns))
            #expect(afterBackup.status?.lastBackup?.name == "orders-1")
            #expect(afterBackup.status?.lastBackup?.destination == destination)

            // Restores: copy from orders-1 (R1, R2); doomed from an object of another
            // engine, which fails for good in Restoring and is deleted from there (R3).
            try await Self.startRestores(harness, namespace: ns, s3: s3, prefix: prefix)
            try await harness.waitForPhase("copy", namespace: ns, .created)
            try await eventually("doomed's restore to fail for good") { try await harness.database("doomed", namespace: ns)?.restoreFailed == true }

            // At /metrics, what backup alerts read: orders' last success, broken's failure
            // by its reason, since when each Database with a backup target expects backups.
            let completedAt = try #require(backup.status?.completedAt.flatMap(KubeTime.parse))
            let startedAt = try #require(backup.status?.startedAt.flatMap(KubeTime.parse))
            let failureReason = try #require(try await harness.backup("broken-1", namespace: ns)?.status?.conditions?[type: "Ready"]?.reason)
            func series(_ name: String, _ database: String, reason: String? = nil) -> String {
                "\(name){namespace=\"\(ns)\",database=\"\(database)\"\(reason.map { ",reason=\"\($0)\"" } ?? "")}"
            }
            try await eventually("the backup figures at /metrics") {
                let samples = try await harness.operatorMetrics()
                return samples[series("db_operator_backup_last_success_timestamp_seconds", "orders")] == completedAt.timeIntervalSince1970
                    && samples[series("db_operator_backup_failures_total", "broken", reason: failureReason.rawValue)] == 1
            }
            let samples = try await harness.operatorMetrics()
            #expect(samples[series("db_operator_backup_last_success_size_bytes", "orders")] == Double(backup.status?.size ?? -1))
            #expect(samples[series("db_operator_backup_last_success_duration_seconds", "orders")] == completedAt.timeIntervalSince(startedAt))
            #expect(samples[series("db_operator_backup_expected_since_timestamp_seconds", "orders")] == orders.metadata.creationTimestamp.flatMap(KubeTime.parse)?.timeIntervalSince1970)
            #expect(samples[series("db_operator_backup_expected_since_timestamp_seconds", "broken")] != nil)
            #expect(samples[series("db_operator_backup_expected_since_timestamp_seconds", "plain")] == nil, "plain has no backup target")
            #expect(samples[series("db_operator_backup_last_success_timestamp_seconds", "broken")] == nil)

            // Deletion: orders with a final backup, plain without, never while Creating,
            // broken blocked by its failing final backup and then released by a spec change.
            try harness.setFlag("shop_orders", "backup-seconds", "0")
            for name in ["orders", "plain", "never", "broken", "copy", "doomed"] { try await harness.delete(name, namespace: ns) }
            for name in ["orders", "plain", "never", "copy", "doomed"] { try await harness.waitUntilGone(name, namespace: ns) }
            #expect(try await harness.secret("orders", namespace: ns) == nil)
            #expect(harness.instanceRecord(host: "instance-1", database: "shop_orders") == nil)
            #expect(harness.instanceRecord(host: "instance-1", database: "shop_plain") == nil)
            let finals = try await harness.api.list(Backup.self, namespace: ns).filter { $0.name.hasPrefix("orders-final-") }
            #expect(finals.count == 1)
            let final = try #require(finals.first)
            #expect(final.object.phase == .completed)
            #expect(final.metadata.ownerReferences == nil, "the final backup outlives its Database")
            try await Self.expectStored(final.object, s3: s3)

            try await eventually("broken's deletion to be blocked") {
                let broken = try await harness.database("broken", namespace: ns)
                return broken?.phase == .created && broken?.status?.conditions?[type: "DeletionBlocked"]?.status == "True"
            }
            #expect(harness.instanceRecord(host: "instance-1", database: "shop_broken") != nil, "a failed final backup must not drop the database")
            try await harness.modifyDatabase("broken", namespace: ns) { $0.spec.deletionPolicy = .delete }
            try await harness.waitUntilGone("broken", namespace: ns)
            #expect(harness.instanceRecord(host: "instance-1", database: "shop_broken") == nil)
            // The Databases are gone, and so are their series.
            try await eventually("no series of the deleted Databases at /metrics") {
                try await harness.operatorMetrics().keys.allSatisfy { !$0.contains("namespace=\"\(ns)\"") }
            }

            try await eventually("every transition to be seen", { harness.recorder.seen == Set(Transition.allCases) })
            let matrix = Transition.allCases.map { "\($0.rawValue): \(harness.recorder.objects(with: $0).joined(separator: ", "))" }
            print("transitions seen (transition: objects)\n" + matrix.joined(separator: "\n"))
            for transition in Transition.allCases {
                #expect(!harness.recorder.objects(with: transition).isEmpty, "transition \(transition.rawValue) was never seen")
            }
        }
    }

    /// The object a Backup names exists, written once with a Content-Type, and its
    /// manifest next to it records the size and sha256 the status shows.
    /// copy from orders-1; doomed from an object of another engine put there by hand.
    static func startRestores(_ harness: LifecycleHarness, namespace ns: String, s3: S3Settings, prefix: String) async throws {
        let store = try CrashConvergenceTests.store(s3)
        _ = try await store.putObject(key: "\(prefix)hand/other.pgdump", body: ByteBuffer(string: "PGDMP not a test-driver dump"), metadata: [:])
        try await store.shutdown()
        var copy = LifecycleHarness.databaseSpec(host: "instance-1", policy: .delete, s3: s3, prefix: prefix)
        copy.restoreFrom = RestoreSource(backup: "orders-1")
        try await harness.createDatabase("copy", namespace: ns, spec: copy)
        var doomed = LifecycleHarness.databaseSpec(host: "instance-1", policy: .delete, s3: s3, prefix: prefix)
        doomed.restoreFrom = RestoreSource(s3: RestoreS3Source(
            region: s3.region, bucket: s3.bucket, key: "\(prefix)hand/other.pgdump", endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds"))
        try await harness.createDatabase("doomed", namespace: ns, spec: doomed)
    }

    static func expectStored(_ backup: Backup, s3: S3Settings) async throws {
        let destination = try #require(backup.status?.destination)
        let key = String(destination.dropFirst("s3://\(s3.bucket)/".count))
        var configuration = S3ObjectStore.Configuration(
            endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket,
            credentials: S3Credentials(accessKeyID: s3.accessKeyID, secretAccessKey: s3.secretAccessKey))
        configuration.forcePathStyle = true
        let store = try S3ObjectStore(configuration: configuration, logger: Logger(label: "test"))
        defer { Task { try? await store.shutdown() } }
        let info = try #require(try await store.headObject(key: key), "no object at \(destination)")
        #expect(info.size == backup.status?.size)
        #expect(info.metadata["namespace"] == backup.metadata.namespace)
        let (manifestInfo, manifestBody) = try await store.getObject(key: BackupManifest.key(for: key))
        let manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(try await manifestBody.collect(upTo: 1 << 20).readableBytesView))
        #expect(manifestInfo.contentType == "application/json")
        #expect(manifest.size == backup.status?.size && manifest.sha256 == backup.status?.sha256 && manifest.destination == destination)
        #expect(manifest.backupUID == backup.metadata.uid && manifest.namespace == backup.metadata.namespace)
        #expect(info.contentType == manifest.contentType)
        #expect(try await store.listMultipartUploads(prefix: key).isEmpty)
        try await store.shutdown()
    }
}
