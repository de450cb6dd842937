import Foundation
import KubeModel
import Testing
import TestSupport

/// Real clients have the last word: kubectl and the official Python client, over
/// TLS with a bearer token, against the fake.
@Suite("Real clients against the fake API server")
struct RealClientTests {
    /// A temporary directory with the fake's kubeconfig and a kubectl cache of its own.
    struct Workspace {
        let directory: URL
        var kubeconfig: String { directory.appendingPathComponent("kubeconfig").path }

        init(_ api: TestAPIServer) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-apiserver-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try api.server.writeKubeconfig(to: kubeconfig)
        }

        func kubectlArguments(_ arguments: [String]) -> [String] {
            ["--kubeconfig", kubeconfig, "--cache-dir", directory.appendingPathComponent("cache").path] + arguments
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    private func kubectl(_ workspace: Workspace, _ arguments: [String], stdin: String? = nil) async throws -> ChildProcessResult {
        try await ChildProcess.run(
            try TestServices.current.kubectl(), workspace.kubectlArguments(arguments),
            environment: ["HOME": workspace.directory.path], stdin: stdin.map { Data($0.utf8) })
    }

    private func succeeds(_ result: ChildProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try #require(result.status == 0, "kubectl failed: \(result.stderr)", sourceLocation: sourceLocation)
        return result.stdoutText
    }

    @Test(
        "kubectl applies a CRD, then applies, lists, watches, patches, describes and deletes its resources",
        .enabled(if: TestServices.current.shouldRun(.kubectl), "needs kubectl: run ci/install.sh"))
    func kubectlLifecycle() async throws {
        try await TestAPIServer.with(tls: true) { api in
            let workspace = try Workspace(api)
            defer { workspace.remove() }
            let crd = try succeeds(try await kubectl(workspace, ["apply", "-f", Fixtures.fixtureURL("widgets-crd.json").path]))
            #expect(crd.contains("customresourcedefinition.apiextensions.k8s.io/widgets.example.dboperator.io created"))
            let created = try succeeds(try await kubectl(workspace, ["apply", "-f", Fixtures.fixtureURL("widget.yaml").path]))
            #expect(created.contains("widget.example.dboperator.io/w1 created"))

            let watch = try RunningProcess(
                try TestServices.current.kubectl(), workspace.kubectlArguments(["get", "widgets", "--watch"]),
                environment: ["HOME": workspace.directory.path])
            defer { watch.terminate() }
            try await watch.waitForOutput { $0.contains("w1") }

            let table = try succeeds(try await kubectl(workspace, ["get", "widgets"])).split(separator: "\n")
            #expect(table.first?.split(separator: " ") == ["NAME", "PHASE", "COLOR", "READY", "AGE"])
            #expect(table.dropFirst().first?.split(separator: " ").prefix(2) == ["w1", "red"])

            let yaml = try succeeds(try await kubectl(workspace, ["get", "widget", "w1", "-o", "yaml"]))
            #expect(yaml.contains("size: 10"))
            #expect(yaml.contains("generation: 1"))

            let patched = try succeeds(try await kubectl(workspace, ["patch", "widget", "w1", "--type=merge", "-p", #"{"spec":{"color":"blue"}}"#]))
            #expect(patched.contains("widget.example.dboperator.io/w1 patched"))
            try await watch.waitForOutput { $0.contains("blue") }

            let widget = try await api.get("/apis/example.dboperator.io/v1/namespaces/default/widgets/w1").body
            try await api.create("/api/v1/namespaces/default/events", [
                "metadata": ["name": "w1.event"], "reason": "Painted", "message": "the widget turned blue", "type": "Normal",
                "involvedObject": [
                    "apiVersion": "example.dboperator.io/v1", "kind": "Widget", "name": "w1", "namespace": "default",
                    "uid": widget[path: ["metadata", "uid"]]!,
                ],
                "source": ["component": "test"], "count": 1,
                "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
            ])
            let description = try succeeds(try await kubectl(workspace, ["describe", "widget", "w1"]))
            #expect(description.contains("Color:  blue"))
            #expect(description.contains("Events:"))
            #expect(description.contains("the widget turned blue"))

            let invalid = try await kubectl(workspace, ["apply", "-f", "-"], stdin: """
                apiVersion: example.dboperator.io/v1
                kind: Widget
                metadata: {name: bad}
                spec: {color: purple}
                """)
            #expect(invalid.status != 0)
            #expect(invalid.stderr.contains("spec.color: Unsupported value: \"purple\""))

            let deleted = try succeeds(try await kubectl(workspace, ["delete", "widget", "w1"]))
            #expect(deleted.contains("\"w1\" deleted"))
            let empty = try await kubectl(workspace, ["get", "widgets"])
            #expect(empty.stderr.contains("No resources found"))
        }
    }

    @Test(
        "kubectl applies, reads, labels and deletes a Secret",
        .enabled(if: TestServices.current.shouldRun(.kubectl), "needs kubectl: run ci/install.sh"))
    func kubectlSecret() async throws {
        try await TestAPIServer.with(tls: true) { api in
            let workspace = try Workspace(api)
            defer { workspace.remove() }
            _ = try succeeds(try await kubectl(workspace, ["apply", "-f", "-"], stdin: """
                apiVersion: v1
                kind: Secret
                metadata: {name: login}
                stringData: {password: hunter2}
                """))
            let data = try succeeds(try await kubectl(workspace, ["get", "secret", "login", "-o", "jsonpath={.data.password}"]))
            #expect(Data(base64Encoded: data).map { String(decoding: $0, as: UTF8.self) } == "hunter2")
            _ = try succeeds(try await kubectl(workspace, ["label", "secret", "login", "team=db"]))
            #expect(try succeeds(try await kubectl(workspace, ["get", "secrets", "-l", "team=db", "-o", "name"])) == "secret/login\n")
            _ = try succeeds(try await kubectl(workspace, ["delete", "secret", "login"]))
            #expect(try await api.get("/api/v1/namespaces/default/secrets/login").status == 404)
        }
    }

    @Test(
        "the official Python client creates, lists, watches, patches and deletes a custom resource and a Secret",
        .enabled(if: TestServices.current.shouldRun(.pythonKubernetes), "needs python3 with the kubernetes package: run ci/install.sh"))
    func pythonClient() async throws {
        try await TestAPIServer.with(tls: true) { api in
            let workspace = try Workspace(api)
            defer { workspace.remove() }
            try await api.installWidgets()
            try await api.create("/api/v1/namespaces", Fixtures.namespace("python"))
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("python/official_client_check.py").path
            let result = try await ChildProcess.run(try TestServices.current.pythonKubernetes(), [script, workspace.kubeconfig, "python"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdoutText.contains("all checks passed"))
        }
    }

    @Test(
        "kubectl's typed commands (protobuf bodies): create namespace, secret generic from literals and files, configmap, serviceaccount; label and annotate",
        .enabled(if: TestServices.current.shouldRun(.kubectl), "needs kubectl: run ci/install.sh"))
    func kubectlTypedCreate() async throws {
        try await TestAPIServer.with(tls: true) { api in
            let workspace = try Workspace(api)
            defer { workspace.remove() }
            let file = workspace.directory.appendingPathComponent("ca.crt")
            try Data("-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n".utf8).write(to: file)
            // -v=8 shows the request's media type: these really are protobuf bodies.
            let namespace = try await kubectl(workspace, ["create", "namespace", "shop", "-v=8"])
            #expect(try succeeds(namespace).contains("namespace/shop created"))
            #expect(namespace.stderr.contains("Content-Type: application/vnd.kubernetes.protobuf"))
            #expect(try succeeds(try await kubectl(workspace, [
                "create", "secret", "generic", "dbpassword", "-n", "shop", "--from-literal=password=s3cr3t with spaces", "--from-literal=empty=",
                "--from-file=ca.crt=\(file.path)", "--type=Opaque",
            ])).contains("secret/dbpassword created"))
            #expect(try succeeds(try await kubectl(workspace, ["create", "secret", "generic", "untyped", "-n", "shop", "--from-literal=a=b"])).contains("created"))
            #expect(try succeeds(try await kubectl(workspace, ["create", "configmap", "settings", "-n", "shop", "--from-literal=mode=fast", "--from-file=\(file.path)"])).contains("configmap/settings created"))
            #expect(try succeeds(try await kubectl(workspace, ["create", "serviceaccount", "robot", "-n", "shop"])).contains("serviceaccount/robot created"))
            #expect(try succeeds(try await kubectl(workspace, ["label", "secret", "dbpassword", "-n", "shop", "tier=db"])).contains("labeled"))
            #expect(try succeeds(try await kubectl(workspace, ["annotate", "secret", "dbpassword", "-n", "shop", "owner=team a"])).contains("annotated"))

            // What the server stored, read back as JSON.
            let secret = try await api.get("/api/v1/namespaces/shop/secrets/dbpassword").body
            #expect(secret["type"]?.stringValue == "Opaque")
            #expect(secret[path: ["data", "password"]]?.stringValue == Data("s3cr3t with spaces".utf8).base64EncodedString())
            #expect(secret[path: ["data", "empty"]]?.stringValue == "")
            #expect(secret[path: ["data", "ca.crt"]]?.stringValue == (try Data(contentsOf: file)).base64EncodedString())
            #expect(secret[path: ["metadata", "labels", "tier"]]?.stringValue == "db")
            #expect(secret[path: ["metadata", "annotations", "owner"]]?.stringValue == "team a")
            #expect(secret[path: ["metadata", "generateName"]] == nil, "empty fields of the protobuf body are not stored")
            #expect(secret[path: ["metadata", "creationTimestamp"]]?.stringValue?.hasSuffix("Z") == true)
            let untyped = try await api.get("/api/v1/namespaces/shop/secrets/untyped").body
            #expect(untyped["type"]?.stringValue == "Opaque", "a Secret without a type is defaulted")
            let configMap = try await api.get("/api/v1/namespaces/shop/configmaps/settings").body
            #expect(configMap[path: ["data", "mode"]]?.stringValue == "fast")
            #expect(configMap[path: ["data", "ca.crt"]]?.stringValue?.contains("not really") == true)
            #expect(try await api.get("/api/v1/namespaces/shop/serviceaccounts/robot").status == 200)
            #expect(try await api.get("/api/v1/namespaces/shop").body[path: ["status", "phase"]]?.stringValue == "Active")

            // kubectl reads them back (its typed get decodes what the server sends).
            let data = try succeeds(try await kubectl(workspace, ["get", "secret", "dbpassword", "-n", "shop", "-o", "jsonpath={.data.password}"]))
            #expect(Data(base64Encoded: data).map { String(decoding: $0, as: UTF8.self) } == "s3cr3t with spaces")
            // A second create of the same name is refused as a real server refuses it.
            let again = try await kubectl(workspace, ["create", "secret", "generic", "dbpassword", "-n", "shop", "--from-literal=a=b"])
            #expect(again.status != 0 && again.stderr.contains("secrets \"dbpassword\" already exists"), "\(again.stderr)")
        }
    }
}
