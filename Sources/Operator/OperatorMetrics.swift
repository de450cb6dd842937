import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Prometheus
import Synchronization

/// What the operator counts, served at `/metrics` in the Prometheus text format
/// (swift-prometheus's registry, used directly: it writes the HELP lines that the
/// swift-metrics facade has no place for). Decisions, Jobs created, reconcile errors,
/// expired Databases, the Kubernetes API requests and their retries, and per Database
/// what "no backup in 26 hours" alerts need: the last successful backup's time,
/// duration and size, since when a backup is expected, and failed backups by reason.
///
/// Backup figures come from the Backups themselves (their `completedAt`, `startedAt`,
/// `size`), so a restarted operator shows the same values; a failure is counted once
/// per Backup, and only if it failed after this process started (a restart does not
/// count old failures again). Only Databases that exist have series: theirs go
/// when they do.
public final class OperatorMetrics: Sendable {
    /// Where every metric lives; `render()` writes it.
    public let registry = PrometheusCollectorRegistry()
    private let started: Date

    private struct LastSuccess {
        var completed: Date
        var uid: String
    }

    private struct State {
        var ready = false
        var lastSuccess: [ObjectKey: LastSuccess] = [:]
        /// Per Database: the UIDs of the failed Backups counted, and the reasons with a series.
        var countedFailures: [ObjectKey: Set<String>] = [:]
        var failureReasons: [ObjectKey: Set<String>] = [:]
        var expected: Set<ObjectKey> = []
        /// Databases seen and not gone: only theirs get series (a Backup seen after its
        /// Database went would otherwise bring them back for good).
        var live: Set<ObjectKey> = []
    }

    private let state = Mutex(State())

    /// A metric's name and HELP line (the registry wants the same help every time).
    struct Metric {
        let name: String
        let help: String
    }

    static let decisions = Metric(name: "db_operator_decisions_total", help: "Decisions of the operator, by kind.")
    static let jobsCreated = Metric(name: "db_operator_jobs_created_total", help: "Driver Jobs created, by operation.")
    static let reconcileErrors = Metric(name: "db_operator_reconcile_errors_total", help: "Reconciles that failed and were retried.")
    static let expired = Metric(name: "db_operator_databases_expired_total", help: "Databases deleted because their spec.ttl ran out.")
    static let lastSuccessTime = Metric(
        name: "db_operator_backup_last_success_timestamp_seconds", help: "When the last successful backup of the Database completed (Unix seconds).")
    static let lastSuccessDuration = Metric(
        name: "db_operator_backup_last_success_duration_seconds", help: "How long the last successful backup of the Database took, in seconds.")
    static let lastSuccessSize = Metric(name: "db_operator_backup_last_success_size_bytes", help: "Size of the last successful backup's object, in bytes.")
    static let expectedSince = Metric(
        name: "db_operator_backup_expected_since_timestamp_seconds",
        help: "Since when the Database, which has a backup target, should have backups: its creation (Unix seconds).")
    static let failures = Metric(name: "db_operator_backup_failures_total", help: "Backups that failed, by reason (counted when they fail).")
    static let apiRequests = Metric(
        name: "db_operator_api_requests_total",
        help: "Attempts of requests to the Kubernetes API, by method (WATCH: a watch opened) and HTTP status (none: no answer came).")
    static let apiRetries = Metric(
        name: "db_operator_api_request_retries_total",
        help: "Attempts of requests to the Kubernetes API that the client tried again (429; 5xx or no answer on GET, PUT, DELETE), by method and HTTP status.")

    private func counter(_ metric: Metric, _ labels: [(String, String)] = []) -> Counter {
        registry.makeCounter(name: metric.name, labels: labels, help: metric.help)
    }

    private func gauge(_ metric: Metric, _ key: ObjectKey) -> Gauge {
        registry.makeGauge(name: metric.name, labels: Self.labels(key), help: metric.help)
    }

    public init(now: Date = Date()) {
        started = now
        // Present from the start, at zero, so rate() sees the first increase.
        _ = counter(Self.reconcileErrors)
        _ = counter(Self.expired)
    }

    func record(_ decision: JobDecision) {
        let kind: String = switch decision {
        case .idle: "idle"
        case .waitForJob: "wait_for_job"
        case .createJob: "create_job"
        case .backoff: "backoff"
        case .invalidSpec: "invalid_spec"
        case .refused: "refused"
        case .deletionBlocked: "deletion_blocked"
        }
        counter(Self.decisions, [("decision", kind)]).increment()
    }

    func recordJobCreated(_ operation: String) {
        counter(Self.jobsCreated, [("operation", operation)]).increment()
    }

