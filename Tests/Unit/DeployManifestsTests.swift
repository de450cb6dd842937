import Foundation
import KubeClient
import KubeModel
import Operator
import Testing

@Suite("deploy/'s namespace and RBAC as code: what db-operator dev applies")
struct DeployManifestsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("deploy/namespace.yaml and deploy/rbac.yaml are exactly DeployManifests' texts (regenerate: db-operator manifests rbac > deploy/rbac.yaml)")
    func committedFilesAreTheCode() throws {
        #expect(try String(contentsOf: Self.repository.appendingPathComponent("deploy/namespace.yaml"), encoding: .utf8) == DeployManifests.namespaceYAML)
        #expect(try String(contentsOf: Self.repository.appendingPathComponent("deploy/rbac.yaml"), encoding: .utf8) == DeployManifests.rbacYAML)
    }

    @Test("every document is of a kind Manifests.apply knows, with the service accounts the programs use")
    func documentsParse() throws {
        let documents = try Manifests.documents(DeployManifests.namespaceYAML + "---\n" + DeployManifests.rbacYAML)
        for document in documents {
            let key = "\(document["apiVersion"]?.stringValue ?? "")/\(document["kind"]?.stringValue ?? "")"
            #expect(Manifests.kinds[key] != nil, "\(key)")
        }
        let accounts = documents.filter { $0["kind"] == "ServiceAccount" }.compactMap { $0[path: ["metadata", "name"]]?.stringValue }
        #expect(Set(accounts) == [DeployManifests.operatorServiceAccount, DeployManifests.driverServiceAccount])
        // YAML's types come through: the core group is the empty string, verbs are strings.
        let role = try #require(documents.first { $0["kind"] == "ClusterRole" && $0[path: ["metadata", "name"]] == "db-operator" })
        let rules = role["rules"]?.arrayValue ?? []
        #expect(rules.contains { $0["apiGroups"] == [""] && $0["resources"] == ["events"] && $0["verbs"] == ["create", "patch"] })
    }

    @Test("YAML that is not a manifest's (a tag Yams gives as Data) is an error, not a silent drop")
    func unknownValues() throws {
        #expect(throws: KubeError.self) { try Manifests.documents("a: [1, {b: 2}]\nc: !!binary aGk=\n") }
        let parsed = try Manifests.documents("a: [1, {b: 2.5}, null, true]\n---\n")
        #expect(parsed == [["a": [1, ["b": 2.5], .null, true]]], "\(parsed)")
    }
}
