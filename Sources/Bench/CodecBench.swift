import ArgumentParser
import Foundation
import KubeModel
import KubeRuntime
import Operator

/// `db-operator-bench codec`: the operator's own per-object CPU at scale, one piece at
/// a time: encoding a driver Job (one per Database), decoding a Job's watch event
/// into the cache's record, and decoding a Database from a list's text. The
/// control-plane figures are these plus HTTP and TLS on both sides.
struct CodecBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Microseconds per driver Job encoded, per Job watch event decoded into its record, per Database decoded from a list.")

    @Option(help: "Objects per measurement.")
    var count = 20_000

    func run() throws {
        let spec = DatabaseSpec(
            driver: "postgresql", connect: ConnectSpec(host: "db.bench.invalid"),
            credentials: CredentialsSpec(username: ValueSource(value: "admin"), password: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: "admin", key: "password")))))
        var database = Database(metadata: ObjectMeta(name: "db-1234", namespace: "bench-4"), spec: spec)
        database.metadata.uid = "0b7d3f8e-5c1a-4e8b-9f2d-6a4c8e1b3d5f"
        database.metadata.generation = 1
        database.metadata.resourceVersion = "123456"
        database.metadata.creationTimestamp = "2026-12-03T05:00:00Z"
        let template = JobTemplate()
        let request = JobRequest(operation: .create, backup: nil, attempt: 1)

        let clusterID = "5f0c2b1e-8d4a-4c3e-a1b2-c3d4e5f60718"
        let job = template.job(for: database, request: request, clusterID: clusterID, operatorNamespace: "db-operator")
        let size = try StreamingJSONEncoder.encodeOrFallBack(job).count
        let build = Self.measure(count) { _ = template.job(for: database, request: request, clusterID: clusterID, operatorNamespace: "db-operator") }
        let encode = try Self.measure(count) { _ = try StreamingJSONEncoder.encodeOrFallBack(job) }
        let foundation = try Self.measure(count) { _ = try JSONEncoder().encode(job) }
        print(String(format: "build a driver Job from its template:           %6.1f µs", build))
        print(String(format: "encode it (%d bytes):                         %6.1f µs (JSONEncoder: %.1f µs)", size, encode, foundation))

        // A Job as the server answers and watches send it: its status and server fields too.
        var served = try JSONValue.decode(StreamingJSONEncoder.encodeOrFallBack(job))
        served[path: ["metadata", "uid"]] = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
        served[path: ["metadata", "resourceVersion"]] = "234567"
        served[path: ["metadata", "creationTimestamp"]] = "2026-12-03T05:00:01Z"
        served[path: ["status"]] = ["active": 1, "startTime": "2026-12-03T05:00:01Z", "ready": 0, "terminating": 0]
        let jobText = Array(served.encoded())
        let dropped = [["spec"], Watcher<JobRecord>.Configuration.managedFields]
        let record = try Self.measure(count) {
            _ = try Resource<JobRecord>(text: JSONValue.removingMembers(dropped, fromText: jobText), keepingJSON: false)
        }
        print(String(format: "decode a Job's watch event into its record:     %6.1f µs", record))

        let databaseText = Array(try StreamingJSONEncoder.encodeOrFallBack(database))
        let list = try Self.measure(count) {
            _ = try Resource<Database>(text: databaseText)
        }
        print(String(format: "decode a Database (%d bytes) from a list:       %6.1f µs", databaseText.count, list))
    }

    /// Microseconds per run of `body`, after a warm-up of a tenth as many.
    static func measure(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
        for _ in 0..<max(1, count / 10) { try body() }
        let start = ContinuousClock.now
        for _ in 0..<count { try body() }
        let elapsed = ContinuousClock.now - start
        return ControlPlaneBench.seconds(elapsed) * 1e6 / Double(count)
    }
}
