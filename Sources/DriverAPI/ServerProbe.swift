import DriverProtocol
import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging
import SQLSupport

/// The probe of a DatabaseServer (a Job the operator starts, `DB_OPERATOR_OPERATION=probe`):
/// logs in with the server's admin login, read from the operator's namespace, and
/// writes the result to the server's status — `Ready` (`Connected`, or the reason it
/// failed, as a Database's would be), `version`, `lastProbeTime`, `observedGeneration` —
/// with an Event when it fails. A failed probe is a result, not a failed Job: the
/// operator probes again on its schedule.
public struct ServerProbe: Sendable {
    let api: any KubernetesAPI
    let server: String
    let operatorNamespace: String
    let drivers: DriverRegistry
    let logger: Logger
    let events: EventRecorder

    public init(api: any KubernetesAPI, server: String, operatorNamespace: String, drivers: DriverRegistry, logger: Logger) {
        self.api = api
        self.server = server
        self.operatorNamespace = operatorNamespace
        self.drivers = drivers
        var logger = logger
        logger[metadataKey: "k8s.databaseserver"] = "\(server)"
        self.logger = logger
        events = EventRecorder(api: api, component: "db-operator-driver", logger: logger)
    }

    /// Probes and records the result; throws only when the result cannot be written.
    public func run() async throws {
        let resource: Resource<DatabaseServer>
        do {
            resource = try await api.get(DatabaseServer.self, namespace: nil, name: server)
        } catch let error as KubeError where error.code == .notFound {
            logger.info("the DatabaseServer is gone; nothing to probe")
            return
        }
        let outcome: Result<String, DriverError>
        do {
            outcome = .success(try await probe(resource.object))
        } catch {
            outcome = .failure(DriverRuntime.classify(error))
        }
        let ready: (String, Reason, String)
        switch outcome {
        case .success(let version):
            ready = ("True", .connected, "the admin login works; \(resource.object.spec.driver) \(version)")
            logger.info("probe succeeded", metadata: ["version": "\(version)"])
        case .failure(let error):
            ready = ("False", error.reason, error.message)
            logger.warning("probe failed", metadata: ["reason": "\(error.reason)", "error": "\(error.message)"])
            await events.record(resource.object, type: .warning, reason: error.reason, message: error.message)
        }
        for _ in 0..<10 {
            let current = try await api.get(DatabaseServer.self, namespace: nil, name: server)
            var modified = current.object
            var status = modified.status ?? DatabaseServerStatus()
            status.observedGeneration = resource.metadata.generation
            status.lastProbeTime = KubeTime.now()
            if case .success(let version) = outcome { status.version = version }
            status.conditions = DriverRuntime.setting(status.conditions, ready: ready, generation: resource.metadata.generation)
            modified.status = status
            do {
                _ = try await api.updateStatus(current, to: modified)
                return
            } catch let error as KubeError where error.code == .conflict {
                continue
            }
        }
        throw RuntimeFailure(reason: .conflict, message: "could not write the status of DatabaseServer \(server)")
    }

    private func probe(_ server: DatabaseServer) async throws -> String {
        let problems = server.validate(knownDrivers: Set(drivers.names))
        guard problems.isEmpty, let driver = drivers.driver(named: server.spec.driver) else {
            throw DriverError(reason: .invalidSpec, message: problems.map(\.description).joined(separator: "; "), retryable: false)
        }
        let secrets = SecretReader(api: api, namespace: operatorNamespace)
        let user = try await secrets.value(of: server.spec.credentials?.username, field: "spec.credentials.username")
        let password = try await secrets.value(of: server.spec.credentials?.password, field: "spec.credentials.password")
        let certificateAuthority = try await server.spec.connect.caSecret.asyncMap {
            try await secrets.value(of: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: $0, key: "ca.crt"))), field: "spec.connect.caSecret")
        }
        let instance = ConnectionSettings(
            host: server.spec.connect.host ?? "", port: server.spec.connect.port ?? driver.defaultPort, user: user, password: password,
            tlsMode: DriverRuntime.tlsMode(server.spec.connect.sslMode), certificateAuthorityPEM: certificateAuthority)
        return try await driver.probe(instance)
    }
}
