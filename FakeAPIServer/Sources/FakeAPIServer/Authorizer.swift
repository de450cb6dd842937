import Foundation
import KubeModel
import Synchronization

/// How requests are authorized: everything an authenticated user asks (the default,
/// for tests that are not about permissions), or RBAC as kube-apiserver does it.
public enum AuthorizationMode: String, Sendable, CaseIterable {
    case alwaysAllow = "AlwaysAllow"
    case rbac = "RBAC"
}

/// One kind of request seen while RBAC was on, and how often: who asked what, whether
/// it was allowed, and which role's rule allowed it (the least-privilege test reads these).
public struct AccessRecord: Hashable, Sendable, Codable {
    public var user: String
    public var verb: String
    /// API group ("" core) and resource ("jobs", "databases/status"); empty for a path.
    public var apiGroup: String
    public var resource: String
    /// Namespace ("" cluster-wide) or, for a non-resource request, the path.
    public var namespace: String
    public var path: String
    public var allowed: Bool
    /// "ClusterRole/name" or "Role/namespace/name" and the index of the rule that allowed it;
    /// nil when denied or when the user is in system:masters.
    public var role: String?
    public var ruleIndex: Int?
}

/// RBAC decisions for the handler: a policy rebuilt when RBAC objects change, the
/// access log, the 403 errors, and the self-reviews (`kubectl auth can-i`, `whoami`).
final class Authorizer: Sendable {
    let mode: AuthorizationMode
    private let storage: Storage
    private let cache = Mutex<(revision: UInt64, policy: RBACPolicy)?>(nil)
    private let log = Mutex<[AccessRecord: Int]>([:])

    init(mode: AuthorizationMode, storage: Storage) {
        self.mode = mode
        self.storage = storage
    }

    static let mastersGroup = "system:masters"

    /// The policy as stored now.
    func policy() -> RBACPolicy {
        let revision = storage.rbacRevision
        if let cached = cache.withLock({ $0 }), cached.revision == revision { return cached.policy }
        let objects = storage.rbacObjects()
        let policy = RBACPolicy(
            roles: objects.roles, clusterRoles: objects.clusterRoles, roleBindings: objects.roleBindings, clusterRoleBindings: objects.clusterRoleBindings)
        cache.withLock { $0 = (objects.revision, policy) }
        return policy
    }

    /// Whether `user` may do `request`, and the rule that says so.
    func decide(_ request: RequestAttributes, user: UserInfo) -> (allowed: Bool, grant: GrantingRule?) {
        if mode == .alwaysAllow || user.groups.contains(Self.mastersGroup) { return (true, nil) }
        let grant = policy().grant(request, for: user)
        return (grant != nil, grant)
    }

    /// Throws the 403 a real server answers when `user` may not do `request`; records it either way.
    func authorize(_ request: RequestAttributes, user: UserInfo) throws(APIError) {
        guard mode == .rbac else { return }
        let (allowed, grant) = decide(request, user: user)
        let record = AccessRecord(
            user: user.name, verb: request.verb, apiGroup: request.apiGroup, resource: request.combinedResource, namespace: request.namespace,
            path: request.isResourceRequest ? "" : request.path, allowed: allowed, role: grant.map { $0.role.description }, ruleIndex: grant?.ruleIndex)
        log.withLock { $0[record, default: 0] += 1 }
        if !allowed { throw Self.forbidden(request, user: user) }
    }

    /// What was asked since the start (or the last `clearAccessLog`), with counts.
    func accessLog() -> [(record: AccessRecord, count: Int)] {
        log.withLock { $0.map { ($0.key, $0.value) } }.sorted { "\($0.record)" < "\($1.record)" }
    }

    func clearAccessLog() { log.withLock { $0.removeAll() } }

