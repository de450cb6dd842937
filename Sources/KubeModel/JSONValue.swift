import Foundation

/// Any JSON value. Kubernetes objects are kept in this form wherever fields the
/// project does not model must survive a read-modify-write.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue {
    /// The member `key` of an object; nil for a missing member or a non-object.
    public subscript(key: String) -> JSONValue? {
        get {
            guard case .object(let members) = self else { return nil }
            return members[key]
        }
        set {
            guard case .object(var members) = self else {
                if let newValue { self = .object([key: newValue]) }
                return
            }
            members[key] = newValue
            self = .object(members)
        }
    }

    /// This value without the members at `paths` (member names from the top object
    /// down); a path that names no member changes nothing.
    public func removingMembers(_ paths: [[String]]) -> JSONValue {
        guard case .object(var members) = self, !paths.isEmpty else { return self }
        for path in paths where path.count == 1 { members[path[0]] = nil }
        for (name, inner) in Dictionary(grouping: paths.filter { $0.count > 1 }, by: { $0[0] }) {
            if let member = members[name] { members[name] = member.removingMembers(inner.map { Array($0.dropFirst()) }) }
        }
        return .object(members)
    }

    /// The text of a JSON object without the members at `paths`, everything else
    /// copied byte for byte, and no tree built: what `removingMembers` does to a
    /// parsed value, done to text.
    public static func removingMembers(_ paths: [[String]], fromText text: [UInt8]) throws -> [UInt8] {
        try JSONParser.removingMembers(paths, from: text)
    }

    /// A list's text cut into its items without parsing them: each item's own text,
    /// with `apiVersion` and `kind` put first where it lacks them (a list's items
    /// carry none), and the list's parsed `metadata`. Each item is checked by whatever
    /// decodes it; the list's structure and the items' member names are checked here.
    /// Items nil: the text has no `items` member (not a list).
    public static func listItems(fromText text: [UInt8], apiVersion: String, kind: String) throws -> (items: [[UInt8]]?, metadata: JSONValue) {
        let (ranges, metadata) = try JSONParser.listPage(in: text)
        let ensured = [(name: "apiVersion", value: apiVersion), (name: "kind", value: kind)]
        return (try ranges?.map { try JSONParser.object(in: text, range: $0, ensuring: ensured) }, metadata)
    }

    /// The value at a path of object members, e.g. `["metadata", "name"]`.
    public subscript(path path: [String]) -> JSONValue? {
        get {
            var current: JSONValue? = self
            for key in path { current = current?[key] }
            return current
        }
        set {
            guard let first = path.first else {
                self = newValue ?? .null
                return
            }
            if path.count == 1 {
                self[first] = newValue
                return
            }
            var child = self[first] ?? .object([:])
            if case .object = child {} else { child = .object([:]) }
            child[path: Array(path.dropFirst())] = newValue
            self[first] = child
        }
    }

    /// Removes an object member; returns the removed value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard case .object(var members) = self, let removed = members.removeValue(forKey: key) else { return nil }
        self = .object(members)
        return removed
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 9.0e15: return Int64(value)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// The JSON type name used in error messages: object, array, string, integer, number, boolean, null.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue {
    /// Decodes JSON text (`JSONParser`; numbers keep integer or floating kind).
    public static func decode(_ data: Data) throws -> JSONValue {
        try JSONParser.parse(data)
    }

    /// Decodes JSON text held in bytes.
    public static func decode(_ bytes: [UInt8]) throws -> JSONValue {
        try JSONParser.parse(bytes)
    }

    /// The string at `path` in JSON text, read without parsing the rest (an object's
    /// `metadata.resourceVersion`, say); nil when absent or not a string.
    public static func string(at path: [String], in bytes: [UInt8]) throws -> String? {
        try JSONParser.string(at: path, in: bytes)
    }

    /// Decodes JSON text with Foundation's JSONSerialization: the reference the
    /// parser is tested against.
    public static func decodeWithFoundation(_ data: Data) throws -> JSONValue {
        try JSONValue(foundation: JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    private static let booleanType = ObjectIdentifier(type(of: NSNumber(value: true)))

    private init(foundation value: Any) throws {
        switch value {
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            if ObjectIdentifier(type(of: number)) == Self.booleanType {
                self = .bool(number.boolValue)
            } else {
                switch UInt8(bitPattern: number.objCType.pointee) {
                case UInt8(ascii: "d"), UInt8(ascii: "f"): self = .double(number.doubleValue)
                case UInt8(ascii: "Q"): self = number.uint64Value > UInt64(Int64.max) ? .double(number.doubleValue) : .int(number.int64Value)
                default: self = .int(number.int64Value)
                }
            }
        case let array as [Any]:
            self = .array(try array.map(JSONValue.init(foundation:)))
        case let object as [String: Any]:
            self = .object(try object.mapValues(JSONValue.init(foundation:)))
        case is NSNull:
            self = .null
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "unexpected JSON value \(type(of: value))"))
        }
    }

    /// Encodes as compact JSON with sorted keys (stable output for tests and diffs).
    public func encoded() -> Data {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        write(to: &bytes)
        return Data(bytes)
    }

    /// Appends this value's JSON text.
    public func write(to bytes: inout [UInt8]) {
        switch self {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let value): bytes.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): bytes.append(contentsOf: String(value).utf8)
        case .double(let value):
            bytes.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
        case .string(let value): Self.writeString(value, to: &bytes)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                element.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                Self.writeString(key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                members[key]!.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    static func writeString(_ string: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        // Most strings need no escape: one copy of their bytes (scanned in place: the
        // view's own iteration is several times slower).
        let plain = string.utf8.withContiguousStorageIfAvailable { utf8 -> Bool in
            for byte in utf8 where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if plain ?? !string.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            if plain == nil { bytes.append(contentsOf: string.utf8) }
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(hexDigits[Int(byte >> 4)])
                bytes.append(hexDigits[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The value converted to a Codable type through its JSON form.
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: encoded())
    }

    /// Any Encodable value as a JSONValue, through its JSON form.
    public init<T: Encodable>(encoding value: T) throws {
        self = try JSONValue.decode(JSONEncoder().encode(value))
    }
}

extension JSONValue {
    /// This value with an RFC 7386 JSON merge patch applied: objects merge member by
    /// member, `null` removes a member, anything else replaces.
    public func applyingMergePatch(_ patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var members = objectValue ?? [:]
        for (key, patchValue) in patchMembers {
            if patchValue == .null {
                members.removeValue(forKey: key)
            } else {
                members[key] = (members[key] ?? .null).applyingMergePatch(patchValue)
            }
        }
        return .object(members)
    }

    /// The RFC 7386 merge patch that turns `original` into `modified`.
    public static func mergePatch(from original: JSONValue, to modified: JSONValue) -> JSONValue {
        guard case .object(let old) = original, case .object(let new) = modified else { return modified }
        var patch: [String: JSONValue] = [:]
        for (key, oldValue) in old where new[key] == nil {
            _ = oldValue
            patch[key] = .null
        }
        for (key, newValue) in new {
            guard let oldValue = old[key] else {
                patch[key] = newValue
                continue
            }
            if oldValue == newValue { continue }
            if case .object = oldValue, case .object = newValue {
                patch[key] = mergePatch(from: oldValue, to: newValue)
            } else {
                patch[key] = newValue
            }
        }
        return .object(patch)
    }
}
