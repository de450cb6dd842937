import KubeModel

/// An error the server answers with: a `Status` object with the real server's
/// `reason` and `code`, and messages worded as the real server words them.
struct APIError: Error, Sendable {
    var code: Int
    var reason: String
    var message: String
    var details: JSONValue?
    /// Extra response headers (Retry-After for 429).
    var headers: [(String, String)] = []

    var status: JSONValue {
        var status: JSONValue = [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string(message), "reason": .string(reason), "code": .int(Int64(code)),
        ]
        if let details { status["details"] = details }
        return status
    }

    static func notFound(_ type: ResourceType, _ name: String) -> APIError {
        APIError(
            code: 404, reason: "NotFound", message: "\(type.groupResource) \"\(name)\" not found",
            details: ["name": .string(name), "group": .string(type.group), "kind": .string(type.plural)])
    }

    static func namespaceNotFound(_ namespace: String) -> APIError {
        APIError(
            code: 404, reason: "NotFound", message: "namespaces \"\(namespace)\" not found",
            details: ["name": .string(namespace), "kind": "namespaces"])
    }

    static func alreadyExists(_ type: ResourceType, _ name: String) -> APIError {
        APIError(
            code: 409, reason: "AlreadyExists", message: "\(type.groupResource) \"\(name)\" already exists",
            details: ["name": .string(name), "group": .string(type.group), "kind": .string(type.plural)])
    }

    static func conflict(_ type: ResourceType, _ name: String, _ why: String? = nil) -> APIError {
        APIError(
            code: 409, reason: "Conflict",
            message: "Operation cannot be fulfilled on \(type.groupResource) \"\(name)\": "
                + (why ?? "the object has been modified; please apply your changes to the latest version and try again"),
            details: ["name": .string(name), "group": .string(type.group), "kind": .string(type.plural)])
    }

    static func invalid(_ type: ResourceType, _ name: String, _ causes: [FieldError]) -> APIError {
        let list = causes.map(\.text)
        let summary = list.count == 1 ? list[0] : "[\(list.joined(separator: ", "))]"
        return APIError(
            code: 422, reason: "Invalid", message: "\(type.qualifiedKind) \"\(name)\" is invalid: \(summary)",
            details: [
                "name": .string(name), "group": .string(type.group), "kind": .string(type.kind),
                "causes": .array(causes.map { ["reason": .string($0.reason), "message": .string($0.message), "field": .string($0.field)] }),
            ])
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }

    static func gone(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }

    static func forbidden(_ message: String) -> APIError {
        APIError(code: 403, reason: "Forbidden", message: message)
    }

    static func methodNotAllowed(_ message: String = "the server does not allow this method on the requested resource") -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: message)
    }

    static func unsupportedMediaType(_ contentType: String) -> APIError {
        APIError(
            code: 415, reason: "UnsupportedMediaType",
            message: "the body of the request was in an unknown format - accepted media types include: "
                + "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
                + " (got \(contentType))")
    }

    static let unauthorized = APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")

    static func pathNotFound(_ path: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (\(path))")
    }
}

/// One cause of an `Invalid` error: a field path and what is wrong with it, as
/// `field.ErrorList` renders it.
struct FieldError: Sendable, Equatable {
    var reason: String
    var field: String
    var detail: String
    var value: JSONValue?

    /// The cause's message, without the field (clients print `field: message`).
    var message: String { String(text.dropFirst(field.count + 2)) }

    var text: String {
        switch reason {
        case "FieldValueRequired": return "\(field): Required value\(detail.isEmpty ? "" : ": \(detail)")"
        case "FieldValueNotSupported": return "\(field): Unsupported value: \(render(value)): \(detail)"
        case "FieldValueForbidden": return "\(field): Forbidden: \(detail)"
        case "FieldValueTooLong": return "\(field): Too long: \(detail)"
        case "FieldValueTooMany": return "\(field): Too many: \(detail)"
        case "FieldValueDuplicate": return "\(field): Duplicate value: \(render(value))"
        case "FieldValueTypeInvalid": return "\(field): Invalid value: \"\(value?.typeName ?? "null")\": \(detail)"
        default: return "\(field): Invalid value: \(render(value)): \(detail)"
        }
    }

    private func render(_ value: JSONValue?) -> String {
        switch value {
        case .string(let s)?: return "\"\(s)\""
        case .int(let i)?: return "\(i)"
        case .double(let d)?: return "\(d)"
        case .bool(let b)?: return "\(b)"
        case nil, .null?: return "null"
        case let other?: return String(decoding: other.encoded(), as: UTF8.self)
        }
    }

    static func required(_ field: String, _ detail: String = "") -> FieldError {
        FieldError(reason: "FieldValueRequired", field: field, detail: detail)
    }
    static func invalid(_ field: String, _ value: JSONValue?, _ detail: String) -> FieldError {
        FieldError(reason: "FieldValueInvalid", field: field, detail: detail, value: value)
    }
    static func notSupported(_ field: String, _ value: JSONValue?, _ supported: [String]) -> FieldError {
        FieldError(
            reason: "FieldValueNotSupported", field: field,
            detail: "supported values: " + supported.map { "\"\($0)\"" }.joined(separator: ", "), value: value)
    }
    static func forbidden(_ field: String, _ detail: String) -> FieldError {
        FieldError(reason: "FieldValueForbidden", field: field, detail: detail)
    }
    static func typeInvalid(_ field: String, _ value: JSONValue, _ expected: String) -> FieldError {
        FieldError(
            reason: "FieldValueTypeInvalid", field: field, detail: "\(field) in body must be of type \(expected): \"\(value.typeName)\"",
            value: value)
    }
}
