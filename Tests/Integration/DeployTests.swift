import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import Operator
import Testing
import TestSupport

/// `deploy/` as a kustomize base, installed by real kubectl (`apply -k`, kustomize
/// built in) into the fake API server with RBAC on, then what its service accounts
/// may and may not do, asked as `kubectl auth can-i` asks with their own tokens
/// (`kubectl create token`).
@Suite("deploy/: kubectl apply -k with RBAC on")
struct DeployTests {
    static let services = TestServices.current

    /// kubectl against one fake server, with the admin's kubeconfig or a token's.
    struct Kubectl {
        let kubectl: String
        let directory: String
        let adminConfig: String

        let server: FakeAPIServer

        func run(_ arguments: [String], token: String? = nil) async throws -> ChildProcessResult {
            var config = adminConfig
            if let token {
                config = "\(directory)/token-\(abs(token.hashValue)).kubeconfig"
                try server.writeKubeconfig(to: config, token: token, user: "token")
            }
            return try await ChildProcess.run(kubectl, ["--kubeconfig", config, "--cache-dir", "\(directory)/cache"] + arguments, environment: ["HOME": directory])
        }

        func succeeds(_ arguments: [String], token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            let result = try await run(arguments, token: token)
            try #require(result.status == 0, "kubectl \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
            return result.stdoutText
        }

        /// `kubectl auth can-i ...`: true for "yes", false for "no".
        func canI(_ arguments: [String], token: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> Bool {
            let result = try await run(["auth", "can-i"] + arguments, token: token)
            let answer = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            try #require(answer == "yes" || answer == "no", "kubectl auth can-i \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
            return answer == "yes"
        }
    }

    static let deploy = QuickStartTests.repository.appendingPathComponent("deploy").path

    /// A fake API server with RBAC on, kubectl as its admin (system:masters), and the
    /// test's own client in system:masters too.
    static func withRBACCluster(_ body: (FakeCluster, Kubectl) async throws -> Void) async throws {
        try await FakeCluster.with(configure: { configuration in
            configuration.authorization = .rbac
            configuration.tokens["admin-token"] = "admin"
            configuration.groups["operator"] = ["system:masters"]
        }) { cluster in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let adminConfig = "\(directory)/admin.kubeconfig"
            try cluster.server.writeKubeconfig(to: adminConfig, user: "admin")
            try await body(cluster, Kubectl(kubectl: try services.kubectl(), directory: directory, adminConfig: adminConfig, server: cluster.server))
        }
    }

