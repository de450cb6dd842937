import BackupData
import DriverAPI
import Foundation
import KubeClient
import KubeModel
import Logging
import NIOCore
import ObjectStore
import SQLSupport
import Testing
import TestSupport

/// The mission end to end (SPEC sections 3, 8 and 11): both drivers, through the real
/// programs — fake API server, `db-operator run`, `db-operator job-runner`,
/// `db-operator driver` — against the real PostgreSQL, MariaDB and S3 servers.
///
/// Every transition D1-D17 and B1-B5 must be seen on watches for PostgreSQL 15 and
/// MariaDB through RDS-like admins (the whole lifecycle, backups to SeaweedFS over
/// HTTPS). Every other server x admin of the matrix — PostgreSQL 15-18 and MariaDB,
/// superuser and RDS-like — goes through create, backup, restore check,
/// backup-before-delete and drop, backing up to the second S3 implementation (moto,
/// strict SigV4). The matrix is printed, and an empty cell that should be full fails.
@Suite("End to end: both drivers, every transition, real servers", .serialized)
struct EndToEndTests {
    static let services = TestServices.current

    /// What differs per driver in this suite.
    struct Driver: Sendable {
        let engine: Engine
        let login: DatabaseServerLogin
        /// The driver's name in the spec.
        var name: String { engine.driverName }
        /// Server and admin kind: "pg16-rds"; namespaces are "e2e-<label>-<run>".
        var label: String { engine.label }
        /// The label as the default database name has it.
        var namePart: String { label.replacingOccurrences(of: "-", with: "_") }

        init(engine: Engine) throws {
            self.engine = engine
            self.login = try engine.admin()
        }
    }

    /// The transitions the short lifecycle (create, backup, restore, backup-before-delete, drop) makes.
    static let coreTransitions: Set<Transition> = [.d1, .d2, .d3, .d4, .d5, .d6, .d8, .d9, .d10, .d11, .d12, .d13, .d14, .b1, .b2, .b3, .b4, .r1, .r2]

