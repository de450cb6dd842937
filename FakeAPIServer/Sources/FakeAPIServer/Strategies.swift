import Foundation
import KubeModel

/// What differs per resource, as the real server's registry strategies hold it:
/// defaults, validation, server-set fields, and what a deletion must clean up.
enum Strategies {
    static let namespacesKey = StoreKey(group: "", plural: "namespaces")
    static let crdsKey = StoreKey(group: "apiextensions.k8s.io", plural: "customresourcedefinitions")

    // MARK: Create and update

    static func prepareForCreate(
        _ type: ResourceType, _ object: inout JSONValue, unknownFields: inout UnknownFields, state: borrowing Storage.State
    ) throws(APIError) {
        try prepareCommon(type, &object, unknownFields: &unknownFields)
        switch (type.group, type.plural) {
        case ("", "namespaces"):
            if object[path: ["spec", "finalizers"]] == nil { object[path: ["spec", "finalizers"]] = ["kubernetes"] }
            object["status"] = ["phase": "Active"]
        case ("batch", "jobs"):
            applyJobDefaults(&object)
            object["status"] = [:]
        case ("apps", "deployments"):
            applyDeploymentDefaults(&object)
            object["status"] = [:]
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            object["status"] = crdStatus(object)
        default:
            break
        }
    }

    static func prepareForUpdate(
        _ type: ResourceType, _ object: inout JSONValue, old: JSONValue, unknownFields: inout UnknownFields, state: borrowing Storage.State
    ) throws(APIError) {
        try prepareCommon(type, &object, unknownFields: &unknownFields)
        switch (type.group, type.plural) {
        case ("batch", "jobs"):
            applyJobDefaults(&object)
        case ("apps", "deployments"):
            applyDeploymentDefaults(&object)
        case ("apiextensions.k8s.io", "customresourcedefinitions"):
            object["status"] = crdStatus(object)
        default:
            break
        }
    }

    static func prepareForStatusUpdate(
        _ type: ResourceType, _ object: inout JSONValue, old: JSONValue, state: borrowing Storage.State
    ) throws(APIError) {
        if let schema = type.schema {
            var ignored: [String] = []
            object = SchemaValidator.prune(object, schema: schema, pruned: &ignored)
            object = SchemaValidator.applyDefaults(object, schema: schema)
        }
    }

    private static func prepareCommon(_ type: ResourceType, _ object: inout JSONValue, unknownFields: inout UnknownFields) throws(APIError) {
        if let schema = type.schema {
            object = SchemaValidator.prune(object, schema: schema, pruned: &unknownFields.paths)
            if unknownFields.directive == .strict && !unknownFields.paths.isEmpty {
                let list = unknownFields.paths.map { "unknown field \"\($0)\"" }.joined(separator: ", ")
                throw .badRequest("\(type.kind) in version \"\(type.version)\" cannot be handled as a \(type.kind): strict decoding error: \(list)")
            }
            object = SchemaValidator.applyDefaults(object, schema: schema)
        }
        if type.group.isEmpty && type.plural == "secrets" {
            try prepareSecret(&object)
        }
    }

    /// Sets what depends on the UID (a Job's controller-uid selector).
    static func afterIdentity(_ type: ResourceType, _ object: inout JSONValue) {
        guard type.group == "batch", type.plural == "jobs",
            let uid = object[path: ["metadata", "uid"]]?.stringValue,
            let name = object[path: ["metadata", "name"]]?.stringValue
        else { return }
        let labels: [String: JSONValue] = [
            "batch.kubernetes.io/controller-uid": .string(uid), "batch.kubernetes.io/job-name": .string(name),
            "controller-uid": .string(uid), "job-name": .string(name),
        ]
        if object[path: ["spec", "selector"]] == nil {
            object[path: ["spec", "selector"]] = ["matchLabels": ["batch.kubernetes.io/controller-uid": .string(uid)]]
        }
        var templateLabels = object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
        templateLabels.merge(labels) { _, new in new }
        object[path: ["spec", "template", "metadata", "labels"]] = .object(templateLabels)
        var jobLabels = object[path: ["metadata", "labels"]]?.objectValue ?? [:]
        for (k, v) in labels where k.hasPrefix("batch.kubernetes.io/") && jobLabels[k] == nil { jobLabels[k] = v }
        object[path: ["metadata", "labels"]] = .object(jobLabels)
    }

