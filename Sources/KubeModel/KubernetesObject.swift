import Foundation

/// A Kubernetes API type: where it is served and how it is named.
public protocol KubernetesObject: Codable, Sendable {
    static var resource: ResourceDescriptor { get }
    var metadata: ObjectMeta { get set }
}

/// Where a resource is served: group, version, plural, scope, kind.
public struct ResourceDescriptor: Sendable, Hashable {
    public var group: String
    public var version: String
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// The collection path, in a namespace or across all of them.
    public func path(namespace: String?, name: String? = nil, subresource: String? = nil) -> String {
        var path = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { path += "/namespaces/\(Self.escape(namespace))" }
        path += "/\(plural)"
        if let name { path += "/\(Self.escape(name))" }
        if let subresource { path += "/\(subresource)" }
        return path
    }

    private static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(.init(charactersIn: "/"))) ?? segment
    }
}

/// An object as read from the server: the typed view, and the whole JSON it came in.
/// Writes built from it merge the typed change into `raw`, so fields this project
/// does not model survive a read-modify-write.
public struct Resource<Object: KubernetesObject>: Sendable {
    public var object: Object
    public let raw: JSONValue

    public init(raw: JSONValue) throws {
        self.raw = raw
        self.object = try raw.decode(as: Object.self)
    }

    public init(object: Object) throws {
        self.object = object
        self.raw = try JSONValue(encoding: object)
    }

    public var metadata: ObjectMeta { object.metadata }
    public var name: String { object.metadata.name ?? "" }
    public var namespace: String? { object.metadata.namespace }

    /// The full JSON of `modified`, with every field of `raw` the typed view does not
    /// know kept as it was.
    public func merging(_ modified: Object) throws -> JSONValue {
        let before = try JSONValue(encoding: object)
        let after = try JSONValue(encoding: modified)
        return raw.applyingMergePatch(JSONValue.mergePatch(from: before, to: after))
    }

    /// The merge patch from the object as read to `modified`.
    public func mergePatch(to modified: Object) throws -> JSONValue {
        JSONValue.mergePatch(from: try JSONValue(encoding: object), to: try JSONValue(encoding: modified))
    }
}