    @Test(
        "every transition for postgresql and mysql; logins, backups, restores, Retain, BackupBeforeDelete and tenant isolation; RBAC on, deploy/'s rules, no 403",
        .enabled(
            if: services.shouldRun(.postgresql) && services.shouldRun(.postgresqlVersions) && services.shouldRun(.mysql)
                && services.shouldRun(.mysqlCaseFolding) && services.shouldRun(.s3)
                && services.shouldRun(.s3TLS) && services.shouldRun(.s3Strict) && services.shouldRun(.kubectl) && services.shouldRun(.age)))
    func matrix() async throws {
        let s3 = try Self.services.s3()
        let tls = try Self.services.s3TLS()
        let strict = try Self.services.s3Strict()
        if let problem = Self.services.check(.postgresqlVersions) { throw problem }
        let full = [try Driver(engine: Engine.postgresql), try Driver(engine: Engine.mysql)]
        let short = try Engine.allEngines.filter { engine in !full.contains { $0.label == engine.label } }.map(Driver.init)
        for driver in full + short { try await driver.engine.prepare() }
        let run = String(UUID().uuidString.prefix(6).lowercased())
        // Progress is written after every stored part here (2 s apart by default), so
        // the small test databases show B3 too.
        try await LifecycleHarness.with(operatorArguments: ["--job-env", "DB_OPERATOR_PROGRESS_INTERVAL_MS=0"], rbac: true) { harness in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for driver in full {
                    group.addTask { try await Self.lifecycle(driver, harness: harness, s3: s3, https: tls, run: run) }
                }
                for driver in short {
                    group.addTask { try await Self.shortLifecycle(driver, harness: harness, s3: strict, run: run) }
                }
                try await group.waitForAll()
            }
            let columns = full + short
            var lines = ["transition  " + columns.map { $0.label.padding(toLength: 13, withPad: " ", startingAt: 0) }.joined()]
            var empty: [String] = []
            for transition in Transition.allCases {
                var line = transition.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                for driver in columns {
                    let count = harness.recorder.objects(with: transition).filter { $0.hasPrefix("e2e-\(driver.label)-") }.count
                    // R3 (deleted while Restoring) is RestoreTests'.
                    let expected = (full.contains { $0.label == driver.label } && transition != .r3) || Self.coreTransitions.contains(transition)
                    line += (count == 0 ? (expected ? "MISSING" : "-") : "\(count)").padding(toLength: 13, withPad: " ", startingAt: 0)
                    if count == 0 && expected { empty.append("\(transition.rawValue) x \(driver.label)") }
                }
                lines.append(line)
            }
            print("transition x server and admin (objects seen making each transition; '-' is not made by the short lifecycle)\n" + lines.joined(separator: "\n"))
            #expect(empty.isEmpty, "transitions never seen: \(empty)")
        }
    }

    /// Create, backup (restored and checked), backup-before-delete (the final backup
    /// restored and checked) and drop, on one server with one kind of admin, backing
    /// up to `s3`.
    static func shortLifecycle(_ driver: Driver, harness: LifecycleHarness, s3: S3Settings, run: String) async throws {
        let ns = "e2e-\(driver.label)-\(run)"
        _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: ns)))
        try await harness.prepareForJobs(ns)
        try await Self.secret(harness, ns, "admin", ["password": driver.login.password])
        try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
        // These backups are encrypted (age) to two keys; the restore check decrypts with one.
        let identity = AgeIdentity()
        try await Self.secret(harness, ns, "backup-keys", ["recipients": "# restore key\n\(identity.recipient)\n\(AgeIdentity().recipient)\n"])
        let spec = DatabaseSpec(
            driver: driver.name, connect: ConnectSpec(host: driver.login.host, port: driver.login.port, sslMode: .disable),
            credentials: CredentialsSpec(
                username: ValueSource(value: driver.login.user), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "admin", key: "password")))),
            backupTo: BackupTarget(
                s3: S3Spec(region: s3.region, bucket: s3.bucket, prefix: "e2e-\(run)/", endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds"),
                encryption: BackupEncryption(recipientsSecret: "backup-keys")),
            deletionPolicy: .backupBeforeDelete)
        try await harness.createDatabase("main", namespace: ns, spec: spec)
        try await harness.waitForPhase("main", namespace: ns, .created, timeout: .seconds(180))
        let main = try #require(try await harness.secret("main", namespace: ns))
        let database = try #require(main.value("database")), user = try #require(main.value("username")), password = try #require(main.value("password"))
        #expect(database == "e2e_\(driver.namePart)_\(run)_main")
        _ = try await driver.engine.runAs(driver.login, user, password, database, [
            "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(50))", "INSERT INTO items VALUES (1, 'one'), (2, 'two')",
        ])
        try await harness.createBackup("main-1", namespace: ns, database: "main")
        try await harness.waitForBackup("main-1", namespace: ns, .completed, timeout: .seconds(180))
        try await Self.expectRestores(try #require(try await harness.backup("main-1", namespace: ns)), driver: driver, s3: s3, rows: 2, identity: identity)
        // The operator's own restore of it, on every server of the matrix and from the
        // second S3 implementation: decrypted with the identity Secret, loaded as the new login.
        try await Self.secret(harness, ns, "restore-key", ["identity": identity.secretKeyText])
        var restoredSpec = spec
        restoredSpec.deletionPolicy = .delete
        restoredSpec.restoreFrom = RestoreSource(backup: "main-1", identitySecret: "restore-key")
        try await harness.createDatabase("restored", namespace: ns, spec: restoredSpec)
        try await harness.waitForPhase("restored", namespace: ns, .created, timeout: .seconds(180))
        let restored = try #require(try await harness.secret("restored", namespace: ns))
        let restoredRows = try await driver.engine.runAs(
            driver.login, try #require(restored.value("username")), try #require(restored.value("password")), try #require(restored.value("database")),
            ["SELECT COUNT(*) FROM items"])
        #expect(restoredRows == [["2"]], "\(driver.label): \(restoredRows)")
        try await harness.delete("restored", namespace: ns)
        try await harness.waitUntilGone("restored", namespace: ns, timeout: .seconds(180))
        try await harness.delete("main", namespace: ns)
        try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(180))
        await #expect(throws: SQLError.self) { _ = try await driver.engine.runAs(driver.login, user, password, database, ["SELECT 1"]) }
        let final = try #require(try await harness.api.list(Backup.self, namespace: ns).first { $0.name.hasPrefix("main-final-") })
        #expect(final.object.phase == .completed)
        try await Self.expectRestores(final.object, driver: driver, s3: s3, rows: 2, identity: identity)
    }

    static func lifecycle(_ driver: Driver, harness: LifecycleHarness, s3: S3Settings, https: S3TLSSettings, run: String) async throws {
        let ns = "e2e-\(driver.label)-\(run)", other = "e2e-\(driver.label)-\(run)-b"
        for namespace in [ns, other] {
            _ = try await harness.api.create(Namespace(metadata: ObjectMeta(name: namespace)))
            try await harness.prepareForJobs(namespace)
            try await Self.secret(harness, namespace, "admin", ["password": driver.login.password])
            // The store's HTTPS certificate comes from a private CA, trusted through the Secret's ca.crt.
            try await harness.s3CredentialsSecret(namespace: namespace, s3: s3, certificateAuthorityPEM: https.certificateAuthorityPEM)
        }
        try await Self.secret(harness, ns, "admin-later", ["password": "not-yet-the-password"])
        let prefix = "e2e-\(run)/"
        func spec(
            policy: DeletionPolicy?, backups: Bool = true, bucket: String? = nil, adminSecret: String = "admin", databaseName: String? = nil,
            compression: BackupCompression? = nil, endpoint: String? = nil
        ) -> DatabaseSpec {
            var spec = DatabaseSpec(
                driver: driver.name, connect: ConnectSpec(host: driver.login.host, port: driver.login.port, sslMode: .disable),
                credentials: CredentialsSpec(
                    username: ValueSource(value: driver.login.user),
                    password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: adminSecret, key: "password")))),
                databaseName: databaseName, deletionPolicy: policy)
            if backups {
                spec.backupTo = BackupTarget(
                    s3: S3Spec(region: s3.region, bucket: bucket ?? s3.bucket, prefix: prefix, endpoint: endpoint ?? s3.endpoint, forcePathStyle: true, credentialsSecret: "s3-creds"),
                    compression: compression?.rawValue)
            }
            return spec
        }
        // main's backups go over HTTPS to a store whose certificate comes from a private
        // CA, and are zstd (MySQL; PostgreSQL's custom format ignores it); the default
        // gzip over HTTP is what the crash tests' MySQL backups use.
        try await harness.createDatabase("main", namespace: ns, spec: spec(policy: .backupBeforeDelete, compression: .zstd, endpoint: https.endpoint))
        try await harness.createDatabase("plain", namespace: ns, spec: spec(policy: .delete, backups: false))
        try await harness.createDatabase("kept", namespace: ns, spec: spec(policy: .retain, backups: false))
        try await harness.createDatabase("nobucket", namespace: ns, spec: spec(policy: .backupBeforeDelete, bucket: "dbop-no-such-bucket-\(run)"))
        try await harness.createDatabase("later", namespace: ns, spec: spec(policy: .delete, backups: false, adminSecret: "admin-later"))
        for name in ["main", "plain", "kept", "nobucket"] { try await harness.waitForPhase(name, namespace: ns, .created, timeout: .seconds(120)) }

        // kept's rows must outlive the resource (Retain) and come back with its successor.
        let kept = try #require(try await harness.secret("kept", namespace: ns))
        let keptDatabase = try #require(kept.value("database")), keptUser = try #require(kept.value("username")), keptPassword = try #require(kept.value("password"))
        _ = try await driver.engine.runAs(driver.login, keptUser, keptPassword, keptDatabase, ["CREATE TABLE notes (id INT)", "INSERT INTO notes VALUES (1), (2), (3), (4)"])

        // The Secret logs in, and the user can work in its database.
        let main = try #require(try await harness.secret("main", namespace: ns))
        let mainDatabase = try #require(main.value("database")), mainUser = try #require(main.value("username")), mainPassword = try #require(main.value("password"))
        #expect(mainDatabase == "e2e_\(driver.namePart)_\(run)_main")
        _ = try await driver.engine.runAs(driver.login, mainUser, mainPassword, mainDatabase, [
            "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(50))", "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        ])

        // Tenant isolation: another namespace asking for the same database gets NameConflict.
        try await harness.createDatabase("thief", namespace: other, spec: spec(policy: .delete, backups: false, databaseName: mainDatabase))
        try await eventually(timeout: .seconds(60), "the second namespace's claim to be refused with NameConflict") {
            try await harness.database("thief", namespace: other)?.status?.conditions?[type: "Ready"]?.reason == "NameConflict"
        }

        // Backups: one that completes (downloaded, checked and restored), one that fails for good.
        try await harness.createBackup("main-1", namespace: ns, database: "main")
        try await harness.createBackup("nobucket-1", namespace: ns, database: "nobucket")
        try await harness.waitForBackup("main-1", namespace: ns, .completed, timeout: .seconds(120))
        try await harness.waitForBackup("nobucket-1", namespace: ns, .failed, timeout: .seconds(120))
        let backup = try #require(try await harness.backup("main-1", namespace: ns))
        #expect(backup.status?.destination?.hasSuffix(driver.name == "mysql" ? ".sql.zst" : ".pgdump") == true, "\(backup.status?.destination ?? "no destination")")
        try await Self.expectRestores(backup, driver: driver, s3: s3, rows: 3)

        // Restore into a new Database (R1, R2): the backed-up rows, not the one added
        // since, under its own name and login, its objects its user's.
        _ = try await driver.engine.runAs(driver.login, mainUser, mainPassword, mainDatabase, ["INSERT INTO items VALUES (4, 'four')"])
        var restoredSpec = spec(policy: .delete, compression: .zstd, endpoint: https.endpoint)
        restoredSpec.restoreFrom = RestoreSource(backup: "main-1")
        try await harness.createDatabase("restored", namespace: ns, spec: restoredSpec)
        try await harness.waitForPhase("restored", namespace: ns, .created, timeout: .seconds(180))
        try await eventually("R1 and R2 seen on the watch") {
            harness.recorder.position(of: .r1, for: "\(ns)/restored") != nil && harness.recorder.position(of: .r2, for: "\(ns)/restored") != nil
        }
        let restored = try #require(try await harness.secret("restored", namespace: ns))
        let restoredDatabase = try #require(restored.value("database")), restoredUser = try #require(restored.value("username"))
        let restoredPassword = try #require(restored.value("password"))
        #expect(restoredDatabase == "e2e_\(driver.namePart)_\(run)_restored" && restoredUser != mainUser)
        #expect(try await driver.engine.runAs(driver.login, restoredUser, restoredPassword, restoredDatabase, ["SELECT COUNT(*) FROM items"]) == [["3"]])
        if driver.name == "postgresql" {
            #expect(try await driver.engine.runAs(driver.login, restoredUser, restoredPassword, restoredDatabase, [
                "SELECT tableowner FROM pg_tables WHERE tablename = 'items'",
            ]) == [[restoredUser]])
        }
        #expect(try await harness.database("restored", namespace: ns)?.status?.restore?.source == backup.status?.destination)

        // The wrong admin password leaves `later` Creating, with the reason.
        try await eventually(timeout: .seconds(60), "later to report AdminLoginFailed") {
            try await harness.database("later", namespace: ns)?.status?.conditions?[type: "Ready"]?.reason == "AdminLoginFailed"
        }

        // Deleting the second namespace's resource drops nothing of the first's (checked
        // before main's own deletion starts, which drops it).
        try await harness.delete("thief", namespace: other)
        try await harness.waitUntilGone("thief", namespace: other, timeout: .seconds(120))
        #expect(try await driver.engine.runAs(driver.login, mainUser, mainPassword, mainDatabase, ["SELECT COUNT(*) FROM items"]) == [["4"]])
        // Deletions.
        for name in ["main", "plain", "kept", "nobucket", "later", "restored"] { try await harness.delete(name, namespace: ns) }
        try await harness.waitUntilGone("restored", namespace: ns, timeout: .seconds(120))
        try await harness.waitUntilGone("main", namespace: ns, timeout: .seconds(120))
        try await harness.waitUntilGone("plain", namespace: ns, timeout: .seconds(120))
        try await harness.waitUntilGone("kept", namespace: ns, timeout: .seconds(120))
        // After Deleted the Secret's login no longer works.
        await #expect(throws: SQLError.self) { _ = try await driver.engine.runAs(driver.login, mainUser, mainPassword, mainDatabase, ["SELECT 1"]) }
        // BackupBeforeDelete: the final backup completed before the database was dropped, and restores.
        let final = try #require(try await harness.api.list(Backup.self, namespace: ns).first { $0.name.hasPrefix("main-final-") })
        #expect(final.object.phase == .completed)
        let d13 = harness.recorder.position(of: .d13, for: "\(ns)/main"), d9 = harness.recorder.position(of: .d9, for: "\(ns)/main")
        #expect(d13 != nil && d9 != nil && d13! < d9!, "the final backup completed before the drop")
        try await Self.expectRestores(final.object, driver: driver, s3: s3, rows: 4)
        // Retain: the resource and Secret are gone, the database and user stay.
        #expect(try await harness.secret("kept", namespace: ns) == nil)
        #expect(try await driver.engine.inventory(driver.login).contains("db:e2e_\(driver.namePart)_\(run)_kept"))
        try await Self.expectAdoption(
            driver, harness: harness, namespace: ns, other: other, spec: spec(policy: .retain, backups: false),
            thiefSpec: spec(policy: .delete, backups: false, databaseName: keptDatabase), old: (keptDatabase, keptUser, keptPassword))

        // nobucket: its final backup fails too, so deletion is blocked and the database kept...
        try await eventually(timeout: .seconds(120), "nobucket's deletion to be blocked") {
            try await harness.database("nobucket", namespace: ns)?.status?.conditions?[type: "DeletionBlocked"]?.status == "True"
        }
        #expect(try await driver.engine.inventory(driver.login).contains("db:e2e_\(driver.namePart)_\(run)_nobucket"))
        // ...until the user says to delete without a backup.
        try await harness.modifyDatabase("nobucket", namespace: ns) { $0.spec.deletionPolicy = .delete }
        try await harness.waitUntilGone("nobucket", namespace: ns, timeout: .seconds(120))
        #expect(!(try await driver.engine.inventory(driver.login).contains("db:e2e_\(driver.namePart)_\(run)_nobucket")))

        // later: deleted while Creating (D15); its drop waits for a working admin login.
        try await eventually(timeout: .seconds(60), "later's drop to be attempted") {
            let phase = try await harness.database("later", namespace: ns)?.phase
            return phase == .deletionInProgress || phase == nil
        }
        var fixed = try await harness.api.get(Secret.self, namespace: ns, name: "admin-later")
        var corrected = fixed.object
        corrected.setValue(driver.login.password, for: "password")
        fixed = try await harness.api.update(fixed, to: corrected)
        try await harness.waitUntilGone("later", namespace: ns, timeout: .seconds(180))

        // Leave the instance as found: the adopted kept goes with its database now.
        try await harness.modifyDatabase("kept", namespace: ns) { $0.spec.deletionPolicy = .delete }
        try await harness.delete("kept", namespace: ns)
        try await harness.waitUntilGone("kept", namespace: ns, timeout: .seconds(120))
        #expect(!(try await driver.engine.inventory(driver.login).contains("db:\(keptDatabase)")))
    }

    /// Retain, then the same Database again: it adopts the retained database (an
    /// Event and the Ready reason say so), the rows are there, its new Secret's
    /// password works and the old one no longer does. Another namespace asking for
    /// the database by name is refused.
    static func expectAdoption(
        _ driver: Driver, harness: LifecycleHarness, namespace ns: String, other: String, spec: DatabaseSpec, thiefSpec: DatabaseSpec,
        old: (database: String, user: String, password: String)
    ) async throws {
        try await harness.createDatabase("kept-thief", namespace: other, spec: thiefSpec)
        try await eventually(timeout: .seconds(60), "another namespace's claim on the retained database to be refused") {
            let ready = try await harness.database("kept-thief", namespace: other)?.status?.conditions?[type: "Ready"]
            return ready?.reason == "NameConflict" && ready?.message.contains("\(ns)/kept") == true
        }
        try await harness.delete("kept-thief", namespace: other)
        try await harness.waitUntilGone("kept-thief", namespace: other, timeout: .seconds(120))

        try await harness.createDatabase("kept", namespace: ns, spec: spec)
        try await harness.waitForPhase("kept", namespace: ns, .created, timeout: .seconds(120))
        let ready = try await harness.database("kept", namespace: ns)?.status?.conditions?[type: "Ready"]
        #expect(ready?.reason == "Adopted" && ready?.message.contains("retained by an earlier Database \(ns)/kept") == true, "\(ready?.message ?? "no Ready")")
        #expect(try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "kept" && $0.object.reason == "Adopted" })
        let secret = try #require(try await harness.secret("kept", namespace: ns))
        #expect(secret.value("database") == old.database && secret.value("username") == old.user)
        let password = try #require(secret.value("password"))
        #expect(password != old.password)
        #expect(try await driver.engine.runAs(driver.login, old.user, password, old.database, ["SELECT COUNT(*) FROM notes"]) == [["4"]])
        await #expect(throws: SQLError.self) { _ = try await driver.engine.runAs(driver.login, old.user, old.password, old.database, ["SELECT 1"]) }
    }

    static func secret(_ harness: LifecycleHarness, _ namespace: String, _ name: String, _ values: [String: String]) async throws {
        var secret = Secret(metadata: ObjectMeta(name: name, namespace: namespace))
        for (key, value) in values { secret.setValue(value, for: key) }
        _ = try await harness.api.create(secret)
    }

    /// Downloads the backup, checks its size and sha256 against the status, and restores
    /// it into a scratch database with the standard tools: the same rows come back.
    /// With `identity`, the backup is age-encrypted: the object starts with age's
    /// header, the manifest names its recipients, and `age -d -i` (the tool) decrypts
    /// it before the standard tools restore it.
    static func expectRestores(_ backup: Backup, driver: Driver, s3: S3Settings, rows: Int, identity: AgeIdentity? = nil) async throws {
        let destination = try #require(backup.status?.destination)
        let key = String(destination.dropFirst("s3://\(s3.bucket)/".count))
        let store = try CrashConvergenceTests.store(s3)  // SeaweedFS or moto, as the backup went
        let (info, stream) = try await store.getObject(key: key)
        var bytes = ByteBuffer()
        for try await var chunk in stream { bytes.writeBuffer(&chunk) }
        // The manifest next to it says what it is: engine, versions, format, checksum.
        let manifestBody = try await store.getObject(key: BackupManifest.key(for: key)).1.collect(upTo: 1 << 20)
        try await store.shutdown()
        let manifest = try JSONDecoder().decode(BackupManifest.self, from: Data(manifestBody.readableBytesView))
        #expect(manifest.sha256 == backup.status?.sha256 && manifest.size == backup.status?.size && manifest.engine == driver.name)
        #expect(manifest.contentType == info.contentType && manifest.backupUID == backup.metadata.uid)
        #expect(manifest.serverVersion?.isEmpty == false, "\(manifest)")
        #expect(manifest.tool?.contains(driver.name == "mysql" ? "dump" : "pg_dump") == true, "\(manifest)")
        let expectedType = switch key.split(separator: ".").last { case "zst": "application/zstd"; case "gz": "application/gzip"; case "sql": "application/sql"; default: "application/octet-stream" }
        #expect(info.contentType == expectedType, "\(key): \(info.contentType ?? "none")")
        #expect(Int64(bytes.readableBytes) == backup.status?.size)
        #expect(key.hasSuffix(".age") == (identity != nil), "\(key)")
        #expect((manifest.encryptionRecipients.isEmpty) == (identity == nil), "\(manifest.encryptionRecipients)")
        let downloaded = FileManager.default.temporaryDirectory.appendingPathComponent("e2e-\(UUID().uuidString)-\(key.split(separator: "/").last!)")
        try Data(bytes.readableBytesView).write(to: downloaded)
        defer { try? FileManager.default.removeItem(at: downloaded) }
        var file = downloaded
        let sum = try await ChildProcess.run("/usr/bin/sha256sum", [file.path])
        #expect(sum.stdoutText.split(separator: " ").first.map(String.init) == backup.status?.sha256)
        if let identity {
            #expect(bytes.readableBytesView.starts(with: Array("age-encryption.org/v1\n-> X25519 ".utf8)), "an age file")
            #expect(manifest.encryptionRecipients.count == 2 && manifest.encryptionRecipients.contains(identity.recipient.description), "\(manifest.encryptionRecipients)")
            let keyFile = file.appendingPathExtension("key")
            try identity.secretKeyText.write(to: keyFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: keyFile) }
            let decrypted = try await ChildProcess.run(try services.age(), ["-d", "-i", keyFile.path, "-o", file.deletingPathExtension().path, file.path])
            #expect(decrypted.status == 0, "age -d: \(decrypted.stderr)")
            file = file.deletingPathExtension()
        }
        let decrypted = file
        defer { if decrypted != downloaded { try? FileManager.default.removeItem(at: decrypted) } }
        var dump = file
        let decompressors = ["gz": "/bin/gzip", "zst": "/usr/bin/zstd"]
        if let decompressor = decompressors[file.pathExtension] {
            let plain = try await ChildProcess.run(decompressor, ["-dc", file.path])
            #expect(plain.status == 0, "\(plain.stderr)")
            dump = file.deletingPathExtension()
            try plain.stdout.write(to: dump)
        }
        defer { try? FileManager.default.removeItem(at: dump) }
        let admin = try driver.engine.superuser()
        let scratch = "dbop_restore_\(UUID().uuidString.prefix(8).lowercased())"
        try await driver.engine.restore(admin, dump, scratch)
        let restored = try await driver.engine.runAsAdmin(admin, scratch, ["SELECT COUNT(*) FROM items"])
        _ = try await driver.engine.runAsAdmin(admin, nil, ["DROP DATABASE \(driver.engine.quote(scratch))"])
        #expect(restored == [["\(rows)"]])
    }
}
