import Foundation
import KubeClient
import NIOCore
import Testing
@testable import KubeClient

@Suite("Kubernetes client configuration")
struct KubeClientConfigurationTests {
    @Test("a kubeconfig's current context gives server, CA, token and namespace")
    func kubeconfig() throws {
        let ca = Data("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()
        let configuration = try KubeClientConfiguration.kubeconfig(yaml: """
            apiVersion: v1
            kind: Config
            clusters:
            - name: other
              cluster: {server: https://other:6443}
            - name: fake
              cluster:
                server: https://127.0.0.1:46443
                certificate-authority-data: \(ca)
            users:
            - name: admin
              user: {token: abc123}
            contexts:
            - name: fake
              context: {cluster: fake, user: admin, namespace: shop}
            current-context: fake
            """)
        #expect(configuration.server == "https://127.0.0.1:46443")
        #expect(configuration.certificateAuthorityPEM?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
        #expect(configuration.token == "abc123")
        #expect(configuration.namespace == "shop")
    }

    @Test("a kubeconfig in JSON (as the job runner writes its pods') reads the same; JSON only YAML takes still reads")
    func jsonKubeconfig() throws {
        let ca = Data("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8).base64EncodedString()
        let json = """
             {"apiVersion":"v1","kind":"Config","clusters":[{"name":"fake","cluster":{"server":"https://127.0.0.1:46443",
              "certificate-authority-data":"\(ca)","insecure-skip-tls-verify":false}}],
             "users":[{"name":"sa","user":{"token":"abc123"}}],
             "contexts":[{"name":"pod","context":{"cluster":"fake","user":"sa","namespace":"shop"}}],"current-context":"pod"}
            """
        let configuration = try KubeClientConfiguration.kubeconfig(yaml: json)
        #expect(configuration.server == "https://127.0.0.1:46443")
        #expect(configuration.certificateAuthorityPEM?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
        #expect(configuration.token == "abc123")
        #expect(configuration.namespace == "shop")
        // A number where a string belongs: JSONDecoder refuses it, YAML reads the scalar as text.
        let numeric = try KubeClientConfiguration.kubeconfig(yaml: """
            {"clusters":[{"name":"c","cluster":{"server":"https://h:6443"}}],"users":[{"name":"u","user":{"token":12345}}],
             "contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],"current-context":"x"}
            """)
        #expect(numeric.token == "12345")
        let file = try decodeKubeconfig(json)
        #expect(file.currentContext == "pod")
    }

    @Test("a kubeconfig without the named context is a configuration error naming it")
    func missingContext() {
        let error = #expect(throws: KubeError.self) {
            _ = try KubeClientConfiguration.kubeconfig(yaml: "clusters: []\ncontexts: []\ncurrent-context: gone\n")
        }
        #expect(error?.code == .configuration)
        #expect(error?.message.contains("gone") == true)
    }

    @Test("in-cluster configuration reads the service host and the service account's files")
    func inCluster() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "token-value\n".write(to: directory.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try "ops\n".write(to: directory.appendingPathComponent("namespace"), atomically: true, encoding: .utf8)
        let configuration = try KubeClientConfiguration.inCluster(
            environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"], serviceAccountDirectory: directory.path)
        #expect(configuration.server == "https://10.0.0.1:443")
        #expect(configuration.tokenFile == directory.appendingPathComponent("token").path)
        #expect(configuration.namespace == "ops")
        #expect(throws: KubeError.self) { _ = try KubeClientConfiguration.inCluster(environment: [:]) }
    }

    @Test("watch lines are framed across chunk boundaries")
    func lineFraming() {
        var framer = LineFramer()
        framer.append(ByteBuffer(string: "{\"a\":1}\n{\"b\""))
        #expect(framer.nextLine().map { String(decoding: $0, as: UTF8.self) } == "{\"a\":1}")
        #expect(framer.nextLine() == nil)
        framer.append(ByteBuffer(string: ":2}\n\n{\"c\":3}\n"))
        #expect(framer.nextLine().map { String(decoding: $0, as: UTF8.self) } == "{\"b\":2}")
        #expect(framer.nextLine().map { String(decoding: $0, as: UTF8.self) } == "{\"c\":3}")
        #expect(framer.nextLine() == nil)
    }

    @Test("a Status body becomes the error of its reason and code")
    func errorFromStatus() {
        let conflict = KubeError.from(httpStatus: 409, body: ["kind": "Status", "reason": "Conflict", "message": "modified", "code": 409], retryAfter: nil, request: "PUT /x")
        #expect(conflict.code == .conflict)
        let exists = KubeError.from(httpStatus: 409, body: ["kind": "Status", "reason": "AlreadyExists", "message": "exists", "code": 409], retryAfter: nil, request: "POST /x")
        #expect(exists.code == .alreadyExists)
        let busy = KubeError.from(httpStatus: 429, body: ["kind": "Status", "details": ["retryAfterSeconds": 7]], retryAfter: nil, request: "GET /x")
        #expect(busy.retryAfterSeconds == 7 && busy.isRetryable)
        #expect(KubeError.from(httpStatus: 422, body: nil, retryAfter: nil, request: "").code == .invalid)
    }
}
