import Foundation

/// Encodes an `Encodable` straight into JSON bytes as its `encode(to:)` runs: no
/// intermediate tree of references as JSONEncoder builds. The operator encodes one
/// Job (a pod template of many nested optionals) per Database, and JSONEncoder was
/// 14% of its CPU at 10,000 Databases (#15).
///
/// Containers are written in the order they are used, which is how synthesized and
/// ordinary hand-written `Codable` code uses them. Code that goes back to a container
/// after writing into a later one (or encodes one key twice) cannot be streamed:
/// `encode` throws `OutOfOrder` and the caller uses JSONEncoder (`encodeOrFallBack`).
/// Output matches JSONEncoder's defaults: keys as given, `Data` as base64, `URL` as
/// its absolute string, `Decimal` as a number; a value that opens no container is `{}`;
/// a non-finite floating-point number is an error. `JSONValue`, `[String: String]` and
/// `[String]` are written directly, not through Codable's containers (a JSONValue's
/// members sorted, as `JSONValue.write` writes them).
public struct StreamingJSONEncoder {
    /// Thrown for an order of container use the stream cannot follow.
    public struct OutOfOrder: Error {}

    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = StreamState()
        state.bytes.reserveCapacity(2048)
        try state.encodeValue(value, level: 0, path: [])
        state.close(above: -1)
        return state.bytes
    }

    /// `encode`, or JSONEncoder's bytes for a value the stream cannot follow.
    public static func encodeOrFallBack<T: Encodable>(_ value: T) throws -> [UInt8] {
        do {
            return try StreamingJSONEncoder().encode(value)
        } catch is OutOfOrder {
            return Array(try JSONEncoder().encode(value))
        }
    }
}

/// The bytes written so far and the containers still open, outermost first.
private final class StreamState {
    struct Frame {
        let id: Int
        let isObject: Bool
        var isEmpty = true
    }

    var bytes: [UInt8] = []
    var frames: [Frame] = []
    private var nextID = 0

    /// Closes every container deeper than `level` (a later write at `level` or above
    /// means they are done).
    func close(above level: Int) {
        while frames.count > level + 1 {
            let frame = frames.removeLast()
            bytes.append(frame.isObject ? UInt8(ascii: "}") : UInt8(ascii: "]"))
        }
    }

    /// Opens a container at `level` (the level's value starts here).
    func open(isObject: Bool, level: Int) throws -> Int {
        guard frames.count == level else { throw StreamingJSONEncoder.OutOfOrder() }
        nextID += 1
        frames.append(Frame(id: nextID, isObject: isObject))
        bytes.append(isObject ? UInt8(ascii: "{") : UInt8(ascii: "["))
        return nextID
    }

    /// Before a member or element of the container `id` at `level`: closes what was
    /// opened since, writes the separator (and the key).
    func begin(id: Int, level: Int, key: String?) throws {
        guard frames.count > level, frames[level].id == id else { throw StreamingJSONEncoder.OutOfOrder() }
        close(above: level)
        if !frames[level].isEmpty { bytes.append(UInt8(ascii: ",")) }
        frames[level].isEmpty = false
        if let key {
            JSONValue.writeString(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
        }
    }

    /// Writes one value at `level` (its separator and key already written).
    func encodeValue<T: Encodable>(_ value: T, level: Int, path: [any CodingKey]) throws {
        // Type comparisons, not dynamic casts: this runs for every value.
        if T.self == Data.self {
            JSONValue.writeString((value as! Data).base64EncodedString(), to: &bytes)
        } else if T.self == URL.self {
            JSONValue.writeString((value as! URL).absoluteString, to: &bytes)
        } else if T.self == Decimal.self {
            bytes.append(contentsOf: (value as! Decimal).description.utf8)
        } else if T.self == JSONValue.self {
            // Written directly: through Codable each node is a container of its own
            // (a Job's security contexts, volumes and resources are JSONValues).
            try write(json: value as! JSONValue, path: path)
        } else if T.self == [String: String].self {
            // Labels and annotations, in the dictionary's order as JSONEncoder writes them.
            bytes.append(UInt8(ascii: "{"))
            for (index, (key, member)) in (value as! [String: String]).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                JSONValue.writeString(member, to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        } else if T.self == [String].self {
            bytes.append(UInt8(ascii: "["))
            for (index, element) in (value as! [String]).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONValue.writeString(element, to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        } else {
            let start = bytes.count
            try value.encode(to: StreamEncoder(state: self, level: level, codingPath: path))
            if bytes.count == start { bytes.append(contentsOf: "{}".utf8) }
        }
    }

    /// A JSONValue as `JSONValue.write` writes it (object members sorted), except that
    /// a non-finite number is an error here too.
    func write(json value: JSONValue, path: [any CodingKey]) throws {
        switch value {
        case .double(let number):
            try write(floating: number, path: path)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                try write(json: element, path: path)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                try write(json: members[key]!, path: path)
            }
            bytes.append(UInt8(ascii: "}"))
        case .null, .bool, .int, .string:
            value.write(to: &bytes)
        }
    }

    func writeRaw(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    func write(_ value: String) { JSONValue.writeString(value, to: &bytes) }

    func write<I: BinaryInteger>(integer value: I) { bytes.append(contentsOf: String(value).utf8) }

    func write<F: BinaryFloatingPoint & LosslessStringConvertible>(floating value: F, path: [any CodingKey]) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "\(value) is not valid JSON"))
        }
        bytes.append(contentsOf: String(value).utf8)
    }
}

