import Foundation
import KubeModel
import SwiftProtobuf

/// Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`) for the
/// kinds kubectl's typed commands send: Namespace, Secret, ConfigMap, ServiceAccount;
/// Role, ClusterRole, RoleBinding, ClusterRoleBinding; TokenRequest, SelfSubjectReview;
/// SelfSubjectAccessReview, SelfSubjectRulesReview.
///
/// A body is the 4 bytes `k8s\0` and a `runtime.Unknown` whose `typeMeta` names the
/// kind and whose `raw` is the kind's message. The messages are generated from
/// `FakeAPIServer/Protobuf/k8s.proto` (field numbers of k8s.io/api's
/// generated.proto) by swift-protobuf; this file maps them onto the JSON objects the
/// storage keeps. Their JSON differs from the API's in three places, mended here:
/// `metav1.Time` is `{seconds, nanos}` (the API: an RFC 3339 string, `null` for the
/// zero time), `FieldsV1` is `{Raw: base64}` (the API: the JSON itself), and int64s.
enum KubernetesProtobuf {
    static let mediaType = "application/vnd.kubernetes.protobuf"
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    /// The message of each supported kind, by "apiVersion/kind".
    static let kinds: [String: any SwiftProtobuf.Message.Type] = [
        "v1/Namespace": K8s_Io_Namespace.self, "v1/Secret": K8s_Io_Secret.self,
        "v1/ConfigMap": K8s_Io_ConfigMap.self, "v1/ServiceAccount": K8s_Io_ServiceAccount.self,
        "rbac.authorization.k8s.io/v1/Role": K8s_Io_Role.self, "rbac.authorization.k8s.io/v1/ClusterRole": K8s_Io_ClusterRole.self,
        "rbac.authorization.k8s.io/v1/RoleBinding": K8s_Io_RoleBinding.self,
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding": K8s_Io_ClusterRoleBinding.self,
        "authentication.k8s.io/v1/TokenRequest": K8s_Io_TokenRequest.self, "authentication.k8s.io/v1/SelfSubjectReview": K8s_Io_SelfSubjectReview.self,
        "authorization.k8s.io/v1/SelfSubjectAccessReview": K8s_Io_SelfSubjectAccessReview.self,
        "authorization.k8s.io/v1/SelfSubjectRulesReview": K8s_Io_SelfSubjectRulesReview.self,
    ]

    static func message(apiVersion: String, kind: String) -> (any SwiftProtobuf.Message.Type)? { kinds["\(apiVersion)/\(kind)"] }

    /// Keys whose values are `metav1.Time` in these kinds.
    static let timeKeys: Set<String> = ["creationTimestamp", "deletionTimestamp", "time", "lastTransitionTime", "expirationTimestamp"]
    /// Maps whose entries are data, kept as they are (an empty value means something).
    static let mapKeys: Set<String> = ["data", "stringData", "binaryData", "labels", "annotations", "matchLabels"]

    enum Failure: Error, CustomStringConvertible {
        case notProtobuf
        case unsupportedKind(String)
        case malformed(String)

        var description: String {
            switch self {
            case .notProtobuf: "the body does not start with the k8s protobuf magic number"
            case .unsupportedKind(let kind): "this server decodes protobuf bodies of \(KubernetesProtobuf.kinds.keys.sorted().joined(separator: ", ")) only, not \(kind)"
            case .malformed(let detail): "the protobuf body cannot be decoded: \(detail)"
            }
        }
    }

