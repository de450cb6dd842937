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
        try await LifecycleHarness.with(operatorArguments: ["--metrics-addr", "127.0.0.1:0"]) { harness in
            let ns = "bad"
            try await harness.makeNamespace(ns)
            let valid = LifecycleHarness.databaseSpec(host: "instance-1", s3: nil)
            var cases: [(String, DatabaseSpec, String)] = []
            var spec = valid
            spec.driver = "oracle"
            cases.append(("unknown-driver", spec, "unknown driver \"oracle\""))
            spec = valid
            spec.connect.host = nil
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
            #expect(jobs.map { $0.metadata.labels?["dboperator.io/database"] } == ["fine"])

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
            #expect(try await Self.get("http://127.0.0.1:\(port)/healthz").status == 200)
            #expect(try await Self.get("http://127.0.0.1:\(port)/readyz").status == 200)
        }
    }

    static func get(_ url: String) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }
}
