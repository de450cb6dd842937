import Foundation
import KubeModel
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    @Test("integers, doubles, strings, arrays, objects and null survive a decode-encode round trip")
    func roundTrip() throws {
        let text = #"{"a":1,"b":1.5,"c":"x","d":[true,null],"e":{"f":-9007199254740993}}"#
        let value = try JSONValue.decode(Data(text.utf8))
        #expect(value["a"] == .int(1))
        #expect(value["b"] == .double(1.5))
        #expect(value[path: ["e", "f"]] == .int(-9_007_199_254_740_993))
        #expect(String(decoding: value.encoded(), as: UTF8.self) == text)
    }

    @Test("strings are escaped so that the output parses back to the same value")
    func escaping() throws {
        let value: JSONValue = ["quote\"back\\slash": "line\nbreak\ttab\u{01}ctl/slash é 🎉", "t": true, "f": false, "z": 0, "one": 1, "d": 1.0]
        let text = String(decoding: value.encoded(), as: UTF8.self)
        #expect(text.contains(#"\u0001"#))
        #expect(try JSONValue.decode(value.encoded()) == value)
    }

    @Test("a merge patch merges objects, removes members set to null and replaces arrays")
    func mergePatch() {
        let original: JSONValue = ["a": ["b": 1, "c": 2], "list": [1, 2], "keep": "x"]
        let patch: JSONValue = ["a": ["b": nil, "d": 3], "list": [3]]
        #expect(original.applyingMergePatch(patch) == ["a": ["c": 2, "d": 3], "list": [3], "keep": "x"])
    }

    @Test("the computed merge patch turns the original into the modified value")
    func computedMergePatch() {
        let original: JSONValue = ["a": ["b": 1, "c": 2], "gone": true, "same": "s"]
        let modified: JSONValue = ["a": ["b": 5, "c": 2], "new": [1], "same": "s"]
        let patch = JSONValue.mergePatch(from: original, to: modified)
        #expect(patch == ["a": ["b": 5], "gone": nil, "new": [1]])
        #expect(original.applyingMergePatch(patch) == modified)
    }

    @Test("setting a value at a path creates the objects on the way")
    func setPath() {
        var value: JSONValue = [:]
        value[path: ["metadata", "labels", "app"]] = "db"
        #expect(value == ["metadata": ["labels": ["app": "db"]]])
        value[path: ["metadata", "labels", "app"]] = nil
        #expect(value == ["metadata": ["labels": [:]]])
    }
}

/// `JSONParser` against Foundation's JSONSerialization, and what it refuses.
@Suite("The JSON parser")
struct JSONParserTests {
    static let accepted = [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":-0.5,"g":1e3,"i":9223372036854775807}"#,
        #"  [ 1 , 2.5 , "x" , { } , [ ] ]  "#,
        #""a \"quoted\" \\ \/ \b\f\n\r\t string""#,
        #""\u00e9\u4e2d\ud83d\ude00 and é中😀 raw""#,
        #"{"dup":1,"dup":2}"#,
        #"0"#, #"-0"#, #"12345678901234567890"#, #"1.5E-7"#, #"true"#, #"null"#,
        #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","labels":{"a.b/c":"d"}},"data":{"k":"line\nnext"}}"#,
    ]

    @Test("accepted documents parse to what JSONSerialization gives")
    func sameAsFoundation() throws {
        for text in Self.accepted {
            let data = Data(text.utf8)
            #expect(try JSONValue.decode(data) == JSONValue.decodeWithFoundation(data), "\(text)")
        }
        // Integers stay integers (Int64.min too, which JSONSerialization makes a
        // Double); one beyond Int64 is a Double; one beyond Double is refused.
        #expect(try JSONValue.decode(Data("-9223372036854775808".utf8)) == .int(.min))
        #expect(throws: (any Error).self) { _ = try JSONValue.decode(Data("1e400".utf8)) }
        #expect(try JSONValue.decode(Data("9223372036854775807".utf8)) == .int(.max))
        #expect(try JSONValue.decode(Data("9223372036854775808".utf8)) == .double(9223372036854775808))
        #expect(try JSONValue.decode(Data("2.0".utf8)) == .double(2))
    }

