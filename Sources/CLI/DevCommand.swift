import ArgumentParser
import FakeAPIServer
import Foundation
import JobRunner
import KubeClient
import KubeModel
import Logging
import Operator
import ServiceLifecycle

/// `db-operator dev`: everything on a laptop or in CI, in one process — the fake
/// Kubernetes API server with the CRDs installed, the operator, and the job runner
/// that runs the driver Jobs as local processes. Ctrl-C stops it all.
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev", abstract: "Run the fake API server, the CRDs, the operator and the job runner in one process.")

    @OptionGroup var logging: LoggingOptions

    @Option(help: "Port of the fake API server (HTTPS on 127.0.0.1); 0 picks a free one.")
    var port = 46443

    @Option(help: "Where to write the kubeconfig for kubectl.")
    var kubeconfigOut = "/tmp/db-operator-dev/kubeconfig"

    @Option(help: "Directory for the Jobs' logs and the programs' kubeconfigs.")
    var stateDir = "/tmp/db-operator-dev"

    @Option(help: "Directory where the fake API server keeps its objects, CA and tokens across restarts (default: <state-dir>/apiserver).")
    var dataDir: String?

    @Flag(help: "Keep the fake API server's objects in memory only: a restart starts empty.")
    var ephemeral = false

    @Option(help: "Seconds before a failed Job is retried; doubles per failure up to 600.")
    var jobRetryBase: Double = 5

    @Flag(help: "Run the Jobs as containers of the image (runc, as root) instead of local processes: each driver then uses its in-cluster configuration, as in a cluster.")
    var containers = false

    @Option(help: "With --containers: the image's OCI archive (ci/image.sh build writes it).")
    var image = ".build/image/db-operator.oci.tar"

    @Option(help: "Directory of the test driver's state. Registers the driver \"test\", which needs no database server.")
    var enableTestDriver: String?

    @Option(help: "How the fake API server authorizes: RBAC (deploy/'s rules, the programs with their service accounts' tokens, as in a cluster) or AlwaysAllow.")
    var authorizationMode: AuthorizationMode = .rbac

    func run() async throws {
        let logger = logging.makeLogger(label: "db-operator-dev")
        var serverConfiguration = FakeAPIServer.Configuration()
        serverConfiguration.port = port
        serverConfiguration.dataDirectory = ephemeral ? nil : (dataDir ?? "\(stateDir)/apiserver")
        serverConfiguration.authorization = authorizationMode
        // The user's admin, and the cluster's own parts that dev stands in for (kubelet,
        // job and service-account controllers); the operator and its Jobs use service
        // accounts' tokens.
        serverConfiguration.tokens = [FakeAPIServer.randomToken(): "admin", FakeAPIServer.randomToken(): DevEnvironment.clusterUser]
        serverConfiguration.groups = ["admin": ["system:masters"], DevEnvironment.clusterUser: ["system:masters"]]
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)
        let server = try FakeAPIServer(configuration: serverConfiguration, logger: serverLogger)
        var container: ContainerRuntime?
        if containers {
            guard let identity = server.tlsIdentity else { throw ValidationError("--containers needs the server's TLS") }
            let unpacked = try ContainerRuntime.unpack(archive: image, into: "\(stateDir)/image")
            // The port is known once listening; DevEnvironment fills it in.
            container = ContainerRuntime(image: unpacked, bundleDirectory: "\(stateDir)/bundles", apiServerHost: "127.0.0.1", apiServerPort: 0, certificateAuthorityPEM: identity.caPEM)
        }
        let environment = DevEnvironment(
            server: server, kubeconfigOut: kubeconfigOut, stateDir: stateDir, retryBase: jobRetryBase,
            testDriverRoot: enableTestDriver, container: container, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [environment], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            server.close()
            throw error
        }
        server.close()
    }
}

/// The dev mode's parts, started in order: the server, then (once it listens) the
/// CRDs and deploy/'s namespace and RBAC, then the operator (with its service
/// account's token) and the job runner (each pod with its service account's token).
struct DevEnvironment: Service {
    /// The user of the parts of a cluster dev plays: the job runner (kubelet and Job
    /// controller) and the service-account controller.
    static let clusterUser = "system:db-operator-dev"

