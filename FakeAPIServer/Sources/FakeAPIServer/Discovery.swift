import KubeModel

/// Discovery and OpenAPI documents, computed from the served resource types.
enum Discovery {
    static let serverVersion: JSONValue = [
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
        "platform": "linux/amd64",
    ]

    static func coreVersions(serverAddress: String) -> JSONValue {
        ["kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]
    }

    /// `/apis`: every group with its versions, preferred version first.
    static func groupList(_ types: [ResourceType]) -> JSONValue {
        ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups(types).map(groupDocument))]
    }

    static func group(_ name: String, _ types: [ResourceType]) -> JSONValue? {
        groups(types).first { $0.name == name }.map(groupDocument)
    }

    private static func groups(_ types: [ResourceType]) -> [(name: String, versions: [String])] {
        var byGroup: [String: Set<String>] = [:]
        for type in types where !type.group.isEmpty { byGroup[type.group, default: []].insert(type.version) }
        return byGroup.keys.sorted().map { ($0, byGroup[$0]!.sorted(by: versionPriority)) }
    }

    private static func groupDocument(_ group: (name: String, versions: [String])) -> JSONValue {
        let versions: [JSONValue] = group.versions.map { ["groupVersion": .string("\(group.name)/\($0)"), "version": .string($0)] }
        return ["name": .string(group.name), "versions": .array(versions), "preferredVersion": versions[0]]
    }

    /// Kubernetes version order: GA before beta before alpha, higher numbers first.
    static func versionPriority(_ a: String, _ b: String) -> Bool {
        func rank(_ v: String) -> (Int, Int, Int) {
            let scanner = v.dropFirst()
            let major = Int(scanner.prefix { $0.isNumber }) ?? 0
            let rest = scanner.drop { $0.isNumber }
            if rest.isEmpty { return (3, major, 0) }
            let minor = Int(rest.drop { !$0.isNumber }) ?? 0
            return (rest.hasPrefix("beta") ? 2 : rest.hasPrefix("alpha") ? 1 : 0, major, minor)
        }
        let (ra, rb) = (rank(a), rank(b))
        return ra.0 != rb.0 ? ra.0 > rb.0 : ra.1 != rb.1 ? ra.1 > rb.1 : ra.2 > rb.2
    }

    /// `/api/v1` or `/apis/<group>/<version>`: the resources and their subresources.
    static func resourceList(group: String, version: String, _ types: [ResourceType]) -> JSONValue? {
        let selected = types.filter { $0.group == group && $0.version == version }.sorted { $0.plural < $1.plural }
        if selected.isEmpty { return nil }
        var resources: [JSONValue] = []
        for type in selected {
            var resource: JSONValue = [
                "name": .string(type.plural), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind), "verbs": .array(type.verbs.map(JSONValue.string)),
            ]
            if !type.shortNames.isEmpty { resource["shortNames"] = .array(type.shortNames.map(JSONValue.string)) }
            if !type.categories.isEmpty { resource["categories"] = .array(type.categories.map(JSONValue.string)) }
            resources.append(resource)
            if type.storeKey == StoreKey(group: "", plural: "serviceaccounts") {
                resources.append([
                    "name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io",
                    "version": "v1", "kind": "TokenRequest", "verbs": ["create"],
                ])
            }
            if type.hasStatusSubresource {
                resources.append([
                    "name": .string("\(type.plural)/status"), "singularName": "", "namespaced": .bool(type.namespaced),
                    "kind": .string(type.kind), "verbs": type.readOnly ? ["get"] : ["get", "patch", "update"],
                ])
            }
        }
        return [
            "kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"), "resources": .array(resources),
        ]
    }

    // MARK: OpenAPI v3

    /// `/openapi/v3`: one document per group-version; the hash changes with the types.
    static func openAPIRoot(_ types: [ResourceType], revision: UInt64) -> JSONValue {
        var paths: [String: JSONValue] = [:]
        for type in types {
            let path = type.group.isEmpty ? "api/\(type.version)" : "apis/\(type.group)/\(type.version)"
            paths[path] = ["serverRelativeURL": .string("/openapi/v3/\(path)?hash=\(hash(types.filter { $0.group == type.group && $0.version == type.version }))")]
        }
        return ["paths": .object(paths)]
    }

    private static func hash(_ types: [ResourceType]) -> String {
        var h: UInt64 = 1469598103934665603
        for type in types.sorted(by: { $0.plural < $1.plural }) {
            for byte in (type.plural + (type.schema.map { String(decoding: $0.encoded(), as: UTF8.self) } ?? "")).utf8 {
                h = (h ^ UInt64(byte)) &* 1099511628211
            }
        }
        return String(h, radix: 16, uppercase: true)
    }

    /// The OpenAPI v3 document of one group-version: paths whose operations carry
    /// `x-kubernetes-group-version-kind` and the `fieldValidation` parameter (what
    /// kubectl checks before it sends `fieldValidation=Strict`), and component schemas.
    static func openAPIDocument(group: String, version: String, _ types: [ResourceType]) -> JSONValue? {
        let selected = types.filter { $0.group == group && $0.version == version }
        if selected.isEmpty { return nil }
        var paths: [String: JSONValue] = [:]
        var schemas: [String: JSONValue] = [:]
        let parameters: JSONValue = [
            ["name": "fieldValidation", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
            ["name": "dryRun", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
            ["name": "fieldManager", "in": "query", "schema": ["type": "string", "uniqueItems": true]],
        ]
        for type in selected {
            let gvk: JSONValue = ["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)]
            let schemaName = componentName(type)
            let ref: JSONValue = ["$ref": .string("#/components/schemas/\(schemaName)")]
            func operation(_ action: String, _ id: String) -> JSONValue {
                [
                    "operationId": .string(id + type.kind), "x-kubernetes-action": .string(action),
                    "x-kubernetes-group-version-kind": gvk, "parameters": parameters,
                    "responses": ["200": ["description": "OK", "content": ["application/json": ["schema": ref]]]],
                ]
            }
            let prefix = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
            let collection = type.namespaced ? "\(prefix)/namespaces/{namespace}/\(type.plural)" : "\(prefix)/\(type.plural)"
            if type.createOnly {
                paths[collection] = ["post": operation("post", "create")]
                continue
            }
            paths[collection] = ["get": operation("list", "list"), "post": operation("post", "create")]
            paths[collection + "/{name}"] = [
                "get": operation("get", "read"), "put": operation("put", "replace"),
                "patch": operation("patch", "patch"), "delete": operation("delete", "delete"),
            ]
            if type.hasStatusSubresource {
                paths[collection + "/{name}/status"] = [
                    "get": operation("get", "readStatus"), "put": operation("put", "replaceStatus"),
                    "patch": operation("patch", "patchStatus"),
                ]
            }
            var schema = type.schema ?? ["type": "object", "x-kubernetes-preserve-unknown-fields": true]
            schema["x-kubernetes-group-version-kind"] = [gvk]
            schemas[schemaName] = schema
        }
        return [
            "openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.33.0-fake"],
            "paths": .object(paths), "components": ["schemas": .object(schemas)],
        ]
    }

    private static func componentName(_ type: ResourceType) -> String {
        if type.group.isEmpty { return "io.k8s.api.core.\(type.version).\(type.kind)" }
        let reversed = type.group.split(separator: ".").reversed().joined(separator: ".")
        return "\(reversed).\(type.version).\(type.kind)"
    }
}