    /// kube-apiserver's wording: `jobs.batch "x" is forbidden: User "u" cannot get
    /// resource "jobs" in API group "batch" in the namespace "shop"`.
    static func forbidden(_ request: RequestAttributes, user: UserInfo) -> APIError {
        guard request.isResourceRequest else {
            return APIError(code: 403, reason: "Forbidden", message: "forbidden: User \"\(user.name)\" cannot \(request.verb) path \"\(request.path)\"", details: [:])
        }
        let scope = request.namespace.isEmpty ? "at the cluster scope" : "in the namespace \"\(request.namespace)\""
        let why = "User \"\(user.name)\" cannot \(request.verb) resource \"\(request.combinedResource)\" in API group \"\(request.apiGroup)\" \(scope)"
        let groupResource = request.apiGroup.isEmpty ? request.resource : "\(request.resource).\(request.apiGroup)"
        let subject = request.name.isEmpty ? groupResource : "\(groupResource) \"\(request.name)\""
        var details: JSONValue = ["group": .string(request.apiGroup), "kind": .string(request.resource)]
        if !request.name.isEmpty { details["name"] = .string(request.name) }
        return APIError(code: 403, reason: "Forbidden", message: "\(subject) is forbidden: \(why)", details: details)
    }

    // MARK: Escalation prevention

    /// The admission step for writes of Roles, ClusterRoles and bindings by `user`:
    /// refuses a role holding more than `user` holds (unless `user` may `escalate` it),
    /// and a binding to a role whose rules `user` lacks (unless `user` may `bind` it), as
    /// the RBAC registry does. Nil when there is nothing to check. The policy is read
    /// now: the check runs under the storage lock.
    func escalationCheck(plural: String, namespace: String, user: UserInfo) -> Storage.Admission? {
        guard mode == .rbac, !user.groups.contains(Self.mastersGroup),
            ["roles", "clusterroles", "rolebindings", "clusterrolebindings"].contains(plural)
        else { return nil }
        let policy = self.policy()
        let held = policy.rules(for: user, namespace: namespace)
        return { (object, _) throws(APIError) in
            try Self.checkEscalation(plural: plural, object: object, namespace: namespace, user: user, policy: policy, held: held)
        }
    }

    private static func checkEscalation(
        plural: String, object: JSONValue, namespace: String, user: UserInfo, policy: RBACPolicy, held: [PolicyRule]
    ) throws(APIError) {
        let name = object[path: ["metadata", "name"]]?.stringValue ?? ""
        let group = Storage.rbacGroup
        func refuse(_ detail: String) -> APIError {
            APIError(
                code: 403, reason: "Forbidden",
                message: "\(plural).\(group) \"\(name)\" is forbidden: user \"\(user.name)\" (groups=\(goStrings(user.groups))) is attempting to grant RBAC permissions not currently held:\n\(detail)",
                details: ["name": .string(name), "group": .string(group), "kind": .string(plural)])
        }
        switch plural {
        case "roles", "clusterroles":
            let escalate = RequestAttributes.resource("escalate", group: group, resource: plural, name: name, namespace: namespace)
            if policy.grant(escalate, for: user) != nil { return }
            let wanted = object["rules"]?.arrayValue?.map(PolicyRule.init(json:)) ?? []
            let missing = RBACPolicy.uncovered(wanted, by: held)
            if !missing.isEmpty { throw refuse(missing.map(describe).joined(separator: "\n")) }
        default:
            guard let kind = object[path: ["roleRef", "kind"]]?.stringValue, let roleName = object[path: ["roleRef", "name"]]?.stringValue else { return }
            let role = RoleRef(kind: kind, name: roleName, namespace: kind == "Role" ? namespace : "")
            let bind = RequestAttributes.resource("bind", group: group, resource: kind == "Role" ? "roles" : "clusterroles", name: roleName, namespace: namespace)
            if policy.grant(bind, for: user) != nil { return }
            let missing = RBACPolicy.uncovered(policy.rules(of: role), by: held)
            if !missing.isEmpty { throw refuse("\(role): " + missing.map(describe).joined(separator: "\n")) }
        }
    }