    /// A request body as the JSON object it stands for, with `apiVersion` and `kind`.
    static func decode(_ body: Data) throws -> JSONValue {
        guard body.count >= magic.count, Array(body.prefix(magic.count)) == magic else { throw Failure.notProtobuf }
        let envelope: K8s_Io_Unknown
        do {
            envelope = try K8s_Io_Unknown(serializedBytes: body.dropFirst(magic.count))
        } catch {
            throw Failure.malformed("\(error)")
        }
        let kind = envelope.typeMeta.kind, apiVersion = envelope.typeMeta.apiVersion
        guard let type = message(apiVersion: apiVersion, kind: kind) else {
            throw Failure.unsupportedKind("\(apiVersion) \(kind)")
        }
        guard envelope.contentEncoding.isEmpty else { throw Failure.malformed("content encoding \(envelope.contentEncoding)") }
        var options = JSONEncodingOptions()
        options.alwaysPrintInt64sAsNumbers = true
        var object: JSONValue
        do {
            let message = try type.init(serializedBytes: envelope.raw)
            object = try JSONValue.decode(Data(try message.jsonUTF8Bytes(options: options) as [UInt8]))
        } catch {
            throw Failure.malformed("\(error)")
        }
        object = fromProtobufJSON(object)
        object["apiVersion"] = .string(apiVersion)
        object["kind"] = .string(kind)
        return object
    }

    /// The object as a protobuf body, or nil when its kind has no message here.
    static func encode(_ object: JSONValue) -> Data? {
        guard let apiVersion = object["apiVersion"]?.stringValue, let kind = object["kind"]?.stringValue,
            let type = message(apiVersion: apiVersion, kind: kind)
        else { return nil }
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        do {
            let message = try type.init(jsonUTF8Bytes: Data(toProtobufJSON(object).encoded()), extensions: nil, options: options)
            var envelope = K8s_Io_Unknown()
            envelope.typeMeta.apiVersion = apiVersion
            envelope.typeMeta.kind = kind
            envelope.raw = try message.serializedBytes()
            envelope.contentEncoding = ""
            envelope.contentType = ""
            return Data(magic) + (try envelope.serializedBytes() as Data)
        } catch {
            return nil
        }
    }

    /// Whether the client asks for protobuf before JSON (`Accept`).
    static func preferred(accept: String?) -> Bool {
        guard let accept else { return false }
        let first = accept.split(separator: ",").first.map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces).lowercased() }
        return first == mediaType
    }

    // MARK: The three differences from the API's JSON

    static func fromProtobufJSON(_ value: JSONValue, key: String? = nil) -> JSONValue {
        switch value {
        case .object(let members):
            if let key, timeKeys.contains(key) {
                guard let seconds = members["seconds"]?.intValue ?? (members["seconds"]?.stringValue).flatMap({ Int64($0) }) else { return .null }
                return .string(KubeTime.format(Date(timeIntervalSince1970: TimeInterval(seconds))))
            }
            if key == "fieldsV1" {
                guard let raw = members["Raw"]?.stringValue, let data = Data(base64Encoded: raw), let json = try? JSONValue.decode(data) else { return .object([:]) }
                return json
            }
            if let key, mapKeys.contains(key) { return value }
            // Go writes every non-pointer field; the API's JSON omits the empty ones
            // (`generateName: ""`, `generation: 0`), so a Secret without a type is defaulted.
            return .object(members.reduce(into: [:]) { result, member in
                switch member.value {
                case .string(""): return
                case .int(0) where member.key == "generation": return
                default: result[member.key] = fromProtobufJSON(member.value, key: member.key)
                }
            })
        case .array(let items):
            return .array(items.map { fromProtobufJSON($0, key: nil) })
        default:
            return value
        }
    }

    static func toProtobufJSON(_ value: JSONValue, key: String? = nil) -> JSONValue {
        switch value {
        case .string(let text) where key.map(timeKeys.contains) == true:
            guard let date = KubeTime.parse(text) else { return .null }
            return ["seconds": .int(Int64(date.timeIntervalSince1970.rounded(.down)))]
        case .null where key.map(timeKeys.contains) == true:
            return .null
        case .object(let members):
            if key == "fieldsV1" { return ["Raw": .string(Data(value.encoded()).base64EncodedString())] }
            return .object(members.reduce(into: [:]) { $0[$1.key] = toProtobufJSON($1.value, key: $1.key) })
        case .array(let items):
            return .array(items.map { toProtobufJSON($0, key: nil) })
        default:
            return value
        }
    }
}
