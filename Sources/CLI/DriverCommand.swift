import ArgumentParser
import DriverAPI
import Foundation
import KubeClient
import KubeModel
import Logging
import ObjectStore

/// `db-operator driver`: the entrypoint of a driver Job (SPEC section 4). Reads
/// `DB_OPERATOR_DATABASE`, `DB_OPERATOR_NAMESPACE`, `DB_OPERATOR_OPERATION` and
/// `DB_OPERATOR_BACKUP` (and `DB_OPERATOR_OPERATOR_NAMESPACE` for a Database on a
/// DatabaseServer), and runs the operation to its end; operation `probe` with
/// `DB_OPERATOR_SERVER` probes a DatabaseServer instead.
struct DriverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "driver", abstract: "Run one operation of the Driver API (the entrypoint of the operator's Jobs).")

    @OptionGroup var client: ClientOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Times a backup may be started before it fails for good.")
    var maxBackupAttempts = Self.defaultMaxBackupAttempts

    static let defaultMaxBackupAttempts = 3

    func run() async throws {
        try await Self.run(
            kubeconfig: client.kubeconfig, context: client.context, logLevel: logging.logLevel, logFormat: logging.logFormat ?? .text,
            maxBackupAttempts: maxBackupAttempts)
    }

    /// The options' defaults, which a Job's `db-operator driver` runs with.
    static func runWithDefaults() async throws {
        try await run(kubeconfig: nil, context: nil, logLevel: LoggingOptions.defaultLevel, logFormat: .text, maxBackupAttempts: defaultMaxBackupAttempts)
    }

    private static func run(
        kubeconfig: String?, context: String?, logLevel: Logger.Level, logFormat: LoggingOptions.LogFormat, maxBackupAttempts: Int
    ) async throws {
        MemoryTuning.returnLargeBuffersToTheSystem()
        let environment = ProcessInfo.processInfo.environment
        var logger = LoggingOptions.makeLogger(label: "db-operator-driver", level: logLevel, format: logFormat)
        // The operator passes its Jobs a level through the environment (`--job-env`).
        if let level = environment["DB_OPERATOR_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) { logger.logLevel = level }
        let testRoot = environment[TestDriverSwitch.environmentKey]
        if environment["DB_OPERATOR_OPERATION"] == "probe" {
            guard let server = environment["DB_OPERATOR_SERVER"], let operatorNamespace = environment["DB_OPERATOR_OPERATOR_NAMESPACE"] else {
                throw ValidationError("a probe needs DB_OPERATOR_SERVER and DB_OPERATOR_OPERATOR_NAMESPACE")
            }
            let api = try ClientOptions.makeClient(kubeconfig: kubeconfig, context: context, logger: logger)
            let probe = ServerProbe(
                api: api, server: server, operatorNamespace: operatorNamespace, drivers: DriverRegistration.registry(testDriverRoot: testRoot), logger: logger)
            do {
                try await probe.run()
            } catch {
                try? await api.shutdown()
                logger.error("probe failed", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
            try await api.shutdown()
            return
        }
        guard let database = environment["DB_OPERATOR_DATABASE"], let namespace = environment["DB_OPERATOR_NAMESPACE"],
            let operationName = environment["DB_OPERATOR_OPERATION"]
        else {
            throw ValidationError("DB_OPERATOR_DATABASE, DB_OPERATOR_NAMESPACE and DB_OPERATOR_OPERATION must be set")
        }
        guard let operation = DatabaseOperation(rawValue: operationName) else {
            throw ValidationError("DB_OPERATOR_OPERATION \(operationName) is not one of \(DatabaseOperation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var configuration = DriverRuntime.Configuration(namespace: namespace, database: database, operation: operation, backup: environment["DB_OPERATOR_BACKUP"].flatMap { $0.isEmpty ? nil : $0 })
        configuration.maxBackupAttempts = environment["DB_OPERATOR_MAX_BACKUP_ATTEMPTS"].flatMap(Int.init) ?? maxBackupAttempts
        configuration.clusterID = environment["DB_OPERATOR_CLUSTER_ID"] ?? ""
        configuration.operatorNamespace = environment["DB_OPERATOR_OPERATOR_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 }
        if let interval = environment["DB_OPERATOR_PROGRESS_INTERVAL_MS"].flatMap(Int64.init) {
            configuration.progressInterval = .milliseconds(interval)
        }
        if let root = testRoot {
            // Tests stop the process right after a chosen transition, once per marker file.
            configuration.afterTransition = { transition in
                CrashMarkers.crashIfMarked(root: root, namespace: namespace, database: database, transition: transition.rawValue)
            }
        }
        let api = try ClientOptions.makeClient(kubeconfig: kubeconfig, context: context, logger: logger)
        let storeLogger = logger
        let runtime = DriverRuntime(
            api: api, configuration: configuration, drivers: DriverRegistration.registry(testDriverRoot: testRoot), logger: logger,
            environment: environment
        ) { location, access in
            var store = S3ObjectStore.Configuration(endpoint: location.endpoint, region: location.region, bucket: location.bucket, credentials: access.credentials)
            store.forcePathStyle = location.forcePathStyle
            store.webIdentity = access.webIdentity
            store.certificateAuthorityPEM = access.certificateAuthorityPEM
            return try S3ObjectStore(configuration: store, logger: storeLogger)
        }
        do {
            try await runtime.run()
        } catch {
            try? await api.shutdown()
            logger.error("driver failed", metadata: ["error": "\(error)"])
            throw ExitCode(error is RuntimeFailure && (error as! RuntimeFailure).terminal ? 2 : 1)
        }
        try await api.shutdown()
    }
}

/// One-shot crash points for recovery tests (test driver only): a file
/// `<root>/crash/<namespace>_<database>.<transition>` makes the driver exit abruptly
/// right after writing that transition, once; a number N in it skips N-1 writes first.
enum CrashMarkers {
    static func crashIfMarked(root: String, namespace: String, database: String, transition: String) {
        let path = "\(root)/crash/\(namespace)_\(database).\(transition)"
        guard let contents = FileManager.default.contents(atPath: path) else { return }
        if let count = Int(String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), count > 1 {
            try? String(count - 1).write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        guard (try? FileManager.default.removeItem(atPath: path)) != nil else { return }
        FileHandle.standardError.write(Data("test crash after \(transition)\n".utf8))
        exit(137)
    }
}
