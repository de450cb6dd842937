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
