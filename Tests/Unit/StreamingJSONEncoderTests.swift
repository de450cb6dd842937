import Foundation
import KubeModel
import Testing
@testable import Operator

/// The streaming encoder against JSONEncoder: the same JSON for the same values.
@Suite("Streaming JSON encoder")
struct StreamingJSONEncoderTests {
    private func same<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let streamed = try StreamingJSONEncoder().encode(value)
        let reference = Array(try JSONEncoder().encode(value))
        #expect(try JSONValue.decode(streamed) == JSONValue.decode(reference), sourceLocation: sourceLocation)
    }

    struct Empty: Codable {}

    enum Shape: Codable, Equatable {
        case circle(radius: Int)
        case named(String, tags: [String]?)
        case none
    }

    struct Everything: Codable {
        var text = "quote \" backslash \\ newline \n tab \t control \u{01} é ✓"
        var optional: String? = nil
        var present: Int? = 7
        var numbers: [Int64] = [Int64.min, -1, 0, Int64.max]
        var unsigned: UInt64 = UInt64.max
        var small: [Int8] = [-128, 127]
        var fraction = 0.25
        var flags = [true, false]
        var holes: [String?] = ["a", nil, "c"]
        var matrix: [[Int]] = [[], [1], [2, 3]]
        var map: [String: Int] = ["b": 2, "a": 1]
        var nestedMap: [String: [String: Bool]] = ["x": ["y": true], "z": [:]]
        var data = Data([0, 1, 2, 250, 255])
        var url = URL(string: "https://example.com/a%20b?q=1")!
        var date = Date(timeIntervalSinceReferenceDate: 12_345.5)
        var empty = Empty()
        var empties: [Empty] = [Empty(), Empty()]
        var shapes: [Shape] = [.circle(radius: 3), .named("n", tags: ["t"]), .named("m", tags: nil), .none]
        var decimal = Decimal(string: "12.5")!
        // Written directly, not through containers: JSONValue, [String: String], [String].
        var json: JSONValue = [
            "s": "q\"\\\n\u{01}é", "i": -3, "d": 0.5, "b": false, "n": nil, "a": [1, [], [:], ["x": [true]]], "o": ["z": 1, "a": ["b": "c"]],
        ]
        var jsons: [JSONValue] = [[:], [], "x", 1.5, nil]
        var optionalJSON: JSONValue? = ["k": "v"]
        var absentJSON: JSONValue? = nil
        var labels: [String: String] = ["app.kubernetes.io/name": "a\"b", "empty": "", "é": "\n"]
        var noLabels: [String: String] = [:]
        var words: [String] = ["a", "b\\c", ""]
        var noWords: [String] = []
        var nestedWords: [[String]] = [["x"], []]
        var wordMap: [String: [String]] = ["k": ["v"]]
    }

    /// Asks for its keyed container twice, writing one key through each.
    struct TwoAsks: Encodable {
        enum Keys: String, CodingKey { case a, b }
        func encode(to encoder: any Encoder) throws {
            var first = encoder.container(keyedBy: Keys.self)
            try first.encode([1, 2], forKey: .a)
            var second = encoder.container(keyedBy: Keys.self)
            try second.encode("two", forKey: .b)
        }
    }

    /// Writes into a nested container after its parent moved on: cannot be streamed.
    struct BackAndForth: Encodable {
        enum Keys: String, CodingKey { case a, b }
        func encode(to encoder: any Encoder) throws {
            var top = encoder.container(keyedBy: Keys.self)
            var nested = top.nestedContainer(keyedBy: Keys.self, forKey: .a)
            try top.encode(1, forKey: .b)
            try nested.encode(2, forKey: .a)
        }
    }

    @Test("values of every kind encode as JSONEncoder encodes them")
    func everything() throws {
        try same(Everything())
        try same(Empty())
        try same([Everything(), Everything()])
        try same("top-level string")
        try same(42)
        try same([String: Everything]())
        try same(TwoAsks())
        try same(Everything().json)
        try same(Everything().labels)
        try same(Everything().words)
        #expect(String(decoding: try StreamingJSONEncoder().encode(Empty()), as: UTF8.self) == "{}")
    }

    @Test("the operator's Jobs (with and without a backup target, a server, variables) and a Database with and without its sections: the same JSON")
    func jobs() throws {
        var database = Database(metadata: ObjectMeta(name: "orders", namespace: "shop"), spec: DatabaseSpec(driver: "postgresql", connect: ConnectSpec(host: "db")))
        database.metadata.uid = "uid-1"
        database.metadata.generation = 4
        var template = JobTemplate()
        template.environment = ["A": "b\"c", "B": "x"]
        template.environmentFromSecrets = ["s3-keys"]
        try same(template.job(for: database, request: JobRequest(operation: .create, backup: nil, attempt: 0)))
        database.spec.backupTo = BackupTarget(s3: S3Spec(bucket: "b", prefix: "p/"))
        try same(template.job(for: database, request: JobRequest(operation: .backup, backup: "nightly", attempt: 2), clusterID: "c"))
        database.spec.server = "shared"
        try same(template.job(for: database, request: JobRequest(operation: .delete, backup: nil, attempt: 1), operatorNamespace: "ops", inOperatorNamespace: true))
        // A Database (a typed create too): its out-of-line sections, present and absent.
        try same(database)
        database.status = DatabaseStatus(phase: .created)
        database.spec.credentials = nil
        try same(database)
    }

    @Test("an order the stream cannot follow throws OutOfOrder, and encodeOrFallBack gives JSONEncoder's bytes; NaN is an error")
    func outOfOrder() throws {
        #expect(throws: StreamingJSONEncoder.OutOfOrder.self) { try StreamingJSONEncoder().encode(BackAndForth()) }
        #expect(try JSONValue.decode(StreamingJSONEncoder.encodeOrFallBack(BackAndForth())) == ["a": ["a": 2], "b": 1])
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode([1.0, .nan]) }
        // Inside a JSONValue (written directly) too.
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode(["a": JSONValue.array([.double(.infinity)])] as [String: JSONValue]) }
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode(JSONValue.object(["a": .double(.nan)])) }
    }
}