    func recordReconcileError() { counter(Self.reconcileErrors).increment() }

    /// Counts one attempt of a Kubernetes API request (`HTTPKubernetesClient`'s observer).
    public func record(request outcome: HTTPKubernetesClient.RequestOutcome) {
        let labels = [("method", outcome.method), ("code", outcome.status.map(String.init) ?? "none")]
        counter(Self.apiRequests, labels).increment()
        if outcome.retrying { counter(Self.apiRetries, labels).increment() }
    }

    func recordExpired() { counter(Self.expired).increment() }

    /// Ready once the controllers run.
    public var isReady: Bool {
        get { state.withLock { $0.ready } }
        set { state.withLock { $0.ready = newValue } }
    }

    /// The Database a Backup belongs to: its namespace and `spec.database`, or for a
    /// final Backup kept in the operator's namespace the ones its label and annotation name.
    static func databaseKey(of backup: Backup) -> ObjectKey {
        ObjectKey(
            namespace: backup.metadata.labels?[LabelKey.databaseNamespace] ?? backup.metadata.namespace,
            name: backup.metadata.annotations?[AnnotationKey.databaseName] ?? backup.spec.database)
    }

    private static func labels(_ key: ObjectKey) -> [(String, String)] { [("namespace", key.namespace ?? ""), ("database", key.name)] }

    /// Takes in a Backup as it is now: a Completed one newer than the last success
    /// becomes the last success; a Failed one is counted once.
    public func observe(backup: Backup) {
        let key = Self.databaseKey(of: backup)
        let uid = backup.metadata.uid ?? "\(key)/\(backup.metadata.name ?? "")"
        guard state.withLock({ $0.live.contains(key) }) else { return }
        switch backup.phase {
        case .completed?:
            guard let completed = backup.status?.completedAt.flatMap(KubeTime.parse) else { return }
            let newer = state.withLock { state in
                if let last = state.lastSuccess[key], last.completed > completed || last.uid == uid { return false }
                state.lastSuccess[key] = LastSuccess(completed: completed, uid: uid)
                return true
            }
            guard newer else { return }
            let started = backup.status?.startedAt.flatMap(KubeTime.parse) ?? completed
            gauge(Self.lastSuccessTime, key).set(completed.timeIntervalSince1970)
            gauge(Self.lastSuccessDuration, key).set(max(0, completed.timeIntervalSince(started)))
            gauge(Self.lastSuccessSize, key).set(Double(backup.status?.size ?? 0))
        case .failed?:
            let failed = backup.status?.completedAt.flatMap(KubeTime.parse) ?? Date()
            let reason = backup.status?.conditions?.first { $0.type == ConditionType.ready }?.reason.rawValue ?? "Unknown"
            let count = state.withLock { state in
                guard failed >= self.started, state.countedFailures[key, default: []].insert(uid).inserted else { return false }
                state.failureReasons[key, default: []].insert(reason)
                return true
            }
            if count {
                counter(Self.failures, Self.labels(key) + [("reason", reason)]).increment()
            }
        default:
            break
        }
    }

    /// Takes in a Database (its Backups' figures count from now on): with a backup
    /// target, backups are expected from its creation on.
    public func observe(database key: ObjectKey, creationTimestamp: String?, expectsBackups: Bool) {
        state.withLock { _ = $0.live.insert(key) }
        guard expectsBackups, let created = creationTimestamp.flatMap(KubeTime.parse) else {
            if state.withLock({ $0.expected.remove(key) }) != nil {
                registry.unregisterGauge(gauge(Self.expectedSince, key))
            }
            return
        }
        state.withLock { _ = $0.expected.insert(key) }
        gauge(Self.expectedSince, key).set(created.timeIntervalSince1970)
    }

    /// The Database is gone: its series go too (a per-run Database of a CI pipeline leaves nothing behind).
    public func forget(database key: ObjectKey) {
        let (hadSuccess, wasExpected, reasons) = state.withLock { state in
            let result = (state.lastSuccess.removeValue(forKey: key) != nil, state.expected.remove(key) != nil, state.failureReasons.removeValue(forKey: key) ?? [])
            state.countedFailures[key] = nil
            state.live.remove(key)
            return result
        }
        if hadSuccess {
            for metric in [Self.lastSuccessTime, Self.lastSuccessDuration, Self.lastSuccessSize] { registry.unregisterGauge(gauge(metric, key)) }
        }
        if wasExpected { registry.unregisterGauge(gauge(Self.expectedSince, key)) }
        for reason in reasons { registry.unregisterCounter(counter(Self.failures, Self.labels(key) + [("reason", reason)])) }
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String { registry.emitToString() }
}
