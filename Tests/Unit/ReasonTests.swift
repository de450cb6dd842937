import Foundation
import KubeModel
import Testing

/// Every condition reason, label key and short hash is KubeModel's (#15): the sources
/// outside KubeModel spell none of them as a literal.
@Suite("Reasons, label keys and short hashes live in KubeModel")
struct ReasonTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Each Swift file under Sources/, but KubeModel's, with its text.
    static func sources() throws -> [(String, String)] {
        let sources = root.appendingPathComponent("Sources")
        let paths = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String } ?? []
        return try paths.filter { $0.hasSuffix(".swift") && !$0.hasPrefix("KubeModel/") }.sorted().map { path in
            (path, try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8))
        }
    }

    @Test("no reason is a string literal outside KubeModel")
    func noReasonLiterals() throws {
        // Where a reason is written or compared: an argument `reason: "X"`, a
        // comparison with a reason, a Reason made from a literal, a condition tuple
        // ("True"/"False", "X", ...), a DriverError's or Refusal's reason.
        let patterns = [
            #"reason: "[A-Za-z]"#, #"reason [!=]= "[A-Za-z]"#, #"Reason\(rawValue: ""#, #"\("(True|False|Unknown)", "[A-Za-z]"#,
        ].map { try! Regex($0) }
        var found: [String] = []
        let files = try Self.sources()
        #expect(files.count > 50)
        for (path, text) in files {
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where patterns.contains(where: { line.contains($0) }) {
                found.append("\(path):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(found == [], "use a constant of KubeModel's Reason")
    }

    @Test("no dboperator.io label or annotation key is spelled outside KubeModel")
    func noLabelLiterals() throws {
        var found: [String] = []
        for (path, text) in try Self.sources() {
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.contains("\"dboperator.io/") && !line.contains("dboperator.io/v1alpha1") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                found.append("\(path):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(found == [], "use LabelKey or AnnotationKey")
    }

    @Test("every reason constant is one CamelCase word, and no two share a spelling")
    func constants() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("Sources/KubeModel/Reason.swift"), encoding: .utf8)
        let spelled = text.matches(of: try Regex(#"static let (\w+) = Reason\(rawValue: "(\w+)"\)"#)).map {
            (String($0.output[1].substring ?? ""), String($0.output[2].substring ?? ""))
        }
        #expect(spelled.count > 60)
        #expect(Set(spelled.map(\.1)).count == spelled.count)
        for (name, raw) in spelled {
            #expect(raw.first?.isUppercase == true && raw.allSatisfy { $0.isLetter || $0.isNumber }, "\(raw)")
            // The constant is the word with its first letters lowercased (CABundleUnreadable → caBundleUnreadable).
            #expect(name.lowercased() == raw.lowercased(), "\(name) spells \(raw)")
        }
        #expect(Reason.databaseNotFound.rawValue == "DatabaseNotFound")
        // On the wire a reason is a plain string.
        let condition = Condition(type: ConditionType.ready, status: "False", reason: .secretNotFound, message: "m", lastTransitionTime: "t")
        let json = String(decoding: try JSONEncoder().encode(condition), as: UTF8.self)
        #expect(json.contains(#""reason":"SecretNotFound""#))
        #expect(try JSONDecoder().decode(Condition.self, from: Data(json.utf8)).reason == .secretNotFound)
    }

    @Test("short hashes are the ones names already carry")
    func shortHashes() {
        // Both are part of names that exist in clusters and instances: they never change.
        #expect(ShortHash.sha256Hex8("") == "e3b0c442")
        #expect(ShortHash.sha256Hex8("abc") == "ba7816bf")
        #expect(ShortHash.fnv1a64Hex("") == "cbf29ce484222325")
        #expect(ShortHash.fnv1a64Hex("a") == "af63dc4c8601ec8c")
    }
}