private struct StreamEncoder: Encoder {
    let state: StreamState
    let level: Int
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let id = reuse(isObject: true) ?? (try? state.open(isObject: true, level: level)) ?? -1
        return KeyedEncodingContainer(StreamKeyed<Key>(state: state, level: level, id: id, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let id = reuse(isObject: false) ?? (try? state.open(isObject: false, level: level)) ?? -1
        return StreamUnkeyed(state: state, level: level, id: id, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        StreamSingle(state: state, level: level, codingPath: codingPath)
    }

    /// The container this value opened already, when it asks again. (A value's
    /// encoding starts with nothing open at its level: the write that led to it
    /// closed what its earlier siblings had opened.)
    private func reuse(isObject: Bool) -> Int? {
        guard state.frames.count > level, state.frames[level].isObject == isObject else { return nil }
        return state.frames[level].id
    }
}

private struct StreamKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: StreamState
    let level: Int
    /// -1: opening failed (out of order); every write then throws.
    let id: Int
    let codingPath: [any CodingKey]

    private func begin(_ key: Key) throws {
        try state.begin(id: id, level: level, key: key.stringValue)
    }

    mutating func encodeNil(forKey key: Key) throws {
        try begin(key)
        state.writeRaw("null")
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws {
        try begin(key)
        state.writeRaw(value ? "true" : "false")
    }

    mutating func encode(_ value: String, forKey key: Key) throws {
        try begin(key)
        state.write(value)
    }

    mutating func encode(_ value: Double, forKey key: Key) throws {
        try begin(key)
        try state.write(floating: value, path: codingPath + [key])
    }

    mutating func encode(_ value: Float, forKey key: Key) throws {
        try begin(key)
        try state.write(floating: value, path: codingPath + [key])
    }

    mutating func encode(_ value: Int, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try begin(key); state.write(integer: value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try begin(key); state.write(integer: value) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        try state.encodeValue(value, level: level + 1, path: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = (try? begin(key)).flatMap { try? state.open(isObject: true, level: level + 1) } ?? -1
        return KeyedEncodingContainer(StreamKeyed<NestedKey>(state: state, level: level + 1, id: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = (try? begin(key)).flatMap { try? state.open(isObject: false, level: level + 1) } ?? -1
        return StreamUnkeyed(state: state, level: level + 1, id: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { FailingEncoder(codingPath: codingPath) }

    mutating func superEncoder(forKey key: Key) -> any Encoder { FailingEncoder(codingPath: codingPath + [key]) }
}

private struct StreamUnkeyed: UnkeyedEncodingContainer, StreamValueWriter {
    let state: StreamState
    let level: Int
    let id: Int
    let codingPath: [any CodingKey]
    private(set) var count = 0

    init(state: StreamState, level: Int, id: Int, codingPath: [any CodingKey]) {
        self.state = state
        self.level = level
        self.id = id
        self.codingPath = codingPath
    }

    mutating func begin() throws {
        try state.begin(id: id, level: level, key: nil)
        count += 1
    }

    /// Elements are values one level down.
    var valueLevel: Int { level + 1 }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = (try? begin()).flatMap { try? state.open(isObject: true, level: level + 1) } ?? -1
        return KeyedEncodingContainer(StreamKeyed<NestedKey>(state: state, level: level + 1, id: nested, codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = (try? begin()).flatMap { try? state.open(isObject: false, level: level + 1) } ?? -1
        return StreamUnkeyed(state: state, level: level + 1, id: nested, codingPath: codingPath)
    }

    mutating func superEncoder() -> any Encoder { FailingEncoder(codingPath: codingPath) }
}

private struct StreamSingle: SingleValueEncodingContainer, StreamValueWriter {
    let state: StreamState
    let level: Int
    let codingPath: [any CodingKey]

    /// A single value is written once, where its value starts (nothing opened there).
    func begin() throws {
        guard state.frames.count == level else { throw StreamingJSONEncoder.OutOfOrder() }
    }

    /// The value is this one.
    var valueLevel: Int { level }
}

/// The primitive writes an unkeyed and a single-value container share: each value
/// after `begin()` (separator, order check), a nested one at `valueLevel`.
private protocol StreamValueWriter {
    var state: StreamState { get }
    var codingPath: [any CodingKey] { get }
    var valueLevel: Int { get }
    mutating func begin() throws
}

extension StreamValueWriter {
    mutating func encodeNil() throws {
        try begin()
        state.writeRaw("null")
    }

    mutating func encode(_ value: Bool) throws {
        try begin()
        state.writeRaw(value ? "true" : "false")
    }

    mutating func encode(_ value: String) throws {
        try begin()
        state.write(value)
    }

    mutating func encode(_ value: Double) throws {
        try begin()
        try state.write(floating: value, path: codingPath)
    }

    mutating func encode(_ value: Float) throws {
        try begin()
        try state.write(floating: value, path: codingPath)
    }

    mutating func encode(_ value: Int) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: Int8) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: Int16) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: Int32) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: Int64) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: UInt) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: UInt8) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: UInt16) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: UInt32) throws { try begin(); state.write(integer: value) }
    mutating func encode(_ value: UInt64) throws { try begin(); state.write(integer: value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        try state.encodeValue(value, level: valueLevel, path: codingPath)
    }
}

/// `superEncoder`: not streamed (nothing in this project uses it); any use throws.
private struct FailingEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(StreamKeyed<Key>(state: StreamState(), level: 0, id: -1, codingPath: codingPath))
    }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { StreamUnkeyed(state: StreamState(), level: 0, id: -1, codingPath: codingPath) }
    func singleValueContainer() -> any SingleValueEncodingContainer { StreamSingle(state: StreamState(), level: -1, codingPath: codingPath) }
}
