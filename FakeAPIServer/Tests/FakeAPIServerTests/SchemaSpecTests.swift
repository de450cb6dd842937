import KubeModel
import Testing

@Suite("Spec: CustomResourceDefinition schemas")
struct SchemaSpecTests {
    let widgets = "/apis/example.dboperator.io/v1/namespaces/default/widgets"

    private func causes(_ response: TestAPIServer.Response) -> [String: String] {
        var result: [String: String] = [:]
        for cause in response.body[path: ["details", "causes"]]?.arrayValue ?? [] {
            result[cause["field"]?.stringValue ?? ""] = cause["reason"]?.stringValue
        }
        return result
    }

    @Test("a resource violating the schema is rejected with 422 Invalid naming each field")
    func invalid() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            let response = try await api.post(widgets, Fixtures.widget("w", color: "purple", extra: [
                "size": 0, "name": "Has Spaces", "tags": ["a", "b", "c", "d"],
            ]))
            #expect(response.status == 422)
            #expect(response.reason == "Invalid")
            #expect(causes(response) == [
                "spec.color": "FieldValueNotSupported", "spec.size": "FieldValueInvalid",
                "spec.name": "FieldValueInvalid", "spec.tags": "FieldValueTooMany",
            ])
            #expect(response.message.hasPrefix("Widget.example.dboperator.io \"w\" is invalid: ["))
            #expect(response.message.contains("spec.color: Unsupported value: \"purple\": supported values: \"red\", \"green\", \"blue\""))
        }
    }

    @Test("a missing required field and a wrong type are Invalid")
    func requiredAndType() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            var widget = Fixtures.widget("w", extra: ["size": "big"])
            widget[path: ["spec", "color"]] = nil
            let response = try await api.post(widgets, widget)
            #expect(response.status == 422)
            #expect(causes(response) == ["spec.color": "FieldValueRequired", "spec.size": "FieldValueTypeInvalid"])
        }
    }

    @Test("schema defaults are applied and unknown fields are pruned, except where preserved")
    func defaultsAndPruning() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            let response = try await api.post(widgets, Fixtures.widget("w", extra: ["unknown": 1, "extra": ["anything": ["goes": true]]]))
            #expect(response.status == 201)
            #expect(response.body[path: ["spec", "size"]] == 10)
            #expect(response.body[path: ["spec", "unknown"]] == nil)
            #expect(response.body[path: ["spec", "extra", "anything", "goes"]] == true)
            #expect(response.headers["Warning"].contains { $0.contains("spec.unknown") })
        }
    }

    @Test("fieldValidation=Strict rejects unknown fields with 400 BadRequest")
    func strict() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            let response = try await api.post("\(widgets)?fieldValidation=Strict", Fixtures.widget("w", extra: ["unknown": 1]))
            #expect(response.status == 400)
            #expect(response.message.contains("strict decoding error: unknown field \"spec.unknown\""))
            #expect(try await api.get("\(widgets)/w").status == 404)
        }
    }

    @Test("an invalid CRD is rejected: name not plural.group, no storage version")
    func invalidCRD() async throws {
        try await TestAPIServer.with { api in
            var crd = Fixtures.widgetsCRD
            crd[path: ["metadata", "name"]] = "wrong.example.dboperator.io"
            crd[path: ["spec", "versions"]] = [["name": "v1", "served": true, "storage": false, "schema": ["openAPIV3Schema": ["type": "object"]]]]
            let response = try await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
            #expect(response.status == 422)
            #expect(Set(causes(response).keys) == ["metadata.name", "spec.versions"])
        }
    }

    @Test("a Table response carries the CRD's printer columns and the object's cells")
    func table() async throws {
        try await TestAPIServer.with { api in
            try await api.installWidgets()
            try await api.create(widgets, Fixtures.widget("w", color: "green"))
            _ = try await api.patch("\(widgets)/w/status", ["status": ["phase": "Ready", "conditions": [["type": "Ready", "status": "True"]]]])
            let response = try await api.request(.GET, widgets, headers: [("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")])
            #expect(response.body["kind"] == "Table")
            let columns = response.body["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(columns == ["Name", "Phase", "Color", "Ready", "Age"])
            let cells = response.body["rows"]?.arrayValue?.first?["cells"]?.arrayValue
            #expect(cells?.prefix(4) == ["w", "Ready", "green", "True"])
            #expect(response.headers.first(name: "Content-Type")?.contains("as=Table") == true)
        }
    }
}
