import KubeModel

/// A resource the server serves: its names, scope, subresources, and, for custom
/// resources, the schema objects are validated against.
struct ResourceType: Sendable {
    var group: String
    var version: String
    var plural: String
    var singular: String
    var kind: String
    var namespaced: Bool
    var shortNames: [String] = []
    var categories: [String] = []
    /// Has a `/status` subresource: main-resource writes keep the stored status,
    /// status writes change nothing else.
    var hasStatusSubresource = false
    /// `metadata.generation` is kept and bumped on spec changes.
    var hasGeneration = false
    /// Only get, list and watch are allowed (pods here).
    var readOnly = false
    /// Only create is allowed, and nothing is stored: the reviews, answered at once.
    var createOnly = false
    /// The CRD's `openAPIV3Schema` for this version; nil for built-ins.
    var schema: JSONValue?
    /// The CRD's `additionalPrinterColumns` for this version.
    var printerColumns: [PrinterColumn] = []
    /// Field selector labels besides `metadata.name` and `metadata.namespace`,
    /// mapped to the path they read. A `*` entry allows any dotted path (events).
    var fieldSelectors: [String: [String]] = [:]
    /// List fields merged by key by strategic merge patch: path (dotted, `[]` for
    /// "each element") to the merge key.
    var strategicMergeKeys: [String: String] = [:]
    /// The CRD that defines this resource; nil for built-ins.
    var crdName: String?

    var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    var groupResource: String { group.isEmpty ? plural : "\(plural).\(group)" }
    var qualifiedKind: String { group.isEmpty ? kind : "\(kind).\(group)" }
    var listKind: String { "\(kind)List" }
    var storeKey: StoreKey { StoreKey(group: group, plural: plural) }

    var verbs: [String] {
        if createOnly { return ["create"] }
        return readOnly ? ["get", "list", "watch"]
            : ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    }
}

/// Where the objects of one resource live, whatever version they are served in.
struct StoreKey: Hashable, Sendable {
    var group: String
    var plural: String
}

/// A printer column of a CRD: a header, a type, and a simple JSONPath into the object.
struct PrinterColumn: Sendable {
    var name: String
    var type: String
    var format: String?
    var description: String
    var priority: Int
    var jsonPath: String
}
