import Foundation
import KubeModel
import Synchronization

/// Structural-schema processing of custom resources, in the real server's order:
/// prune unknown fields (and nulls where not nullable), apply defaults, validate.
enum SchemaValidator {
    /// Prunes `object` by `schema` and records each pruned field path in `pruned`.
    /// At the root, `apiVersion`, `kind` and `metadata` are always kept.
    static func prune(_ object: JSONValue, schema: JSONValue, pruned: inout [String]) -> JSONValue {
        pruneValue(object, schema: schema, path: "", isRoot: true, pruned: &pruned)
    }

    private static func pruneValue(
        _ value: JSONValue, schema: JSONValue, path: String, isRoot: Bool = false, pruned: inout [String]
    ) -> JSONValue {
        switch value {
        case .object(let members):
            let preserve = schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true
            let embedded = schema["x-kubernetes-embedded-resource"]?.boolValue == true
            let properties = schema["properties"]?.objectValue
            let additional = schema["additionalProperties"]
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if (isRoot || embedded) && ["apiVersion", "kind", "metadata"].contains(key) {
                    result[key] = member
                    continue
                }
                let childSchema: JSONValue?
                if let properties, let s = properties[key] {
                    childSchema = s
                } else if let additional, case .object = additional {
                    childSchema = additional
                } else if preserve || additional?.boolValue == true {
                    result[key] = member
                    continue
                } else {
                    childSchema = nil
                }
                guard let childSchema else {
                    pruned.append(childPath)
                    continue
                }
                if member == .null && childSchema["nullable"]?.boolValue != true {
                    continue
                }
                result[key] = pruneValue(member, schema: childSchema, path: childPath, pruned: &pruned)
            }
            return .object(result)
        case .array(let elements):
            guard let items = schema["items"] else { return value }
            return .array(elements.enumerated().map { index, element in
                pruneValue(element, schema: items, path: "\(path)[\(index)]", pruned: &pruned)
            })
        default:
            return value
        }
    }

    /// Fills in `default` values of absent properties, recursively.
    static func applyDefaults(_ value: JSONValue, schema: JSONValue) -> JSONValue {
        switch value {
        case .object(var members):
            if let properties = schema["properties"]?.objectValue {
                for (key, propertySchema) in properties {
                    if members[key] == nil, let defaultValue = propertySchema["default"] {
                        members[key] = defaultValue
                    }
                    if let member = members[key] {
                        members[key] = applyDefaults(member, schema: propertySchema)
                    }
                }
            }
            if let additional = schema["additionalProperties"], case .object = additional {
                for (key, member) in members where schema["properties"]?[key] == nil {
                    members[key] = applyDefaults(member, schema: additional)
                }
            }
            return .object(members)
        case .array(let elements):
            guard let items = schema["items"] else { return value }
            return .array(elements.map { applyDefaults($0, schema: items) })
        default:
            return value
        }
    }

    /// The schema violations of `value`, worded as the real server words them.
    static func validate(_ value: JSONValue, schema: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        validate(value, schema: schema, path: "", isRoot: true, errors: &errors)
        return errors
    }

    private static func validate(
        _ value: JSONValue, schema: JSONValue, path: String, isRoot: Bool = false, errors: inout [FieldError]
    ) {
        let field = path.isEmpty ? "<root>" : path
        if value == .null {
            if schema["nullable"]?.boolValue != true && !isRoot {
                errors.append(.typeInvalid(field, value, schema["type"]?.stringValue ?? "object"))
            }
            return
        }
        if let type = schema["type"]?.stringValue, !matches(value, type: type, schema: schema) {
            errors.append(.typeInvalid(field, value, type))
            return
        }
        if schema["x-kubernetes-int-or-string"]?.boolValue == true {
            switch value {
            case .int, .string: break
            default: errors.append(.typeInvalid(field, value, "integer or string"))
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            errors.append(.notSupported(field, value, options.map { $0.stringValue ?? String(decoding: $0.encoded(), as: UTF8.self) }))
        }
        switch value {
        case .string(let string):
            if let max = schema["maxLength"]?.intValue, string.count > max {
                errors.append(FieldError(reason: "FieldValueTooLong", field: field, detail: "may not be more than \(max) bytes", value: value))
            }
            if let min = schema["minLength"]?.intValue, string.count < min {
                errors.append(.invalid(field, value, "\(field) in body should be at least \(min) chars long"))
            }
            if let pattern = schema["pattern"]?.stringValue, !RegexCache.shared.matches(pattern, string) {
                errors.append(.invalid(field, value, "\(field) in body should match '\(pattern)'"))
            }
        case .int, .double:
            let number = value.doubleValue!
            let render = value
            if let min = schema["minimum"]?.doubleValue {
                let exclusive = schema["exclusiveMinimum"]?.boolValue == true
                if exclusive ? number <= min : number < min {
                    errors.append(.invalid(field, render, "\(field) in body should be greater than \(exclusive ? "" : "or equal to ")\(format(schema["minimum"]!))"))
                }
            }
            if let max = schema["maximum"]?.doubleValue {
                let exclusive = schema["exclusiveMaximum"]?.boolValue == true
                if exclusive ? number >= max : number > max {
                    errors.append(.invalid(field, render, "\(field) in body should be less than \(exclusive ? "" : "or equal to ")\(format(schema["maximum"]!))"))
                }
            }
            if let multiple = schema["multipleOf"]?.doubleValue, multiple > 0,
                (number / multiple).rounded() != number / multiple
            {
                errors.append(.invalid(field, render, "\(field) in body should be a multiple of \(format(schema["multipleOf"]!))"))
            }
        case .array(let elements):
            if let min = schema["minItems"]?.intValue, elements.count < min {
                errors.append(.invalid(field, .int(Int64(elements.count)), "\(field) in body should have at least \(min) items"))
            }
            if let max = schema["maxItems"]?.intValue, elements.count > max {
                errors.append(FieldError(reason: "FieldValueTooMany", field: field, detail: "must have at most \(max) items", value: .int(Int64(elements.count))))
            }
            if schema["uniqueItems"]?.boolValue == true, Set(elements).count != elements.count {
                errors.append(FieldError(reason: "FieldValueDuplicate", field: field, detail: "", value: value))
            }
            if let items = schema["items"] {
                for (index, element) in elements.enumerated() {
                    validate(element, schema: items, path: "\(path)[\(index)]", errors: &errors)
                }
            }
        case .object(let members):
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[required] == nil {
                errors.append(.required(path.isEmpty ? required : "\(path).\(required)"))
            }
            if let min = schema["minProperties"]?.intValue, members.count < min {
                errors.append(.invalid(field, value, "\(field) in body should have at least \(min) properties"))
            }
            if let max = schema["maxProperties"]?.intValue, members.count > max {
                errors.append(.invalid(field, value, "\(field) in body should have at most \(max) properties"))
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            for (key, member) in members {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if isRoot && (key == "metadata" || key == "apiVersion" || key == "kind") { continue }
                if let propertySchema = properties[key] {
                    validate(member, schema: propertySchema, path: childPath, errors: &errors)
                } else if let additional = schema["additionalProperties"], case .object = additional {
                    validate(member, schema: additional, path: childPath, errors: &errors)
                }
            }
        default:
            break
        }
        validateCombinators(value, schema: schema, field: field, path: path, errors: &errors)
    }

    /// allOf, anyOf, oneOf and not: value validations that must (not) hold.
    private static func validateCombinators(
        _ value: JSONValue, schema: JSONValue, field: String, path: String, errors: inout [FieldError]
    ) {
        func passes(_ sub: JSONValue) -> Bool {
            var subErrors: [FieldError] = []
            validate(value, schema: sub, path: path, errors: &subErrors)
            return subErrors.isEmpty
        }
        for sub in schema["allOf"]?.arrayValue ?? [] {
            validate(value, schema: sub, path: path, errors: &errors)
        }
        if let anyOf = schema["anyOf"]?.arrayValue, !anyOf.contains(where: passes) {
            errors.append(.invalid(field, .string(value.typeName), "must validate at least one schema (anyOf)"))
        }
        if let oneOf = schema["oneOf"]?.arrayValue, oneOf.filter(passes).count != 1 {
            errors.append(.invalid(field, .string(value.typeName), "must validate one and only one schema (oneOf)"))
        }
        if let not = schema["not"], passes(not) {
            errors.append(.invalid(field, .string(value.typeName), "must not validate the schema (not)"))
        }
    }

    private static func matches(_ value: JSONValue, type: String, schema: JSONValue) -> Bool {
        if schema["x-kubernetes-int-or-string"]?.boolValue == true { return true }
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .int),
            ("number", .int), ("number", .double):
            return true
        case ("integer", .double(let d)):
            return d.rounded() == d
        default:
            return false
        }
    }

    private static func format(_ number: JSONValue) -> String {
        if let i = number.intValue { return "\(i)" }
        return "\(number.doubleValue ?? 0)"
    }
}

/// Compiled regular expressions of CRD `pattern`s, compiled once each.
final class RegexCache: Sendable {
    static let shared = RegexCache()
    private let cache = Mutex<[String: NSRegularExpression]>([:])

    func matches(_ pattern: String, _ string: String) -> Bool {
        let regex: NSRegularExpression? = cache.withLock { cache in
            if let cached = cache[pattern] { return cached }
            let compiled = try? NSRegularExpression(pattern: pattern)
            cache[pattern] = compiled
            return compiled
        }
        // An uncompilable pattern was rejected when the CRD was created; treat as no match.
        guard let regex else { return false }
        let range = NSRange(string.startIndex..., in: string)
        return regex.firstMatch(in: string, range: range) != nil
    }
}
