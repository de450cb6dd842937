import Foundation
import KubeModel
import Testing

/// Kubernetes' protobuf encoding, byte by byte: the `k8s\0` magic, a `runtime.Unknown`
/// envelope, the kind's message (field numbers of k8s.io/api's generated.proto).
/// kubectl's typed commands are the real client (RealClientTests); these pin the
/// bytes and the refusals.
@Suite("Spec: protobuf bodies")
struct ProtobufSpecTests {
    let configMaps = "/api/v1/namespaces/default/configmaps"
    static let protobuf = "application/vnd.kubernetes.protobuf"

    /// Length-delimited field `number` holding `bytes` (lengths below 128 here).
    static func field(_ number: UInt8, _ bytes: [UInt8]) -> [UInt8] { [number << 3 | 2, UInt8(bytes.count)] + bytes }
    static func field(_ number: UInt8, _ text: String) -> [UInt8] { field(number, Array(text.utf8)) }

    /// `k8s\0` + Unknown{typeMeta{apiVersion, kind}, raw}.
    static func envelope(kind: String, raw: [UInt8]) -> [UInt8] {
        [0x6B, 0x38, 0x73, 0x00] + field(1, field(1, "v1") + field(2, kind)) + field(2, raw)
    }

    @Test("a ConfigMap in protobuf is created as its JSON: name, labels, data; the reply is protobuf when asked for first")
    func createConfigMap() async throws {
        try await TestAPIServer.with { api in
            // ConfigMap{metadata(1){name(1), labels(11){key(1), value(2)}}, data(2){key, value}}
            let metadata = Self.field(1, "from-proto") + Self.field(11, Self.field(1, "tier") + Self.field(2, "db"))
            let raw = Self.field(1, metadata) + Self.field(2, Self.field(1, "mode") + Self.field(2, "fast a+b"))
            let (created, bytes) = try await api.requestBytes(
                .POST, configMaps, body: Self.envelope(kind: "ConfigMap", raw: raw), contentType: Self.protobuf, accept: "\(Self.protobuf), application/json")
            #expect(created.status == 201)
            #expect(created.headers.first(name: "Content-Type") == Self.protobuf)
            #expect(Array(bytes.prefix(4)) == [0x6B, 0x38, 0x73, 0x00])
            let stored = try await api.get("\(configMaps)/from-proto").body
            #expect(stored[path: ["data", "mode"]] == "fast a+b")
            #expect(stored[path: ["metadata", "labels", "tier"]] == "db")
            #expect(stored[path: ["metadata", "uid"]]?.stringValue?.isEmpty == false)
            // The reply carries the server's fields too: the uid is in its bytes.
            let uid = try #require(stored[path: ["metadata", "uid"]]?.stringValue)
            #expect(Data(bytes).range(of: Data(uid.utf8)) != nil)
        }
    }

    @Test("protobuf of a kind the server cannot decode is 415 naming the kinds it can; a broken body is 400")
    func refusals() async throws {
        try await TestAPIServer.with { api in
            let (event, _) = try await api.requestBytes(.POST, "/api/v1/namespaces/default/events", body: Self.envelope(kind: "Event", raw: []), contentType: Self.protobuf)
            #expect(event.status == 415)
            #expect(event.message.contains("v1/ConfigMap, v1/Namespace, v1/Secret, v1/ServiceAccount"))
            #expect(event.message.contains("rbac.authorization.k8s.io/v1/Role,"))
            #expect(event.message.hasSuffix("not v1 Event; send JSON"))
            let (broken, _) = try await api.requestBytes(.POST, configMaps, body: [0x6B, 0x38, 0x73, 0x00, 0x0A, 0x7F, 0x01], contentType: Self.protobuf)
            #expect(broken.status == 400)
            let (noMagic, _) = try await api.requestBytes(.POST, configMaps, body: [0x0A, 0x00], contentType: Self.protobuf)
            #expect(noMagic.status == 400)
        }
    }
}
