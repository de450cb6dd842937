import KubeModel
import Testing

@Suite("Spec: discovery, OpenAPI and authentication")
struct DiscoveryAndAuthSpecTests {
    @Test("discovery lists the core version, the API groups and the resources of each version")
    func discovery() async throws {
        try await TestAPIServer.with { api in
            #expect(try await api.get("/api").body["versions"] == ["v1"])
            let groups = try await api.get("/apis").body["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(Set(groups).isSuperset(of: ["batch", "coordination.k8s.io", "apiextensions.k8s.io"]))
            let core = try await api.get("/api/v1").body["resources"]?.arrayValue ?? []
            let names = Set(core.compactMap { $0["name"]?.stringValue })
            #expect(names.isSuperset(of: ["namespaces", "secrets", "configmaps", "events", "serviceaccounts", "pods", "pods/status"]))
            let pods = core.first { $0["name"] == "pods" }
            #expect(pods?["verbs"] == ["get", "list", "watch"])
            #expect(try await api.get("/version").body["gitVersion"]?.stringValue?.hasPrefix("v1.") == true)
        }
    }

    @Test("installing a CRD makes its resources served and listed in discovery and OpenAPI v3")
    func crdIsServed() async throws {
        try await TestAPIServer.with { api in
            #expect(try await api.get("/apis/example.dboperator.io/v1/namespaces/default/widgets").status == 404)
            try await api.installWidgets()
            let list = try await api.get("/apis/example.dboperator.io/v1/namespaces/default/widgets")
            #expect(list.status == 200)
            #expect(list.body["kind"] == "WidgetList")
            let resources = try await api.get("/apis/example.dboperator.io/v1").body["resources"]?.arrayValue ?? []
            #expect(resources.contains { $0["name"] == "widgets" && $0["shortNames"] == ["wd"] })
            #expect(resources.contains { $0["name"] == "widgets/status" })
            let root = try await api.get("/openapi/v3").body
            let url = try #require(root[path: ["paths", "apis/example.dboperator.io/v1", "serverRelativeURL"]]?.stringValue)
            let document = try await api.get(url).body
            let patch = document[path: ["paths", "/apis/example.dboperator.io/v1/namespaces/{namespace}/widgets/{name}", "patch"]]
            #expect(patch?["x-kubernetes-group-version-kind"] == ["group": "example.dboperator.io", "version": "v1", "kind": "Widget"])
            #expect(patch?["parameters"]?.arrayValue?.contains { $0["name"] == "fieldValidation" } == true)
        }
    }

    @Test("deleting a CRD stops serving its resources and deletes them")
    func crdDeletion() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            try await api.create("/apis/example.dboperator.io/v1/namespaces/default/widgets", Fixtures.widget("w"))
            #expect(try await api.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dboperator.io").status == 200)
            #expect(try await api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dboperator.io").status == 404)
            #expect(try await api.get("/apis/example.dboperator.io/v1/namespaces/default/widgets").status == 404)
            try await api.installWidgets()
            #expect(try await api.get("/apis/example.dboperator.io/v1/namespaces/default/widgets/w").status == 404)
        }
    }

    @Test("a request without a token, or with an unknown one, is refused with 401 Unauthorized")
    func unauthenticated() async throws {
        try await TestAPIServer.with { api in
            let none = try await api.request(.GET, "/api/v1/namespaces", token: "")
            #expect(none.status == 401)
            #expect(none.reason == "Unauthorized")
            #expect(try await api.request(.GET, "/api/v1/namespaces", token: "wrong").status == 401)
            #expect(try await api.request(.GET, "/api/v1/namespaces", token: "other-token").status == 200)
        }
    }

    @Test("an unknown path or resource answers 404 NotFound as a Status")
    func unknownPath() async throws {
        try await TestAPIServer.with { api in
            let response = try await api.get("/apis/nope.example/v1/things")
            #expect(response.status == 404)
            #expect(response.body["kind"] == "Status")
            #expect(response.reason == "NotFound")
        }
    }
}
