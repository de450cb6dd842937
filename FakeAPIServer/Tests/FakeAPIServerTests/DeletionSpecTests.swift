import KubeModel
import Testing

@Suite("Spec: deletion, finalizers and garbage collection")
struct DeletionSpecTests {
    let configMaps = "/api/v1/namespaces/default/configmaps"
    let secrets = "/api/v1/namespaces/default/secrets"

    @Test("deleting an object with finalizers sets deletionTimestamp and keeps it; removing the last finalizer removes it")
    func finalizers() async throws {
        try await TestAPIServer.with { api in
            var cm = Fixtures.configMap("a")
            cm[path: ["metadata", "finalizers"]] = ["example.com/one", "example.com/two"]
            try await api.create(configMaps, cm)
            let deleted = try await api.delete("\(configMaps)/a")
            #expect(deleted.status == 200)
            #expect(deleted.body[path: ["metadata", "deletionTimestamp"]] != nil)
            #expect(try await api.get("\(configMaps)/a").status == 200)

            let one = try await api.patch("\(configMaps)/a", ["metadata": ["finalizers": ["example.com/two"]]])
            #expect(one.status == 200)
            #expect(try await api.get("\(configMaps)/a").status == 200)
            let none = try await api.patch("\(configMaps)/a", ["metadata": ["finalizers": nil]])
            #expect(none.status == 200)
            #expect(try await api.get("\(configMaps)/a").status == 404)
        }
    }

    @Test("no finalizer can be added to an object that is being deleted")
    func noNewFinalizers() async throws {
        try await TestAPIServer.with { api in
            var cm = Fixtures.configMap("a")
            cm[path: ["metadata", "finalizers"]] = ["example.com/one"]
            try await api.create(configMaps, cm)
            _ = try await api.delete("\(configMaps)/a")
            let response = try await api.patch("\(configMaps)/a", ["metadata": ["finalizers": ["example.com/one", "example.com/late"]]])
            #expect(response.status == 422)
            #expect(response.message.contains("no new finalizers can be added if the object is being deleted"))
        }
    }

    @Test("a delete whose uid precondition does not match fails with 409 Conflict")
    func preconditions() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a"))
            let response = try await api.delete("\(configMaps)/a", ["preconditions": ["uid": "not-the-uid"]])
            #expect(response.status == 409)
            #expect(response.message.contains("Precondition failed"))
            #expect(try await api.get("\(configMaps)/a").status == 200)
        }
    }

    @Test("deleting an owner removes its dependents (background propagation)")
    func backgroundGC() async throws {
        try await TestAPIServer.with { api in
            let owner = try await api.create(configMaps, Fixtures.configMap("owner"))
            var dependent = Fixtures.configMap("dependent")
            dependent[path: ["metadata", "ownerReferences"]] = [Fixtures.ownerReference(owner)]
            try await api.create(secrets, ["metadata": ["name": "dependent-secret", "ownerReferences": [Fixtures.ownerReference(owner)]]])
            try await api.create(configMaps, dependent)
            #expect(try await api.delete("\(configMaps)/owner").status == 200)
            #expect(try await api.get("\(configMaps)/dependent").status == 404)
            #expect(try await api.get("\(secrets)/dependent-secret").status == 404)
        }
    }

    @Test("a dependent with a finalizer is marked, not removed, when its owner goes")
    func dependentWithFinalizer() async throws {
        try await TestAPIServer.with { api in
            let owner = try await api.create(configMaps, Fixtures.configMap("owner"))
            try await api.create(secrets, ["metadata": ["name": "held", "finalizers": ["example.com/hold"], "ownerReferences": [Fixtures.ownerReference(owner)]]])
            _ = try await api.delete("\(configMaps)/owner")
            let held = try await api.get("\(secrets)/held")
            #expect(held.status == 200)
            #expect(held.body[path: ["metadata", "deletionTimestamp"]] != nil)
        }
    }

    @Test("orphan propagation keeps the dependents and removes their ownerReference")
    func orphan() async throws {
        try await TestAPIServer.with { api in
            let owner = try await api.create(configMaps, Fixtures.configMap("owner"))
            var dependent = Fixtures.configMap("dependent")
            dependent[path: ["metadata", "ownerReferences"]] = [Fixtures.ownerReference(owner)]
            try await api.create(configMaps, dependent)
            _ = try await api.delete("\(configMaps)/owner", ["propagationPolicy": "Orphan"])
            #expect(try await api.get("\(configMaps)/owner").status == 404)
            let kept = try await api.get("\(configMaps)/dependent")
            #expect(kept.status == 200)
            #expect(kept.body[path: ["metadata", "ownerReferences"]] == nil)
        }
    }

    @Test("foreground deletion keeps the owner until its dependents are gone")
    func foreground() async throws {
        try await TestAPIServer.with { api in
            let owner = try await api.create(configMaps, Fixtures.configMap("owner"))
            try await api.create(secrets, ["metadata": ["name": "held", "finalizers": ["example.com/hold"], "ownerReferences": [Fixtures.ownerReference(owner)]]])
            let deleted = try await api.delete("\(configMaps)/owner", ["propagationPolicy": "Foreground"])
            #expect(deleted.body[path: ["metadata", "finalizers"]] == ["foregroundDeletion"])
            #expect(try await api.get("\(configMaps)/owner").status == 200)
            _ = try await api.patch("\(secrets)/held", ["metadata": ["finalizers": nil]])
            #expect(try await api.get("\(secrets)/held").status == 404)
            #expect(try await api.get("\(configMaps)/owner").status == 404)
        }
    }

    @Test("deleting a namespace deletes what it contains, then the namespace")
    func namespaceDeletion() async throws {
        try await TestAPIServer.with { api in
            try await api.create("/api/v1/namespaces", Fixtures.namespace("team"))
            try await api.create("/api/v1/namespaces/team/secrets", ["metadata": ["name": "held", "finalizers": ["example.com/hold"]]])
            try await api.create("/api/v1/namespaces/team/configmaps", Fixtures.configMap("a"))
            let deleted = try await api.delete("/api/v1/namespaces/team")
            #expect(deleted.body[path: ["status", "phase"]] == "Terminating")
            #expect(try await api.get("/api/v1/namespaces/team/configmaps/a").status == 404)
            let refused = try await api.post("/api/v1/namespaces/team/configmaps", Fixtures.configMap("b"))
            #expect(refused.status == 403)
            #expect(try await api.get("/api/v1/namespaces/team").status == 200)
            _ = try await api.patch("/api/v1/namespaces/team/secrets/held", ["metadata": ["finalizers": nil]])
            #expect(try await api.get("/api/v1/namespaces/team").status == 404)
        }
    }

    @Test("deletecollection deletes what the selector selects and nothing else")
    func deleteCollection() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a", labels: ["tier": "x"]))
            try await api.create(configMaps, Fixtures.configMap("b", labels: ["tier": "y"]))
            #expect(try await api.delete("\(configMaps)?labelSelector=tier%3Dx").status == 200)
            #expect(try await api.get("\(configMaps)/a").status == 404)
            #expect(try await api.get("\(configMaps)/b").status == 200)
        }
    }
}