    /// After an object was stored: CRDs (re)register the resources they define.
    static func afterWrite(_ type: ResourceType, _ object: JSONValue, old: JSONValue?, state: inout Storage.State) {
        guard type.storeKey == crdsKey else { return }
        if let old { unregister(crd: old, state: &state) }
        for resource in resourceTypes(ofCRD: object) {
            state.types[Storage.State.typeKey(resource.group, resource.version, resource.plural)] = resource
        }
    }

    static func afterRemoval(_ storeKey: StoreKey, _ object: JSONValue, state: inout Storage.State) {
        if storeKey == crdsKey { unregister(crd: object, state: &state) }
    }

    private static func unregister(crd: JSONValue, state: inout Storage.State) {
        for resource in resourceTypes(ofCRD: crd) {
            state.types.removeValue(forKey: Storage.State.typeKey(resource.group, resource.version, resource.plural))
        }
    }

    // MARK: Deletion of containers (namespaces, CRDs)

    static func markDeleting(_ storeKey: StoreKey, _ object: inout JSONValue) {
        if storeKey == namespacesKey { object[path: ["status", "phase"]] = "Terminating" }
    }

    /// A namespace stays until it is empty; a CRD until its resources are gone.
    static func needsCleanupBeforeRemoval(_ storeKey: StoreKey, _ object: JSONValue, state: borrowing Storage.State) -> Bool {
        if storeKey == namespacesKey, let name = object[path: ["metadata", "name"]]?.stringValue {
            let prefix = name + "/"
            for (_, objectsOfType) in state.objects where objectsOfType.keys.contains(where: { $0.hasPrefix(prefix) }) {
                return true
            }
            return false
        }
        if storeKey == crdsKey, let key = crdStoreKey(object) {
            return !(state.objects[key]?.isEmpty ?? true)
        }
        return false
    }

    static func cleanUpContents(_ storeKey: StoreKey, _ object: JSONValue, state: inout Storage.State) {
        var targets: [(StoreKey, String)] = []
        if storeKey == namespacesKey, let name = object[path: ["metadata", "name"]]?.stringValue {
            let prefix = name + "/"
            for (key, objectsOfType) in state.objects {
                for objectKey in objectsOfType.keys where objectKey.hasPrefix(prefix) { targets.append((key, objectKey)) }
            }
        } else if storeKey == crdsKey, let key = crdStoreKey(object) {
            targets = (state.objects[key] ?? [:]).keys.map { (key, $0) }
        }
        for (key, objectKey) in targets.sorted(by: { $0.1 < $1.1 }) {
            if let target = state.objects[key]?[objectKey], target[path: ["metadata", "deletionTimestamp"]] == nil {
                _ = state.delete(key, objectKey, policy: .background)
            }
        }
    }

    /// The CRD that defines a custom resource's store key, if it exists.
    static func crdName(of storeKey: StoreKey, state: borrowing Storage.State) -> String? {
        guard !storeKey.group.isEmpty else { return nil }
        let name = "\(storeKey.plural).\(storeKey.group)"
        return state.objects[crdsKey]?[Storage.objectKey(nil, name)] == nil ? nil : name
    }

    private static func crdStoreKey(_ crd: JSONValue) -> StoreKey? {
        guard let group = crd[path: ["spec", "group"]]?.stringValue,
            let plural = crd[path: ["spec", "names", "plural"]]?.stringValue
        else { return nil }
        return StoreKey(group: group, plural: plural)
    }

    // MARK: Validation

    static func validateMetadata(_ type: ResourceType, _ object: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        if name.isEmpty {
            errors.append(.required("metadata.name", "name or generateName is required"))
        } else if type.plural == "namespaces" {
            if let problem = Names.dnsLabelProblem(name) { errors.append(.invalid("metadata.name", .string(name), problem)) }
        } else if type.group == "rbac.authorization.k8s.io" {
            // RBAC names are path segments ("system:discovery"), as path.IsValidPathSegmentName.
            if let problem = Names.pathSegmentProblem(name) { errors.append(.invalid("metadata.name", .string(name), problem)) }
        } else if let problem = Names.dnsSubdomainProblem(name) {
            errors.append(.invalid("metadata.name", .string(name), problem))
        }
        for (key, value) in object[path: ["metadata", "labels"]]?.objectValue ?? [:] {
            if let problem = Names.qualifiedNameProblem(key) {
                errors.append(.invalid("metadata.labels", .string(key), problem))
            }
            guard let text = value.stringValue else {
                errors.append(.typeInvalid("metadata.labels", value, "string"))
                continue
            }
            if let problem = Names.labelValueProblem(text) {
                errors.append(.invalid("metadata.labels", .string(text), problem))
            }
        }
        for (index, owner) in (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).enumerated() {
            for field in ["apiVersion", "kind", "name", "uid"] where (owner[field]?.stringValue ?? "").isEmpty {
                errors.append(.required("metadata.ownerReferences[\(index)].\(field)"))
            }
        }
        return errors
    }