    let server: FakeAPIServer
    let kubeconfigOut: String
    let stateDir: String
    let retryBase: Double
    let testDriverRoot: String?
    /// Set: the Jobs run as containers of this image (and namespaces get their "default" service account).
    let container: ContainerRuntime?
    let logger: Logger

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            let port = await server.waitUntilListening()
            try server.writeKubeconfig(to: kubeconfigOut, user: "admin")
            let clusterConfig = "\(stateDir)/cluster.kubeconfig", operatorConfig = "\(stateDir)/operator.kubeconfig"
            try server.writeKubeconfig(to: clusterConfig, user: Self.clusterUser)
            var clientConfiguration = try KubeClientConfiguration.kubeconfig(path: clusterConfig)
            clientConfiguration.initialBackoff = .milliseconds(50)
            let cluster = try HTTPKubernetesClient(configuration: clientConfiguration, logger: logger)
            var operatorAPI: HTTPKubernetesClient?
            do {
                try await Self.installCRDs(cluster)
                // deploy/'s namespace, service accounts and RBAC; the operator's namespace
                // holds DatabaseServers' Secrets and their Databases' Jobs.
                try await Manifests.apply(DeployManifests.namespaceYAML + "---\n" + DeployManifests.rbacYAML, to: cluster)
                let operatorNamespace = DatabaseOperator.Configuration().operatorNamespace
                // The operator's token, as a kubelet mounts it (renewed on each start).
                let token = try server.serviceAccountToken(namespace: operatorNamespace, name: DeployManifests.operatorServiceAccount, seconds: 366 * 86400)
                try server.writeKubeconfig(to: operatorConfig, token: token, user: DeployManifests.operatorServiceAccount)
                var operatorClientConfiguration = try KubeClientConfiguration.kubeconfig(path: operatorConfig)
                operatorClientConfiguration.initialBackoff = .milliseconds(50)
                let api = try HTTPKubernetesClient(configuration: operatorClientConfiguration, logger: logger)
                operatorAPI = api

                var operatorConfiguration = DatabaseOperator.Configuration()
                operatorConfiguration.retry = RetryPolicy(base: retryBase, max: 600)
                operatorConfiguration.knownDrivers = Set(DriverRegistration.registry(testDriverRoot: testDriverRoot).names)
                if let root = testDriverRoot { operatorConfiguration.jobTemplate.environment[TestDriverSwitch.environmentKey] = root }
                operatorConfiguration.jobTemplate.serviceAccountName = DeployManifests.driverServiceAccount
                let databaseOperator = DatabaseOperator(api: api, configuration: operatorConfiguration, logger: logger)

                var runnerConfiguration = JobRunner.Configuration(logDirectory: "\(stateDir)/jobs", operatorExecutable: JobRunnerCommand.currentExecutable())
                if var container {
                    container.apiServerPort = port
                    runnerConfiguration.container = container
                } else {
                    runnerConfiguration.serviceAccountCredentials = .init(
                        server: "https://127.0.0.1:\(port)", certificateAuthorityPEM: server.tlsIdentity?.caPEM, directory: "\(stateDir)/pods")
                }
                runnerConfiguration.retryBackoff = .seconds(1)
                let runner = JobRunner(api: cluster, configuration: runnerConfiguration, logger: logger)

                FileHandle.standardOutput.write(Data("""

                    db-operator dev is running (Ctrl-C stops it).
                      Kubernetes API  https://127.0.0.1:\(port)
                      kubeconfig      \(kubeconfigOut)
                      objects kept in \(server.configuration.dataDirectory ?? "memory only (--ephemeral)")
                      drivers         \(operatorConfiguration.knownDrivers.sorted().joined(separator: ", "))
                      Job logs        \(stateDir)/jobs
                      Jobs run as     \(container == nil ? "local processes" : "containers of the image (runc)"), service account \(DeployManifests.driverServiceAccount)
                      authorization   \(server.configuration.authorization.rawValue)\(server.configuration.authorization == .rbac ? " (deploy/rbac.yaml; Databases that name their own server need the Jobs' account in their namespace: Fixtures/dev-driver-account.yaml)" : "")
                    Try (README.md, "Quick start"):
                      export KUBECONFIG=\(kubeconfigOut)
                      kubectl create secret generic pg-admin --from-literal=password=dbop-rds-pw
                      kubectl create secret generic mysql-admin --from-literal=password=dbop-rds-pw
                      kubectl create secret generic s3-creds --from-literal=accessKeyId=dbopaccesskey --from-literal=secretAccessKey=dbop-secret-key-0123456789
                      kubectl apply -f Fixtures/dev-driver-account.yaml
                      kubectl apply -f Fixtures/dev/
                      kubectl get databases,backups -w
                    Registered servers, tenants without admin passwords (README, "Multi-tenant"):
                      kubectl create secret generic pg-admin -n \(operatorNamespace) --from-literal=password=dbop-rds-pw   (and mysql-admin, s3-creds)
                      kubectl apply -f Fixtures/multi-tenant/10-servers.yaml
                      kubectl create namespace shop && kubectl label namespace shop db-operator.io/tenant=true
                      kubectl apply -n shop -f Fixtures/multi-tenant/20-databases.yaml


                    """.utf8))
                group.addTask { try await databaseOperator.run() }
                group.addTask { try await runner.run() }
                group.addTask { try await DefaultServiceAccounts(api: cluster, logger: logger).run() }
                try await group.next()
                group.cancelAll()
            } catch {
                group.cancelAll()
                try? await operatorAPI?.shutdown()
                try? await cluster.shutdown()
                throw error
            }
            try? await operatorAPI?.shutdown()
            try? await cluster.shutdown()
        }
    }

    /// Installs (or updates) the CRDs and waits until they are served.
    static func installCRDs(_ api: HTTPKubernetesClient) async throws {
        for crd in CustomResourceDefinitions.all {
            do {
                _ = try await api.create(crd)
            } catch let error as KubeError where error.code == .alreadyExists {
                let current = try await api.get(CustomResourceDefinition.self, namespace: nil, name: crd.metadata.name ?? "")
                var updated = current.object
                updated.spec = crd.spec
                _ = try await api.update(current, to: updated)
            }
        }
        for _ in 0..<200 {
            if try await api.list(CustomResourceDefinition.self, namespace: nil).allSatisfy({ $0.object.isEstablished }) { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ValidationError("the CRDs did not become established")
    }
}

extension AuthorizationMode: ExpressibleByArgument {}
