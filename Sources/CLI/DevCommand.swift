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

    func run() async throws {
        let logger = logging.makeLogger(label: "db-operator-dev")
        var serverConfiguration = FakeAPIServer.Configuration()
        serverConfiguration.port = port
        serverConfiguration.dataDirectory = ephemeral ? nil : (dataDir ?? "\(stateDir)/apiserver")
        serverConfiguration.tokens = [
            FakeAPIServer.randomToken(): "admin", FakeAPIServer.randomToken(): "db-operator", FakeAPIServer.randomToken(): "db-operator-job",
        ]
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
/// CRDs, then the operator and the job runner.
struct DevEnvironment: Service {
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
            let operatorConfig = "\(stateDir)/operator.kubeconfig", jobConfig = "\(stateDir)/job.kubeconfig"
            try server.writeKubeconfig(to: operatorConfig, user: "db-operator")
            try server.writeKubeconfig(to: jobConfig, user: "db-operator-job")
            var clientConfiguration = try KubeClientConfiguration.kubeconfig(path: operatorConfig)
            clientConfiguration.initialBackoff = .milliseconds(50)
            let api = try HTTPKubernetesClient(configuration: clientConfiguration, logger: logger)
            do {
                try await Self.installCRDs(api)
                // The operator's namespace: DatabaseServers' Secrets and their Databases' Jobs.
                let operatorNamespace = DatabaseOperator.Configuration().operatorNamespace
                do {
                    _ = try await api.create(Namespace(metadata: ObjectMeta(name: operatorNamespace)))
                } catch let error as KubeError where error.code == .alreadyExists {}

                var operatorConfiguration = DatabaseOperator.Configuration()
                operatorConfiguration.retry = RetryPolicy(base: retryBase, max: 600)
                operatorConfiguration.knownDrivers = Set(DriverRegistration.registry(testDriverRoot: testDriverRoot).names)
                if let root = testDriverRoot { operatorConfiguration.jobTemplate.environment[TestDriverSwitch.environmentKey] = root }
                let databaseOperator = DatabaseOperator(api: api, configuration: operatorConfiguration, logger: logger)

                var runnerConfiguration = JobRunner.Configuration(logDirectory: "\(stateDir)/jobs", operatorExecutable: JobRunnerCommand.currentExecutable())
                if var container {
                    container.apiServerPort = port
                    runnerConfiguration.container = container
                } else {
                    runnerConfiguration.environment["KUBECONFIG"] = jobConfig
                }
                runnerConfiguration.retryBackoff = .seconds(1)
                let runner = JobRunner(api: api, configuration: runnerConfiguration, logger: logger)

                FileHandle.standardOutput.write(Data("""

                    db-operator dev is running (Ctrl-C stops it).
                      Kubernetes API  https://127.0.0.1:\(port)
                      kubeconfig      \(kubeconfigOut)
                      objects kept in \(server.configuration.dataDirectory ?? "memory only (--ephemeral)")
                      drivers         \(operatorConfiguration.knownDrivers.sorted().joined(separator: ", "))
                      Job logs        \(stateDir)/jobs
                      Jobs run as     \(container == nil ? "local processes" : "containers of the image (runc)")
                    Try (README.md, "Quick start"):
                      export KUBECONFIG=\(kubeconfigOut)
                      kubectl create secret generic pg-admin --from-literal=password=dbop-rds-pw
                      kubectl create secret generic mysql-admin --from-literal=password=dbop-rds-pw
                      kubectl create secret generic s3-creds --from-literal=accessKeyId=dbopaccesskey --from-literal=secretAccessKey=dbop-secret-key-0123456789
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
                if container != nil { group.addTask { try await DefaultServiceAccounts(api: api, logger: logger).run() } }
                try await group.next()
                group.cancelAll()
            } catch {
                group.cancelAll()
                try? await api.shutdown()
                throw error
            }
            try? await api.shutdown()
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
