import Foundation
import KubeModel
import NIOHTTP1
import Testing
import TestSupport

/// RBAC as the Kubernetes documentation describes it
/// (kubernetes.io/docs/reference/access-authn-authz/rbac/), with its own examples:
/// pod-reader, secret-reader, read-secrets-global, pods/log, resourceNames, wildcards,
/// non-resource URLs, service-account subjects, immutable roleRef, escalation
/// prevention; then tokens from the TokenRequest subresource, the self-reviews, and
/// real kubectl (`create token`, `auth can-i`, `auth whoami`).
@Suite("Spec: RBAC authorization, service-account tokens and self-reviews")
struct RBACSpecTests {
    static func withRBAC<T: Sendable>(tls: Bool = false, _ body: (TestAPIServer) async throws -> T) async throws -> T {
        try await TestAPIServer.with(tls: tls, configure: { configuration in
            configuration.authorization = .rbac
            configuration.tokens = ["admin-token": "admin", "jane-token": "jane", "dave-token": "dave", "mary-token": "mary"]
            configuration.groups = ["admin": ["system:masters"], "mary": ["manager"]]
        }, body)
    }

    static let rbac = "/apis/rbac.authorization.k8s.io/v1"

    static func role(_ name: String, _ rules: [JSONValue]) -> JSONValue {
        ["metadata": ["name": .string(name)], "rules": .array(rules)]
    }

    static func rule(_ groups: [String], _ resources: [String], _ verbs: [String], names: [String] = []) -> JSONValue {
        var rule: JSONValue = [
            "apiGroups": .array(groups.map(JSONValue.string)), "resources": .array(resources.map(JSONValue.string)),
            "verbs": .array(verbs.map(JSONValue.string)),
        ]
        if !names.isEmpty { rule["resourceNames"] = .array(names.map(JSONValue.string)) }
        return rule
    }

