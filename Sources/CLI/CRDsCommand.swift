import ArgumentParser
import Foundation
import KubeModel
import Yams

/// `db-operator crds`: prints the CustomResourceDefinitions as YAML (or JSON).
struct CRDsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crds", abstract: "Print the Database and Backup CustomResourceDefinitions (kubectl apply -f -).")

    @Flag(help: "Print JSON (a List) instead of YAML documents.")
    var json = false

    func run() throws {
        print(try Self.render(json: json), terminator: "")
    }

    static func render(json: Bool) throws -> String {
        let documents = try CustomResourceDefinitions.all.map { try JSONValue(encoding: $0) }
        if json {
            let list: JSONValue = ["apiVersion": "v1", "kind": "List", "items": .array(documents)]
            return String(decoding: list.encoded(), as: UTF8.self) + "\n"
        }
        return try documents.map { try Yams.dump(object: yamlObject($0), sortKeys: true) }.map { "---\n" + $0 }.joined()
    }

    /// Plain Swift values Yams can represent.
    static func yamlObject(_ value: JSONValue) -> Any? {
        switch value {
        case .null: nil
        case .bool(let bool): bool
        case .int(let int): Int(int)
        case .double(let double): double
        case .string(let string): string
        case .array(let items): items.map { yamlObject($0) as Any }
        case .object(let fields): fields.compactMapValues { yamlObject($0) }
        }
    }
}
