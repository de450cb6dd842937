import ArgumentParser
import Foundation
import JobRunner
import KubeClient
import Logging
import ServiceLifecycle

/// `db-operator job-runner`: runs Jobs as local processes (development and tests).
struct JobRunnerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job-runner",
        abstract: "Run Kubernetes Jobs as local processes and write their status as the job controller would.")

    @OptionGroup var client: ClientOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Namespace whose Jobs to run (default: all).")
    var namespace: String?

    @Option(help: "Directory for the pods' log files.")
    var logDir = "/tmp/db-operator-jobs"

    @Option(help: "Image repository whose containers run this db-operator binary.")
    var operatorImage = "ghcr.io/db-operator/db-operator"

    @Option(help: "Kubeconfig given to the processes (as KUBECONFIG), e.g. one with the Jobs' own user.")
    var jobKubeconfig: String?

    @Flag(help: "Run each pod as its service account, as a kubelet does: a token from the TokenRequest API (needs create on serviceaccounts/token), in a kubeconfig of its own (KUBECONFIG) for the same server. Instead of --job-kubeconfig.")
    var serviceAccountTokens = false

    @Option(help: "How pods run: process (the container's command as a local process) or runc (a container of --image, as a kubelet would run it; needs root).")
    var runtime: Runtime = .process

    @Option(help: "With --runtime runc: the OCI archive of the image (ci/image.sh build writes .build/image/db-operator.oci.tar).")
    var image = ".build/image/db-operator.oci.tar"

    @Option(help: "With --runtime runc: the runc program.")
    var runc = "runc"

    @Option(help: "With --runtime runc: runc's state directory.")
    var runcRoot = "/run/db-operator-runc"

    enum Runtime: String, ExpressibleByArgument { case process, runc }

    @Option(help: "Seconds before the first retry of a failed pod (doubling per failure, as the job controller does).")
    var retryBackoff: Double = 10

    func run() async throws {
        let logger = logging.makeLogger(label: "job-runner")
        let api = try client.makeClient(logger: logger)
        var configuration = JobRunner.Configuration(logDirectory: logDir, operatorExecutable: Self.currentExecutable())
        configuration.namespace = namespace
        configuration.operatorImage = operatorImage
        configuration.retryBackoff = .milliseconds(Int64(retryBackoff * 1000))
        if let jobKubeconfig { configuration.environment["KUBECONFIG"] = jobKubeconfig }
        if serviceAccountTokens {
            guard jobKubeconfig == nil else { throw ValidationError("--service-account-tokens and --job-kubeconfig exclude each other") }
            let own = api.configuration
            configuration.serviceAccountCredentials = .init(
                server: own.server, certificateAuthorityPEM: own.certificateAuthorityPEM, directory: "\(logDir)/serviceaccounts")
        }
        if runtime == .runc {
            guard jobKubeconfig == nil, !serviceAccountTokens else {
                throw ValidationError("--runtime runc gives each pod its service account's token itself; drop --job-kubeconfig and --service-account-tokens")
            }
            let own = api.configuration
            guard let server = URL(string: own.server), let host = server.host, let port = server.port, let ca = own.certificateAuthorityPEM else {
                throw ValidationError("--runtime runc needs a kubeconfig with an https://HOST:PORT server and its CA (the containers reach the API server there)")
            }
            logger.info("unpacking the image", metadata: ["image": "\(image)"])
            let unpacked = try ContainerRuntime.unpack(archive: image, into: "\(logDir)/image")
            var container = ContainerRuntime(image: unpacked, bundleDirectory: "\(logDir)/bundles", apiServerHost: host, apiServerPort: port, certificateAuthorityPEM: ca)
            container.stateRoot = runcRoot
            container.runc = runc
            configuration.container = container
        }
        let runner = JobRunner(api: api, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [runner], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try await api.shutdown()
            throw error
        }
        try await api.shutdown()
    }

    /// This binary's path, for containers of the operator's image.
    static func currentExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
