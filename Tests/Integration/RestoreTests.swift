import DriverAPI
import Foundation
import KubeClient
import KubeModel
import NIOCore
import ObjectStore
import PostgreSQLDriver
import SQLSupport
import Testing
import TestSupport

/// `spec.restoreFrom` (SPEC section 13) on the test driver: an encrypted Backup
/// restored with the identity Secret; each bad input gives its condition, before
/// anything is created where it can be known then (a missing or unfinished Backup, a
/// missing object, an encrypted one without an identity), else as a restore that
/// failed for good (a wrong identity, a checksum mismatch, another engine's dump),
/// which can be deleted (R3). The real servers' restores are in `EndToEndTests` and
/// `RestoreRealServerTests`.
@Suite("Restore into a new Database", .serialized)
struct RestoreTests {
    static let services = TestServices.current

    @Test(
        "test driver: restored from an encrypted Backup with the identity; bad inputs as conditions; a failed restore can be deleted",
        .enabled(if: services.shouldRun(.s3)))
    func testDriver() async throws {
        let s3 = try Self.services.s3()
        let run = String(UUID().uuidString.prefix(6).lowercased())
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "restore-\(run)", host = "instance-restore-\(run)"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            let identity = AgeIdentity(), stranger = AgeIdentity()
            try await EndToEndTests.secret(harness, ns, "backup-keys", ["recipients": identity.recipient.description])
            try await EndToEndTests.secret(harness, ns, "restore-key", ["identity": "# the key\n\(identity.secretKeyText)\n"])
            try await EndToEndTests.secret(harness, ns, "wrong-key", ["identity": stranger.secretKeyText])
            let prefix = "restore-\(run)/"
            var encrypted = LifecycleHarness.databaseSpec(host: host, policy: .delete, s3: s3, prefix: prefix)
            encrypted.backupTo?.encryption = BackupEncryption(recipientsSecret: "backup-keys")
            try await harness.createDatabase("src", namespace: ns, spec: encrypted)
            try await harness.createDatabase("plainsrc", namespace: ns, spec: LifecycleHarness.databaseSpec(host: host, policy: .delete, s3: s3, prefix: prefix))
            try await harness.createDatabase("nobackups", namespace: ns, spec: LifecycleHarness.databaseSpec(host: host, policy: .delete, s3: nil))
            for name in ["src", "plainsrc", "nobackups"] { try await harness.waitForPhase(name, namespace: ns, .created) }
            try await harness.createBackup("src-1", namespace: ns, database: "src")
            try await harness.createBackup("plain-1", namespace: ns, database: "plainsrc")
            try await harness.createBackup("nb-1", namespace: ns, database: "nobackups")
            try await harness.waitForBackup("src-1", namespace: ns, .completed, timeout: .seconds(120))
            try await harness.waitForBackup("plain-1", namespace: ns, .completed, timeout: .seconds(120))
            try await harness.waitForBackup("nb-1", namespace: ns, .failed, timeout: .seconds(120))
            let backup = try #require(try await harness.backup("src-1", namespace: ns))
            #expect(backup.status?.destination?.hasSuffix(".testdump.age") == true)

            func restoring(_ name: String, _ source: RestoreSource, spec base: DatabaseSpec = encrypted) async throws {
                var spec = base
                spec.restoreFrom = source
                try await harness.createDatabase(name, namespace: ns, spec: spec)
            }
            func ready(_ name: String) async throws -> Condition? { try await harness.database(name, namespace: ns)?.status?.conditions?[type: "Ready"] }
            // Restored with the identity: the whole dump, under its own name.
            try await restoring("copy", RestoreSource(backup: "src-1", identitySecret: "restore-key"))
            try await harness.waitForPhase("copy", namespace: ns, .created, timeout: .seconds(120))
            let loaded = harness.restoredInto(host: host, database: "restore_\(run)_copy")
            #expect(loaded?.from?.hasPrefix("test-driver dump of restore_\(run)_src for \(ns)/src ") == true, "\(String(describing: loaded))")
            #expect(loaded?.bytes.map { $0 > 1 << 20 } == true)
            try await eventually("R1 and R2 seen on the watch") {
                harness.recorder.position(of: .r1, for: "\(ns)/copy") != nil && harness.recorder.position(of: .r2, for: "\(ns)/copy") != nil
            }
            let copy = try #require(try await harness.database("copy", namespace: ns))
            #expect(copy.status?.restore?.source == backup.status?.destination && copy.status?.restore?.completedAt != nil)
            #expect(try await ready("copy")?.reason == "Restored")

            // A clone: src's dump streamed into the new database.
            var cloneSpec = encrypted
            cloneSpec.cloneFrom = CloneSource(database: "src")
            try await harness.createDatabase("clonecopy", namespace: ns, spec: cloneSpec)
            try await harness.waitForPhase("clonecopy", namespace: ns, .created, timeout: .seconds(120))
            #expect(harness.restoredInto(host: host, database: "restore_\(run)_clonecopy")?.from?.hasPrefix("test-driver dump of restore_\(run)_src ") == true)
            #expect(try await harness.database("clonecopy", namespace: ns)?.status?.restore?.source == "database/src")
            cloneSpec.cloneFrom = CloneSource(database: "no-such-database")
            try await harness.createDatabase("noclone", namespace: ns, spec: cloneSpec)

            // Known before anything is created: the condition, phase Creating (or none), nothing in the instance.
            try await restoring("nokey", RestoreSource(backup: "src-1"))
            try await restoring("missing", RestoreSource(backup: "no-such-backup"))
            try await restoring("unfinished", RestoreSource(backup: "nb-1"))
            try await restoring("noobject", RestoreSource(s3: RestoreS3Source(
                region: s3.region, bucket: s3.bucket, key: "\(prefix)nothing/here.testdump", endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds")))
            for (name, reason) in [("nokey", "IdentityRequired"), ("missing", "RestoreSourceNotFound"), ("unfinished", "BackupNotCompleted"), ("noobject", "RestoreSourceNotFound"), ("noclone", "CloneSourceNotFound")] {
                try await eventually(timeout: .seconds(60), "\(name) to be \(reason)") { try await ready(name)?.reason.rawValue == reason }
                let database = try #require(try await harness.database(name, namespace: ns))
                #expect(database.phase == nil || database.phase == .creating, "\(name): \(String(describing: database.phase))")
                #expect(harness.instanceRecord(host: host, database: "restore_\(run)_\(name)") == nil, "\(name): nothing created")
            }

            // Known only once loading starts: the restore fails for good, the Database stays Restoring.
            let store = try CrashConvergenceTests.store(s3)
            // plain-1's object, altered: the checksum no longer matches.
            let plain = try #require(try await harness.backup("plain-1", namespace: ns))
            let plainKey = String(try #require(plain.status?.destination).dropFirst("s3://\(s3.bucket)/".count))
            var bytes = try await store.getObject(key: plainKey).1.collect(upTo: 8 << 20)
            bytes.setInteger(UInt8(bytes.getInteger(at: 100, as: UInt8.self)! ^ 0xff), at: 100)
            _ = try await store.putObject(key: plainKey, body: bytes, metadata: [:])
            // A pg_dump archive, put there by hand: not this engine's.
            _ = try await store.putObject(key: "\(prefix)hand/other.pgdump", body: ByteBuffer(string: "PGDMP\u{1}\u{10}\u{0}not really"), metadata: [:])
            try await store.shutdown()
            try await restoring("wrongkey", RestoreSource(backup: "src-1", identitySecret: "wrong-key"))
            try await restoring("tampered", RestoreSource(backup: "plain-1"))
            try await restoring("otherengine", RestoreSource(s3: RestoreS3Source(
                region: s3.region, bucket: s3.bucket, key: "\(prefix)hand/other.pgdump", endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds")))
            for (name, reason) in [("wrongkey", "DecryptionFailed"), ("tampered", "ChecksumMismatch"), ("otherengine", "RestoreFormatMismatch")] {
                try await eventually(timeout: .seconds(120), "\(name) to fail for good with \(reason)") {
                    let database = try await harness.database(name, namespace: ns)
                    return database?.phase == .restoring && database?.status?.restore?.failed == true
                        && database?.status?.conditions?[type: "Ready"]?.reason.rawValue == reason
                }
                #expect(harness.restoredInto(host: host, database: "restore_\(run)_\(name)")?.from == nil, "\(name): nothing loaded")
            }
            let events = try await harness.api.list(Event.self, namespace: ns).map(\.object)
            #expect(events.contains { $0.involvedObject.name == "wrongkey" && $0.reason == "DecryptionFailed" && $0.type == "Warning" })
            #expect(!events.contains { $0.message?.contains(stranger.secretKeyText) == true || $0.message?.contains(identity.secretKeyText) == true }, "no key in an Event")
            // A failed restore is deleted like any Database (R3), and dropped.
            try await harness.delete("wrongkey", namespace: ns)
            try await harness.waitUntilGone("wrongkey", namespace: ns, timeout: .seconds(120))
            try await eventually("R3 seen on the watch") { harness.recorder.position(of: .r3, for: "\(ns)/wrongkey") != nil }
            #expect(harness.instanceRecord(host: host, database: "restore_\(run)_wrongkey") == nil)
        }
    }
}

/// Restores on real PostgreSQL and MariaDB from what users bring: an object made by
/// hand (`pg_dump -Fc` encrypted with `age -r`; `mariadb-dump | gzip`) and an
/// operator's encrypted Backup opened with the identity Secret. The rows are those
/// dumped, read with the new Database's own login.
@Suite("Restore on real servers", .serialized)
struct RestoreRealServerTests {
    static let services = TestServices.current

    @Test(
        "both drivers: from a hand-made object (pg_dump -Fc | age -r; mariadb-dump | gzip) and from an encrypted Backup with the identity Secret",
        .enabled(if: services.shouldRun(.postgresql) && services.shouldRun(.mysql) && services.shouldRun(.s3) && services.shouldRun(.age)))
    func handMade() async throws {
        try await LifecycleHarness.withRealDrivers { driver, harness, s3, run in try await Self.restores(driver, harness: harness, s3: s3, run: run) }
    }

    static func restores(_ driver: EndToEndTests.Driver, harness: LifecycleHarness, s3: S3Settings, run: String) async throws {
        let ns = "restore-\(driver.label)-\(run)"
        try await harness.makeRealNamespace(ns, driver: driver, s3: s3)
        let identity = AgeIdentity()
        try await EndToEndTests.secret(harness, ns, "backup-keys", ["recipients": identity.recipient.description])
        try await EndToEndTests.secret(harness, ns, "restore-key", ["identity": identity.secretKeyText])
        let prefix = "\(ns)/"
        var spec = LifecycleHarness.realDatabaseSpec(driver: driver.name, login: driver.login, s3: s3, prefix: prefix, policy: .delete)
        spec.backupTo?.encryption = BackupEncryption(recipientsSecret: "backup-keys")
        try await harness.createDatabase("src", namespace: ns, spec: spec)
        try await harness.waitForPhase("src", namespace: ns, .created, timeout: .seconds(180))
        let secret = try #require(try await harness.secret("src", namespace: ns))
        let database = try #require(secret.value("database")), user = try #require(secret.value("username")), password = try #require(secret.value("password"))
        _ = try await driver.engine.runAs(driver.login, user, password, database, [
            "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(50))", "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        ])
        try await harness.createBackup("src-1", namespace: ns, database: "src")
        try await harness.waitForBackup("src-1", namespace: ns, .completed, timeout: .seconds(180))

        // By hand, as a user would: the dump, then the object.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("restore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key: String, file: URL
        if driver.name == "postgresql" {
            let dump = directory.appendingPathComponent("src.pgdump")
            let dumped = try await ChildProcess.run(
                Self.services.postgresqlTool("pg_dump"),
                ["-Fc", "-h", driver.login.host, "-p", "\(driver.login.port)", "-U", driver.login.user, "-d", database, "-f", dump.path],
                environment: ["PGPASSWORD": driver.login.password])
            #expect(dumped.status == 0, "pg_dump: \(dumped.stderr)")
            file = directory.appendingPathComponent("src.pgdump.age")
            let sealed = try await ChildProcess.run(try Self.services.age(), ["-r", identity.recipient.description, "-o", file.path, dump.path])
            #expect(sealed.status == 0, "age -r: \(sealed.stderr)")
            key = "\(prefix)hand/src.pgdump.age"
        } else {
            // Enough rows that a cut copy of the dump loads part of them first (below).
            _ = try await driver.engine.runAs(driver.login, user, password, database, [
                "CREATE TABLE bulk (id INT PRIMARY KEY, label VARCHAR(64))", "INSERT INTO bulk SELECT seq, MD5(seq) FROM seq_1_to_200000",
            ])
            file = directory.appendingPathComponent("src.sql.gz")
            let dumped = try await ChildProcess.run(
                "/bin/sh", ["-c", "mariadb-dump --protocol=TCP -h \"$H\" -P \"$P\" -u \"$U\" --single-transaction \"$D\" | gzip > \"$F\""],
                environment: ["H": driver.login.host, "P": "\(driver.login.port)", "U": driver.login.user, "D": database, "F": file.path, "MYSQL_PWD": driver.login.password])
            #expect(dumped.status == 0, "mariadb-dump | gzip: \(dumped.stderr)")
            key = "\(prefix)hand/src.sql.gz"
        }
        let store = try CrashConvergenceTests.store(s3)
        let made = try Data(contentsOf: file)
        _ = try await store.putObject(key: key, body: ByteBuffer(bytes: made), metadata: [:])
        if driver.name == "mysql" {
            // The same dump cut at 60%: the client runs what it gets, then the gzip stream ends early.
            _ = try await store.putObject(key: "\(prefix)hand/cut.sql.gz", body: ByteBuffer(bytes: made.prefix(made.count * 6 / 10)), metadata: [:])
        }
        try await store.shutdown()
        // Rows added after both: not restored.
        _ = try await driver.engine.runAs(driver.login, user, password, database, ["INSERT INTO items VALUES (4, 'four')"])

        var fromHand = spec
        fromHand.restoreFrom = RestoreSource(
            s3: RestoreS3Source(region: s3.region, bucket: s3.bucket, key: key, endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds"),
            identitySecret: driver.name == "postgresql" ? "restore-key" : nil)
        var fromBackup = spec
        fromBackup.restoreFrom = RestoreSource(backup: "src-1", identitySecret: "restore-key")
        try await harness.createDatabase("fromhand", namespace: ns, spec: fromHand)
        try await harness.createDatabase("frombackup", namespace: ns, spec: fromBackup)
        // A clone: the source as it is now, row 4 included.
        var clone = spec
        clone.cloneFrom = CloneSource(database: "src")
        try await harness.createDatabase("clone", namespace: ns, spec: clone)
        for (name, expected) in [("fromhand", "3"), ("frombackup", "3"), ("clone", "4")] {
            try await harness.waitForPhase(name, namespace: ns, .created, timeout: .seconds(180))
            let restored = try #require(try await harness.secret(name, namespace: ns))
            let restoredDatabase = try #require(restored.value("database")), restoredUser = try #require(restored.value("username"))
            let rows = try await driver.engine.runAs(driver.login, restoredUser, try #require(restored.value("password")), restoredDatabase, ["SELECT COUNT(*) FROM items"])
            #expect(rows == [[expected]], "\(driver.label) \(name): \(rows)")
            if driver.name == "postgresql" {
                let owner = try await driver.engine.runAs(
                    driver.login, restoredUser, try #require(restored.value("password")), restoredDatabase, ["SELECT tableowner FROM pg_tables WHERE tablename = 'items'"])
                #expect(owner == [[restoredUser]], "\(name): the restored table is the new user's")
            }
        }
        // The path taken, said in the Event: PostgreSQL copies inside the instance.
        let path = driver.name == "postgresql" ? "by CREATE DATABASE ... TEMPLATE" : "by a streamed dump of the source into the new database (MySQL and MariaDB have no"
        let cloned = try await harness.api.list(Event.self, namespace: ns).first { $0.object.involvedObject.name == "clone" && $0.object.reason == "Cloned" }
        #expect(cloned?.object.message?.contains(path) == true, "\(cloned?.object.message ?? "no Cloned Event")")
        if driver.name == "postgresql" {
            // A session on the source: the streamed path, with the same rows.
            let session = try await PGConnection.connect(ConnectionSettings(host: driver.login.host, port: driver.login.port, user: user, password: password, database: database, tlsMode: .disable))
            try await harness.createDatabase("clonebusy", namespace: ns, spec: clone)
            try await harness.waitForPhase("clonebusy", namespace: ns, .created, timeout: .seconds(180))
            let busy = try #require(try await harness.secret("clonebusy", namespace: ns))
            let rows = try await driver.engine.runAs(
                driver.login, try #require(busy.value("username")), try #require(busy.value("password")), try #require(busy.value("database")), ["SELECT COUNT(*) FROM items"])
            #expect(rows == [["4"]])
            let event = try await harness.api.list(Event.self, namespace: ns).first { $0.object.involvedObject.name == "clonebusy" && $0.object.reason == "Cloned" }
            #expect(event?.object.message?.contains("streamed dump of the source into the new database (database \(database) has 1 session(s)") == true, "\(event?.object.message ?? "none")")
            _ = try await session.query("SELECT 1")
            try await harness.delete("clonebusy", namespace: ns)
            try await harness.waitUntilGone("clonebusy", namespace: ns, timeout: .seconds(180))
        }
        if driver.name == "mysql" {
            // A cut object fails for good (CorruptData), and what it had loaded is gone.
            var cut = spec
            cut.restoreFrom = RestoreSource(s3: RestoreS3Source(
                region: s3.region, bucket: s3.bucket, key: "\(prefix)hand/cut.sql.gz", endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds"))
            try await harness.createDatabase("cut", namespace: ns, spec: cut)
            try await eventually(timeout: .seconds(180), "the cut restore to fail for good") {
                let database = try await harness.database("cut", namespace: ns)
                return database?.restoreFailed == true && database?.status?.conditions?[type: "Ready"]?.reason == "CorruptData"
            }
            let secret = try #require(try await harness.secret("cut", namespace: ns))
            try await eventually("the cut database to be empty again") {
                try await driver.engine.runAs(
                    driver.login, try #require(secret.value("username")), try #require(secret.value("password")), try #require(secret.value("database")),
                    ["SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"]) == [["0"]]
            }
            try await harness.delete("cut", namespace: ns)
            try await harness.waitUntilGone("cut", namespace: ns, timeout: .seconds(180))
        }
        for name in ["src", "fromhand", "frombackup", "clone"] { try await harness.delete(name, namespace: ns) }
        for name in ["src", "fromhand", "frombackup", "clone"] { try await harness.waitUntilGone(name, namespace: ns, timeout: .seconds(180)) }
    }
}
