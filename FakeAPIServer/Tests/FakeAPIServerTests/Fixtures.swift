import Foundation
import KubeModel

/// Builders for the objects the spec tests send.
enum Fixtures {
    static func configMap(_ name: String, labels: [String: String] = [:], data: [String: String] = ["k": "v"]) -> JSONValue {
        [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": .string(name), "labels": .object(labels.mapValues(JSONValue.string))],
            "data": .object(data.mapValues(JSONValue.string)),
        ]
    }

    static func widget(_ name: String, color: String = "red", extra: [String: JSONValue] = [:]) -> JSONValue {
        var spec: [String: JSONValue] = ["color": .string(color)]
        spec.merge(extra) { _, new in new }
        return ["apiVersion": "example.dboperator.io/v1", "kind": "Widget", "metadata": ["name": .string(name)], "spec": .object(spec)]
    }

    /// A minimal valid Job.
    static func job(_ name: String) -> JSONValue {
        let container: JSONValue = ["name": "c", "image": "busybox", "command": ["true"]]
        return ["metadata": ["name": .string(name)], "spec": ["template": ["spec": ["containers": [container], "restartPolicy": "Never"]]]]
    }

    static func namespace(_ name: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]
    }

    static func ownerReference(_ owner: JSONValue) -> JSONValue {
        [
            "apiVersion": owner["apiVersion"]!, "kind": owner["kind"]!, "name": owner[path: ["metadata", "name"]]!,
            "uid": owner[path: ["metadata", "uid"]]!,
        ]
    }

    /// The test CRD of FakeAPIServer/Tests/Fixtures/widgets-crd.json (kubectl applies the same file):
    /// printer columns, status subresource, defaults, enum, pattern, bounds, required, pruning.
    static let widgetsCRD: JSONValue = {
        // The file sits beside this target's sources; a missing file is a broken checkout.
        let data = try! Data(contentsOf: fixtureURL("widgets-crd.json"))
        return try! JSONValue.decode(data)
    }()

    static func fixtureURL(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
    }
}