    private static func goStrings(_ values: [String]) -> String { "[\"\(values.joined(separator: "\" \""))\"]" }

    /// A rule as Kubernetes' CompactString prints it: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`.
    private static func describe(_ rule: PolicyRule) -> String {
        var parts: [String] = []
        if !rule.apiGroups.isEmpty { parts.append("APIGroups:\(goStrings(rule.apiGroups))") }
        if !rule.resources.isEmpty { parts.append("Resources:\(goStrings(rule.resources))") }
        if !rule.nonResourceURLs.isEmpty { parts.append("NonResourceURLs:\(goStrings(rule.nonResourceURLs))") }
        if !rule.resourceNames.isEmpty { parts.append("ResourceNames:\(goStrings(rule.resourceNames))") }
        parts.append("Verbs:\(goStrings(rule.verbs))")
        return "{\(parts.joined(separator: ", "))}"
    }

    // MARK: Reviews

    /// SelfSubjectAccessReview (`kubectl auth can-i VERB RESOURCE`): the request with
    /// `status.allowed` (and `status.reason` when a role allowed it).
    func accessReview(_ body: JSONValue, user: UserInfo) throws(APIError) -> JSONValue {
        let spec = body["spec"] ?? [:]
        let request: RequestAttributes
        if let attributes = spec["resourceAttributes"], attributes != .null {
            func field(_ key: String) -> String { attributes[key]?.stringValue ?? "" }
            request = .resource(field("verb"), group: field("group"), resource: field("resource"), subresource: field("subresource"), name: field("name"), namespace: field("namespace"))
        } else if let attributes = spec["nonResourceAttributes"], attributes != .null {
            request = .nonResource(attributes["verb"]?.stringValue ?? "", path: attributes["path"]?.stringValue ?? "")
        } else {
            throw APIError(
                code: 422, reason: "Invalid",
                message: "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
                details: ["group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview"])
        }
        let (allowed, grant) = decide(request, user: user)
        var status: JSONValue = ["allowed": .bool(allowed)]
        if let grant {
            status["reason"] = .string("RBAC: allowed by \(grant.binding) of \(grant.role) to \(user.name)")
        } else if allowed, mode == .rbac {
            status["reason"] = .string("allowed: the user is in group \(Self.mastersGroup)")
        }
        return review(body, kind: "SelfSubjectAccessReview", group: "authorization.k8s.io", status: status)
    }

    /// SelfSubjectRulesReview (`kubectl auth can-i --list`): every rule the user holds in
    /// `spec.namespace`.
    func rulesReview(_ body: JSONValue, user: UserInfo) -> JSONValue {
        let namespace = body[path: ["spec", "namespace"]]?.stringValue ?? ""
        var rules = policy().rules(for: user, namespace: namespace)
        if mode == .alwaysAllow || user.groups.contains(Self.mastersGroup) {
            rules = BootstrapPolicy.clusterRoles.first { $0.name == "cluster-admin" }!.rules + rules
        }
        let resourceRules = rules.filter { $0.nonResourceURLs.isEmpty }.map { rule -> JSONValue in
            var object: JSONValue = [
                "verbs": .array(rule.verbs.map(JSONValue.string)), "apiGroups": .array(rule.apiGroups.map(JSONValue.string)),
                "resources": .array(rule.resources.map(JSONValue.string)),
            ]
            if !rule.resourceNames.isEmpty { object["resourceNames"] = .array(rule.resourceNames.map(JSONValue.string)) }
            return object
        }
        let nonResourceRules = rules.filter { !$0.nonResourceURLs.isEmpty }.map { rule -> JSONValue in
            ["verbs": .array(rule.verbs.map(JSONValue.string)), "nonResourceURLs": .array(rule.nonResourceURLs.map(JSONValue.string))]
        }
        return review(
            body, kind: "SelfSubjectRulesReview", group: "authorization.k8s.io",
            status: ["resourceRules": .array(resourceRules), "nonResourceRules": .array(nonResourceRules), "incomplete": false])
    }

    /// SelfSubjectReview (`kubectl auth whoami`): the user's name and groups.
    func selfReview(_ body: JSONValue, user: UserInfo) -> JSONValue {
        review(
            body, kind: "SelfSubjectReview", group: "authentication.k8s.io",
            status: ["userInfo": ["username": .string(user.name), "groups": .array(user.groups.map(JSONValue.string))]])
    }

    private func review(_ body: JSONValue, kind: String, group: String, status: JSONValue) -> JSONValue {
        var result = body
        result["kind"] = .string(kind)
        result["apiVersion"] = .string("\(group)/v1")
        var metadata = body["metadata"]?.objectValue ?? [:]
        metadata["creationTimestamp"] = .null
        result["metadata"] = .object(metadata)
        if result["spec"] == nil { result["spec"] = [:] }
        result["status"] = status
        return result
    }
}
