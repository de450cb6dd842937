import KubeModel

/// The patch formats of PATCH requests.
enum PatchType: Sendable {
    case merge
    case json
    case strategicMerge

    init(contentType: String) throws(APIError) {
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch mediaType {
        case "application/merge-patch+json": self = .merge
        case "application/json-patch+json": self = .json
        case "application/strategic-merge-patch+json": self = .strategicMerge
        default: throw .unsupportedMediaType(contentType)
        }
    }
}

enum Patches {
    /// Applies an RFC 6902 JSON patch. A failed `test` or a missing path is an error.
    static func applyJSONPatch(_ patch: JSONValue, to document: JSONValue) throws(APIError) -> JSONValue {
        guard let operations = patch.arrayValue else {
            throw .badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        }
        var doc = document
        for operation in operations {
            guard let op = operation["op"]?.stringValue, let path = operation["path"]?.stringValue else {
                throw .badRequest("invalid JSON patch operation: \(String(decoding: operation.encoded(), as: UTF8.self))")
            }
            let pointer = try parsePointer(path)
            switch op {
            case "add":
                guard let value = operation["value"] else { throw .badRequest("missing value for add operation") }
                doc = try add(value, at: pointer, in: doc)
            case "remove":
                doc = try remove(at: pointer, in: doc).0
            case "replace":
                guard let value = operation["value"] else { throw .badRequest("missing value for replace operation") }
                doc = try remove(at: pointer, in: doc).0
                doc = try add(value, at: pointer, in: doc)
            case "move", "copy":
                guard let from = operation["from"]?.stringValue else { throw .badRequest("missing from for \(op) operation") }
                let fromPointer = try parsePointer(from)
                let value: JSONValue
                if op == "move" {
                    (doc, value) = try remove(at: fromPointer, in: doc)
                } else {
                    value = try get(fromPointer, in: doc)
                }
                doc = try add(value, at: pointer, in: doc)
            case "test":
                let expected = operation["value"] ?? .null
                guard (try? get(pointer, in: doc)) == expected else {
                    throw APIError(code: 422, reason: "Invalid", message: "the server rejected our request due to an error in our request: testing value \(path) failed")
                }
            default:
                throw .badRequest("Unexpected kind: \(op)")
            }
        }
        return doc
    }

