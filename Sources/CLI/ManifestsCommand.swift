import ArgumentParser
import Operator

/// `db-operator manifests namespace|rbac`: prints deploy/'s namespace or RBAC, the
/// texts `db-operator dev` applies (deploy/namespace.yaml and deploy/rbac.yaml are
/// these; a unit test keeps them equal).
struct ManifestsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifests", abstract: "Print deploy/'s namespace or least-privilege RBAC (kubectl apply -f -).")

    enum Manifest: String, ExpressibleByArgument, CaseIterable {
        case namespace, rbac
    }

    @Argument(help: "Which: namespace or rbac.")
    var manifest: Manifest

    func run() throws {
        switch manifest {
        case .namespace: print(DeployManifests.namespaceYAML, terminator: "")
        case .rbac: print(DeployManifests.rbacYAML, terminator: "")
        }
    }
}
