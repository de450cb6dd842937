import Foundation
import AsyncHTTPClient
import NIOCore
import KubeClient
import KubeModel
import Testing
import TestSupport

/// Bad input gets a clear condition and Event, and no Job that could do harm.
@Suite("Invalid resources through the real programs", .serialized)
struct InvalidResourceTests {
    @Test("unknown driver, missing host, both spellings, another namespace's Secret, a Backup of a missing Database")
    func invalid() async throws {
        try await LifecycleHarness.with(operatorArguments: ["--metrics-addr", "127.0.0.1:0"], rbac: true) { harness in
            let ns = "bad"
            try await harness.makeNamespace(ns)
            let valid = LifecycleHarness.databaseSpec(host: "instance-1", s3: nil)
            var cases: [(String, DatabaseSpec, String)] = []
            var spec = valid
            spec.driver = "oracle"
            cases.append(("unknown-driver", spec, "unknown driver \"oracle\""))
            spec = valid
            spec.connect?.host = nil
            cases.append(("no-host", spec, "spec.connect.host"))
            spec = valid
            spec.backupTo = BackupTarget(S3: S3Spec(bucket: "a"), s3: S3Spec(bucket: "a"))
            cases.append(("two-spellings", spec, "give either S3 or s3, not both"))
            spec = valid
            var s3 = S3Spec(bucket: "a")
            s3.Bucket = "a"
            spec.backupTo = BackupTarget(S3: s3)
            cases.append(("key-twice", spec, "Bucket/bucket given in both spellings"))
            spec = valid
            spec.credentials?.password = ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "dbpassword", key: "password", namespace: "default")))
            cases.append(("other-namespace", spec, "must be in the Database's namespace bad, not default"))
            for (name, spec, _) in cases { try await harness.createDatabase(name, namespace: ns, spec: spec) }
            try await harness.createBackup("orphan", namespace: ns, database: "does-not-exist")

            for (name, _, message) in cases {
                try await eventually("\(name) to be reported InvalidSpec") {
                    let ready = try await harness.database(name, namespace: ns)?.status?.conditions?[type: "Ready"]
                    return ready?.status == "False" && ready?.reason == "InvalidSpec" && ready?.message.contains(message) == true
                }
                try await eventually("an InvalidSpec Event on \(name)") {
                    try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == name && $0.object.reason == "InvalidSpec" && $0.object.type == "Warning" }
                }
                let database = try #require(try await harness.database(name, namespace: ns))
                #expect(database.phase == nil, "no phase: no driver ran for \(name)")
                #expect(database.metadata.finalizers == nil)
            }
            try await eventually("the orphan Backup to say its Database is missing") {
                let ready = try await harness.backup("orphan", namespace: ns)?.status?.conditions?[type: "Ready"]
                return ready?.reason == "DatabaseNotFound" && ready?.message.contains("does-not-exist") == true
            }
            try await eventually("a DatabaseNotFound Event on the orphan Backup") {
                try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "orphan" && $0.object.reason == "DatabaseNotFound" }
            }
            #expect(try await harness.backup("orphan", namespace: ns)?.phase == nil)

            // A valid Database created after them is served: the operator is not stuck,
            // and the only Job in the namespace is that one's.
            try await harness.createDatabase("fine", namespace: ns, spec: valid)
            try await harness.waitForPhase("fine", namespace: ns, .created)
            let jobs = try await harness.api.list(Job.self, namespace: ns)
            #expect(jobs.map { $0.metadata.labels?[LabelKey.database] } == ["fine"])

            // Fixing a spec lets it proceed.
            try await harness.modifyDatabase("unknown-driver", namespace: ns) { $0.spec.driver = "test" }
            try await harness.waitForPhase("unknown-driver", namespace: ns, .created)
            // A password that no Secret holds is a clear failure too, and recovers once the Secret exists.
            var missing = valid
            missing.credentials?.password = ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "later", key: "password")))
            try await harness.createDatabase("secret-later", namespace: ns, spec: missing)
            try await eventually("secret-later to report SecretNotFound") {
                try await harness.database("secret-later", namespace: ns)?.status?.conditions?[type: "Ready"]?.reason == "SecretNotFound"
            }
            var later = Secret(metadata: ObjectMeta(name: "later", namespace: ns))
            later.setValue("pw", for: "password")
            _ = try await harness.api.create(later)
            try await harness.waitForPhase("secret-later", namespace: ns, .created, timeout: .seconds(90))

            // What the operator did shows at /metrics; /healthz and /readyz answer.
            let output = harness.operatorOutput
            let marker = try #require(output.range(of: "\"metrics.address\":\"127.0.0.1:"), "the operator logs where it serves metrics")
            let port = String(output[marker.upperBound...].prefix { $0.isNumber })
            let metrics = try await Self.get("http://127.0.0.1:\(port)/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("db_operator_decisions_total{decision=\"invalid_spec\"}"))
            #expect(metrics.body.contains("db_operator_jobs_created_total{operation=\"create\"}"))
            #expect(metrics.body.contains("db_operator_api_requests_total{method=\"POST\",code=\"201\"}"), "the Jobs it made")
            #expect(metrics.body.contains("db_operator_api_requests_total{method=\"WATCH\",code=\"200\"}"), "its watches")
            #expect(try await Self.get("http://127.0.0.1:\(port)/healthz").status == 200)
            #expect(try await Self.get("http://127.0.0.1:\(port)/readyz").status == 200)
        }
    }

    static func get(_ url: String) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    @Test("a Secret with the Database's name that is not its own is never taken over: SecretConflict, nothing created, the Secret untouched; once it is gone the Database is created, and a replacement is not deleted with it")
    func secretConflict() async throws {
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "conflict"
            try await harness.makeNamespace(ns)
            var theirs = Secret(metadata: ObjectMeta(name: "orders", namespace: ns))
            theirs.setValue("their-password", for: "password")
            theirs.setValue("kept", for: "other")
            _ = try await harness.api.create(theirs)
            try await harness.createDatabase("orders", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-conflict", s3: nil))
            try await eventually("orders to report SecretConflict") {
                let ready = try await harness.database("orders", namespace: ns)?.status?.conditions?[type: "Ready"]
                return ready?.status == "False" && ready?.reason == "SecretConflict" && ready?.message.contains("Secret orders already exists") == true
            }
            try await eventually("a SecretConflict Event") {
                try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "orders" && $0.object.reason == "SecretConflict" }
            }
            let untouched = try #require(try await harness.secret("orders", namespace: ns))
            #expect(untouched.value("password") == "their-password" && untouched.value("other") == "kept" && untouched.value("username") == nil)
            #expect(untouched.metadata.ownerReferences == nil)
            let made = (try? FileManager.default.contentsOfDirectory(atPath: "\(harness.root)/instances/instance-conflict")) ?? []
            #expect(made.isEmpty, "nothing was created in the instance: \(made)")

            // Their Secret gone, the Database is created with a Secret of its own.
            try await harness.api.delete(Secret.self, namespace: ns, name: "orders")
            try await harness.waitForPhase("orders", namespace: ns, .created, timeout: .seconds(60))
            let ours = try #require(try await harness.secret("orders", namespace: ns))
            let uid = try #require(try await harness.database("orders", namespace: ns)?.metadata.uid)
            #expect(ours.metadata.ownerReferences?.contains { $0.uid == uid } == true)
            #expect(ours.value("password") != "their-password")

            // A Secret that replaced ours after Created is not deleted with the Database.
            try await harness.api.delete(Secret.self, namespace: ns, name: "orders")
            _ = try await harness.api.create(theirs)
            try await harness.delete("orders", namespace: ns)
            try await harness.waitUntilGone("orders", namespace: ns)
            #expect(try await harness.secret("orders", namespace: ns)?.value("password") == "their-password")
        }
    }

    @Test("a Backup whose attempts fail before the upload begins (the S3 CredentialsSecret is missing) counts each one and ends Failed at the limit; deletion is not held by it")
    func failuresBeforeTheUploadCount() async throws {
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "uncounted"
            try await harness.makeNamespace(ns)  // no s3-creds Secret
            let nowhere = S3Settings(endpoint: "http://127.0.0.1:1", region: "us-east-1", bucket: "b", accessKeyID: "k", secretAccessKey: "s")
            try await harness.createDatabase("orders", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-uncounted", policy: .delete, s3: nowhere))
            try await harness.waitForPhase("orders", namespace: ns, .created)
            try await harness.createBackup("orders-1", namespace: ns, database: "orders")
            try await harness.waitForBackup("orders-1", namespace: ns, .failed, timeout: .seconds(60))
            let backup = try #require(try await harness.backup("orders-1", namespace: ns))
            #expect(backup.status?.attempts == 2, "the harness allows two attempts")
            #expect(backup.status?.conditions?[type: "Ready"]?.message.contains("s3-creds") == true, "\(backup.status?.conditions?[type: "Ready"]?.message ?? "")")
            try await harness.waitForPhase("orders", namespace: ns, .created)
            try await harness.delete("orders", namespace: ns)
            try await harness.waitUntilGone("orders", namespace: ns)
        }
    }

    @Test("backupTo.encryption with a missing recipients Secret, then one without an age key: the Backup says SecretNotFound, then InvalidRecipients, and nothing is stored unencrypted")
    func badRecipients() async throws {
        let s3 = try TestServices.current.s3()
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "bad-recipients"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            let prefix = "bad-recipients-\(UUID().uuidString.prefix(8))/"
            var spec = LifecycleHarness.databaseSpec(host: "instance-recipients", policy: .delete, s3: s3, prefix: prefix)
            spec.backupTo?.encryption = BackupEncryption(recipientsSecret: "backup-keys")
            try await harness.createDatabase("orders", namespace: ns, spec: spec)
            try await harness.waitForPhase("orders", namespace: ns, .created)

            try await harness.createBackup("orders-1", namespace: ns, database: "orders")
            try await harness.waitForBackup("orders-1", namespace: ns, .failed, timeout: .seconds(60))
            let missing = try #require(try await harness.backup("orders-1", namespace: ns)?.status?.conditions?[type: "Ready"])
            // Past the attempts the Backup is BackupFailed, naming the cause; each attempt's Event has its reason.
            #expect(missing.reason == "BackupFailed" && missing.message.contains("SecretNotFound: encryption recipientsSecret backup-keys not found"), "\(missing.message)")

            var keys = Secret(metadata: ObjectMeta(name: "backup-keys", namespace: ns))
            keys.setValue("# nobody yet\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n", for: "recipients")
            _ = try await harness.api.create(keys)
            try await harness.createBackup("orders-2", namespace: ns, database: "orders")
            try await harness.waitForBackup("orders-2", namespace: ns, .failed, timeout: .seconds(60))
            let invalid = try #require(try await harness.backup("orders-2", namespace: ns)?.status?.conditions?[type: "Ready"])
            #expect(invalid.message.contains("InvalidRecipients: encryption recipientsSecret backup-keys"), "\(invalid.reason): \(invalid.message)")
            try await eventually("an InvalidRecipients Event on orders-2") {
                try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "orders-2" && $0.object.reason == "InvalidRecipients" }
            }
            #expect(!invalid.message.contains("AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"), "the Secret's content is not repeated")

            // Nothing of either attempt was stored.
            let store = try CrashConvergenceTests.store(s3)
            let stored = try await store.listObjects(prefix: prefix)
            try await store.shutdown()
            #expect(stored.isEmpty, "\(stored.map(\.key))")
            try await harness.delete("orders", namespace: ns)
            try await harness.waitUntilGone("orders", namespace: ns)
        }
    }

    @Test("BackupBeforeDelete is recorded at Created: removing backupTo later blocks the deletion (nothing dropped) until deletionPolicy: Delete is written")
    func recordedDeletionPolicy() async throws {
        let s3 = try TestServices.current.s3()
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "recorded-policy"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            try await harness.createDatabase("orders", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-recorded", s3: s3, prefix: "recorded/"))
            try await harness.waitForPhase("orders", namespace: ns, .created)
            #expect(try await harness.database("orders", namespace: ns)?.status?.deletionPolicy == .backupBeforeDelete)
            try await harness.modifyDatabase("orders", namespace: ns) { $0.spec.backupTo = nil }
            try await harness.delete("orders", namespace: ns)
            try await eventually(timeout: .seconds(60), "the deletion to be blocked: no target for the final backup") {
                try await harness.database("orders", namespace: ns)?.status?.conditions?[type: "DeletionBlocked"]?.status == "True"
            }
            #expect(harness.instanceRecord(host: "instance-recorded", database: "recorded_policy_orders") != nil, "the database was not dropped")
            try await harness.modifyDatabase("orders", namespace: ns) { $0.spec.deletionPolicy = .delete }
            try await harness.waitUntilGone("orders", namespace: ns)
            #expect(harness.instanceRecord(host: "instance-recorded", database: "recorded_policy_orders") == nil)
        }
    }

    @Test("an invalid spec never blocks a deletion: a Database never Created is released at once, a Created one is dropped as recorded")
    func invalidSpecDoesNotBlockDeletion() async throws {
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "invalid-delete"
            try await harness.makeNamespace(ns)
            // Stuck Creating (its instance "unreachable"), then made invalid, then deleted: released.
            try harness.setFlag("invalid_delete_stuck", "fail-create")
            try await harness.createDatabase("stuck", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-invalid", s3: nil))
            try await harness.waitForPhase("stuck", namespace: ns, .creating)
            try await harness.modifyDatabase("stuck", namespace: ns) { $0.spec.connect?.host = nil }
            try await eventually("stuck to report InvalidSpec") {
                try await harness.database("stuck", namespace: ns)?.status?.conditions?[type: "Ready"]?.reason == "InvalidSpec"
            }
            try await harness.delete("stuck", namespace: ns)
            try await harness.waitUntilGone("stuck", namespace: ns)
            try await eventually("a ReleasedInvalid Event") {
                try await harness.api.list(Event.self, namespace: ns).contains { $0.object.involvedObject.name == "stuck" && $0.object.reason == "ReleasedInvalid" }
            }

            // Created, then given an unknown driver, then deleted: dropped with the recorded driver.
            try await harness.createDatabase("made", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-invalid", policy: .delete, s3: nil))
            try await harness.waitForPhase("made", namespace: ns, .created)
            #expect(harness.instanceRecord(host: "instance-invalid", database: "invalid_delete_made") != nil)
            try await harness.modifyDatabase("made", namespace: ns) { $0.spec.driver = "oracle" }
            try await eventually("made to report InvalidSpec") {
                try await harness.database("made", namespace: ns)?.status?.conditions?[type: "Ready"]?.reason == "InvalidSpec"
            }
            try await harness.delete("made", namespace: ns)
            try await harness.waitUntilGone("made", namespace: ns)
            #expect(harness.instanceRecord(host: "instance-invalid", database: "invalid_delete_made") == nil, "dropped")
        }
    }

    @Test("a hung backup Job is ended at its deadline and counted: the Backup fails at the limit and the Database is free again")
    func hungJobDeadline() async throws {
        let s3 = try TestServices.current.s3()
        try await LifecycleHarness.with(operatorArguments: ["--job-deadline", "backup=2"], rbac: true) { harness in
            let ns = "hung"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            try await harness.createDatabase("orders", namespace: ns, spec: LifecycleHarness.databaseSpec(host: "instance-hung", policy: .delete, s3: s3, prefix: "hung/"))
            try await harness.waitForPhase("orders", namespace: ns, .created)
            // The dump takes 10 minutes: far past the 2 s deadline.
            try harness.setFlag("hung_orders", "backup-seconds", "600")
            try await harness.createBackup("orders-1", namespace: ns, database: "orders")
            try await harness.waitForBackup("orders-1", namespace: ns, .failed, timeout: .seconds(90))
            try await harness.waitForPhase("orders", namespace: ns, .created, timeout: .seconds(60))
            let jobs = try await harness.api.list(Job.self, namespace: ns).filter { $0.object.metadata.labels?["dboperator.io/operation"] == "backup" }
            #expect(jobs.contains { $0.object.spec?.activeDeadlineSeconds == 2 })
            #expect(jobs.contains { $0.object.status?.conditions?.contains { $0.type == "Failed" && $0.reason == "DeadlineExceeded" } == true })
        }
    }

    @Test("Databases named with 63 and 253 characters (dots too), BackupBeforeDelete: created, backed up and deleted; every Job name, final Backup name and label is one a real API server takes")
    func longNames() async throws {
        let s3 = try TestServices.current.s3()
        try await LifecycleHarness.with(rbac: true) { harness in
            let ns = "long-names"
            try await harness.makeNamespace(ns)
            try await harness.s3CredentialsSecret(namespace: ns, s3: s3)
            let sixtyThree = "db-" + String(repeating: "x", count: 59) + "9"
            // 253: labels of up to 63 between dots, the longest a name may be.
            let longest = (0..<4).map { part in String(repeating: "abcdefgh", count: 8).prefix(part == 3 ? 61 : 63) }.joined(separator: ".")
            #expect(sixtyThree.count == 63 && longest.count == 253)
            let spec = LifecycleHarness.databaseSpec(host: "instance-long", policy: .backupBeforeDelete, s3: s3, prefix: "\(ns)/")
            for name in [sixtyThree, longest] { try await harness.createDatabase(name, namespace: ns, spec: spec) }
            for name in [sixtyThree, longest] { try await harness.waitForPhase(name, namespace: ns, .created, timeout: .seconds(90)) }
            let jobs = try await harness.api.list(Job.self, namespace: ns)
            #expect(jobs.count == 2 && jobs.allSatisfy { $0.name.count <= 63 }, "\(jobs.map(\.name))")
            for name in [sixtyThree, longest] { try await harness.delete(name, namespace: ns) }
            for name in [sixtyThree, longest] { try await harness.waitUntilGone(name, namespace: ns, timeout: .seconds(120)) }
            // The final backups completed; their names and labels are valid (the fake
            // validates them as the real server does, so an invalid one would not exist).
            let finals = try await harness.api.list(Backup.self, namespace: ns)
            #expect(finals.count == 2 && finals.allSatisfy { $0.object.phase == .completed }, "\(finals.map { "\($0.name) \($0.object.phase?.rawValue ?? "-")" })")
            for final in finals {
                #expect(final.name.count <= 253 && final.name.contains("-final-"))
                #expect((final.metadata.labels?[LabelKey.database] ?? "").count <= 63)
            }
            // Events about them were recorded (their names cut to fit), and the backup
            // objects' names fit the stores' 255-byte path components.
            let events = try await harness.api.list(Event.self, namespace: ns)
            #expect(events.contains { $0.object.involvedObject.name == longest && $0.object.reason == "Created" })
            for final in finals {
                let last = try #require(final.object.status?.destination?.split(separator: "/").last)
                #expect(last.utf8.count + ".manifest.json".count <= 255, "\(last)")
            }
        }
    }
}