    private static func parsePointer(_ path: String) throws(APIError) -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw .badRequest("JSON pointer must start with '/': \(path)") }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func get(_ pointer: [String], in doc: JSONValue) throws(APIError) -> JSONValue {
        var current = doc
        for token in pointer {
            switch current {
            case .object(let members):
                guard let next = members[token] else { throw missing(pointer) }
                current = next
            case .array(let elements):
                guard let index = Int(token), elements.indices.contains(index) else { throw missing(pointer) }
                current = elements[index]
            default:
                throw missing(pointer)
            }
        }
        return current
    }

    private static func add(_ value: JSONValue, at pointer: [String], in doc: JSONValue) throws(APIError) -> JSONValue {
        guard let token = pointer.first else { return value }
        let rest = Array(pointer.dropFirst())
        switch doc {
        case .object(var members):
            if rest.isEmpty {
                members[token] = value
            } else {
                guard let child = members[token] else { throw missing(pointer) }
                members[token] = try add(value, at: rest, in: child)
            }
            return .object(members)
        case .array(var elements):
            if rest.isEmpty {
                if token == "-" {
                    elements.append(value)
                } else {
                    guard let index = Int(token), index >= 0, index <= elements.count else { throw missing(pointer) }
                    elements.insert(value, at: index)
                }
            } else {
                guard let index = Int(token), elements.indices.contains(index) else { throw missing(pointer) }
                elements[index] = try add(value, at: rest, in: elements[index])
            }
            return .array(elements)
        default:
            throw missing(pointer)
        }
    }

    private static func remove(at pointer: [String], in doc: JSONValue) throws(APIError) -> (JSONValue, JSONValue) {
        guard let token = pointer.first else { throw .badRequest("cannot remove the whole document") }
        let rest = Array(pointer.dropFirst())
        switch doc {
        case .object(var members):
            guard let child = members[token] else { throw missing(pointer) }
            if rest.isEmpty {
                members.removeValue(forKey: token)
                return (.object(members), child)
            }
            let (newChild, removed) = try remove(at: rest, in: child)
            members[token] = newChild
            return (.object(members), removed)
        case .array(var elements):
            guard let index = Int(token), elements.indices.contains(index) else { throw missing(pointer) }
            if rest.isEmpty {
                let removed = elements.remove(at: index)
                return (.array(elements), removed)
            }
            let (newChild, removed) = try remove(at: rest, in: elements[index])
            elements[index] = newChild
            return (.array(elements), removed)
        default:
            throw missing(pointer)
        }
    }

    private static func missing(_ pointer: [String]) -> APIError {
        APIError(
            code: 422, reason: "Invalid",
            message: "the server rejected our request due to an error in our request: doc is missing path: \"/\(pointer.joined(separator: "/"))\"")
    }

    /// Applies a strategic merge patch: a JSON merge patch in which the lists named
    /// in `mergeKeys` merge element by element on their key, `$patch: delete` removes
    /// an element, `$patch: replace` replaces a list or map, primitive `finalizers`
    /// lists merge as sets, and `$setElementOrder`/`$retainKeys` directives are dropped.
    static func applyStrategicMergePatch(_ patch: JSONValue, to document: JSONValue, mergeKeys: [String: String]) -> JSONValue {
        strategicMerge(document, patch, path: "", mergeKeys: mergeKeys)
    }

    private static func strategicMerge(_ original: JSONValue, _ patch: JSONValue, path: String, mergeKeys: [String: String]) -> JSONValue {
        guard case .object(var patchMembers) = patch else { return patch }
        if patchMembers["$patch"]?.stringValue == "replace" {
            patchMembers.removeValue(forKey: "$patch")
            return .object(patchMembers)
        }
        var members = original.objectValue ?? [:]
        for (key, patchValue) in patchMembers {
            if key.hasPrefix("$setElementOrder/") || key == "$retainKeys" || key == "$patch" { continue }
            if key.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(key.dropFirst("$deleteFromPrimitiveList/".count))
                let remove = Set(patchValue.arrayValue ?? [])
                members[field] = .array((members[field]?.arrayValue ?? []).filter { !remove.contains($0) })
                continue
            }
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if patchValue == .null {
                members.removeValue(forKey: key)
            } else if case .array(let patchElements) = patchValue, let mergeKey = mergeKeys[childPath] {
                members[key] = .array(mergeList(members[key]?.arrayValue ?? [], patchElements, key: mergeKey, path: childPath, mergeKeys: mergeKeys))
            } else if case .array(let patchElements) = patchValue, childPath == "metadata.finalizers" {
                var merged = members[key]?.arrayValue ?? []
                for element in patchElements where !merged.contains(element) { merged.append(element) }
                members[key] = .array(merged)
            } else if case .object = patchValue {
                members[key] = strategicMerge(members[key] ?? .object([:]), patchValue, path: childPath, mergeKeys: mergeKeys)
            } else {
                members[key] = patchValue
            }
        }
        return .object(members)
    }

    private static func mergeList(
        _ original: [JSONValue], _ patch: [JSONValue], key: String, path: String, mergeKeys: [String: String]
    ) -> [JSONValue] {
        if patch.contains(where: { $0["$patch"]?.stringValue == "replace" }) {
            return patch.filter { $0["$patch"] == nil }
        }
        var result = original
        for element in patch {
            guard let keyValue = element[key] else {
                result.append(element)
                continue
            }
            let index = result.firstIndex { $0[key] == keyValue }
            if element["$patch"]?.stringValue == "delete" {
                if let index { result.remove(at: index) }
            } else if let index {
                result[index] = strategicMerge(result[index], element, path: "\(path)[]", mergeKeys: mergeKeys)
            } else {
                result.append(strategicMerge(.object([:]), element, path: "\(path)[]", mergeKeys: mergeKeys))
            }
        }
        return result
    }
}
