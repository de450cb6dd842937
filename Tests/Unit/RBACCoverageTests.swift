import FakeAPIServer
import Foundation
import Testing
import Yams

/// Least privilege, the other half: every permission deploy/rbac.yaml grants was used
/// by the programs somewhere in the suite. The integration runs with RBAC on leave
/// what they were allowed, and by which rule, in `DBOP_RBAC_USAGE_DIR`; ci/test.sh
/// runs this after them. A rule, or a resource of a rule, that nobody used is a
/// permission to drop; verbs never used are listed (some, like an Event's patch when
/// one repeats, depend on timing).
@Suite("deploy/rbac.yaml: every granted permission is used")
struct RBACCoverageTests {
    static let usageDirectory = ProcessInfo.processInfo.environment["DBOP_RBAC_USAGE_DIR"].flatMap { $0.isEmpty ? nil : $0 }

    struct Piece: Hashable, CustomStringConvertible {
        var role: String
        var rule: Int
        var verb: String
        var group: String
        var resource: String
        var description: String { "\(role) rule \(rule): \(verb) \(resource)\(group.isEmpty ? "" : ".\(group)")" }
    }

    /// Every piece the ClusterRoles and Roles of deploy/rbac.yaml grant.
    static func granted() throws -> Set<Piece> {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: repository.appendingPathComponent("deploy/rbac.yaml"), encoding: .utf8)
        var pieces: Set<Piece> = []
        for case let document as [String: Any] in try Yams.load_all(yaml: text) {
            guard let kind = document["kind"] as? String, kind == "ClusterRole" || kind == "Role",
                let metadata = document["metadata"] as? [String: Any], let name = metadata["name"] as? String
            else { continue }
            let role = kind == "Role" ? "Role/\(metadata["namespace"] as? String ?? "")/\(name)" : "ClusterRole/\(name)"
            for (index, rule) in ((document["rules"] as? [[String: Any]]) ?? []).enumerated() {
                for verb in rule["verbs"] as? [String] ?? [] {
                    for group in rule["apiGroups"] as? [String] ?? [] {
                        for resource in rule["resources"] as? [String] ?? [] {
                            pieces.insert(Piece(role: role, rule: index, verb: verb, group: group, resource: resource))
                        }
                    }
                }
            }
        }
        return pieces
    }

    @Test(
        "no permission of deploy/rbac.yaml went unused by the suite's runs with RBAC on",
        .enabled(if: usageDirectory != nil, "set DBOP_RBAC_USAGE_DIR and run the integration tests first (ci/test.sh does)"))
    func everyPermissionUsed() throws {
        let directory = try #require(Self.usageDirectory)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
        try #require(!files.isEmpty, "no usage recorded in \(directory): the integration tests with RBAC on did not run")
        var used: Set<Piece> = []
        for file in files {
            let records = try JSONDecoder().decode([AccessRecord].self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(file)")))
            for record in records {
                guard let role = record.role, let rule = record.ruleIndex else { continue }
                used.insert(Piece(role: role, rule: rule, verb: record.verb, group: record.apiGroup, resource: record.resource))
            }
        }
        let granted = try Self.granted()
        #expect(!granted.isEmpty)
        func withoutVerb(_ piece: Piece) -> Piece { Piece(role: piece.role, rule: piece.rule, verb: "", group: piece.group, resource: piece.resource) }
        let usedResources = Set(used.map(withoutVerb))
        let unusedResources = Set(granted.map(withoutVerb)).subtracting(usedResources).map { "\($0.role) rule \($0.rule): \($0.resource)\($0.group.isEmpty ? "" : ".\($0.group)")" }.sorted()
        #expect(unusedResources.isEmpty, "granted by deploy/rbac.yaml, never used (drop them, or test what needs them):\n\(unusedResources.joined(separator: "\n"))")
        let unusedVerbs = granted.subtracting(used).map(\.description).sorted()
        if !unusedVerbs.isEmpty { print("verbs of deploy/rbac.yaml not used in this run:\n\(unusedVerbs.joined(separator: "\n"))") }
    }
}
