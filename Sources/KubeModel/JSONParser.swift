import Foundation

/// JSON text (RFC 8259) straight into `JSONValue`. Every object the client reads and
/// the fake API server stores passes through here; Foundation's JSONSerialization
/// builds NSDictionary and NSNumber trees that then have to be cast back, most of
/// the cost of a large list (#15). No package in reach parses into our own tree, so
/// this one is ours. Strict: no trailing commas, leading zeros, unescaped control
/// characters, lone surrogates or invalid UTF-8; integers that fit in Int64 stay
/// integers, every other number is a Double; the last of duplicate keys wins.
struct JSONParser {
    /// Nesting deeper than this is refused (a recursive parser's stack is finite).
    static let maxDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { raw in try parse(raw) }
    }

    static func parse(_ data: Data) throws -> JSONValue {
        try data.withUnsafeBytes { raw in try parse(raw) }
    }

    private static func parse(_ raw: UnsafeRawBufferPointer) throws -> JSONValue {
        var parser = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
        parser.skipWhitespace()
        let value = try parser.value()
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.failure("unexpected text after the JSON value") }
        return value
    }

    /// The string at `path` (member names from the top object down), reading no
    /// further than it: what precedes it is parsed and dropped, what follows is not
    /// read. Nil when a member is missing or the value is not a string. The first of
    /// duplicate names is taken (servers do not send duplicates).
    static func string(at path: [String], in bytes: [UInt8]) throws -> String? {
        try bytes.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
            parser.skipWhitespace()
            return try parser.member(path[...])
        }
    }

    /// The top object's members as the byte ranges of their values. The names are
    /// read strictly; each value is only stepped over (strings by their quotes and
    /// escapes, objects and arrays by their brackets) and not checked inside: a watch
    /// event's object is decoded from its own text by its reader, which checks it.
    /// The last of duplicate names wins.
    static func memberRanges(in bytes: [UInt8]) throws -> [String: Range<Int>] {
        try bytes.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
            parser.skipWhitespace()
            guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "{") else { throw parser.failure("expected an object") }
            parser.index += 1
            parser.skipWhitespace()
            var members: [String: Range<Int>] = [:]
            if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "}") {
                parser.index += 1
            } else {
                repeat {
                    let name = try parser.memberName()
                    let start = parser.index
                    try parser.skipValue()
                    members[name] = start..<parser.index
                } while try parser.anotherMember()
            }
            parser.skipWhitespace()
            guard parser.index == parser.bytes.count else { throw parser.failure("unexpected text after the JSON value") }
            return members
        }
    }

    /// A list's text cut into its objects without parsing them: the byte ranges of the
    /// `items` array's elements (stepped over as `memberRanges` does; each is read by
    /// its own decoder, which checks it) and the parsed `metadata` (resourceVersion,
    /// continue). Items nil: the text has no `items` member; `null` is no items.
    static func listPage(in bytes: [UInt8]) throws -> (items: [Range<Int>]?, metadata: JSONValue) {
        let members = try memberRanges(in: bytes)
        let metadata = try members["metadata"].map { range in try bytes.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[range]))
            return try parser.value()
        } } ?? .null
        guard let range = members["items"] else { return (nil, metadata) }
        return try bytes.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
            parser.index = range.lowerBound
            if parser.bytes[parser.index] == UInt8(ascii: "n") {
                try parser.literal("null")
                return ([], metadata)
            }
            guard parser.bytes[parser.index] == UInt8(ascii: "[") else { throw parser.failure("items is not an array") }
            parser.index += 1
            parser.skipWhitespace()
            var items: [Range<Int>] = []
            guard parser.index < range.upperBound, parser.bytes[parser.index] != UInt8(ascii: "]") else { return (items, metadata) }
            while true {
                let start = parser.index
                try parser.skipValue()
                items.append(start..<parser.index)
                parser.skipWhitespace()
                guard parser.index < range.upperBound else { throw parser.failure("unexpected end of input") }
                if parser.bytes[parser.index] == UInt8(ascii: "]") { break }
                guard parser.bytes[parser.index] == UInt8(ascii: ",") else { throw parser.failure("expected ',' or ']'") }
                parser.index += 1
                parser.skipWhitespace()
            }
            return (items, metadata)
        }
    }

    /// The object at `range` of `bytes` as its own text, with the string members of
    /// `ensuring` that its top level lacks put first (a list's items carry no
    /// apiVersion and kind). Its member names are read strictly, values stepped over.
    static func object(in bytes: [UInt8], range: Range<Int>, ensuring members: [(name: String, value: String)]) throws -> [UInt8] {
        try bytes.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[range]))
            guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "{") else { throw parser.failure("expected an object") }
            parser.index += 1
            parser.skipWhitespace()
            var missing = members
            let empty = parser.index < parser.bytes.count && parser.bytes[parser.index] == UInt8(ascii: "}")
            if empty {
                parser.index += 1
            } else {
                repeat {
                    let name = try parser.memberName()
                    if let found = missing.firstIndex(where: { $0.name == name }) { missing.remove(at: found) }
                    try parser.skipValue()
                } while try parser.anotherMember()
            }
            parser.skipWhitespace()
            guard parser.index == parser.bytes.count else { throw parser.failure("unexpected text after the JSON value") }
            guard !missing.isEmpty else { return Array(parser.bytes) }
            var out: [UInt8] = [UInt8(ascii: "{")]
            out.reserveCapacity(parser.bytes.count + 64)
            for (offset, member) in missing.enumerated() {
                if offset > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(member.name, to: &out)
                out.append(UInt8(ascii: ":"))
                JSONValue.writeString(member.value, to: &out)
            }
            if empty {
                out.append(UInt8(ascii: "}"))
            } else {
                out.append(UInt8(ascii: ","))
                out.append(contentsOf: UnsafeBufferPointer(rebasing: parser.bytes[1...]))
            }
            return out
        }
    }

    /// The text of a JSON object without the members at `paths` (member names from
    /// the top object down); everything else is copied byte for byte. The names on
    /// the way are read strictly, the values stepped over as `memberRanges` does.
    static func removingMembers(_ paths: [[String]], from bytes: [UInt8]) throws -> [UInt8] {
        guard !paths.isEmpty else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        try bytes.withUnsafeBytes { raw in
            var parser = JSONParser(bytes: raw.bindMemory(to: UInt8.self))
            parser.skipWhitespace()
            try parser.copyObject(removing: paths, into: &out)
            parser.skipWhitespace()
            guard parser.index == parser.bytes.count else { throw parser.failure("unexpected text after the JSON value") }
        }
        return out
    }

    private mutating func copyObject(removing paths: [[String]], into out: inout [UInt8]) throws {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw failure("expected an object") }
        try nested { parser in
            parser.index += 1
            parser.skipWhitespace()
            out.append(UInt8(ascii: "{"))
            defer { out.append(UInt8(ascii: "}")) }
            if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "}") {
                parser.index += 1
                return
            }
            var first = true
            repeat {
                let nameStart = parser.index
                guard nameStart < parser.bytes.count, parser.bytes[nameStart] == UInt8(ascii: "\"") else { throw parser.failure("expected a member name") }
                let name = try parser.string()
                let nameEnd = parser.index
                parser.skipWhitespace()
                guard parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: ":") else { throw parser.failure("expected ':'") }
                parser.index += 1
                parser.skipWhitespace()
                if paths.contains(where: { $0.count == 1 && $0[0] == name }) {
                    try parser.skipValue()
                    continue
                }
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(contentsOf: UnsafeBufferPointer(rebasing: parser.bytes[nameStart..<nameEnd]))
                out.append(UInt8(ascii: ":"))
                let inner = paths.filter { $0.count > 1 && $0[0] == name }.map { Array($0.dropFirst()) }
                if !inner.isEmpty, parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "{") {
                    try parser.copyObject(removing: inner, into: &out)
                } else {
                    let start = parser.index
                    try parser.skipValue()
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: parser.bytes[start..<parser.index]))
                }
            } while try parser.anotherMember()
        }
    }

    /// Steps over one value without building it (see `memberRanges`).
    private mutating func skipValue() throws {
        var depth = 0
        repeat {
            guard index < bytes.count else { throw failure("unexpected end of input") }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                while true {
                    guard index < bytes.count else { throw failure("unterminated string") }
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "\\") {
                        index += 1
                    } else if byte == UInt8(ascii: "\"") {
                        break
                    }
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                guard depth <= Self.maxDepth else { throw failure("nested more than \(Self.maxDepth) deep") }
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard depth > 0 else { throw failure("unexpected character") }
                depth -= 1
                index += 1
            default:
                guard depth == 0 else {
                    index += 1  // separators, whitespace, a scalar's bytes
                    continue
                }
                // A number or literal on its own: up to the next delimiter.
                let start = index
                scalar: while index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x0A, 0x0D, 0x09: break scalar
                    default: index += 1
                    }
                }
                guard index > start else { throw failure("unexpected character") }
            }
        } while depth > 0
    }

    private mutating func member(_ path: ArraySlice<String>) throws -> String? {
        guard let name = path.first else {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            return try string()
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        return try nested { parser in
            parser.index += 1  // {
            parser.skipWhitespace()
            if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "}") { return nil }
            repeat {
                if try parser.memberName() == name { return try parser.member(path.dropFirst()) }
                _ = try parser.value()
            } while try parser.anotherMember()
            return nil
        }
    }

    private func failure(_ message: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "invalid JSON at byte \(index): \(message)"))
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private mutating func value() throws -> JSONValue {
        guard index < bytes.count else { throw failure("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try number()
        default:
            throw failure("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw failure("unexpected end of input") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw failure("unexpected character")
        }
        index += count
    }

    private mutating func nested<T>(_ body: (inout JSONParser) throws -> T) throws -> T {
        depth += 1
        guard depth <= Self.maxDepth else { throw failure("nested more than \(Self.maxDepth) deep") }
        defer { depth -= 1 }
        return try body(&self)
    }

    private mutating func object() throws -> JSONValue {
        try nested { parser in
            parser.index += 1  // {
            var members: [String: JSONValue] = [:]
            parser.skipWhitespace()
            if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "}") {
                parser.index += 1
                return .object(members)
            }
            repeat {
                let key = try parser.memberName()
                members[key] = try parser.value()
            } while try parser.anotherMember()
            return .object(members)
        }
    }

    /// A member's name and the ':' after it; the index is left at its value.
    private mutating func memberName() throws -> String {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a member name") }
        let key = try string()
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
        index += 1
        skipWhitespace()
        return key
    }

    /// After a member's value: true at ',' (another member follows), false at the
    /// object's '}' (consumed).
    private mutating func anotherMember() throws -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: ","):
            index += 1
            skipWhitespace()
            return true
        case UInt8(ascii: "}"):
            index += 1
            return false
        default:
            throw failure("expected ',' or '}'")
        }
    }

    private mutating func array() throws -> JSONValue {
        try nested { parser in
            parser.index += 1  // [
            var elements: [JSONValue] = []
            parser.skipWhitespace()
            if parser.index < parser.bytes.count, parser.bytes[parser.index] == UInt8(ascii: "]") {
                parser.index += 1
                return .array(elements)
            }
            while true {
                elements.append(try parser.value())
                parser.skipWhitespace()
                guard parser.index < parser.bytes.count else { throw parser.failure("unexpected end of input") }
                switch parser.bytes[parser.index] {
                case UInt8(ascii: ","):
                    parser.index += 1
                    parser.skipWhitespace()
                case UInt8(ascii: "]"):
                    parser.index += 1
                    return .array(elements)
                default:
                    throw parser.failure("expected ',' or ']'")
                }
            }
        }
    }

    /// A string from its opening quote; the text between quotes is copied once when
    /// it has no escape.
    private mutating func string() throws -> String {
        index += 1  // "
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                return try utf8(UnsafeBufferPointer(rebasing: bytes[start..<index]))
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw failure("a control character in a string must be escaped") }
            index += 1
        }
        var decoded = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return try decoded.withUnsafeBufferPointer { try utf8($0) }
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw failure("unexpected end of input") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escaped)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw failure("a high surrogate without its low surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw failure("a high surrogate without its low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw failure("a lone low surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw failure("not a Unicode scalar") }
                    decoded.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw failure("an unknown escape")
                }
            default:
                guard byte >= 0x20 else { throw failure("a control character in a string must be escaped") }
                decoded.append(byte)
                index += 1
            }
        }
        throw failure("an unterminated string")
    }

    private func utf8(_ buffer: UnsafeBufferPointer<UInt8>) throws -> String {
        guard let string = String(validating: buffer, as: UTF8.self) else { throw failure("a string that is not UTF-8") }
        return string
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - index >= 4 else { throw failure("unexpected end of input") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape needs four hex digits")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func number() throws -> JSONValue {
        let start = index
        var integral = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { throw failure("a number needs a digit") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { throw failure("a number has no leading zero") }
        } else {
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { throw failure("a fraction needs a digit") }
            skipDigits()
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { throw failure("an exponent needs a digit") }
            skipDigits()
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else { throw failure("a number out of range") }
        return .double(value)
    }

    private mutating func skipDigits() {
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
    }
}
