import Foundation
import KubeModel
import Testing

@Suite("Spec: object semantics")
struct ObjectSemanticsSpecTests {
    let configMaps = "/api/v1/namespaces/default/configmaps"
    let widgets = "/apis/example.dboperator.io/v1/namespaces/default/widgets"

    @Test("create sets uid, creationTimestamp and resourceVersion, and generation 1 where kept")
    func createSetsServerFields() async throws {
        try await TestAPIServer.with { api in
            let cm = try await api.create(configMaps, Fixtures.configMap("a"))
            #expect(cm[path: ["metadata", "uid"]]?.stringValue?.count == 36)
            #expect(cm[path: ["metadata", "creationTimestamp"]]?.stringValue?.hasSuffix("Z") == true)
            #expect(cm.resourceVersion != nil)
            #expect(cm[path: ["metadata", "generation"]] == nil)
            try await api.installWidgets()
            let widget = try await api.create(widgets, Fixtures.widget("w"))
            #expect(widget[path: ["metadata", "generation"]] == 1)
        }
    }

    @Test("uids are random version-4 UUIDs in lowercase, all distinct (over the server's refills of its random bytes)")
    func uidsAreRandomUUIDs() async throws {
        try await TestAPIServer.with { api in
            var uids: Set<String> = []
            for index in 0..<300 {
                let cm = try await api.create(configMaps, Fixtures.configMap("uid-\(index)"))
                let uid = try #require(cm[path: ["metadata", "uid"]]?.stringValue)
                let bytes = Array(uid.utf8)
                #expect(bytes.count == 36 && [8, 13, 18, 23].allSatisfy { bytes[$0] == UInt8(ascii: "-") }, "\(uid)")
                #expect(uid == uid.lowercased() && UUID(uuidString: uid) != nil, "\(uid)")
                #expect(bytes.count == 36 && bytes[14] == UInt8(ascii: "4") && "89ab".utf8.contains(bytes[19]), "version 4, RFC 4122 variant: \(uid)")
                uids.insert(uid)
            }
            #expect(uids.count == 300)
        }
    }

    @Test("names are DNS subdomains as apimachinery checks them: parts longer than 63 are fine, 254 characters or a '-' next to a '.' are not; a Job's name must also be a label value")
    func nameRules() async throws {
        try await TestAPIServer.with { api in
            let long = String(repeating: "a", count: 70) + "-final-29f8be54"
            #expect(try await api.post(configMaps, Fixtures.configMap(long)).status == 201)
            for bad in [String(repeating: "b", count: 254), "x.-y", "x-", "Upper"] {
                let response = try await api.post(configMaps, Fixtures.configMap(bad))
                #expect(response.status == 422 && response.reason == "Invalid", "\(bad): \(response.status)")
            }
            let job: (String) -> JSONValue = { name in
                [
                    "apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string(name)],
                    "spec": ["template": ["spec": ["restartPolicy": "Never", "containers": [["name": "c", "image": "busybox"]]]]],
                ]
            }
            let tooLong = try await api.post("/apis/batch/v1/namespaces/default/jobs", job(String(repeating: "j", count: 64)))
            #expect(tooLong.status == 422 && tooLong.message.contains("spec.template.labels") && tooLong.message.contains("no more than 63"), "\(tooLong.message)")
            #expect(try await api.post("/apis/batch/v1/namespaces/default/jobs", job(String(repeating: "j", count: 63))).status == 201)
        }
    }

