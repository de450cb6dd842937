import KubeClient
import KubeModel
import KubeRuntime
import Logging
import ServiceLifecycle

/// What a cluster's controller-manager does for service accounts, for `db-operator
/// dev` (beside the job runner, the kubelet's stand-in): every namespace gets a
/// ServiceAccount named "default", which pods without `serviceAccountName` run as
/// (the job runner asks for its token).
public struct DefaultServiceAccounts: Service {
    let api: any KubernetesAPI
    let logger: Logger

    public init(api: any KubernetesAPI, logger: Logger) {
        self.api = api
        self.logger = logger
    }

    static let serviceAccounts = ResourceDescriptor(group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true)

    public func run() async throws {
        let controller = Controller<Namespace>(api: api, configuration: .init(name: "serviceaccounts"), logger: logger) { key, controller in
            guard let namespace = controller.cache[key], namespace.metadata.deletionTimestamp == nil else { return .done }
            do {
                _ = try await api.create(Self.serviceAccounts, namespace: key.name, object: ["metadata": ["name": "default"]])
                logger.debug("created service account default", metadata: ["k8s.namespace": "\(key.name)"])
            } catch let error as KubeError where error.code == .alreadyExists || error.code == .forbidden || error.code == .notFound {
                // There already, or the namespace is going.
            }
            return .done
        }
        try await controller.run()
    }
}