    @Test("every value the encoder writes parses back to itself")
    func roundTrip() throws {
        for _ in 0..<500 {
            let value = Self.randomValue(keySuffix: "é")
            #expect(try JSONValue.decode(value.encoded()) == value)
        }
    }

    @Test("malformed documents are refused")
    func refused() {
        let refused: [[UInt8]] = [
            Array(#"{"a":1,}"#.utf8), Array("[1,]".utf8), Array("01".utf8), Array("1.".utf8), Array(".5".utf8), Array("-".utf8), Array("1e".utf8),
            Array(#""unterminated"#.utf8), Array("\"a\u{1}b\"".utf8), Array(#""\ud800""#.utf8), Array(#""\udc00x""#.utf8), Array(#""\x""#.utf8),
            Array(#""\u12g4""#.utf8), Array("tru".utf8), Array("nul".utf8), Array("{} {}".utf8), Array("".utf8), Array("{\"a\" 1}".utf8),
            Array("[1 2]".utf8), [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22],
            Array(String(repeating: "[", count: 600).utf8) + Array(String(repeating: "]", count: 600).utf8),
        ]
        for bytes in refused {
            #expect(throws: (any Error).self, "\(String(decoding: bytes, as: UTF8.self))") { _ = try JSONValue.decode(Data(bytes)) }
        }
    }

    @Test("a string at a path is read without the rest: found in any member order, nil when absent or not a string")
    func stringAtPath() throws {
        let path = ["metadata", "resourceVersion"]
        func read(_ text: String) throws -> String? { try JSONValue.string(at: path, in: Array(text.utf8)) }
        // Go's order (metadata second, resourceVersion early) and our sorted order.
        #expect(try read(#"{"kind":"Database","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"42","labels":{"x":"y"}},"spec":{}}"#) == "42")
        #expect(try read(#"{"apiVersion":"v1","kind":"X","metadata":{"annotations":{"resourceVersion":"7"},"labels":{},"name":"a","resourceVersion":"43"}}"#) == "43")
        #expect(try read(#" { "metadata" : { "resourceVersion" : "4\u0034" } } "#) == "44")
        // What follows the value is not read: a truncated rest is no error.
        #expect(try read(#"{"metadata":{"resourceVersion":"45","#) == "45")
        // Absent, or not a string, or not an object on the way.
        #expect(try read(#"{"metadata":{"name":"a"},"spec":{"resourceVersion":"1"}}"#) == nil)
        #expect(try read(#"{"metadata":{"resourceVersion":46}}"#) == nil)
        #expect(try read(#"{"metadata":"resourceVersion"}"#) == nil)
        #expect(try read(#"[{"metadata":{"resourceVersion":"1"}}]"#) == nil)
        #expect(try read("{}") == nil)
        // What precedes it must be JSON.
        #expect(throws: (any Error).self) { _ = try read(#"{"kind":tru,"metadata":{"resourceVersion":"1"}}"#) }
        #expect(throws: (any Error).self) { _ = try read(#"{"kind" "X","metadata":{"resourceVersion":"1"}}"#) }
    }

    @Test("members removed from text leave what removing them from the tree leaves, byte for byte the rest; any value shape on the way")
    func removingMembersFromText() throws {
        let pathSets: [[[String]]] = [[["k0"]], [["k1", "k0"]], [["k0"], ["k2", "k1"], ["k2", "k3", "k0"]], [["absent"]], []]
        for _ in 0..<400 {
            let value = JSONValue.object(Dictionary((0..<Int.random(in: 0..<5)).map { ("k\($0)", Self.randomValue(depth: 1)) }, uniquingKeysWith: { $1 }))
            // Written here (compact) and with whitespace as another server might write it.
            let compact = Array(value.encoded())
            let spaced = Array(Self.spaced(value).utf8)
            for paths in pathSets {
                let expected = value.removingMembers(paths)
                #expect(try JSONValue.decode(JSONValue.removingMembers(paths, fromText: compact)) == expected)
                #expect(try JSONValue.decode(JSONValue.removingMembers(paths, fromText: spaced)) == expected)
            }
        }
        #expect(try JSONValue.decode(Array(Self.spaced(["a": [1, ["b": "c"]]]).utf8)) == ["a": [1, ["b": "c"]]])
        // The kept members are copied as sent (escapes, number spelling, spacing inside).
        let sent = Array(#"{"kind":"Job","metadata":{"name":"a\u0062","managedFields":[{"m":"}"}],"n":1.50},"spec":{"x":[1, 2]},"status":{"s":1E2}}"#.utf8)
        let cut = try JSONValue.removingMembers([["spec"], ["metadata", "managedFields"]], fromText: sent)
        #expect(String(decoding: cut, as: UTF8.self) == #"{"kind":"Job","metadata":{"name":"a\u0062","n":1.50},"status":{"s":1E2}}"#)
        // Not an object, or broken where it is read: an error.
        for bad in [#"[1]"#, #"{"a":1"#, #"{"a" 1}"#, #"{"a":"x}"#, #"{"a":1} x"#, #"{"a":[1}"#, #"{"a":}"#] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try JSONValue.removingMembers([["b"]], fromText: Array(bad.utf8)) }
        }
    }

    @Test("a list's text cut into items: each parses to the item with apiVersion and kind put where missing, any spacing; metadata read; a broken list refused")
    func listItemsFromText() throws {
        for _ in 0..<300 {
            var items: [JSONValue] = (0..<Int.random(in: 0..<6)).map { _ in
                .object(Dictionary((0..<Int.random(in: 0..<4)).map { ("k\($0)", Self.randomValue(depth: 1)) }, uniquingKeysWith: { $1 }))
            }
            // Some carry their own apiVersion or kind (kept as they are), some neither.
            for index in items.indices where Bool.random() { items[index]["kind"] = .string("Own\(index)") }
            for index in items.indices where Bool.random() { items[index]["apiVersion"] = "own/v1" }
            let list: JSONValue = ["kind": "DatabaseList", "metadata": ["resourceVersion": "12", "continue": "abc"], "items": .array(items)]
            let expected = items.map { item -> JSONValue in
                var item = item
                if item["apiVersion"] == nil { item["apiVersion"] = "dboperator.io/v1alpha1" }
                if item["kind"] == nil { item["kind"] = "Database" }
                return item
            }
            for text in [Array(list.encoded()), Array(Self.spaced(list).utf8)] {
                let page = try JSONValue.listItems(fromText: text, apiVersion: "dboperator.io/v1alpha1", kind: "Database")
                #expect(try page.items?.map { try JSONValue.decode($0) } == expected)
                #expect(page.metadata == ["resourceVersion": "12", "continue": "abc"])
            }
        }
        // An item that has both is its own bytes exactly; one without gets them first.
        let sent = Array(#"{"items":[{"kind":"X","apiVersion":"v1","n":1.50}, {"n":"a\u0062"} ,{}],"metadata":{}}"#.utf8)
        let page = try JSONValue.listItems(fromText: sent, apiVersion: "v1", kind: "Secret")
        #expect(page.items?.map { String(decoding: $0, as: UTF8.self) } == [
            #"{"kind":"X","apiVersion":"v1","n":1.50}"#, #"{"apiVersion":"v1","kind":"Secret","n":"a\u0062"}"#, #"{"apiVersion":"v1","kind":"Secret"}"#,
        ])
        // No items member: nil (not a list); null or empty: none.
        #expect(try JSONValue.listItems(fromText: Array(#"{"metadata":{}}"#.utf8), apiVersion: "v1", kind: "X").items == nil)
        #expect(try JSONValue.listItems(fromText: Array(#"{"items":null}"#.utf8), apiVersion: "v1", kind: "X").items == [])
        #expect(try JSONValue.listItems(fromText: Array(#"{"items":[ ]}"#.utf8), apiVersion: "v1", kind: "X").items == [])
        for bad in [#"{"items":{}}"#, #"{"items":[1]}"#, #"{"items":[{}, ]}"#, #"{"items":[{} {}]}"#, #"{"items":[{"a" 1}]}"#, #"{"items":[]} x"#, #"[]"#, #"{"items":[{}],"metadata":{"a":}}"#] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try JSONValue.listItems(fromText: Array(bad.utf8), apiVersion: "v1", kind: "X") }
        }
    }
}

extension JSONParserTests {
    /// A random value: every kind, strings with escapes and JSON's own punctuation,
    /// objects with members "k0"… (each name followed by `keySuffix`).
    static func randomValue(depth: Int = 0, keySuffix: String = "") -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7)) {
        case 0: return .null
        case 1: return .bool(Bool.random())
        case 2: return .int(Int64.random(in: .min ... .max))
        case 3: return .double(Double.random(in: -1e10...1e10))
        case 4: return .string(String((0..<Int.random(in: 0..<12)).map { _ in "aé\"\\\n\t\u{1}😀z/}{][,:".randomElement()! }))
        case 5: return .array((0..<Int.random(in: 0..<5)).map { _ in randomValue(depth: depth + 1, keySuffix: keySuffix) })
        default:
            return .object(Dictionary(
                (0..<Int.random(in: 0..<5)).map { ("k\($0)\(keySuffix)", randomValue(depth: depth + 1, keySuffix: keySuffix)) }, uniquingKeysWith: { $1 }))
        }
    }

