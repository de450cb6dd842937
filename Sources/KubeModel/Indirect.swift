/// An optional section of an API type kept out of line, in a shared immutable box:
/// the containing struct holds one reference (8 bytes) instead of the section's
/// whole inline size, whether or not the section is there. A `Database` held 1.5 KB
/// inline, mostly `nil` optionals of its backup target and restore and clone
/// sources, once per cached Database (#15's memory goal).
///
/// Reads and writes look like those of the plain optional (`spec.backupTo?.s3`,
/// `status?.phase = …`); a write replaces the box. It encodes and decodes as the
/// optional does: absent when nil, no `null` written (see the container extensions).
@propertyWrapper
public struct Indirect<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    private final class Box: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box?

    public init(wrappedValue: Value?) {
        box = wrappedValue.map(Box.init)
    }

    public var wrappedValue: Value? {
        get { box?.value }
        set { box = newValue.map(Box.init) }
    }

    public static func == (a: Indirect, b: Indirect) -> Bool { a.wrappedValue == b.wrappedValue }

    public func hash(into hasher: inout Hasher) { hasher.combine(wrappedValue) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        box = container.decodeNil() ? nil : Box(try container.decode(Value.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value = wrappedValue { try container.encode(value) } else { try container.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// An absent key is a nil section, as for a plain optional (synthesized Codable
    /// calls `decode` for a wrapped property, which would throw on a missing key).
    public func decode<Value>(_ type: Indirect<Value>.Type, forKey key: Key) throws -> Indirect<Value> {
        Indirect(wrappedValue: try decodeIfPresent(Value.self, forKey: key))
    }
}

extension KeyedEncodingContainer {
    /// A nil section is left out, as `encodeIfPresent` leaves out a plain optional.
    public mutating func encode<Value>(_ value: Indirect<Value>, forKey key: Key) throws {
        try encodeIfPresent(value.wrappedValue, forKey: key)
    }
}
