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
        // Foundation's urlPathAllowed without "/", by hand: CharacterSet operations
        // build ICU sets on every call, and every request escapes its path.
        guard segment.utf8.contains(where: { !pathAllowed($0) }) else { return segment }
        var bytes: [UInt8] = []
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in segment.utf8 {
            if pathAllowed(byte) {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func pathAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "-._~!$&'()*+,=:@".utf8.contains(byte)
        }
    }
}

/// A type read straight from a parsed JSON tree, no Decoder: `Resource` parses the
/// text with our parser (or takes the tree it is given) and calls this instead of
/// JSONDecoder. For a cache's small
/// projection of a large object read on every watch event (the operator's
/// `JobRecord`: a Job's watch event into its record took 21 µs through JSONDecoder,
/// 13 µs from the tree; `db-operator-bench codec`).
public protocol JSONTreeDecodable {
    init(json: JSONValue) throws
}

/// An object as read from the server: the typed view, and the whole JSON it came in.
/// Writes built from it merge the typed change into `raw`, so fields this project
/// does not model survive a read-modify-write.
///
/// The JSON is kept as text, not as a `JSONValue` tree: informers keep
/// one Resource per object, and a tree of dictionaries takes several times the
/// text's size (#15's memory goal). `raw` parses it again when a write needs it.
/// A cache nothing is written back from, or whose writes read the server's text
/// first (`KubernetesAPI.update`), keeps no text at all (`init(raw:keepingJSON:)`).
/// The typed object lives in a box: caches, their lists and their change sets would
/// otherwise copy (and over-allocate) the whole struct per entry; a Resource is two
/// references.
public struct Resource<Object: KubernetesObject>: Sendable {
    private final class Box: Sendable {
        let object: Object
        init(_ object: Object) { self.object = object }
    }

    private var box: Box
    /// `raw` as JSON text: compact when written here (`init(raw:)`, `init(object:)`),
    /// as the server sent it otherwise (`init(text:)`).
    private let text: [UInt8]

    public var object: Object {
        get { box.object }
        set { box = Box(newValue) }
    }

    /// From a JSON tree. With `keepingJSON` false only the typed view is kept (a
    /// read-only cache's entry): `raw` is then `.null` and `merging` throws.
    public init(raw: JSONValue, keepingJSON: Bool = true) throws {
        if let type = Object.self as? any JSONTreeDecodable.Type {
            // Read from the tree as it is; its text is written only to be kept.
            self.box = Box(try type.init(json: raw) as! Object)
            var text: [UInt8] = []
            if keepingJSON { raw.write(to: &text) }
            self.text = text
            return
        }
        var text: [UInt8] = []
        text.reserveCapacity(512)
        raw.write(to: &text)
        self.box = Box(try Self.decode(text))
        self.text = keepingJSON ? text.withUnsafeBufferPointer { Array($0) } : []  // exactly its size: the buffer above grew by doubling
    }

    /// From JSON text as a server sent it (kept as it is: `raw` parses any JSON).
    /// With `keepingJSON` false only the typed view is kept, as `init(raw:keepingJSON:)`.
    public init(text: [UInt8], keepingJSON: Bool = true) throws {
        self.box = Box(try Self.decode(text))
        self.text = keepingJSON ? text : []
    }

    private static func decode(_ text: [UInt8]) throws -> Object {
        if let type = Object.self as? any JSONTreeDecodable.Type {
            return try type.init(json: JSONParser.parse(text)) as! Object
        }
        return try JSONDecoder().decode(Object.self, from: Data(text))
    }

    /// The same typed view with a server's text of it (the object at the same
    /// resourceVersion): a cache's copy that keeps no JSON made fit for a write.
    public func withJSON(_ text: [UInt8]) -> Resource {
        Resource(box: box, text: text)
    }

    private init(box: Box, text: [UInt8]) {
        self.box = box
        self.text = text
    }

    /// Whether the JSON as read is kept (see `init(raw:keepingJSON:)`).
    public var keepsJSON: Bool { !text.isEmpty }

    public init(object: Object) throws {
        self.box = Box(object)
        self.text = Array(try JSONEncoder().encode(object))
    }

    /// The whole JSON as read; `.null` if the text is not JSON our parser takes
    /// (JSONDecoder took it: a server's text that JSONParser refuses, a lone
    /// surrogate say). Writes use `merging`, which throws instead.
    public var raw: JSONValue {
        text.isEmpty ? .null : (try? JSONParser.parse(text)) ?? .null
    }

    public var metadata: ObjectMeta { object.metadata }
    public var name: String { object.metadata.name ?? "" }
    public var namespace: String? { object.metadata.namespace }

    /// The full JSON of `modified`, with every field of `raw` the typed view does not
    /// know kept as it was.
    /// Throws when the text as read does not parse: a write built on `.null` would
    /// drop every field the typed view does not know.
    public func merging(_ modified: Object) throws -> JSONValue {
        guard !text.isEmpty else { throw ResourceError.jsonNotKept(kind: Object.resource.kind, name: name) }
        let before = try JSONValue(encoding: object)
        let after = try JSONValue(encoding: modified)
        return try JSONParser.parse(text).applyingMergePatch(JSONValue.mergePatch(from: before, to: after))
    }

    /// The merge patch from the object as read to `modified`.
    public func mergePatch(to modified: Object) throws -> JSONValue {
        JSONValue.mergePatch(from: try JSONValue(encoding: object), to: try JSONValue(encoding: modified))
    }
}

/// Why a `Resource` cannot be the base of a write.
public enum ResourceError: Error, CustomStringConvertible {
    /// It came from a cache that keeps only the typed view (`init(raw:keepingJSON:)`).
    case jsonNotKept(kind: String, name: String)

    public var description: String {
        switch self {
        case .jsonNotKept(let kind, let name):
            "\(kind) \(name) was read from a cache that keeps no JSON: read it from the API server before writing it"
        }
    }
}