    /// JSON with whitespace around every token, as another server might write it.
    static func spaced(_ value: JSONValue) -> String {
        switch value {
        case .object(let members):
            " { " + members.map { name, member in String(decoding: JSONValue.string(name).encoded(), as: UTF8.self) + " :\t" + spaced(member) }.joined(separator: " ,\n ") + " } "
        case .array(let elements):
            " [ " + elements.map(spaced).joined(separator: " , ") + " ] "
        default:
            String(decoding: value.encoded(), as: UTF8.self)
        }
    }
}

@Suite("Watch events")
struct WatchEventTests {
    @Test("a watch line gives its type and its object's text as sent, in either member order; what is not a watch event is refused")
    func lines() throws {
        let object = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"12"},"data":{"k":"}\"{"}}"#
        for line in [#"{"type":"ADDED","object":\#(object)}"#, #"{"object":\#(object),"type":"ADDED"}"#, #" { "type" : "ADDED" , "object" : \#(object) } "#] {
            let event = try WatchEvent(line: Array(line.utf8))
            #expect(event.type == .added)
            #expect(String(decoding: event.objectText, as: UTF8.self) == object)
            #expect(event.resourceVersion == "12")
            #expect(event.object == (try JSONValue.decode(Data(object.utf8))))
        }
        let bookmark = try WatchEvent(line: Array(#"{"type":"BOOKMARK","object":{"kind":"ConfigMap","metadata":{"resourceVersion":"99"}}}"#.utf8))
        #expect(bookmark.type == .bookmark && bookmark.resourceVersion == "99")
        let status = try WatchEvent(line: Array(#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}"#.utf8))
        #expect(status.type == .error && status.object["code"] == 410)
        for bad in [
            #"{"type":"ADDED"}"#, #"{"object":{}}"#, #"{"type":"CREATED","object":{}}"#, #"{"type":1,"object":{}}"#,
            #"{"type":"ADDED","object":[1]}"#, #"{"type":"ADDED","object":"x"}"#, #"{"type":"ADDED","object":{"a":1}"#, "[]", "",
        ] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try WatchEvent(line: Array(bad.utf8)) }
        }
        // An event made here from a tree carries that tree's text.
        let made = WatchEvent(type: .deleted, object: ["metadata": ["resourceVersion": "5"]])
        #expect(made.resourceVersion == "5" && made.object == ["metadata": ["resourceVersion": "5"]])
    }
}
