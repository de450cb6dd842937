import ArgumentParser
import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging
import Operator
import ServiceLifecycle

/// `db-operator run`: the operator.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the operator: watch Databases, Backups and Jobs, and create the Jobs that do the work.")

    @OptionGroup var client: ClientOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Namespace to watch (default: all).")
    var namespace: String?

    @Flag(help: "Run only while holding the Lease db-operator-leader (for more than one replica).")
    var leaderElect = false

    @Option(help: "Namespace of the leader-election Lease.")
    var leaderElectionNamespace = "default"

    @Option(help: "Image of the driver Jobs (default: $DB_OPERATOR_JOB_IMAGE, which deploy/ sets to the operator's own image, else ghcr.io/db-operator/db-operator:latest).")
    var jobImage: String?

    @Option(help: "Service account of the driver Jobs.")
    var jobServiceAccount: String?

    @Option(help: "Variables given to every driver Job, as NAME=VALUE (repeatable).")
    var jobEnv: [String] = []

    @Option(help: "A Secret whose keys every driver Job gets as variables (envFrom, optional; repeatable): e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Read in the Job's namespace: the operator's for Databases on a DatabaseServer.")
    var jobEnvFromSecret: [String] = []

    @Option(help: "Seconds before a failed Job is retried; doubles per failure up to 600.")
    var jobRetryBase: Double = 10

    @Option(help: "How long a Job of an operation may run, as OPERATION=SECONDS (create, delete, backup, backup-before-delete; repeatable). Defaults: 600 to create or delete, 21600 to back up.")
    var jobDeadline: [String] = []

    @Option(help: "Databases reconciled at once.")
    var maxConcurrent = 8

    @Option(help: "Serve /metrics, /healthz and /readyz on HOST:PORT (e.g. :8080); off when not given.")
    var metricsAddr: String?

    @Option(help: "The operator's namespace: Jobs of Databases on a DatabaseServer run here, and DatabaseServers' Secrets are read from here.")
    var operatorNamespace = "db-operator"

    @Option(help: "Seconds between probes of a usable DatabaseServer (one that fails is probed again after 30 s).")
    var serverProbeInterval: Double = 600

    @Option(help: "Directory of the test driver's state. Registers the driver \"test\", which needs no database server; for tests and demos only.")
    var enableTestDriver: String?

    func run() async throws {
        let logger = logging.makeLogger(label: "db-operator", defaultFormat: .json)
        let metrics = OperatorMetrics()
        let api = try client.makeClient(logger: logger) { metrics.record(request: $0) }
        var configuration = DatabaseOperator.Configuration()
        configuration.namespace = namespace
        configuration.operatorNamespace = operatorNamespace
        guard serverProbeInterval > 0 else { throw ValidationError("--server-probe-interval must be more than 0") }
        configuration.serverProbeInterval = serverProbeInterval
        configuration.maxConcurrent = maxConcurrent
        configuration.retry = RetryPolicy(base: jobRetryBase, max: 600)
        configuration.jobTemplate.image = jobImage ?? ProcessInfo.processInfo.environment["DB_OPERATOR_JOB_IMAGE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "ghcr.io/db-operator/db-operator:latest"
        configuration.jobTemplate.serviceAccountName = jobServiceAccount
        for entry in jobEnv {
            guard let equals = entry.firstIndex(of: "=") else { throw ValidationError("--job-env \(entry): expected NAME=VALUE") }
            configuration.jobTemplate.environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        for name in configuration.jobTemplate.environment.keys where ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"].contains(name) {
            logger.warning("--job-env \(name)=... puts a secret into every Job, readable by anyone who may get Jobs: give it with --job-env-from-secret instead")
        }
        for name in jobEnvFromSecret {
            guard !name.isEmpty, !name.contains("/") else { throw ValidationError("--job-env-from-secret \(name): expected a Secret name") }
        }
        configuration.jobTemplate.environmentFromSecrets = jobEnvFromSecret
        for entry in jobDeadline {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let operation = DatabaseOperation(rawValue: parts[0]), let seconds = Int(parts[1]), seconds > 0 else {
                throw ValidationError("--job-deadline \(entry): expected OPERATION=SECONDS with OPERATION one of \(DatabaseOperation.allCases.map(\.rawValue).joined(separator: ", ")) and SECONDS > 0")
            }
            configuration.jobTemplate.activeDeadlines[operation] = seconds
        }
        if let root = enableTestDriver {
            configuration.jobTemplate.environment[TestDriverSwitch.environmentKey] = root
        }
        configuration.knownDrivers = Set(DriverRegistration.registry(testDriverRoot: enableTestDriver).names)
        let operatorService = DatabaseOperator(api: api, configuration: configuration, logger: logger, metrics: metrics)
        let service: any Service
        if leaderElect {
            let identity = ProcessInfo.processInfo.environment["POD_NAME"] ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
            let elector = LeaderElector(
                api: api, configuration: .init(leaseName: "db-operator-leader", namespace: leaderElectionNamespace, identity: identity), logger: logger)
            service = LeaderElected(elector: elector, service: operatorService, metrics: operatorService.metrics)
        } else {
            service = operatorService
        }
        var services: [any Service] = [service]
        if let metricsAddr {
            guard let colon = metricsAddr.lastIndex(of: ":"), let port = Int(metricsAddr[metricsAddr.index(after: colon)...]) else {
                throw ValidationError("--metrics-addr \(metricsAddr): expected HOST:PORT or :PORT")
            }
            let host = metricsAddr[..<colon].isEmpty ? "0.0.0.0" : String(metricsAddr[..<colon])
            services.append(MetricsServer(host: host, port: port, metrics: operatorService.metrics, logger: logger))
        }
        logger.info("operator starting", metadata: ["drivers": "\(configuration.knownDrivers.sorted())", "namespace": "\(namespace ?? "(all)")"])
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try await api.shutdown()
            throw error
        }
        try await api.shutdown()
    }
}

/// A service that runs only while its elector holds the lease. A replica standing by
/// counts as ready (`/readyz`): it is up and will take over, so a Deployment of two
/// rolls out.
struct LeaderElected: Service {
    let elector: LeaderElector
    let service: any Service
    let metrics: OperatorMetrics

    func run() async throws {
        metrics.isReady = true
        try await elector.run {
            defer { metrics.isReady = true }
            try await service.run()
        }
    }
}
