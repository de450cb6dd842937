import Foundation
import KubeModel
import Yams

/// YAML manifests applied the way `kubectl apply` leaves them (without its
/// last-applied annotation): each document is created, or replaces the stored
/// object's content when it exists. Only the kinds `deploy/` installs besides the
/// CRDs are known; any other kind is an error naming it.
public enum Manifests {
    /// The kinds `apply` knows, by "apiVersion/kind".
    public static let kinds: [String: ResourceDescriptor] = Dictionary(
        uniqueKeysWithValues: [
            ResourceDescriptor(group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false),
            ResourceDescriptor(group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true),
            ResourceDescriptor(group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", kind: "ClusterRole", namespaced: false),
            ResourceDescriptor(group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false),
            ResourceDescriptor(group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", kind: "Role", namespaced: true),
            ResourceDescriptor(group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", kind: "RoleBinding", namespaced: true),
        ].map { ("\($0.apiVersion)/\($0.kind)", $0) })

    /// The documents of a multi-document YAML text, empty documents left out.
    public static func documents(_ yaml: String) throws -> [JSONValue] {
        try Yams.load_all(yaml: yaml).map { try JSONValue(yaml: $0) }.filter { $0 != .null }
    }

    /// Creates or replaces every document of `yaml`, in order; namespaced objects
    /// without a namespace go to `defaultNamespace`.
    public static func apply(_ yaml: String, to api: any KubernetesAPI, defaultNamespace: String = "default") async throws {
        for document in try documents(yaml) {
            let apiVersion = document["apiVersion"]?.stringValue ?? "", kind = document["kind"]?.stringValue ?? ""
            guard let resource = kinds["\(apiVersion)/\(kind)"] else {
                throw KubeError(code: .invalid, message: "cannot apply a \(apiVersion) \(kind): only \(kinds.keys.sorted().joined(separator: ", "))")
            }
            guard let name = document["metadata"]?["name"]?.stringValue else {
                throw KubeError(code: .invalid, message: "a \(kind) without metadata.name")
            }
            let namespace = resource.namespaced ? (document["metadata"]?["namespace"]?.stringValue ?? defaultNamespace) : nil
            do {
                _ = try await api.create(resource, namespace: namespace, object: document)
            } catch let error as KubeError where error.code == .alreadyExists {
                let current = try await api.get(resource, namespace: namespace, name: name)
                var replacement = document
                replacement["metadata"]?["resourceVersion"] = current["metadata"]?["resourceVersion"]
                _ = try await api.update(resource, namespace: namespace, name: name, object: replacement, subresource: nil)
            }
        }
    }
}

extension JSONValue {
    /// A value Yams loaded (strings, numbers, booleans, null, sequences, mappings).
    init(yaml value: Any?) throws {
        switch value {
        case nil, is NSNull: self = .null
        case let bool as Bool: self = .bool(bool)
        case let int as Int: self = .int(Int64(int))
        case let double as Double: self = .double(double)
        case let string as String: self = .string(string)
        case let array as [Any?]: self = .array(try array.map { try JSONValue(yaml: $0) })
        case let object as [AnyHashable: Any?]:
            var fields: [String: JSONValue] = [:]
            for (key, field) in object {
                guard let key = key.base as? String else { throw KubeError(code: .invalid, message: "a YAML mapping key that is not a string: \(key)") }
                fields[key] = try JSONValue(yaml: field)
            }
            self = .object(fields)
        default:
            throw KubeError(code: .invalid, message: "a YAML value of type \(type(of: value!)) in a manifest")
        }
    }
}
