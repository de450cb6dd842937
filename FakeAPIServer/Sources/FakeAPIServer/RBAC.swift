// RBAC authorization as kube-apiserver evaluates it (pure: no storage, no I/O).
//
// Written from the Kubernetes RBAC documentation and the matching rules of
// k8s.io/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go: a request is allowed when
// one rule of one role bound to the user allows it; nothing denies. ClusterRoleBindings
// apply everywhere, RoleBindings in their namespace (to a Role of that namespace or
// a ClusterRole). A rule matches a verb ("*" any), an API group ("*" any), a
// resource ("*", "resource", "resource/subresource", "*/subresource"), and, when it
// lists resourceNames, the request's name; non-resource rules match a path, a
// trailing "*" being a prefix. Escalation prevention: a role may only hold what its
// writer holds (or the writer has `escalate`), a binding only to a role whose rules
// the writer holds (or the writer has `bind`).

import KubeModel

/// Who a request comes from: a name and groups, as an authenticator gives them.
public struct UserInfo: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var groups: [String]

    public init(name: String, groups: [String]) {
        self.name = name
        self.groups = groups
    }

    /// The user name Kubernetes gives a service account's tokens.
    public static func serviceAccountName(namespace: String, name: String) -> String {
        "system:serviceaccount:\(namespace):\(name)"
    }

    /// A service account's user: its name and groups, as in a real cluster.
    static func serviceAccount(namespace: String, name: String) -> UserInfo {
        UserInfo(
            name: serviceAccountName(namespace: namespace, name: name),
            groups: ["system:serviceaccounts", "system:serviceaccounts:\(namespace)", "system:authenticated"])
    }

    static let anonymous = UserInfo(name: "system:anonymous", groups: ["system:unauthenticated"])

    public var description: String { name }
}

/// What is asked: a verb on a resource (in a namespace or cluster-wide) or on a path.
struct RequestAttributes: Hashable, Sendable {
    var verb: String
    /// Resource requests have a resource; others a path.
    var isResourceRequest: Bool
    var apiGroup = ""
    var resource = ""
    var subresource = ""
    var name = ""
    var namespace = ""
    var path = ""

    static func resource(_ verb: String, group: String, resource: String, subresource: String = "", name: String = "", namespace: String = "") -> RequestAttributes {
        RequestAttributes(verb: verb, isResourceRequest: true, apiGroup: group, resource: resource, subresource: subresource, name: name, namespace: namespace)
    }

    static func nonResource(_ verb: String, path: String) -> RequestAttributes {
        RequestAttributes(verb: verb, isResourceRequest: false, path: path)
    }

    /// "resource" or "resource/subresource".
    var combinedResource: String { subresource.isEmpty ? resource : "\(resource)/\(subresource)" }
}

/// One rule of a Role or ClusterRole.
struct PolicyRule: Hashable, Sendable {
    var verbs: [String]
    var apiGroups: [String] = []
    var resources: [String] = []
    var resourceNames: [String] = []
    var nonResourceURLs: [String] = []

    init(verbs: [String], apiGroups: [String] = [], resources: [String] = [], resourceNames: [String] = [], nonResourceURLs: [String] = []) {
        self.verbs = verbs
        self.apiGroups = apiGroups
        self.resources = resources
        self.resourceNames = resourceNames
        self.nonResourceURLs = nonResourceURLs
    }

