/// One event of a watch stream, with its object still JSON text as the server sent
/// it: a cache decodes its typed view straight from it. A BOOKMARK carries only
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
    /// The object's JSON text (a JSON object).
    public var objectText: [UInt8]

    /// The object as a tree, parsed on each use (`.null` if it is not JSON).
    public var object: JSONValue { (try? JSONParser.parse(objectText)) ?? .null }

    public init(type: EventType, object: JSONValue) {
        self.type = type
        var text: [UInt8] = []
        object.write(to: &text)
        self.objectText = text
    }

    /// Parses one line of a watch response. Only the event's own members are read:
    /// the object's text is cut out as it is (whoever decodes it checks it).
    public init(line: [UInt8]) throws {
        func failure() -> DecodingFailure {
            DecodingFailure(description: "not a watch event: \(String(decoding: line.prefix(200), as: UTF8.self))")
        }
        let members = try JSONParser.memberRanges(in: line)
        guard let typeRange = members["type"], let objectRange = members["object"], line[objectRange.lowerBound] == UInt8(ascii: "{"),
            let typeName = try JSONParser.parse(Array(line[typeRange])).stringValue, let type = EventType(rawValue: typeName)
        else { throw failure() }
        self.type = type
        self.objectText = Array(line[objectRange])
    }

    /// The resourceVersion the event carries.
    public var resourceVersion: String? { (try? JSONParser.string(at: ["metadata", "resourceVersion"], in: objectText)) ?? nil }
}

/// A value that does not have the shape its type requires.
public struct DecodingFailure: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(description: String) { self.description = description }
}
