import Foundation

/// An XML element of an S3 (or STS) response: local name (namespace prefix
/// dropped), its own character data, children.
///
/// Parsed here rather than with FoundationXML's XMLParser: that links libxml2, which
/// pulls Debian's libicu (33 MB) into the image for the few small, well-formed
/// documents S3 and STS answer with. The parser reads XML 1.0 as those services write
/// it: a declaration, comments and processing instructions (skipped), elements with
/// attributes (quoted values skipped), CDATA sections, the five predefined entities
/// and character references. A DOCTYPE (which could define entities), an undefined
/// entity, a mismatched or unclosed tag, or text outside the root element makes the
/// document unreadable (nil), as a validating client would refuse it.
struct S3XMLElement: Equatable {
    var name: String
    var text = ""
    var children: [S3XMLElement] = []

    /// The first child named `name`.
    subscript(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }

    func all(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }

    /// The root element of `data`, or nil when it is not well-formed XML.
    static func parse(_ data: Data) -> S3XMLElement? {
        var parser = Parser(bytes: [UInt8](data))
        return parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var stack: [(element: S3XMLElement, qualifiedName: String)] = []
        var root: S3XMLElement?

        init(bytes: [UInt8]) {
            // A UTF-8 byte order mark is allowed before the declaration.
            self.bytes = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(bytes.dropFirst(3)) : bytes
        }

        mutating func document() -> S3XMLElement? {
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "<") {
                    guard markup() else { return nil }
                } else {
                    let start = index
                    while index < bytes.count, bytes[index] != UInt8(ascii: "<") { index += 1 }
                    guard let text = decodeText(bytes[start..<index]) else { return nil }
                    if stack.isEmpty {
                        // Outside the root only whitespace may appear.
                        guard text.allSatisfy({ $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }) else { return nil }
                    } else {
                        stack[stack.count - 1].element.text += text
                    }
                }
            }
            return stack.isEmpty ? root : nil
        }

        /// One `<...>` construct at `index`; false when malformed.
        mutating func markup() -> Bool {
            if has("<?") { return skip(past: "?>") }
            if has("<!--") { return skip(past: "-->") }
            if has("<![CDATA[") {
                guard !stack.isEmpty, let end = find("]]>", from: index + 9) else { return false }
                stack[stack.count - 1].element.text += String(decoding: bytes[(index + 9)..<end], as: UTF8.self)
                index = end + 3
                return true
            }
            if has("<!") { return false }  // DOCTYPE and other declarations are refused.
            if has("</") {
                index += 2
                guard let name = name(), let open = stack.popLast(), open.qualifiedName == name else { return false }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else { return false }
                index += 1
                if stack.isEmpty {
                    guard root == nil else { return false }
                    root = open.element
                } else {
                    stack[stack.count - 1].element.children.append(open.element)
                }
                return true
            }
            index += 1
            guard let name = name(), stack.isEmpty ? root == nil : true else { return false }
            let element = S3XMLElement(name: name.split(separator: ":", maxSplits: 1).last.map(String.init) ?? name)
            while true {
                skipSpace()
                guard index < bytes.count else { return false }
                if has("/>") {
                    index += 2
                    if stack.isEmpty { root = element } else { stack[stack.count - 1].element.children.append(element) }
                    return true
                }
                if bytes[index] == UInt8(ascii: ">") {
                    index += 1
                    stack.append((element, name))
                    return true
                }
                // An attribute: name = "value" (namespace declarations included; not kept).
                guard self.name() != nil else { return false }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { return false }
                index += 1
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") else { return false }
                let quote = bytes[index]
                index += 1
                while index < bytes.count, bytes[index] != quote { index += 1 }
                guard index < bytes.count else { return false }
                index += 1
            }
        }

        /// A name at `index` (letters, digits, `_ - . :`, and any non-ASCII byte).
        mutating func name() -> String? {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                let isNameByte = byte >= 0x80 || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: ":")
                guard isNameByte else { break }
                index += 1
            }
            return index > start ? String(decoding: bytes[start..<index], as: UTF8.self) : nil
        }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
        }

        func has(_ prefix: String) -> Bool {
            let utf8 = Array(prefix.utf8)
            return bytes.count - index >= utf8.count && bytes[index..<(index + utf8.count)].elementsEqual(utf8)
        }

        func find(_ terminator: String, from start: Int) -> Int? {
            let utf8 = Array(terminator.utf8)
            var position = start
            while position + utf8.count <= bytes.count {
                if bytes[position..<(position + utf8.count)].elementsEqual(utf8) { return position }
                position += 1
            }
            return nil
        }

        mutating func skip(past terminator: String) -> Bool {
            guard let end = find(terminator, from: index + 2) else { return false }
            index = end + terminator.utf8.count
            return true
        }

        /// Character data with its references resolved; nil for an unknown or broken one.
        func decodeText(_ raw: ArraySlice<UInt8>) -> String? {
            guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
            var result = ""
            var rest = raw[...]
            while let ampersand = rest.firstIndex(of: UInt8(ascii: "&")) {
                result += String(decoding: rest[rest.startIndex..<ampersand], as: UTF8.self)
                guard let semicolon = rest[ampersand...].firstIndex(of: UInt8(ascii: ";")) else { return nil }
                let reference = String(decoding: rest[(ampersand + 1)..<semicolon], as: UTF8.self)
                if let character = xmlEntities.first(where: { $0.name == reference })?.character {
                    result.append(character)
                } else {
                    let scalar: UInt32?
                    if reference.hasPrefix("#x") {
                        scalar = UInt32(reference.dropFirst(2), radix: 16)
                    } else if reference.hasPrefix("#") {
                        scalar = UInt32(reference.dropFirst(), radix: 10)
                    } else {
                        scalar = nil
                    }
                    guard let value = scalar, let character = Unicode.Scalar(value) else { return nil }
                    result.unicodeScalars.append(character)
                }
                rest = rest[(semicolon + 1)...]
            }
            return result + String(decoding: rest, as: UTF8.self)
        }
    }
}

/// XML's five predefined entities, read and written.
let xmlEntities: [(name: String, character: Character)] = [("amp", "&"), ("lt", "<"), ("gt", ">"), ("quot", "\""), ("apos", "'")]

/// XML text escaping for the bodies the client sends.
func xmlEscape(_ text: String) -> String {
    var result = ""
    for ch in text {
        if let entity = xmlEntities.first(where: { $0.character == ch }) {
            result += "&\(entity.name);"
        } else {
            result.append(ch)
        }
    }
    return result
}
