import FakeAPIServer
import KubeModel
import Testing

@Suite("Spec: watches and fault injection")
struct WatchAndFaultSpecTests {
    let configMaps = "/api/v1/namespaces/default/configmaps"

    @Test("a watch without resourceVersion starts with an ADDED event for every object")
    func initialEvents() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a"))
            try await api.create(configMaps, Fixtures.configMap("b"))
            let watch = try await api.watch("\(configMaps)?watch=true")
            let events = try await watch.collect { $0.count >= 2 }
            #expect(events.map(\.eventType) == ["ADDED", "ADDED"])
            #expect(events.compactMap { $0["object"]?.name } == ["a", "b"])
        }
    }

    @Test("a watch from a resourceVersion replays the later changes in order, then streams new ones")
    func resumeFromVersion() async throws {
        try await TestAPIServer.with { api in
            let list = try await api.get(configMaps)
            try await api.create(configMaps, Fixtures.configMap("a"))
            _ = try await api.patch("\(configMaps)/a", ["data": ["k": "2"]])
            let watch = try await api.watch("\(configMaps)?watch=1&resourceVersion=\(list.resourceVersion!)")
            async let events = watch.collect { $0.count >= 3 }
            _ = try await api.delete("\(configMaps)/a")
            let received = try await events
            #expect(received.map(\.eventType) == ["ADDED", "MODIFIED", "DELETED"])
            let versions = received.compactMap { $0["object"]?.resourceVersion.flatMap { UInt64($0) } }
            #expect(versions == versions.sorted() && versions.count == 3)
        }
    }

    @Test("a watch with a label selector sees objects enter and leave it as ADDED and DELETED")
    func selectorTransitions() async throws {
        try await TestAPIServer.with { api in
            let start = try await api.get(configMaps).resourceVersion!
            try await api.create(configMaps, Fixtures.configMap("a", labels: ["pick": "no"]))
            _ = try await api.patch("\(configMaps)/a", ["metadata": ["labels": ["pick": "yes"]]])
            _ = try await api.patch("\(configMaps)/a", ["data": ["k": "changed"]])
            _ = try await api.patch("\(configMaps)/a", ["metadata": ["labels": ["pick": "no"]]])
            let watch = try await api.watch("\(configMaps)?watch=true&resourceVersion=\(start)&labelSelector=pick%3Dyes")
            let events = try await watch.collect { $0.count >= 3 }
            #expect(events.map(\.eventType) == ["ADDED", "MODIFIED", "DELETED"])
        }
    }

    @Test("a streaming list (sendInitialEvents) gets ADDED for each object, then the initial-events-end BOOKMARK, then changes; without NotOlderThan it is 422")
    func streamingList() async throws {
        try await TestAPIServer.with { api in
            let old = try await api.create(configMaps, Fixtures.configMap("a")).resourceVersion!
            try await api.create(configMaps, Fixtures.configMap("b"))
            let watch = try await api.watch("\(configMaps)?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=\(old)")
            #expect(watch.status == 200)
            let changed = Task { try await api.create(configMaps, Fixtures.configMap("c")) }
            let events = try await watch.collect { $0.count >= 4 }
            _ = try await changed.value
            #expect(events.map(\.eventType) == ["ADDED", "ADDED", "BOOKMARK", "ADDED"])
            #expect(events.prefix(2).compactMap { $0[path: ["object", "metadata", "name"]]?.stringValue } == ["a", "b"])
            #expect(events[2][path: ["object", "metadata", "annotations", "k8s.io/initial-events-end"]] == "true")
            #expect(events[3][path: ["object", "metadata", "name"]] == "c")
            let refused = try await api.watch("\(configMaps)?watch=true&sendInitialEvents=true&allowWatchBookmarks=true")
            #expect(refused.status == 422)
        }
    }

    @Test("a watch from a compacted resourceVersion ends with a 410 Expired ERROR event")
    func goneAfterCompaction() async throws {
        try await TestAPIServer.with { api in
            let old = try await api.create(configMaps, Fixtures.configMap("a")).resourceVersion!
            try await api.create(configMaps, Fixtures.configMap("b"))
            #expect(try await api.request(.POST, "/fake/compact").status == 200)
            let watch = try await api.watch("\(configMaps)?watch=true&resourceVersion=\(old)")
            let events = try await watch.collect { _ in false }
            #expect(events.count == 1)
            #expect(events.first?.eventType == "ERROR")
            #expect(events.first?[path: ["object", "code"]] == 410)
            #expect(events.first?[path: ["object", "reason"]] == "Expired")
        }
    }

    @Test("a watch that allows bookmarks receives BOOKMARK events carrying the current resourceVersion")
    func bookmarks() async throws {
        try await TestAPIServer.with(configure: { $0.bookmarkInterval = .milliseconds(100) }) { api in
            let created = try await api.create(configMaps, Fixtures.configMap("a")).resourceVersion!
            let watch = try await api.watch("\(configMaps)?watch=true&allowWatchBookmarks=true&resourceVersion=\(created)")
            let events = try await watch.collect { $0.contains { $0.eventType == "BOOKMARK" } }
            let bookmark = try #require(events.first { $0.eventType == "BOOKMARK" })
            #expect(bookmark[path: ["object", "metadata", "resourceVersion"]]?.stringValue == String(api.server.resourceVersion))
            #expect(bookmark[path: ["object", "kind"]] == "ConfigMap")
        }
    }

    @Test("timeoutSeconds ends the watch stream")
    func watchTimeout() async throws {
        try await TestAPIServer.with { api in
            let watch = try await api.watch("\(configMaps)?watch=true&timeoutSeconds=1")
            let events = try await watch.collect { _ in false }
            #expect(events.isEmpty)
            #expect(api.server.openWatches == 0)
        }
    }

    @Test("dropping watches ends every open watch stream, as a lost connection would")
    func dropWatches() async throws {
        try await TestAPIServer.with { api in
            let watch = try await api.watch("\(configMaps)?watch=true")
            async let ended = watch.collect { _ in false }
            while api.server.openWatches == 0 { await Task.yield() }
            let dropped = try await api.request(.POST, "/fake/drop-watches?resource=configmaps")
            #expect(dropped.body["dropped"] == 1)
            #expect(try await ended.isEmpty)
        }
    }

    @Test("an injected 500 fails the matching request as many times as asked, then clears")
    func injected500() async throws {
        try await TestAPIServer.with { api in
            api.server.injectFault(FaultRule(verb: "get", resource: "configmaps", status: 500, count: 2))
            try await api.create(configMaps, Fixtures.configMap("a"))
            let first = try await api.get("\(configMaps)/a")
            #expect(first.status == 500)
            #expect(first.reason == "InternalError")
            #expect(try await api.get("\(configMaps)/a").status == 500)
            #expect(try await api.get("\(configMaps)/a").status == 200)
        }
    }

    @Test("an injected 429 carries Retry-After in the header and the Status details")
    func injected429() async throws {
        try await TestAPIServer.with { api in
            let rule: JSONValue = ["verb": "list", "resource": "configmaps", "status": 429, "retryAfterSeconds": 3, "count": 1]
            #expect(try await api.request(.POST, "/fake/faults", rule).status == 201)
            let response = try await api.get(configMaps)
            #expect(response.status == 429)
            #expect(response.reason == "TooManyRequests")
            #expect(response.headers.first(name: "Retry-After") == "3")
            #expect(response.body[path: ["details", "retryAfterSeconds"]] == 3)
            #expect(try await api.get(configMaps).status == 200)
        }
    }

    @Test("an injected fault can target one user only")
    func faultPerUser() async throws {
        try await TestAPIServer.with { (api: TestAPIServer) async throws in
            api.server.injectFault(FaultRule(user: "someone", status: 409))
            #expect(try await api.request(.GET, configMaps, token: "other-token").status == 409)
            #expect(try await api.get(configMaps).status == 200)
            api.server.clearFaults()
            #expect(try await api.request(.GET, configMaps, token: "other-token").status == 200)
        }
    }
}