    @Test("names, label keys and label values are accepted exactly when apimachinery's regular expressions accept them (random strings)")
    func namesMatchTheRegexes() async throws {
        func matches(_ pattern: String, _ text: String) -> Bool {
            let regex = try! NSRegularExpression(pattern: "^(?:\(pattern))$")
            return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
        let subdomain = #"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"#
        let namePart = #"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"#
        func validName(_ name: String) -> Bool { name.count <= 253 && matches(subdomain, name) }
        func validValue(_ value: String) -> Bool { value.isEmpty || (value.count <= 63 && matches(namePart, value)) }
        func validKey(_ key: String) -> Bool {
            let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2, let name = parts.last, name.count <= 63, matches(namePart, name) else { return false }
            return parts.count == 1 || (!parts[0].isEmpty && validName(parts[0]))
        }
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abz09AZ-_./é")
        func random(upTo length: Int) -> String {
            // Mostly short strings of the allowed characters, sometimes a stray one.
            String((0..<Int.random(in: 0...length, using: &generator)).map { _ in
                Bool.random(using: &generator) ? Character("a") : alphabet.randomElement(using: &generator)!
            })
        }
        try await TestAPIServer.with { api in
            for index in 0..<150 {
                let name = index % 3 == 0 ? random(upTo: 12) + String(repeating: "a", count: index % 2 == 0 ? 0 : 250) : random(upTo: 12)
                let response = try await api.post(configMaps, Fixtures.configMap(name))
                // 409: a random name made twice (valid, as the first was).
                #expect((response.status == 201 || response.status == 409) == validName(name), "name \(name): \(response.status) \(response.message)")
            }
            for index in 0..<150 {
                let key = index % 4 == 0 ? random(upTo: 8) + "/" + random(upTo: 8) : random(upTo: 12)
                let value = index % 5 == 0 ? random(upTo: 12) + String(repeating: "a", count: 60) : random(upTo: 12)
                let response = try await api.post(configMaps, Fixtures.configMap("labels-\(index)", labels: [key: value]))
                #expect((response.status == 201) == (validKey(key) && validValue(value)), "label \(key)=\(value): \(response.status) \(response.message)")
            }
        }
    }

    @Test("generateName makes a unique name from the prefix and a random suffix")
    func generateName() async throws {
        try await TestAPIServer.with { api in
            let body: JSONValue = ["metadata": ["generateName": "job-"], "data": [:]]
            let a = try await api.create(configMaps, body).name ?? ""
            let b = try await api.create(configMaps, body).name ?? ""
            #expect(a.hasPrefix("job-") && a.count == 9)
            #expect(a != b)
        }
    }

    @Test("resourceVersion comes from one global counter and increases with every write")
    func globalCounter() async throws {
        try await TestAPIServer.with { api in
            let a = try await api.create(configMaps, Fixtures.configMap("a"))
            let s = try await api.create("/api/v1/namespaces/default/secrets", ["metadata": ["name": "s"]])
            let b = try await api.create(configMaps, Fixtures.configMap("b"))
            let versions = [a, s, b].compactMap { $0.resourceVersion.flatMap { UInt64($0) } }
            #expect(versions.count == 3 && versions == versions.sorted() && Set(versions).count == 3)
            let list = try await api.get(configMaps)
            #expect(UInt64(list.resourceVersion ?? "") ?? 0 >= versions.last!)
        }
    }

    @Test("creating an existing name fails with 409 AlreadyExists")
    func alreadyExists() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a"))
            let again = try await api.post(configMaps, Fixtures.configMap("a"))
            #expect(again.status == 409)
            #expect(again.reason == "AlreadyExists")
            #expect(again.message == "configmaps \"a\" already exists")
        }
    }

    @Test("a namespaced object in a missing namespace is refused with 404 NotFound")
    func missingNamespace() async throws {
        try await TestAPIServer.with { api in
            let response = try await api.post("/api/v1/namespaces/nowhere/configmaps", Fixtures.configMap("a"))
            #expect(response.status == 404)
            #expect(response.message == "namespaces \"nowhere\" not found")
        }
    }

    @Test("an invalid name is rejected with 422 Invalid naming metadata.name")
    func invalidName() async throws {
        try await TestAPIServer.with { api in
            let response = try await api.post(configMaps, Fixtures.configMap("Not_Valid"))
            #expect(response.status == 422)
            #expect(response.reason == "Invalid")
            #expect(response.body[path: ["details", "causes"]]?.arrayValue?.first?["field"] == "metadata.name")
            let label = try await api.post(configMaps, Fixtures.configMap("ok", labels: ["k": String(repeating: "x", count: 64)]))
            #expect(label.status == 422)
        }
    }

    @Test("a stale resourceVersion is rejected with 409 Conflict")
    func staleResourceVersion() async throws {
        try await TestAPIServer.with { api in
            var cm = try await api.create(configMaps, Fixtures.configMap("a"))
            var first = cm
            first["data"] = ["k": "first"]
            #expect(try await api.put("\(configMaps)/a", first).status == 200)
            cm["data"] = ["k": "second"]
            let stale = try await api.put("\(configMaps)/a", cm)
            #expect(stale.status == 409)
            #expect(stale.reason == "Conflict")
            #expect(stale.message.contains("the object has been modified"))
            #expect(try await api.get("\(configMaps)/a").body["data"] == ["k": "first"])
        }
    }

    @Test("an update without resourceVersion is applied unconditionally")
    func unconditionalUpdate() async throws {
        try await TestAPIServer.with { api in
            try await api.create(configMaps, Fixtures.configMap("a"))
            let response = try await api.put("\(configMaps)/a", Fixtures.configMap("a", data: ["k": "new"]))
            #expect(response.status == 200)
            #expect(response.body["data"] == ["k": "new"])
        }
    }

    @Test("an update that changes nothing keeps the resourceVersion")
    func noOpUpdate() async throws {
        try await TestAPIServer.with { api in
            let cm = try await api.create(configMaps, Fixtures.configMap("a"))
            let same = try await api.put("\(configMaps)/a", cm)
            #expect(same.body.resourceVersion == cm.resourceVersion)
        }
    }

    @Test("generation is bumped by spec changes, not by metadata or status changes")
    func generation() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            try await api.create(widgets, Fixtures.widget("w"))
            let labelled = try await api.patch("\(widgets)/w", ["metadata": ["labels": ["a": "b"]]])
            #expect(labelled.body[path: ["metadata", "generation"]] == 1)
            let status = try await api.patch("\(widgets)/w/status", ["status": ["phase": "Ready"]])
            #expect(status.body[path: ["metadata", "generation"]] == 1)
            let spec = try await api.patch("\(widgets)/w", ["spec": ["color": "blue"]])
            #expect(spec.body[path: ["metadata", "generation"]] == 2)
        }
    }

    @Test("writes to the main resource ignore status, and status writes change only status")
    func statusSubresource() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            var widget = try await api.create(widgets, Fixtures.widget("w"))
            #expect(widget["status"] == nil)
            widget["status"] = ["phase": "Sneaky"]
            widget[path: ["spec", "color"]] = "green"
            let main = try await api.put("\(widgets)/w", widget)
            #expect(main.body["status"] == nil)
            #expect(main.body[path: ["spec", "color"]] == "green")

            var statusWrite = main.body
            statusWrite["status"] = ["phase": "Ready"]
            statusWrite[path: ["spec", "color"]] = "blue"
            statusWrite[path: ["metadata", "labels"]] = ["ignored": "yes"]
            let status = try await api.put("\(widgets)/w/status", statusWrite)
            #expect(status.status == 200)
            #expect(status.body[path: ["status", "phase"]] == "Ready")
            #expect(status.body[path: ["spec", "color"]] == "green")
            #expect(status.body[path: ["metadata", "labels"]] == nil)
            let stale = try await api.put("\(widgets)/w/status", statusWrite)
            #expect(stale.status == 409)
        }
    }

    @Test("a Secret's stringData is stored base64-encoded in data, and a bad base64 value is a 400")
    func secretStringData() async throws {
        try await TestAPIServer.with { api in
            let secrets = "/api/v1/namespaces/default/secrets"
            let secret = try await api.create(secrets, ["metadata": ["name": "s"], "data": ["a": "YQ=="], "stringData": ["b": "hunter2"]])
            #expect(secret["data"] == ["a": "YQ==", "b": "aHVudGVyMg=="])
            #expect(secret["stringData"] == nil)
            #expect(secret["type"] == "Opaque")
            let bad = try await api.post(secrets, ["metadata": ["name": "bad"], "data": ["a": "not base64!"]])
            #expect(bad.status == 400)
        }
    }

    @Test("a Job gets the job controller's defaults and selector; one without restartPolicy is Invalid")
    func jobs() async throws {
        try await TestAPIServer.with { api in
            let jobs = "/apis/batch/v1/namespaces/default/jobs"
            let container: JSONValue = ["name": "c", "image": "busybox", "command": ["true"]]
            let invalid = try await api.post(jobs, ["metadata": ["name": "j"], "spec": ["template": ["spec": ["containers": [container]]]]])
            #expect(invalid.status == 422)
            #expect(invalid.body[path: ["details", "causes"]]?.arrayValue?.first?["field"] == "spec.template.spec.restartPolicy")
            let job = try await api.create(jobs, ["metadata": ["name": "j"], "spec": ["template": ["spec": ["containers": [container], "restartPolicy": "Never"]]]])
            #expect(job[path: ["spec", "backoffLimit"]] == 6)
            #expect(job[path: ["spec", "selector", "matchLabels", "batch.kubernetes.io/controller-uid"]] == job[path: ["metadata", "uid"]])
            #expect(job["status"] == [:])
            let status = try await api.patch("\(jobs)/j/status", ["status": ["active": 1]])
            #expect(status.body[path: ["status", "active"]] == 1)
        }
    }

    @Test("pods are read-only: writes answer 405 MethodNotAllowed")
    func podsReadOnly() async throws {
        try await TestAPIServer.with { api in
            let response = try await api.post("/api/v1/namespaces/default/pods", ["metadata": ["name": "p"]])
            #expect(response.status == 405)
            #expect(try await api.get("/api/v1/namespaces/default/pods").status == 200)
        }
    }

    @Test("a Deployment gets apps/v1's defaults; no selector, a selector its template's labels do not match, a bad container name or a changed selector is Invalid")
    func deployments() async throws {
        try await TestAPIServer.with { api in
            let deployments = "/apis/apps/v1/namespaces/default/deployments"
            let labels: JSONValue = ["app": "x"]
            func deployment(selector: JSONValue?, templateLabels: JSONValue = labels, container: String = "main") -> JSONValue {
                var spec: JSONValue = [
                    "template": ["metadata": ["labels": templateLabels], "spec": ["containers": [["name": .string(container), "image": "busybox"]]]],
                ]
                if let selector { spec["selector"] = ["matchLabels": selector] }
                return ["metadata": ["name": "d"], "spec": spec]
            }
            let noSelector = try await api.post(deployments, deployment(selector: nil))
            #expect(noSelector.status == 422)
            #expect(noSelector.message.contains("spec.selector: Required value"))
            let mismatch = try await api.post(deployments, deployment(selector: ["app": "y"]))
            #expect(mismatch.message.contains("`selector` does not match template `labels`"))
            let badName = try await api.post(deployments, deployment(selector: labels, container: "Main_1"))
            #expect(badName.message.contains("spec.template.spec.containers[0].name: Invalid value: \"Main_1\""))
            let created = try await api.create(deployments, deployment(selector: labels))
            #expect(created[path: ["spec", "replicas"]] == 1)
            #expect(created[path: ["spec", "template", "spec", "restartPolicy"]] == "Always")
            #expect(created[path: ["spec", "strategy", "type"]] == "RollingUpdate")
            var changed = created
            changed[path: ["spec", "selector", "matchLabels"]] = ["app": "x", "tier": "web"]
            changed[path: ["spec", "template", "metadata", "labels"]] = ["app": "x", "tier": "web"]
            let immutable = try await api.put("\(deployments)/d", changed)
            #expect(immutable.status == 422)
            #expect(immutable.message.contains("spec.selector: Invalid value"))
            #expect(immutable.message.contains("field is immutable"))
        }
    }
}
