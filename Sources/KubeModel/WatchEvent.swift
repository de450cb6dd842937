/// One event of a watch stream, with its object still raw: a BOOKMARK carries only
/// metadata, an ERROR carries a Status.
public struct WatchEvent: Sendable, Hashable {
    public enum EventType: String, Sendable, Hashable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        case bookmark = "BOOKMARK"
        case error = "ERROR"
    }

    public var type: EventType
    public var object: JSONValue

    public init(type: EventType, object: JSONValue) {
        self.type = type
        self.object = object
    }

    /// Parses one line of a watch response.
    public init(line: JSONValue) throws {
        guard let typeName = line["type"]?.stringValue, let type = EventType(rawValue: typeName), let object = line["object"] else {
            throw DecodingFailure(description: "not a watch event: \(String(decoding: line.encoded().prefix(200), as: UTF8.self))")
        }
        self.init(type: type, object: object)
    }

    /// The resourceVersion the event carries.
    public var resourceVersion: String? { object[path: ["metadata", "resourceVersion"]]?.stringValue }
}

/// A value that does not have the shape its type requires.
public struct DecodingFailure: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(description: String) { self.description = description }
}