    static func validate(_ type: ResourceType, _ object: JSONValue, old: JSONValue?, state: borrowing Storage.State) -> [FieldError] {
        if let schema = type.schema {
            return SchemaValidator.validate(object, schema: schema)
        }
        switch (type.group, type.plural) {
        case ("", "secrets"): return validateSecret(object, old: old)
        case ("", "configmaps"): return validateDataKeys(object["data"], field: "data")
        case ("batch", "jobs"): return validateJob(object, old: old)
        case ("apps", "deployments"): return validateDeployment(object, old: old)
        case ("apiextensions.k8s.io", "customresourcedefinitions"): return validateCRD(object, old: old)
        case ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "clusterroles"):
            return validateRules(object, namespaced: type.namespaced)
        case ("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterrolebindings"):
            return validateBinding(object, old: old, namespaced: type.namespaced)
        case ("", "events"):
            return object["involvedObject"] == nil ? [.required("involvedObject")] : []
        case ("coordination.k8s.io", "leases"):
            if let duration = object[path: ["spec", "leaseDurationSeconds"]]?.intValue, duration <= 0 {
                return [.invalid("spec.leaseDurationSeconds", .int(duration), "must be greater than 0")]
            }
            return []
        default: return []
        }
    }

    // MARK: Secrets

    private static func prepareSecret(_ object: inout JSONValue) throws(APIError) {
        var data = object["data"]?.objectValue ?? [:]
        for (key, value) in data {
            guard let text = value.stringValue, Data(base64Encoded: text) != nil else {
                throw .badRequest("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 0 (key \(key))")
            }
        }
        for (key, value) in object["stringData"]?.objectValue ?? [:] {
            data[key] = .string(Data((value.stringValue ?? "").utf8).base64EncodedString())
        }
        object.removeValue(forKey: "stringData")
        object["data"] = data.isEmpty ? nil : .object(data)
        if object["data"] == nil { object.removeValue(forKey: "data") }
        if (object["type"]?.stringValue ?? "").isEmpty { object["type"] = "Opaque" }
    }

    private static func validateSecret(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors = validateDataKeys(object["data"], field: "data")
        if let old, old["type"] != object["type"] {
            errors.append(.invalid("type", object["type"], "field is immutable"))
        }
        if let old, old["immutable"]?.boolValue == true, old["data"] != object["data"] {
            errors.append(.forbidden("data", "field is immutable when `immutable` is set"))
        }
        return errors
    }

    private static func validateDataKeys(_ data: JSONValue?, field: String) -> [FieldError] {
        (data?.objectValue ?? [:]).keys.sorted().compactMap { key in
            let valid = !key.isEmpty && key.count <= 253 && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }
            return valid ? nil : .invalid(
                "\(field)[\(key)]", .string(key),
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
        }
    }

    // MARK: Jobs

    private static func applyJobDefaults(_ object: inout JSONValue) {
        let defaults: [(String, JSONValue)] = [
            ("backoffLimit", 6), ("completions", 1), ("parallelism", 1), ("completionMode", "NonIndexed"),
            ("suspend", false), ("manualSelector", nil), ("podReplacementPolicy", "TerminatingOrFailed"),
        ]
        for (field, value) in defaults where object[path: ["spec", field]] == nil && value != .null {
            object[path: ["spec", field]] = value
        }
    }

    /// The containers of a pod template: present, each with a name (a DNS label, unique) and an image.
    private static func validateContainers(_ podSpec: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        let containers = podSpec["containers"]?.arrayValue ?? []
        if containers.isEmpty { errors.append(.required("spec.template.spec.containers")) }
        var names: Set<String> = []
        for (index, container) in containers.enumerated() {
            let name = container["name"]?.stringValue ?? ""
            if name.isEmpty {
                errors.append(.required("spec.template.spec.containers[\(index)].name"))
            } else if let problem = Names.dnsLabelProblem(name) {
                errors.append(.invalid("spec.template.spec.containers[\(index)].name", .string(name), problem))
            } else if !names.insert(name).inserted {
                errors.append(FieldError(reason: "FieldValueDuplicate", field: "spec.template.spec.containers[\(index)].name", detail: "", value: .string(name)))
            }
            if (container["image"]?.stringValue ?? "").isEmpty { errors.append(.required("spec.template.spec.containers[\(index)].image")) }
        }
        return errors
    }

    /// apps/v1 defaults: one replica, pods restarted always, a rolling update of 25%.
    private static func applyDeploymentDefaults(_ object: inout JSONValue) {
        if object[path: ["spec", "replicas"]] == nil { object[path: ["spec", "replicas"]] = 1 }
        if object[path: ["spec", "template", "spec", "restartPolicy"]] == nil { object[path: ["spec", "template", "spec", "restartPolicy"]] = "Always" }
        if object[path: ["spec", "revisionHistoryLimit"]] == nil { object[path: ["spec", "revisionHistoryLimit"]] = 10 }
        if object[path: ["spec", "progressDeadlineSeconds"]] == nil { object[path: ["spec", "progressDeadlineSeconds"]] = 600 }
        if object[path: ["spec", "strategy"]] == nil {
            object[path: ["spec", "strategy"]] = ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": "25%", "maxSurge": "25%"]]
        }
    }

    private static func validateDeployment(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors: [FieldError] = []
        guard let podSpec = object[path: ["spec", "template", "spec"]] else { return [.required("spec.template.spec.containers")] }
        errors += validateContainers(podSpec)
        if let policy = podSpec["restartPolicy"]?.stringValue, policy != "Always" {
            errors.append(.notSupported("spec.template.spec.restartPolicy", .string(policy), ["Always"]))
        }
        let selector = object[path: ["spec", "selector", "matchLabels"]]?.objectValue ?? [:]
        if object[path: ["spec", "selector"]] == nil || (selector.isEmpty && object[path: ["spec", "selector", "matchExpressions"]] == nil) {
            errors.append(.required("spec.selector"))
        } else {
            let labels = object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:]
            if selector.contains(where: { labels[$0.key] != $0.value }) {
                errors.append(.invalid("spec.template.metadata.labels", .object(labels), "`selector` does not match template `labels`"))
            }
        }
        if let replicas = object[path: ["spec", "replicas"]]?.intValue, replicas < 0 {
            errors.append(.invalid("spec.replicas", .int(replicas), "must be greater than or equal to 0"))
        }
        if let old, old[path: ["spec", "selector"]] != object[path: ["spec", "selector"]] {
            errors.append(.invalid("spec.selector", object[path: ["spec", "selector"]], "field is immutable"))
        }
        return errors
    }

    private static func validateJob(_ object: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors: [FieldError] = []
        guard let podSpec = object[path: ["spec", "template", "spec"]] else {
            return [.required("spec.template.spec.containers")]
        }
        errors += validateContainers(podSpec)
        switch podSpec["restartPolicy"]?.stringValue {
        case nil: errors.append(.required("spec.template.spec.restartPolicy", "valid values: \"OnFailure\", \"Never\""))
        case "Never"?, "OnFailure"?: break
        case let other?: errors.append(.notSupported("spec.template.spec.restartPolicy", .string(other), ["OnFailure", "Never"]))
        }
        if let limit = object[path: ["spec", "backoffLimit"]]?.intValue, limit < 0 {
            errors.append(.invalid("spec.backoffLimit", .int(limit), "must be greater than or equal to 0"))
        }
        // The Job's name becomes the pods' job-name label (added at creation), so as the
        // real server it must be a valid label value: at most 63 characters.
        if old == nil, let name = object[path: ["metadata", "name"]]?.stringValue, !name.isEmpty, let problem = Names.labelValueProblem(name) {
            errors.append(.invalid("spec.template.labels", .string(name), problem))
        }
        for (key, value) in object[path: ["spec", "template", "metadata", "labels"]]?.objectValue ?? [:] {
            if let problem = Names.qualifiedNameProblem(key) { errors.append(.invalid("spec.template.metadata.labels", .string(key), problem)) }
            if let problem = Names.labelValueProblem(value.stringValue ?? "") {
                errors.append(.invalid("spec.template.metadata.labels", value, problem))
            }
        }
        if let deadline = object[path: ["spec", "activeDeadlineSeconds"]]?.intValue, deadline <= 0 {
            errors.append(.invalid("spec.activeDeadlineSeconds", .int(deadline), "must be greater than 0"))
        }
        if let old, old[path: ["spec", "suspend"]]?.boolValue != true,
            old[path: ["spec", "template"]] != object[path: ["spec", "template"]]
        {
            errors.append(.invalid("spec.template", object[path: ["spec", "template"]], "field is immutable"))
        }
        if let old, old[path: ["spec", "selector"]] != object[path: ["spec", "selector"]] {
            errors.append(.invalid("spec.selector", object[path: ["spec", "selector"]], "field is immutable"))
        }
        return errors
    }

    // MARK: RBAC (as pkg/apis/rbac/validation)

    private static func validateRules(_ object: JSONValue, namespaced: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        for (index, rule) in (object["rules"]?.arrayValue ?? []).enumerated() {
            let field = "rules[\(index)]"
            func values(_ key: String) -> [String] { rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            if values("verbs").isEmpty { errors.append(.required("\(field).verbs", "verbs must contain at least one value")) }
            if !values("nonResourceURLs").isEmpty {
                if namespaced {
                    errors.append(.invalid("\(field).nonResourceURLs", rule["nonResourceURLs"], "namespaced rules cannot apply to non-resource URLs"))
                }
                if !values("apiGroups").isEmpty || !values("resources").isEmpty || !values("resourceNames").isEmpty {
                    errors.append(.invalid("\(field).nonResourceURLs", rule["nonResourceURLs"], "rules cannot apply to both regular resources and non-resource URLs"))
                }
                continue
            }
            if rule["apiGroups"]?.arrayValue == nil { errors.append(.required("\(field).apiGroups", "resource rules must supply at least one api group")) }
            if values("resources").isEmpty { errors.append(.required("\(field).resources", "resource rules must supply at least one resource")) }
        }
        return errors
    }

    private static func validateBinding(_ object: JSONValue, old: JSONValue?, namespaced: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        let rbac = "rbac.authorization.k8s.io"
        let roleRef = object["roleRef"] ?? [:]
        if roleRef["apiGroup"]?.stringValue != rbac { errors.append(.notSupported("roleRef.apiGroup", roleRef["apiGroup"] ?? "", [rbac])) }
        let kinds = namespaced ? ["Role", "ClusterRole"] : ["ClusterRole"]
        if !kinds.contains(roleRef["kind"]?.stringValue ?? "") { errors.append(.notSupported("roleRef.kind", roleRef["kind"] ?? "", kinds)) }
        if (roleRef["name"]?.stringValue ?? "").isEmpty { errors.append(.required("roleRef.name")) }
        for (index, subject) in (object["subjects"]?.arrayValue ?? []).enumerated() {
            let field = "subjects[\(index)]"
            if (subject["name"]?.stringValue ?? "").isEmpty { errors.append(.required("\(field).name")) }
            let apiGroup = subject["apiGroup"]?.stringValue ?? ""
            switch subject["kind"]?.stringValue ?? "" {
            case "ServiceAccount":
                if !apiGroup.isEmpty { errors.append(.notSupported("\(field).apiGroup", .string(apiGroup), [""])) }
                if !namespaced && (subject["namespace"]?.stringValue ?? "").isEmpty { errors.append(.required("\(field).namespace")) }
            case "User", "Group":
                if apiGroup != rbac { errors.append(.notSupported("\(field).apiGroup", .string(apiGroup), [rbac])) }
            case let kind:
                errors.append(.notSupported("\(field).kind", .string(kind), ["ServiceAccount", "User", "Group"]))
            }
        }
        if let old, old["roleRef"] != object["roleRef"] {
            errors.append(.invalid("roleRef", object["roleRef"], "cannot change roleRef"))
        }
        return errors
    }

    // MARK: CustomResourceDefinitions

    private static func validateCRD(_ crd: JSONValue, old: JSONValue?) -> [FieldError] {
        var errors: [FieldError] = []
        let group = crd[path: ["spec", "group"]]?.stringValue ?? ""
        let plural = crd[path: ["spec", "names", "plural"]]?.stringValue ?? ""
        let kind = crd[path: ["spec", "names", "kind"]]?.stringValue ?? ""
        if group.isEmpty { errors.append(.required("spec.group")) }
        if plural.isEmpty { errors.append(.required("spec.names.plural")) }
        if kind.isEmpty { errors.append(.required("spec.names.kind")) }
        let name = crd[path: ["metadata", "name"]]?.stringValue ?? ""
        if !group.isEmpty && !plural.isEmpty && name != "\(plural).\(group)" {
            errors.append(.invalid("metadata.name", .string(name), "must be spec.names.plural+\".\"+spec.group"))
        }
        switch crd[path: ["spec", "scope"]]?.stringValue {
        case "Namespaced"?, "Cluster"?: break
        case nil: errors.append(.required("spec.scope"))
        case let other?: errors.append(.notSupported("spec.scope", .string(other), ["Cluster", "Namespaced"]))
        }
        let versions = crd[path: ["spec", "versions"]]?.arrayValue ?? []
        if versions.isEmpty { errors.append(.required("spec.versions", "must have exactly one version marked as storage version")) }
        if versions.filter({ $0["storage"]?.boolValue == true }).count != 1 && !versions.isEmpty {
            errors.append(.invalid("spec.versions", .array(versions.map { $0["name"] ?? .null }), "must have exactly one version marked as storage version"))
        }
        for (index, version) in versions.enumerated() {
            guard let schema = version[path: ["schema", "openAPIV3Schema"]] else {
                errors.append(.required("spec.versions[\(index)].schema.openAPIV3Schema", "schemas are required"))
                continue
            }
            errors += invalidPatterns(schema, field: "spec.versions[\(index)].schema.openAPIV3Schema")
        }
        if let old {
            for field in ["group", "scope"] where old[path: ["spec", field]] != crd[path: ["spec", field]] {
                errors.append(.invalid("spec.\(field)", crd[path: ["spec", field]], "field is immutable"))
            }
        }
        return errors
    }

    private static func invalidPatterns(_ schema: JSONValue, field: String) -> [FieldError] {
        var errors: [FieldError] = []
        if let pattern = schema["pattern"]?.stringValue, (try? NSRegularExpression(pattern: pattern)) == nil {
            errors.append(.invalid("\(field).pattern", .string(pattern), "must be a valid regular expression"))
        }
        for (key, child) in schema["properties"]?.objectValue ?? [:] {
            errors += invalidPatterns(child, field: "\(field).properties[\(key)]")
        }
        if let items = schema["items"] { errors += invalidPatterns(items, field: "\(field).items") }
        if let additional = schema["additionalProperties"], case .object = additional {
            errors += invalidPatterns(additional, field: "\(field).additionalProperties")
        }
        return errors
    }

    private static func crdStatus(_ crd: JSONValue) -> JSONValue {
        var names = crd[path: ["spec", "names"]] ?? [:]
        if names["singular"] == nil, let kind = names["kind"]?.stringValue { names["singular"] = .string(kind.lowercased()) }
        if names["listKind"] == nil, let kind = names["kind"]?.stringValue { names["listKind"] = .string(kind + "List") }
        let now = JSONValue.string(Timestamp.now())
        let storage = (crd[path: ["spec", "versions"]]?.arrayValue ?? []).first { $0["storage"]?.boolValue == true }?["name"]
        return [
            "acceptedNames": names,
            "conditions": [
                ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now],
                ["type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now],
            ],
            "storedVersions": storage.map { [$0] } ?? [],
        ]
    }

    /// The resources a CRD serves, one per served version.
    static func resourceTypes(ofCRD crd: JSONValue) -> [ResourceType] {
        guard let group = crd[path: ["spec", "group"]]?.stringValue,
            let plural = crd[path: ["spec", "names", "plural"]]?.stringValue,
            let kind = crd[path: ["spec", "names", "kind"]]?.stringValue
        else { return [] }
        let names = crd[path: ["spec", "names"]]!
        return (crd[path: ["spec", "versions"]]?.arrayValue ?? []).compactMap { version in
            guard version["served"]?.boolValue != false, let versionName = version["name"]?.stringValue else { return nil }
            let columns = (version["additionalPrinterColumns"]?.arrayValue ?? []).compactMap { column -> PrinterColumn? in
                guard let name = column["name"]?.stringValue, let path = column["jsonPath"]?.stringValue else { return nil }
                return PrinterColumn(
                    name: name, type: column["type"]?.stringValue ?? "string", format: column["format"]?.stringValue,
                    description: column["description"]?.stringValue ?? "", priority: Int(column["priority"]?.intValue ?? 0),
                    jsonPath: path)
            }
            var fieldSelectors: [String: [String]] = [:]
            for selectable in version["selectableFields"]?.arrayValue ?? [] {
                if let path = selectable["jsonPath"]?.stringValue {
                    let parts = path.split(separator: ".").map(String.init)
                    fieldSelectors[parts.joined(separator: ".")] = parts
                }
            }
            return ResourceType(
                group: group, version: versionName, plural: plural,
                singular: names["singular"]?.stringValue ?? kind.lowercased(), kind: kind,
                namespaced: crd[path: ["spec", "scope"]]?.stringValue != "Cluster",
                shortNames: names["shortNames"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                categories: names["categories"]?.arrayValue?.compactMap(\.stringValue) ?? [],
                hasStatusSubresource: version[path: ["subresources", "status"]] != nil, hasGeneration: true,
                schema: version[path: ["schema", "openAPIV3Schema"]], printerColumns: columns,
                fieldSelectors: fieldSelectors, crdName: crd[path: ["metadata", "name"]]?.stringValue)
        }
    }
}

/// The name rules of `k8s.io/apimachinery/pkg/util/validation`.
enum Names {
    static func dnsSubdomainProblem(_ name: String) -> String? {
        // As apimachinery's IsDNS1123Subdomain: the whole at most 253, its parts follow
        // the label pattern but are not limited to 63 characters each.
        let labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if name.utf8.count <= 253, labels.allSatisfy({ isDNSLabel($0, limit: 253) }) { return nil }
        return name.count > 253 ? "must be no more than 253 characters"
            : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    }

    static func pathSegmentProblem(_ name: String) -> String? {
        if name == "." || name == ".." { return "may not be '\(name)'" }
        for forbidden in ["/", "%"] where name.contains(forbidden) { return "may not contain '\(forbidden)'" }
        return nil
    }

    static func dnsLabelProblem(_ name: String) -> String? {
        if isDNSLabel(name.utf8[...]) { return nil }
        return name.count > 63 ? "must be no more than 63 characters"
            : "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    }

    static func labelValueProblem(_ value: String) -> String? {
        if value.isEmpty { return nil }
        if value.count > 63 { return "must be no more than 63 characters" }
        if isQualifiedNamePart(value.utf8[...]) { return nil }
        return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    }

    static func qualifiedNameProblem(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        let name = String(parts.last ?? "")
        if parts.count > 2 { return "a qualified name must consist of alphanumeric characters, '-', '_' or '.'" }
        if parts.count == 2, dnsSubdomainProblem(String(parts[0])) != nil { return "prefix part \(dnsSubdomainProblem(String(parts[0]))!)" }
        if name.isEmpty || name.count > 63 || !isQualifiedNamePart(name.utf8[...]) {
            return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        }
        return nil
    }

    // On UTF-8 bytes: every allowed character is ASCII, so a byte outside the sets
    // (any byte of a non-ASCII character) fails, as the regexes do.
    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private static func isDNSLabel(_ s: Substring.UTF8View, limit: Int = 63) -> Bool {
        guard !s.isEmpty, s.count <= limit, let first = s.first, let last = s.last else { return false }
        return isLowerAlphanumeric(first) && isLowerAlphanumeric(last) && s.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isQualifiedNamePart(_ s: Substring.UTF8View) -> Bool {
        guard let first = s.first, let last = s.last else { return false }
        return isAlphanumeric(first) && isAlphanumeric(last)
            && s.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }
}

/// The `fieldValidation` directive of a write and the unknown fields it met.
struct UnknownFields: Sendable {
    enum Directive: String, Sendable {
        case strict = "Strict"
        case warn = "Warn"
        case ignore = "Ignore"
    }

    var directive: Directive
    var paths: [String] = []
}