    static func binding(_ name: String, kind: String, role: String, subjects: [JSONValue]) -> JSONValue {
        ["metadata": ["name": .string(name)], "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": .string(kind), "name": .string(role)], "subjects": .array(subjects)]
    }

    static func user(_ name: String) -> JSONValue { ["kind": "User", "name": .string(name), "apiGroup": "rbac.authorization.k8s.io"] }
    static func group(_ name: String) -> JSONValue { ["kind": "Group", "name": .string(name), "apiGroup": "rbac.authorization.k8s.io"] }
    static func serviceAccount(_ name: String, _ namespace: String? = nil) -> JSONValue {
        var subject: JSONValue = ["kind": "ServiceAccount", "name": .string(name)]
        if let namespace { subject["namespace"] = .string(namespace) }
        return subject
    }

    @Test("without RBAC every authenticated user may do anything; with it, nothing but discovery and self-reviews until a role is bound")
    func defaultDeny() async throws {
        try await TestAPIServer.with { api in
            let status = try await api.request(.GET, "/api/v1/namespaces/default/secrets", token: "other-token").status
            #expect(status == 200)
        }
        try await Self.withRBAC { api in
            let denied = try await api.request(.GET, "/api/v1/namespaces/default/pods", token: "jane-token")
            #expect(denied.status == 403)
            #expect(denied.reason == "Forbidden")
            #expect(denied.message == "pods is forbidden: User \"jane\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"")
            #expect(denied.body["details"] == ["group": "", "kind": "pods"])
            let named = try await api.request(.GET, "/apis/batch/v1/namespaces/shop/jobs/j1", token: "jane-token")
            #expect(named.message == "jobs.batch \"j1\" is forbidden: User \"jane\" cannot get resource \"jobs\" in API group \"batch\" in the namespace \"shop\"")
            let cluster = try await api.request(.GET, "/api/v1/namespaces", token: "jane-token")
            #expect(cluster.message == "namespaces is forbidden: User \"jane\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope")
            // The bootstrap policy: discovery for every authenticated user, health for everyone.
            #expect(try await api.request(.GET, "/api/v1", token: "jane-token").status == 200)
            #expect(try await api.request(.GET, "/apis", token: "jane-token").status == 200)
            #expect(try await api.request(.GET, "/healthz", token: "").status == 200)
            #expect(try await api.request(.GET, "/fake/faults", token: "jane-token").status == 403)
            // system:masters (the admin user) through cluster-admin and the bypass.
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/pods").status == 200)
            let roles = try await api.get("\(Self.rbac)/clusterroles").body["items"]?.arrayValue?.compactMap { $0[path: ["metadata", "name"]]?.stringValue } ?? []
            #expect(Set(roles).isSuperset(of: ["cluster-admin", "system:discovery", "system:basic-user", "system:public-info-viewer"]))
        }
    }

    @Test("a Role and a RoleBinding (pod-reader, read-pods): jane reads pods in default, nowhere else, and writes nothing")
    func roleAndRoleBinding() async throws {
        try await Self.withRBAC { api in
            try await api.create("/api/v1/namespaces", ["metadata": ["name": "other"]])
            try await api.create("\(Self.rbac)/namespaces/default/roles", Self.role("pod-reader", [Self.rule([""], ["pods"], ["get", "watch", "list"])]))
            try await api.create(
                "\(Self.rbac)/namespaces/default/rolebindings", Self.binding("read-pods", kind: "Role", role: "pod-reader", subjects: [Self.user("jane")]))
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/pods", token: "jane-token").status == 200)
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", token: "jane-token").status == 200)
            #expect(try await api.request(.GET, "/api/v1/namespaces/other/pods", token: "jane-token").status == 403)
            #expect(try await api.request(.GET, "/api/v1/pods", token: "jane-token").status == 403, "all namespaces is cluster scope")
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/secrets", token: "jane-token").status == 403)
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/pods", token: "dave-token").status == 403)
            // Deleting the binding takes the permission away at once.
            #expect(try await api.delete("\(Self.rbac)/namespaces/default/rolebindings/read-pods").status == 200)
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/pods", token: "jane-token").status == 403)
        }
    }

    @Test("a ClusterRole bound by a RoleBinding applies in that namespace only; by a ClusterRoleBinding to a group, everywhere")
    func clusterRoles() async throws {
        try await Self.withRBAC { api in
            try await api.create("/api/v1/namespaces", ["metadata": ["name": "development"]])
            try await api.create("\(Self.rbac)/clusterroles", Self.role("secret-reader", [Self.rule([""], ["secrets"], ["get", "watch", "list"])]))
            try await api.create(
                "\(Self.rbac)/namespaces/development/rolebindings",
                Self.binding("read-secrets", kind: "ClusterRole", role: "secret-reader", subjects: [Self.user("dave")]))
            #expect(try await api.request(.GET, "/api/v1/namespaces/development/secrets", token: "dave-token").status == 200)
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/secrets", token: "dave-token").status == 403)
            #expect(try await api.request(.GET, "/api/v1/secrets", token: "dave-token").status == 403)

            try await api.create(
                "\(Self.rbac)/clusterrolebindings", Self.binding("read-secrets-global", kind: "ClusterRole", role: "secret-reader", subjects: [Self.group("manager")]))
            #expect(try await api.request(.GET, "/api/v1/secrets", token: "mary-token").status == 200)
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/secrets", token: "mary-token").status == 200)
            #expect(try await api.request(.DELETE, "/api/v1/namespaces/default/secrets/x", token: "mary-token").status == 403)
            // A ClusterRoleBinding cannot name a Role.
            let bad = try await api.post("\(Self.rbac)/clusterrolebindings", Self.binding("bad", kind: "Role", role: "pod-reader", subjects: [Self.user("jane")]))
            #expect(bad.status == 422)
            #expect(bad.message.contains("roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""))
        }
    }

    @Test("subresources, resourceNames and wildcards match as documented")
    func ruleMatching() async throws {
        try await Self.withRBAC { api in
            try await api.create(
                "\(Self.rbac)/clusterroles",
                Self.role("mixed", [
                    Self.rule(["batch"], ["jobs/status"], ["get", "update"]),
                    Self.rule([""], ["configmaps"], ["get", "update", "list"], names: ["my-configmap"]),
                    Self.rule(["example.dboperator.io"], ["*"], ["*"]),
                    Self.rule(["batch"], ["*/status"], ["patch"]),
                ]))
            try await api.create("\(Self.rbac)/clusterrolebindings", Self.binding("mixed", kind: "ClusterRole", role: "mixed", subjects: [Self.user("jane")]))
            try await api.create("/api/v1/namespaces/default/configmaps", ["metadata": ["name": "my-configmap"]])
            try await api.create("/api/v1/namespaces/default/configmaps", ["metadata": ["name": "another"]])
            let job = Fixtures.job("j")
            try await api.create("/apis/batch/v1/namespaces/default/jobs", job)
            func status(_ method: HTTPMethodName, _ path: String, _ body: JSONValue? = nil) async throws -> Int {
                try await api.request(method.method, path, body, contentType: method == .patch ? "application/merge-patch+json" : "application/json", token: "jane-token").status
            }
            // The status subresource, not the Job itself.
            #expect(try await status(.get, "/apis/batch/v1/namespaces/default/jobs/j/status") == 200)
            #expect(try await status(.get, "/apis/batch/v1/namespaces/default/jobs/j") == 403)
            // One ConfigMap by name: get it, not another, not the list, but a list of exactly that name.
            #expect(try await status(.get, "/api/v1/namespaces/default/configmaps/my-configmap") == 200)
            #expect(try await status(.get, "/api/v1/namespaces/default/configmaps/another") == 403)
            #expect(try await status(.get, "/api/v1/namespaces/default/configmaps") == 403)
            #expect(try await status(.get, "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dmy-configmap") == 200)
            #expect(try await status(.post, "/api/v1/namespaces/default/configmaps", ["metadata": ["name": "my-configmap-2"]]) == 403)
            // Every resource and verb of one group, nothing of another.
            try await api.installWidgets()
            #expect(try await status(.post, "/apis/example.dboperator.io/v1/namespaces/default/widgets", Fixtures.widget("w")) == 201)
            #expect(try await status(.delete, "/apis/example.dboperator.io/v1/namespaces/default/widgets/w") == 200)
            // "*/status": any resource's status subresource, not the resource.
            #expect(try await status(.patch, "/apis/batch/v1/namespaces/default/jobs/j/status", ["status": ["active": 1]]) == 200)
            #expect(try await status(.patch, "/apis/batch/v1/namespaces/default/jobs/j", ["metadata": ["labels": ["x": "y"]]]) == 403)
        }
    }

    @Test("non-resource URLs: a trailing * is a prefix; a Role cannot hold them")
    func nonResourceURLs() async throws {
        try await Self.withRBAC { api in
            try await api.create(
                "\(Self.rbac)/clusterroles",
                Self.role("fake-controls", [["nonResourceURLs": ["/fake/*"], "verbs": ["get"]]]))
            try await api.create("\(Self.rbac)/clusterrolebindings", Self.binding("fake-controls", kind: "ClusterRole", role: "fake-controls", subjects: [Self.user("jane")]))
            #expect(try await api.request(.GET, "/fake/faults", token: "jane-token").status == 200)
            let post = try await api.request(.POST, "/fake/compact", token: "jane-token")
            #expect(post.status == 403)
            #expect(post.message == "forbidden: User \"jane\" cannot post path \"/fake/compact\"")
            let bad = try await api.post("\(Self.rbac)/namespaces/default/roles", Self.role("bad", [["nonResourceURLs": ["/healthz"], "verbs": ["get"]]]))
            #expect(bad.status == 422)
            #expect(bad.message.contains("rules[0].nonResourceURLs: Invalid value"))
            #expect(bad.message.contains("namespaced rules cannot apply to non-resource URLs"))
            let noVerbs = try await api.post("\(Self.rbac)/clusterroles", Self.role("bad", [Self.rule([""], ["pods"], [])]))
            #expect(noVerbs.message.contains("rules[0].verbs: Required value: verbs must contain at least one value"))
        }
    }

    @Test("service accounts: tokens from the TokenRequest subresource, subjects by namespace and group; a token dies with its account")
    func serviceAccounts() async throws {
        try await Self.withRBAC { api in
            try await api.create("/api/v1/namespaces", ["metadata": ["name": "qa"]])
            try await api.create("/api/v1/namespaces/qa/serviceaccounts", ["metadata": ["name": "robot"]])
            let request = try await api.post("/api/v1/namespaces/qa/serviceaccounts/robot/token", ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": [:]])
            #expect(request.status == 201)
            #expect(request.body["kind"] == "TokenRequest")
            #expect(request.body[path: ["spec", "expirationSeconds"]] == 3600)
            let token = try #require(request.body[path: ["status", "token"]]?.stringValue)
            #expect(request.body[path: ["status", "expirationTimestamp"]]?.stringValue != nil)
            // Who it is.
            let whoami = try await api.request(.POST, "/apis/authentication.k8s.io/v1/selfsubjectreviews", ["apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"], token: token)
            #expect(whoami.status == 201)
            #expect(whoami.body[path: ["status", "userInfo", "username"]] == "system:serviceaccount:qa:robot")
            #expect(whoami.body[path: ["status", "userInfo", "groups"]] == ["system:serviceaccounts", "system:serviceaccounts:qa", "system:authenticated"])
            #expect(try await api.request(.GET, "/api/v1/namespaces/qa/configmaps", token: token).status == 403)
            // A subject without a namespace in a RoleBinding means the binding's namespace.
            try await api.create("\(Self.rbac)/namespaces/qa/roles", Self.role("cm-reader", [Self.rule([""], ["configmaps"], ["list"])]))
            try await api.create("\(Self.rbac)/namespaces/qa/rolebindings", Self.binding("robot", kind: "Role", role: "cm-reader", subjects: [Self.serviceAccount("robot")]))
            #expect(try await api.request(.GET, "/api/v1/namespaces/qa/configmaps", token: token).status == 200)
            // All service accounts of a namespace, by group.
            try await api.create("\(Self.rbac)/clusterroles", Self.role("secret-lister", [Self.rule([""], ["secrets"], ["list"])]))
            try await api.create(
                "\(Self.rbac)/clusterrolebindings", Self.binding("qa-secrets", kind: "ClusterRole", role: "secret-lister", subjects: [Self.group("system:serviceaccounts:qa")]))
            #expect(try await api.request(.GET, "/api/v1/secrets", token: token).status == 200)
            // A ClusterRoleBinding's service account needs its namespace.
            let missing = try await api.post("\(Self.rbac)/clusterrolebindings", Self.binding("x", kind: "ClusterRole", role: "secret-lister", subjects: [Self.serviceAccount("robot")]))
            #expect(missing.status == 422)
            #expect(missing.message.contains("subjects[0].namespace: Required value"))
            // Too short a token, a tampered one, and one whose account is gone (or replaced).
            let short = try await api.post("/api/v1/namespaces/qa/serviceaccounts/robot/token", ["spec": ["expirationSeconds": 60]])
            #expect(short.status == 422)
            #expect(short.message.contains("may not specify a duration less than 10 minutes"))
            #expect(try await api.request(.GET, "/api/v1/namespaces/qa/configmaps", token: token + "x").status == 401)
            #expect(try await api.delete("/api/v1/namespaces/qa/serviceaccounts/robot").status == 200)
            try await api.create("/api/v1/namespaces/qa/serviceaccounts", ["metadata": ["name": "robot"]])
            #expect(try await api.request(.GET, "/api/v1/namespaces/qa/configmaps", token: token).status == 401)
            #expect(try await api.post("/api/v1/namespaces/qa/serviceaccounts/nobody/token", ["spec": [:]]).status == 404)
            // Minting a token is itself a permission: create serviceaccounts/token.
            #expect(try await api.request(.POST, "/api/v1/namespaces/qa/serviceaccounts/robot/token", ["spec": [:]], token: "jane-token").status == 403)
        }
    }

    @Test("a binding's roleRef cannot change; nobody grants what they do not hold unless they may escalate or bind")
    func escalationPrevention() async throws {
        try await Self.withRBAC { api in
            // jane may manage roles and bindings in default, and read pods there; nothing else.
            try await api.create("\(Self.rbac)/namespaces/default/roles", Self.role("rbac-manager", [
                Self.rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], ["create", "update", "get"]),
                Self.rule([""], ["pods"], ["get", "list"]),
            ]))
            try await api.create(
                "\(Self.rbac)/namespaces/default/rolebindings", Self.binding("jane", kind: "Role", role: "rbac-manager", subjects: [Self.user("jane")]))
            func asJane(_ method: HTTPMethodName, _ path: String, _ body: JSONValue) async throws -> TestAPIServer.Response {
                try await api.request(method.method, path, body, token: "jane-token")
            }
            // What she holds she may give (to a Role, then to dave).
            #expect(try await asJane(.post, "\(Self.rbac)/namespaces/default/roles", Self.role("pod-lister", [Self.rule([""], ["pods"], ["list"])])).status == 201)
            #expect(try await asJane(.post, "\(Self.rbac)/namespaces/default/rolebindings", Self.binding("dave", kind: "Role", role: "pod-lister", subjects: [Self.user("dave")])).status == 201)
            #expect(try await api.request(.GET, "/api/v1/namespaces/default/pods", token: "dave-token").status == 200)
            // What she does not hold, she may not write into a role…
            let escalated = try await asJane(.post, "\(Self.rbac)/namespaces/default/roles", Self.role("secrets", [Self.rule([""], ["secrets"], ["get"])]))
            #expect(escalated.status == 403)
            #expect(escalated.message.contains("is attempting to grant RBAC permissions not currently held"))
            #expect(escalated.message.contains(#"{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}"#), "\(escalated.message)")
            // …nor bind: cluster-admin in her namespace.
            let bound = try await asJane(.post, "\(Self.rbac)/namespaces/default/rolebindings", Self.binding("grab", kind: "ClusterRole", role: "cluster-admin", subjects: [Self.user("jane")]))
            #expect(bound.status == 403)
            // With `bind` on that one ClusterRole, she may.
            try await api.create("\(Self.rbac)/clusterroles", Self.role("bind-view", [Self.rule(["rbac.authorization.k8s.io"], ["clusterroles"], ["bind"], names: ["secret-reader"])]))
            try await api.create("\(Self.rbac)/clusterroles", Self.role("secret-reader", [Self.rule([""], ["secrets"], ["get"])]))
            try await api.create("\(Self.rbac)/clusterrolebindings", Self.binding("jane-bind", kind: "ClusterRole", role: "bind-view", subjects: [Self.user("jane")]))
            #expect(try await asJane(.post, "\(Self.rbac)/namespaces/default/rolebindings", Self.binding("secrets", kind: "ClusterRole", role: "secret-reader", subjects: [Self.user("dave")])).status == 201)
            // roleRef is immutable.
            var binding = try await api.get("\(Self.rbac)/namespaces/default/rolebindings/dave").body
            binding[path: ["roleRef", "name"]] = "rbac-manager"
            let changed = try await api.put("\(Self.rbac)/namespaces/default/rolebindings/dave", binding)
            #expect(changed.status == 422)
            #expect(changed.message.contains("roleRef: Invalid value"))
            #expect(changed.message.contains("cannot change roleRef"))
        }
    }

    @Test("self-reviews: SelfSubjectAccessReview answers allowed or not, SelfSubjectRulesReview lists the rules in a namespace")
    func reviews() async throws {
        try await Self.withRBAC { api in
            try await api.create("\(Self.rbac)/namespaces/default/roles", Self.role("pod-reader", [Self.rule([""], ["pods"], ["get", "list"])]))
            try await api.create("\(Self.rbac)/namespaces/default/rolebindings", Self.binding("jane", kind: "Role", role: "pod-reader", subjects: [Self.user("jane")]))
            func review(_ attributes: JSONValue) async throws -> JSONValue {
                let response = try await api.request(
                    .POST, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                    ["apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": ["resourceAttributes": attributes]], token: "jane-token")
                #expect(response.status == 201)
                return response.body
            }
            let allowed = try await review(["namespace": "default", "verb": "list", "resource": "pods"])
            #expect(allowed[path: ["status", "allowed"]] == true)
            #expect(allowed[path: ["status", "reason"]]?.stringValue?.contains("RoleBinding/default/jane") == true)
            #expect(try await review(["namespace": "kube-system", "verb": "list", "resource": "pods"])[path: ["status", "allowed"]] == false)
            #expect(try await review(["namespace": "default", "verb": "delete", "resource": "pods"])[path: ["status", "allowed"]] == false)
            let rules = try await api.request(
                .POST, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", ["spec": ["namespace": "default"]], token: "jane-token")
            #expect(rules.status == 201)
            let resourceRules = rules.body[path: ["status", "resourceRules"]]?.arrayValue ?? []
            #expect(resourceRules.contains { $0["resources"] == ["pods"] && $0["verbs"] == ["get", "list"] })
            #expect(resourceRules.contains { $0["resources"] == ["selfsubjectaccessreviews", "selfsubjectrulesreviews"] })
            #expect(rules.body[path: ["status", "nonResourceRules"]]?.arrayValue?.contains { $0["nonResourceURLs"]?.arrayValue?.contains("/api/*") == true } == true)
            // Nothing is stored: a review is not a resource one can list.
            #expect(try await api.get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews").status == 405)
        }
    }

    @Test("the access log says who did what, and which role's rule allowed it")
    func accessLog() async throws {
        try await Self.withRBAC { api in
            try await api.create("\(Self.rbac)/namespaces/default/roles", Self.role("pod-reader", [Self.rule([""], ["pods"], ["list"])]))
            try await api.create("\(Self.rbac)/namespaces/default/rolebindings", Self.binding("jane", kind: "Role", role: "pod-reader", subjects: [Self.user("jane")]))
            api.server.clearAccessLog()
            _ = try await api.request(.GET, "/api/v1/namespaces/default/pods", token: "jane-token")
            _ = try await api.request(.GET, "/api/v1/namespaces/default/pods", token: "jane-token")
            _ = try await api.request(.GET, "/api/v1/namespaces/default/secrets", token: "jane-token")
            let log = api.server.accessLog().filter { $0.record.user == "jane" }
            let pods = log.first { $0.record.resource == "pods" }
            #expect(pods?.count == 2)
            #expect(pods?.record.allowed == true)
            #expect(pods?.record.role == "Role/default/pod-reader")
            #expect(pods?.record.ruleIndex == 0)
            #expect(log.contains { $0.record.resource == "secrets" && !$0.record.allowed && $0.record.role == nil })
            let served = try await api.get("/fake/access").body.arrayValue ?? []
            #expect(served.contains { $0["user"] == "jane" && $0["resource"] == "pods" && $0["count"] == 2 })
        }
    }

    @Test(
        "real kubectl: create token, auth can-i (and --list), auth whoami, and a 403 as kubectl prints it",
        .enabled(if: TestServices.current.shouldRun(.kubectl), "needs kubectl: run ci/install.sh"))
    func kubectl() async throws {
        try await Self.withRBAC(tls: true) { api in
            let workspace = try RealClientTests.Workspace(api)
            defer { workspace.remove() }
            func kubectl(_ arguments: [String], kubeconfig: String? = nil) async throws -> ChildProcessResult {
                var all = workspace.kubectlArguments(arguments)
                if let kubeconfig { all[1] = kubeconfig }
                return try await ChildProcess.run(try TestServices.current.kubectl(), all, environment: ["HOME": workspace.directory.path])
            }
            #expect(try await kubectl(["create", "namespace", "qa"]).status == 0)
            #expect(try await kubectl(["create", "serviceaccount", "robot", "-n", "qa"]).status == 0)
            #expect(try await kubectl(["create", "role", "cm-reader", "-n", "qa", "--verb=get,list", "--resource=configmaps"]).status == 0)
            #expect(try await kubectl(["create", "rolebinding", "robot", "-n", "qa", "--role=cm-reader", "--serviceaccount=qa:robot"]).status == 0)
            let created = try await kubectl(["create", "token", "robot", "-n", "qa", "--duration=20m"])
            try #require(created.status == 0, "kubectl create token: \(created.stderr)")
            let token = created.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.split(separator: ".").count == 3)

            // A kubeconfig with the robot's token, as a pod would use it.
            let robotConfig = workspace.directory.appendingPathComponent("robot.kubeconfig").path
            try api.server.writeKubeconfig(to: robotConfig, token: token, user: "robot")

            let whoami = try await kubectl(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"], kubeconfig: robotConfig)
            #expect(whoami.stdoutText == "system:serviceaccount:qa:robot", "\(whoami.stderr)")
            let yes = try await kubectl(["auth", "can-i", "list", "configmaps", "-n", "qa"], kubeconfig: robotConfig)
            #expect(yes.status == 0)
            #expect(yes.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "yes")
            let no = try await kubectl(["auth", "can-i", "delete", "configmaps", "-n", "qa"], kubeconfig: robotConfig)
            #expect(no.status == 1)
            #expect(no.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "no")
            let list = try await kubectl(["auth", "can-i", "--list", "-n", "qa"], kubeconfig: robotConfig)
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdoutText.contains("configmaps"))
            let forbidden = try await kubectl(["get", "secrets", "-n", "qa"], kubeconfig: robotConfig)
            #expect(forbidden.status != 0)
            #expect(forbidden.stderr.contains(#"Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:qa:robot" cannot list resource "secrets" in API group "" in the namespace "qa""#), "\(forbidden.stderr)")
            // The admin (system:masters) may do anything.
            #expect(try await kubectl(["auth", "can-i", "*", "*"]).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "yes")
        }
    }
}

/// The methods the tests here send, by name.
enum HTTPMethodName {
    case get, post, patch, delete

    var method: HTTPMethod {
        switch self {
        case .get: .GET
        case .post: .POST
        case .patch: .PATCH
        case .delete: .DELETE
        }
    }
}
