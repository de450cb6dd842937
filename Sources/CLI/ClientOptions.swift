import ArgumentParser
import Foundation
import KubeClient
import Logging

/// How a subcommand reaches the Kubernetes API: a kubeconfig, else in-cluster.
struct ClientOptions: ParsableArguments {
    @Option(help: "Path of a kubeconfig (default: $KUBECONFIG, else the in-cluster service account).")
    var kubeconfig: String?

    @Option(help: "Context of the kubeconfig to use (default: its current-context).")
    var context: String?

    func makeClient(logger: Logger, observer: (@Sendable (HTTPKubernetesClient.RequestOutcome) -> Void)? = nil) throws -> HTTPKubernetesClient {
        try Self.makeClient(kubeconfig: kubeconfig, context: context, logger: logger, observer: observer)
    }

    /// The client of these options' values (`nil`: their defaults).
    static func makeClient(
        kubeconfig: String?, context: String?, logger: Logger, observer: (@Sendable (HTTPKubernetesClient.RequestOutcome) -> Void)? = nil
    ) throws -> HTTPKubernetesClient {
        let path = kubeconfig ?? ProcessInfo.processInfo.environment["KUBECONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let configuration = try path.map { try KubeClientConfiguration.kubeconfig(path: $0, context: context) }
            ?? KubeClientConfiguration.inCluster()
        return try HTTPKubernetesClient(configuration: configuration, logger: logger, observer: observer)
    }
}

/// Log level and format of a long-running subcommand.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = Self.defaultLevel

    static let defaultLevel = Logger.Level.info

    @Option(help: "Log format: text, or json (one object per line; the default of `run`).")
    var logFormat: LogFormat?

    enum LogFormat: String, ExpressibleByArgument { case text, json }

    func makeLogger(label: String, defaultFormat: LogFormat = .text) -> Logger {
        Self.makeLogger(label: label, level: logLevel, format: logFormat ?? defaultFormat)
    }

    /// A logger of this level and format.
    static func makeLogger(label: String, level logLevel: Logger.Level, format: LogFormat) -> Logger {
        var logger: Logger
        switch format {
        case .text: logger = Logger(label: label)
        case .json: logger = Logger(label: label) { JSONLogHandler(label: $0) }
        }
        logger.logLevel = logLevel
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