    init(json: JSONValue) {
        func strings(_ key: String) -> [String] { json[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        self.init(
            verbs: strings("verbs"), apiGroups: strings("apiGroups"), resources: strings("resources"), resourceNames: strings("resourceNames"),
            nonResourceURLs: strings("nonResourceURLs"))
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["verbs": .array(verbs.map(JSONValue.string))]
        if !apiGroups.isEmpty || !resources.isEmpty { object["apiGroups"] = .array(apiGroups.map(JSONValue.string)) }
        if !resources.isEmpty { object["resources"] = .array(resources.map(JSONValue.string)) }
        if !resourceNames.isEmpty { object["resourceNames"] = .array(resourceNames.map(JSONValue.string)) }
        if !nonResourceURLs.isEmpty { object["nonResourceURLs"] = .array(nonResourceURLs.map(JSONValue.string)) }
        return .object(object)
    }

    func allows(_ request: RequestAttributes) -> Bool {
        guard verbs.contains("*") || verbs.contains(request.verb) else { return false }
        if !request.isResourceRequest {
            return nonResourceURLs.contains { url in
                url == "*" || url == request.path || (url.hasSuffix("*") && request.path.hasPrefix(String(url.dropLast())))
            }
        }
        guard apiGroups.contains("*") || apiGroups.contains(request.apiGroup) else { return false }
        let combined = request.combinedResource
        let resourceMatches = resources.contains { resource in
            resource == "*" || resource == combined
                || (!request.subresource.isEmpty && resource.count == request.subresource.count + 2 && resource.hasPrefix("*/")
                    && resource.hasSuffix(request.subresource))
        }
        guard resourceMatches else { return false }
        return resourceNames.isEmpty || resourceNames.contains(request.name)
    }
}

/// Who a binding grants its role to.
struct Subject: Hashable, Sendable {
    var kind: String
    var name: String
    var namespace: String

    init(kind: String, name: String, namespace: String = "") {
        self.kind = kind
        self.name = name
        self.namespace = namespace
    }

    /// Whether it names `user`; a ServiceAccount without a namespace means the
    /// binding's own (none for a ClusterRoleBinding).
    func applies(to user: UserInfo, bindingNamespace: String) -> Bool {
        switch kind {
        case "User": return user.name == name
        case "Group": return user.groups.contains(name)
        case "ServiceAccount":
            let namespace = self.namespace.isEmpty ? bindingNamespace : self.namespace
            return !namespace.isEmpty && user.name == UserInfo.serviceAccountName(namespace: namespace, name: name)
        default: return false
        }
    }
}

/// A Role (namespace set) or ClusterRole, by kind and name.
struct RoleRef: Hashable, Sendable, CustomStringConvertible {
    var kind: String
    var name: String
    var namespace = ""

    var description: String { namespace.isEmpty ? "\(kind)/\(name)" : "\(kind)/\(namespace)/\(name)" }
}

/// A rule that allowed a request: which role, which of its rules, through which binding.
struct GrantingRule: Hashable, Sendable {
    var role: RoleRef
    var ruleIndex: Int
    var binding: String
}

/// The RBAC objects at one moment, indexed for evaluation.
struct RBACPolicy: Sendable {
    struct Binding: Sendable {
        var name: String
        var namespace: String
        var role: RoleRef
        var subjects: [Subject]
    }

    var clusterRoles: [String: [PolicyRule]] = [:]
    /// Roles by namespace, then name.
    var roles: [String: [String: [PolicyRule]]] = [:]
    var clusterRoleBindings: [Binding] = []
    /// RoleBindings by namespace.
    var roleBindings: [String: [Binding]] = [:]

    init() {}

    /// Reads Roles, ClusterRoles, RoleBindings and ClusterRoleBindings as stored.
    init(roles: [JSONValue], clusterRoles: [JSONValue], roleBindings: [JSONValue], clusterRoleBindings: [JSONValue]) {
        func rules(_ object: JSONValue) -> [PolicyRule] { object["rules"]?.arrayValue?.map(PolicyRule.init(json:)) ?? [] }
        func binding(_ object: JSONValue) -> Binding? {
            guard let name = object[path: ["metadata", "name"]]?.stringValue, let kind = object[path: ["roleRef", "kind"]]?.stringValue,
                let roleName = object[path: ["roleRef", "name"]]?.stringValue
            else { return nil }
            let namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? ""
            let subjects = (object["subjects"]?.arrayValue ?? []).map {
                Subject(kind: $0["kind"]?.stringValue ?? "", name: $0["name"]?.stringValue ?? "", namespace: $0["namespace"]?.stringValue ?? "")
            }
            return Binding(name: name, namespace: namespace, role: RoleRef(kind: kind, name: roleName, namespace: kind == "Role" ? namespace : ""), subjects: subjects)
        }
        for role in clusterRoles {
            if let name = role[path: ["metadata", "name"]]?.stringValue { self.clusterRoles[name] = rules(role) }
        }
        for role in roles {
            if let name = role[path: ["metadata", "name"]]?.stringValue, let namespace = role[path: ["metadata", "namespace"]]?.stringValue {
                self.roles[namespace, default: [:]][name] = rules(role)
            }
        }
        self.clusterRoleBindings = clusterRoleBindings.compactMap(binding).filter { $0.role.kind == "ClusterRole" }
        for binding in roleBindings.compactMap(binding) { self.roleBindings[binding.namespace, default: []].append(binding) }
    }

    func rules(of role: RoleRef) -> [PolicyRule] {
        role.kind == "ClusterRole" ? clusterRoles[role.name] ?? [] : roles[role.namespace]?[role.name] ?? []
    }

    /// The bindings that apply to `user` for a request in `namespace` ("" cluster-wide):
    /// every ClusterRoleBinding, then the namespace's RoleBindings.
    private func bindings(for user: UserInfo, namespace: String) -> [Binding] {
        var result = clusterRoleBindings.filter { $0.subjects.contains { $0.applies(to: user, bindingNamespace: "") } }
        if !namespace.isEmpty {
            result += (roleBindings[namespace] ?? []).filter { binding in
                (binding.role.kind == "Role" || binding.role.kind == "ClusterRole")
                    && binding.subjects.contains { $0.applies(to: user, bindingNamespace: namespace) }
            }
        }
        return result
    }

    /// The first rule that allows `request` for `user`, or nil (denied).
    func grant(_ request: RequestAttributes, for user: UserInfo) -> GrantingRule? {
        for binding in bindings(for: user, namespace: request.isResourceRequest ? request.namespace : "") {
            for (index, rule) in rules(of: binding.role).enumerated() where rule.allows(request) {
                let name = binding.namespace.isEmpty ? "ClusterRoleBinding/\(binding.name)" : "RoleBinding/\(binding.namespace)/\(binding.name)"
                return GrantingRule(role: binding.role, ruleIndex: index, binding: name)
            }
        }
        return nil
    }

    /// Every rule `user` holds in `namespace` ("" cluster-wide only), as
    /// SelfSubjectRulesReview lists them.
    func rules(for user: UserInfo, namespace: String) -> [PolicyRule] {
        bindings(for: user, namespace: namespace).flatMap { rules(of: $0.role) }
    }

    // MARK: Escalation prevention

    /// Whether `owner` covers every atomic piece of `rules`: each verb x group x
    /// resource x name (or verb x path) is allowed by some rule of `owner`, literally
    /// or by "*". (Kubernetes' `Covers` in pkg/registry/rbac/validation.)
    static func uncovered(_ rules: [PolicyRule], by owner: [PolicyRule]) -> [PolicyRule] {
        var missing: [PolicyRule] = []
        for rule in rules {
            for verb in rule.verbs {
                for url in rule.nonResourceURLs {
                    let piece = PolicyRule(verbs: [verb], nonResourceURLs: [url])
                    if !owner.contains(where: { Self.covers($0, piece) }) { missing.append(piece) }
                }
                for group in rule.apiGroups {
                    for resource in rule.resources {
                        for name in rule.resourceNames.isEmpty ? [nil] : rule.resourceNames.map(Optional.some) {
                            let piece = PolicyRule(verbs: [verb], apiGroups: [group], resources: [resource], resourceNames: name.map { [$0] } ?? [])
                            if !owner.contains(where: { Self.covers($0, piece) }) { missing.append(piece) }
                        }
                    }
                }
            }
        }
        return missing
    }

    private static func covers(_ owner: PolicyRule, _ piece: PolicyRule) -> Bool {
        func has(_ values: [String], _ value: String) -> Bool { values.contains("*") || values.contains(value) }
        guard has(owner.verbs, piece.verbs[0]) else { return false }
        if let url = piece.nonResourceURLs.first {
            return owner.nonResourceURLs.contains { $0 == url || $0 == "*" || ($0.hasSuffix("*") && url.hasPrefix(String($0.dropLast()))) }
        }
        guard has(owner.apiGroups, piece.apiGroups[0]) else { return false }
        let resource = piece.resources[0]
        let resourceCovered = owner.resources.contains { held in
            if held == "*" || held == resource { return true }
            // "*/scale" covers "deployments/scale", and only subresource requests.
            if held.hasPrefix("*/"), let slash = resource.firstIndex(of: "/") { return resource[slash...] == held.dropFirst() }
            return false
        }
        guard resourceCovered else { return false }
        if owner.resourceNames.isEmpty { return true }
        guard let name = piece.resourceNames.first else { return false }
        return owner.resourceNames.contains(name)
    }
}

/// The roles and bindings a new cluster starts with (a subset of kube-apiserver's
/// bootstrap policy): cluster-admin for group system:masters, discovery and
/// self-reviews for every authenticated user, health and version for everyone.
enum BootstrapPolicy {
    static let discoveryURLs = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]
    static let publicURLs = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

    static let clusterRoles: [(name: String, rules: [PolicyRule])] = [
        ("cluster-admin", [PolicyRule(verbs: ["*"], apiGroups: ["*"], resources: ["*"]), PolicyRule(verbs: ["*"], nonResourceURLs: ["*"])]),
        ("system:discovery", [PolicyRule(verbs: ["get"], nonResourceURLs: discoveryURLs)]),
        ("system:public-info-viewer", [PolicyRule(verbs: ["get"], nonResourceURLs: publicURLs)]),
        (
            "system:basic-user",
            [
                PolicyRule(verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"]),
                PolicyRule(verbs: ["create"], apiGroups: ["authorization.k8s.io"], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            ]
        ),
    ]

    static let clusterRoleBindings: [(name: String, role: String, groups: [String])] = [
        ("cluster-admin", "cluster-admin", ["system:masters"]),
        ("system:discovery", "system:discovery", ["system:authenticated"]),
        ("system:public-info-viewer", "system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]),
        ("system:basic-user", "system:basic-user", ["system:authenticated"]),
    ]

    static let bootstrapLabels: JSONValue = ["kubernetes.io/bootstrapping": "rbac-defaults"]
    static let autoupdate: JSONValue = ["rbac.authorization.kubernetes.io/autoupdate": "true"]

    /// The objects, as a client would create them.
    static var objects: [(plural: String, object: JSONValue)] {
        let roles = clusterRoles.map { role -> (String, JSONValue) in
            ("clusterroles", ["metadata": ["name": .string(role.name), "labels": bootstrapLabels, "annotations": autoupdate], "rules": .array(role.rules.map(\.json))])
        }
        let bindings = clusterRoleBindings.map { binding -> (String, JSONValue) in
            (
                "clusterrolebindings",
                [
                    "metadata": ["name": .string(binding.name), "labels": bootstrapLabels, "annotations": autoupdate],
                    "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(binding.role)],
                    "subjects": .array(binding.groups.map { ["apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": .string($0)] }),
                ]
            )
        }
        return roles + bindings
    }
}
