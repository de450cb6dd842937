import KubeModel

/// A parsed label selector (`app=db,tier!=web,env in (a,b),!legacy,owner`).
struct LabelSelector: Sendable {
    enum Requirement: Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case notExists(String)
    }

    var requirements: [Requirement]

    static let everything = LabelSelector(requirements: [])

    init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    /// Parses the selector syntax of the real server; a malformed selector is a 400.
    init(parsing text: String) throws(APIError) {
        var requirements: [Requirement] = []
        for term in Self.splitTerms(text) {
            let t = term.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            if let r = t.range(of: " notin ") ?? t.range(of: " in ") {
                let key = t[..<r.lowerBound].trimmingCharacters(in: .whitespaces)
                let rest = t[r.upperBound...].trimmingCharacters(in: .whitespaces)
                guard rest.hasPrefix("("), rest.hasSuffix(")") else {
                    throw .badRequest("unable to parse requirement: found '\(rest)', expected: '('")
                }
                let values = Set(rest.dropFirst().dropLast().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
                try Self.checkKey(key)
                requirements.append(t[r].contains("notin") ? .notIn(key, values) : .isIn(key, values))
            } else if let r = t.range(of: "!=") {
                let key = String(t[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
                try Self.checkKey(key)
                requirements.append(.notEquals(key, String(t[r.upperBound...]).trimmingCharacters(in: .whitespaces)))
            } else if let r = t.range(of: "==") ?? t.range(of: "=") {
                let key = String(t[..<r.lowerBound]).trimmingCharacters(in: .whitespaces)
                try Self.checkKey(key)
                requirements.append(.equals(key, String(t[r.upperBound...]).trimmingCharacters(in: .whitespaces)))
            } else if t.hasPrefix("!") {
                let key = String(t.dropFirst()).trimmingCharacters(in: .whitespaces)
                try Self.checkKey(key)
                requirements.append(.notExists(key))
            } else {
                try Self.checkKey(t)
                requirements.append(.exists(t))
            }
        }
        self.requirements = requirements
    }

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let k, let v): labels[k] == v
            case .notEquals(let k, let v): labels[k] != v
            case .isIn(let k, let vs): labels[k].map(vs.contains) ?? false
            case .notIn(let k, let vs): !(labels[k].map(vs.contains) ?? false)
            case .exists(let k): labels[k] != nil
            case .notExists(let k): labels[k] == nil
            }
        }
    }

    func matches(object: JSONValue) -> Bool {
        if requirements.isEmpty { return true }
        let labels = (object[path: ["metadata", "labels"]]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        return matches(labels)
    }

    /// Splits on commas that are not inside parentheses.
    private static func splitTerms(_ text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var depth = 0
        for ch in text {
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 {
                terms.append(current)
                current = ""
            } else {
                current.append(ch)
            }
        }
        terms.append(current)
        return terms
    }

    private static func checkKey(_ key: String) throws(APIError) {
        let allowed = key.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) }
        if key.isEmpty || !allowed || key.count > 316 {
            throw .badRequest("unable to parse requirement: invalid label key \"\(key)\"")
        }
    }
}

/// A parsed field selector (`metadata.name=x,status.phase!=Running`), restricted to
/// the fields each resource supports, as the real server restricts them.
struct FieldSelector: Sendable {
    struct Requirement: Sendable {
        var path: [String]
        var value: String
        var negated: Bool
    }

    var requirements: [Requirement]

    static let everything = FieldSelector(requirements: [])

    /// The name a selector of exactly `metadata.name=x` (or `==`) asks for: what
    /// kube-apiserver authorizes a list or watch of one object by.
    static func singleName(_ text: String?) -> String? {
        guard let text, !text.contains(","), !text.contains("!=") else { return nil }
        let parts = text.replacingOccurrences(of: "==", with: "=").split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "metadata.name" else { return nil }
        return String(parts[1])
    }

    init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    init(parsing text: String, for type: ResourceType) throws(APIError) {
        var requirements: [Requirement] = []
        for term in text.split(separator: ",") {
            let t = String(term)
            let negated: Bool
            let parts: [String]
            if let r = t.range(of: "!=") {
                negated = true
                parts = [String(t[..<r.lowerBound]), String(t[r.upperBound...])]
            } else if let r = t.range(of: "==") ?? t.range(of: "=") {
                negated = false
                parts = [String(t[..<r.lowerBound]), String(t[r.upperBound...])]
            } else {
                throw .badRequest("invalid selector: '\(t)'; can't understand '\(t)'")
            }
            let label = parts[0].trimmingCharacters(in: .whitespaces)
            let path: [String]
            if label == "metadata.name" || label == "metadata.namespace" {
                path = label.split(separator: ".").map(String.init)
            } else if let mapped = type.fieldSelectors[label] {
                path = mapped
            } else if type.fieldSelectors["*"] != nil {
                path = label.split(separator: ".").map(String.init)
            } else {
                throw .badRequest("field label not supported: \(label)")
            }
            requirements.append(Requirement(path: path, value: parts[1].trimmingCharacters(in: .whitespaces), negated: negated))
        }
        self.requirements = requirements
    }

    func matches(object: JSONValue) -> Bool {
        requirements.allSatisfy { requirement in
            let actual: String
            switch object[path: requirement.path] {
            case .string(let s)?: actual = s
            case .int(let i)?: actual = String(i)
            case .bool(let b)?: actual = String(b)
            default: actual = ""
            }
            return (actual == requirement.value) != requirement.negated
        }
    }
}
