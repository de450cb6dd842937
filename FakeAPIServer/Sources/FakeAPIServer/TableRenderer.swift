import Foundation
import KubeModel

/// `meta.k8s.io/v1` Table responses, which `kubectl get` asks for and prints as they
/// come: printer columns for CRDs, the real server's columns for built-ins.
enum TableRenderer {
    struct Column {
        var name: String
        var type: String
        var format: String
        var description: String
        var priority: Int
        var cell: (JSONValue) -> JSONValue
    }

    static func table(_ objects: [JSONValue], type: ResourceType, includeObject: String, revision: UInt64, continueToken: String?) -> JSONValue {
        let columns = self.columns(for: type)
        var metadata: JSONValue = ["resourceVersion": .string(String(revision))]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        return [
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": .array(columns.map(definition)),
            "rows": .array(objects.map { row($0, columns: columns, includeObject: includeObject) }),
        ]
    }

    private static func definition(_ column: Column) -> JSONValue {
        ["name": .string(column.name), "type": .string(column.type), "format": .string(column.format),
         "description": .string(column.description), "priority": .int(Int64(column.priority))]
    }

    private static func row(_ object: JSONValue, columns: [Column], includeObject: String) -> JSONValue {
        var row: JSONValue = ["cells": .array(columns.map { $0.cell(object) })]
        switch includeObject {
        case "None": break
        case "Object": row["object"] = object
        default:
            row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] ?? [:]]
        }
        return row
    }

    static func columns(for type: ResourceType) -> [Column] {
        let name = Column(
            name: "Name", type: "string", format: "name",
            description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.",
            priority: 0, cell: { $0[path: ["metadata", "name"]] ?? "" })
        let age = Column(
            name: "Age", type: "string", format: "",
            description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
            priority: 0, cell: { .string(Timestamp.humanAge(since: $0[path: ["metadata", "creationTimestamp"]]?.stringValue ?? "")) })
        func field(_ title: String, _ path: [String], _ fallback: JSONValue = "") -> Column {
            Column(name: title, type: "string", format: "", description: title, priority: 0, cell: { $0[path: path] ?? fallback })
        }
        if type.crdName != nil {
            if type.printerColumns.isEmpty { return [name, age] }
            return [name] + type.printerColumns.map { column in
                Column(
                    name: column.name, type: column.type, format: column.format ?? "", description: column.description,
                    priority: column.priority,
                    cell: { object in
                        let value = JSONPath.evaluate(column.jsonPath, in: object)
                        if column.type == "date", let text = value?.stringValue { return .string(Timestamp.humanAge(since: text)) }
                        return value ?? .null
                    })
            }
        }
        switch (type.group, type.plural) {
        case ("", "secrets"):
            return [name, field("Type", ["type"]), Column(name: "Data", type: "string", format: "", description: "Data", priority: 0, cell: { .int(Int64($0["data"]?.objectValue?.count ?? 0)) }), age]
        case ("", "configmaps"):
            return [name, Column(name: "Data", type: "string", format: "", description: "Data", priority: 0, cell: { .int(Int64($0["data"]?.objectValue?.count ?? 0)) }), age]
        case ("", "namespaces"):
            return [name, field("Status", ["status", "phase"]), age]
        case ("", "pods"):
            return [name, field("Status", ["status", "phase"]), age]
        case ("batch", "jobs"):
            return [
                name,
                Column(name: "Status", type: "string", format: "", description: "Status of the job", priority: 0, cell: jobStatus),
                Column(name: "Completions", type: "string", format: "", description: "Completions", priority: 0, cell: { job in
                    .string("\(job[path: ["status", "succeeded"]]?.intValue ?? 0)/\(job[path: ["spec", "completions"]]?.intValue ?? 1)")
                }),
                age,
            ]
        case ("coordination.k8s.io", "leases"):
            return [name, field("Holder", ["spec", "holderIdentity"]), age]
        case ("", "events"):
            return [
                Column(name: "Last Seen", type: "string", format: "", description: "Last Seen", priority: 0, cell: { event in
                    .string(Timestamp.humanAge(since: (event["lastTimestamp"] ?? event["eventTime"] ?? event[path: ["metadata", "creationTimestamp"]])?.stringValue ?? ""))
                }),
                field("Type", ["type"]), field("Reason", ["reason"]),
                Column(name: "Object", type: "string", format: "", description: "Object", priority: 0, cell: { event in
                    .string("\((event[path: ["involvedObject", "kind"]]?.stringValue ?? "").lowercased())/\(event[path: ["involvedObject", "name"]]?.stringValue ?? "")")
                }),
                field("Message", ["message"]),
            ]
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            return [name, field("Created At", ["metadata", "creationTimestamp"])]
        default:
            return [name, age]
        }
    }

    private static func jobStatus(_ job: JSONValue) -> JSONValue {
        for condition in job[path: ["status", "conditions"]]?.arrayValue ?? [] where condition["status"]?.stringValue == "True" {
            if condition["type"]?.stringValue == "Complete" { return "Complete" }
            if condition["type"]?.stringValue == "Failed" { return "Failed" }
        }
        return (job[path: ["status", "active"]]?.intValue ?? 0) > 0 ? "Running" : "Pending"
    }
}

/// The subset of kubectl's JSONPath that printer columns use: `.a.b`, `[0]`, and
/// filters `[?(@.type=="Ready")]`.
enum JSONPath {
    static func evaluate(_ path: String, in object: JSONValue) -> JSONValue? {
        var current: [JSONValue] = [object]
        var rest = Substring(path.trimmingCharacters(in: CharacterSet(charactersIn: "{}")))
        while !rest.isEmpty {
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                let key = rest.prefix { $0 != "." && $0 != "[" }
                rest = rest.dropFirst(key.count)
                if !key.isEmpty { current = current.compactMap { $0[String(key)] } }
            } else if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                rest = rest[rest.index(after: close)...]
                if let index = Int(inner) {
                    current = current.compactMap { $0.arrayValue.flatMap { $0.indices.contains(index) ? $0[index] : nil } }
                } else if inner == "*" {
                    current = current.flatMap { $0.arrayValue ?? [] }
                } else if inner.hasPrefix("?(@."), inner.hasSuffix(")") {
                    let condition = inner.dropFirst(4).dropLast()
                    let parts = condition.components(separatedBy: "==")
                    guard parts.count == 2 else { return nil }
                    let key = parts[0].trimmingCharacters(in: .whitespaces)
                    let expected = parts[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                    current = current.flatMap { $0.arrayValue ?? [] }.filter { element in
                        switch element[key] {
                        case .string(let s)?: return s == expected
                        case .int(let i)?: return String(i) == expected
                        case .bool(let b)?: return String(b) == expected
                        default: return false
                        }
                    }
                } else {
                    return nil
                }
            } else {
                return nil
            }
        }
        return current.first
    }
}