    @Test(
        "kubectl apply -k deploy/ and the tenant example install everything (again: unchanged); the Deployment is restricted; each service account may do what its programs do, and not more",
        .enabled(if: services.shouldRun(.kubectl)))
    func applyAndCanI() async throws {
        try await Self.withRBACCluster { cluster, kubectl in

            let applied = try await kubectl.succeeds(["apply", "-k", Self.deploy])
            for object in [
                "namespace/db-operator created", "customresourcedefinition.apiextensions.k8s.io/databases.dboperator.io created",
                "serviceaccount/db-operator created", "clusterrole.rbac.authorization.k8s.io/db-operator created",
                "clusterrolebinding.rbac.authorization.k8s.io/db-operator-driver-for-servers created", "deployment.apps/db-operator created",
            ] {
                #expect(applied.contains(object), "\(applied)")
            }
            let again = try await kubectl.succeeds(["apply", "-k", Self.deploy])
            #expect(!again.contains("created") && !again.contains("configured"), "a second apply changes nothing: \(again)")
            #expect(try await kubectl.succeeds(["apply", "-k", "\(Self.deploy)/examples/tenant"]).contains("rolebinding.rbac.authorization.k8s.io/db-operator-driver created"))

            // The Deployment as stored: the image from kustomize (and for the Jobs), the restricted profile, probes.
            let deployment = try JSONValue.decode(Data(try await kubectl.succeeds(["get", "deployment", "db-operator", "-n", "db-operator", "-o", "json"]).utf8))
            let pod = try #require(deployment[path: ["spec", "template", "spec"]])
            let container = try #require(pod["containers"]?.arrayValue?.first)
            #expect(container["image"] == "ghcr.io/db-operator/db-operator:latest")
            #expect(container["env"]?.arrayValue?.contains { $0["name"] == "DB_OPERATOR_JOB_IMAGE" && $0["value"] == container["image"] } == true)
            #expect(pod["securityContext"]?["runAsNonRoot"] == true)
            #expect(pod[path: ["securityContext", "seccompProfile", "type"]] == "RuntimeDefault")
            #expect(container["securityContext"] == ["allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": ["drop": ["ALL"]]])
            #expect(container[path: ["livenessProbe", "httpGet", "path"]] == "/healthz")
            #expect(container[path: ["readinessProbe", "httpGet", "path"]] == "/readyz")
            #expect(container[path: ["resources", "requests", "memory"]] == "64Mi")
            #expect(container["args"]?.arrayValue?.contains("--leader-elect") == true)

            // Tokens as a kubelet would mount them.
            let operatorToken = try await kubectl.succeeds(["create", "token", "db-operator", "-n", "db-operator"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let tenantDriver = try await kubectl.succeeds(["create", "token", "db-operator-driver", "-n", "shop"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let serverDriver = try await kubectl.succeeds(["create", "token", "db-operator-driver", "-n", "db-operator"]).trimmingCharacters(in: .whitespacesAndNewlines)

            // The operator: reads its resources everywhere, writes their status, creates Jobs and Events; no Secrets.
            #expect(try await kubectl.canI(["list", "databases.dboperator.io", "--all-namespaces"], token: operatorToken))
            #expect(try await kubectl.canI(["watch", "backups.dboperator.io", "--all-namespaces"], token: operatorToken))
            #expect(try await kubectl.canI(["update", "databases.dboperator.io", "--subresource=status", "-n", "shop"], token: operatorToken))
            #expect(try await kubectl.canI(["create", "jobs.batch", "-n", "shop"], token: operatorToken))
            #expect(try await kubectl.canI(["create", "events", "-n", "shop"], token: operatorToken))
            #expect(try await kubectl.canI(["update", "leases.coordination.k8s.io", "-n", "db-operator"], token: operatorToken))
            #expect(try await kubectl.canI(["get", "namespaces/kube-system"], token: operatorToken))
            #expect(!(try await kubectl.canI(["get", "secrets", "-n", "shop"], token: operatorToken)), "the operator never reads Secrets")
            #expect(!(try await kubectl.canI(["delete", "jobs.batch", "-n", "shop"], token: operatorToken)))
            #expect(!(try await kubectl.canI(["update", "databases.dboperator.io", "-n", "shop"], token: operatorToken)), "the spec is the user's")
            #expect(!(try await kubectl.canI(["create", "pods", "-n", "db-operator"], token: operatorToken)))

            // A tenant's driver Jobs: their namespace only.
            #expect(try await kubectl.canI(["create", "secrets", "-n", "shop"], token: tenantDriver))
            #expect(try await kubectl.canI(["update", "databases.dboperator.io", "--subresource=status", "-n", "shop"], token: tenantDriver))
            #expect(try await kubectl.canI(["create", "backups.dboperator.io", "-n", "shop"], token: tenantDriver))
            #expect(!(try await kubectl.canI(["get", "secrets", "-n", "db-operator"], token: tenantDriver)), "never the servers' admin passwords")
            #expect(!(try await kubectl.canI(["create", "jobs.batch", "-n", "shop"], token: tenantDriver)))
            #expect(!(try await kubectl.canI(["get", "databaseservers.dboperator.io"], token: tenantDriver)))

            // DatabaseServers' Jobs, in db-operator: servers and probes, and tenants' Databases.
            #expect(try await kubectl.canI(["get", "databaseservers.dboperator.io"], token: serverDriver))
            #expect(try await kubectl.canI(["update", "databaseservers.dboperator.io", "--subresource=status"], token: serverDriver))
            #expect(try await kubectl.canI(["get", "secrets", "-n", "db-operator"], token: serverDriver))
            #expect(try await kubectl.canI(["update", "databases.dboperator.io", "--subresource=status", "-n", "shop"], token: serverDriver))
            #expect(!(try await kubectl.canI(["delete", "databaseservers.dboperator.io"], token: serverDriver)))

            // A refusal, as kubectl prints it.
            let listed = try await kubectl.run(["get", "secrets", "-n", "shop"], token: operatorToken)
            #expect(listed.stderr.contains(#"secrets is forbidden: User "system:serviceaccount:db-operator:db-operator" cannot list resource "secrets" in API group "" in the namespace "shop""#))
        }
    }

    @Test(
        "db-operator dev's copy of deploy/'s namespace and RBAC (Manifests.apply, twice: created, then replaced) stores what the files say, and kubectl apply -k deploy/ goes on from there",
        .enabled(if: services.shouldRun(.kubectl)))
    func devAppliesDeployRBAC() async throws {
        try await Self.withRBACCluster { cluster, kubectl in
            let text = DeployManifests.namespaceYAML + "---\n" + DeployManifests.rbacYAML
            try await Manifests.apply(text, to: cluster.client)
            try await Manifests.apply(text, to: cluster.client)
            for document in try Manifests.documents(text) {
                let resource = try #require(Manifests.kinds["\(document["apiVersion"]?.stringValue ?? "")/\(document["kind"]?.stringValue ?? "")"])
                let stored = try await cluster.client.get(
                    resource, namespace: document[path: ["metadata", "namespace"]]?.stringValue, name: document[path: ["metadata", "name"]]?.stringValue ?? "")
                for field in ["rules", "roleRef", "subjects"] { #expect(stored[field] == document[field], "\(resource.kind) \(field)") }
            }
            _ = try await kubectl.succeeds(["apply", "-k", Self.deploy])
            #expect(try await kubectl.canI(["create", "jobs.batch", "-n", "shop"], token: try cluster.server.serviceAccountToken(namespace: "db-operator", name: "db-operator")))
        }
    }

    @Test(
        "the operator as deploy/ runs it (its service account's token, leader election in db-operator) takes the Lease and renews it, with no 403",
        .enabled(if: services.shouldRun(.kubectl)))
    func leaderElectionUnderRBAC() async throws {
        try await Self.withRBACCluster { cluster, kubectl in
            _ = try await kubectl.succeeds(["apply", "-k", Self.deploy])
            let token = try await kubectl.succeeds(["create", "token", "db-operator", "-n", "db-operator"]).trimmingCharacters(in: .whitespacesAndNewlines)
            let operatorConfig = "\(kubectl.directory)/operator.kubeconfig"
            try cluster.server.writeKubeconfig(to: operatorConfig, token: token, user: "db-operator")
            // deploy/operator.yaml's arguments (the metrics port on a free one).
            let process = try RunningProcess(LifecycleHarness.binary, [
                "run", "--kubeconfig", operatorConfig, "--leader-elect", "--leader-election-namespace", "db-operator",
                "--operator-namespace", "db-operator", "--job-service-account", "db-operator-driver", "--metrics-addr", "127.0.0.1:0",
            ], environment: ["POD_NAME": "db-operator-0"])
            defer { process.terminate() }
            var versions: Set<String> = []
            try await eventually(timeout: .seconds(180), "the Lease to be taken by db-operator-0 and renewed twice") {
                guard let lease = try? await cluster.client.get(Lease.self, namespace: "db-operator", name: "db-operator-leader"),
                    lease.object.spec?.holderIdentity == "db-operator-0", let version = lease.metadata.resourceVersion
                else { return false }
                versions.insert(version)
                return versions.count >= 3
            }
            let log = cluster.server.accessLog()
            let denied = log.filter { !$0.record.allowed && $0.record.user.hasPrefix("system:serviceaccount:") }
            #expect(denied.isEmpty, "refused: \(denied.map { "\($0.record)" })\n\(process.text.suffix(3000))")
            #expect(log.contains { $0.record.resource == "leases" && $0.record.verb == "update" && $0.record.allowed })
            try LifecycleHarness.saveRBACUsage(log.map(\.record))
        }
    }
}
