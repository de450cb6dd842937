import KubeModel
import Testing

@Suite("Spec: list selectors, pagination and patches")
struct ListAndPatchSpecTests {
    let configMaps = "/api/v1/namespaces/default/configmaps"

    private func names(_ response: TestAPIServer.Response) -> [String] {
        response.body["items"]?.arrayValue?.compactMap(\.name) ?? []
    }

    @Test("list filters by label selector: =, !=, in, notin, exists and !exists")
    func labelSelectors() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a", labels: ["tier": "web", "env": "prod"]))
            try await api.create(configMaps, Fixtures.configMap("b", labels: ["tier": "db", "env": "dev"]))
            try await api.create(configMaps, Fixtures.configMap("c", labels: ["tier": "cache"]))
            let cases: [(String, [String])] = [
                ("tier%3Dweb", ["a"]), ("tier!%3Dweb", ["b", "c"]), ("tier%20in%20(web,db)", ["a", "b"]),
                ("tier%20notin%20(web,db)", ["c"]), ("env", ["a", "b"]), ("!env", ["c"]), ("tier%3Ddb,env%3Ddev", ["b"]),
                // '+' is a space in a query string (Go's url.ParseQuery), as Python's client sends it.
                ("tier+in+(web,db)", ["a", "b"]), ("tier+in+%28web%2Cdb%29", ["a", "b"]), ("tier+notin+(web,db)", ["c"]),
            ]
            for (selector, expected) in cases {
                #expect(names(try await api.get("\(configMaps)?labelSelector=\(selector)")) == expected, "\(selector)")
            }
        }
    }

    @Test("list filters by field selector, and an unsupported field is a 400")
    func fieldSelectors() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a"))
            try await api.create(configMaps, Fixtures.configMap("b"))
            #expect(names(try await api.get("\(configMaps)?fieldSelector=metadata.name%3Db")) == ["b"])
            #expect(names(try await api.get("\(configMaps)?fieldSelector=metadata.name!%3Db")) == ["a"])
            let unsupported = try await api.get("\(configMaps)?fieldSelector=spec.nothing%3Dx")
            #expect(unsupported.status == 400)
            #expect(unsupported.message.contains("field label not supported"))
        }
    }

    @Test("a list across all namespaces returns every namespace's objects")
    func allNamespaces() async throws {
        try await TestAPIServer.with { api in
            try await api.create("/api/v1/namespaces", Fixtures.namespace("other"))
            try await api.create(configMaps, Fixtures.configMap("a"))
            try await api.create("/api/v1/namespaces/other/configmaps", Fixtures.configMap("b"))
            #expect(names(try await api.get("/api/v1/configmaps")) == ["a", "b"])
        }
    }

    @Test("limit and continue page through a list with no object lost or repeated")
    func pagination() async throws {
        try await TestAPIServer.with { api in
            for i in 0..<7 { try await api.create(configMaps, Fixtures.configMap("cm-\(i)")) }
            var seen: [String] = []
            var token = ""
            var pages = 0
            repeat {
                let page = try await api.get("\(configMaps)?limit=3&continue=\(token)")
                seen += names(page)
                token = page.body[path: ["metadata", "continue"]]?.stringValue ?? ""
                if !token.isEmpty { #expect(page.body[path: ["metadata", "remainingItemCount"]] != nil) }
                pages += 1
            } while !token.isEmpty && pages < 10
            #expect(pages == 3)
            #expect(seen == (0..<7).map { "cm-\($0)" })
            // With a selector kube-apiserver gives no remainingItemCount (it would have
            // to match every remaining object); the pages still cover every match.
            var selected: [String] = []
            token = ""
            repeat {
                let page = try await api.get("\(configMaps)?limit=3&fieldSelector=metadata.name!%3Dcm-0&continue=\(token)")
                selected += names(page)
                token = page.body[path: ["metadata", "continue"]]?.stringValue ?? ""
                #expect(page.body[path: ["metadata", "remainingItemCount"]] == nil)
            } while !token.isEmpty && selected.count < 10
            #expect(selected == (1..<7).map { "cm-\($0)" })
        }
    }

    @Test("a merge patch merges maps and removes keys set to null")
    func mergePatch() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a", data: ["keep": "1", "drop": "2"]))
            let response = try await api.patch("\(configMaps)/a", ["data": ["drop": nil, "add": "3"]])
            #expect(response.body["data"] == ["keep": "1", "add": "3"])
        }
    }

    @Test("a JSON patch applies its operations in order, and a failed test operation is a 422")
    func jsonPatch() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a", data: ["x": "1"]))
            let ops: JSONValue = [
                ["op": "test", "path": "/data/x", "value": "1"], ["op": "replace", "path": "/data/x", "value": "2"],
                ["op": "copy", "from": "/data/x", "path": "/data/y"], ["op": "remove", "path": "/data/x"],
                ["op": "add", "path": "/metadata/annotations", "value": [:]],
                ["op": "add", "path": "/metadata/annotations/example.com~1note", "value": "escaped"],
            ]
            let response = try await api.patch("\(configMaps)/a", ops, type: "application/json-patch+json")
            #expect(response.body["data"] == ["y": "2"])
            #expect(response.body[path: ["metadata", "annotations"]] == ["example.com/note": "escaped"])
            let failed = try await api.patch("\(configMaps)/a", [["op": "test", "path": "/data/y", "value": "nope"]], type: "application/json-patch+json")
            #expect(failed.status == 422)
        }
    }

    @Test("a strategic merge patch merges lists by key on built-ins and is refused with 415 on custom resources")
    func strategicMergePatch() async throws {
        try await TestAPIServer.with { api in
            let jobs = "/apis/batch/v1/namespaces/default/jobs"
            let containers: JSONValue = [["name": "a", "image": "one"], ["name": "b", "image": "two"]]
            try await api.create(jobs, ["metadata": ["name": "j", "labels": ["x": "1"]], "spec": ["suspend": true, "template": ["spec": ["restartPolicy": "Never", "containers": containers]]]])
            let patched = try await api.patch(
                "\(jobs)/j", ["spec": ["template": ["spec": ["containers": [["name": "b", "image": "three"]]]]]],
                type: "application/strategic-merge-patch+json")
            #expect(patched.status == 200, "\(patched.message)")
            #expect(patched.body[path: ["spec", "template", "spec", "containers"]] == [["name": "a", "image": "one"], ["name": "b", "image": "three"]])
            try await api.installWidgets()
            try await api.create("/apis/example.dboperator.io/v1/namespaces/default/widgets", Fixtures.widget("w"))
            let refused = try await api.patch(
                "/apis/example.dboperator.io/v1/namespaces/default/widgets/w", ["spec": ["color": "blue"]],
                type: "application/strategic-merge-patch+json")
            #expect(refused.status == 415)
        }
    }

    @Test("a patch carrying a stale resourceVersion is rejected with 409 Conflict")
    func patchPrecondition() async throws {
        try await TestAPIServer.with { api in
            let cm = try await api.create(configMaps, Fixtures.configMap("a"))
            _ = try await api.patch("\(configMaps)/a", ["data": ["k": "changed"]])
            let stale = try await api.patch("\(configMaps)/a", ["metadata": ["resourceVersion": cm["metadata"]!["resourceVersion"]!], "data": ["k": "late"]])
            #expect(stale.status == 409)
        }
    }
}
