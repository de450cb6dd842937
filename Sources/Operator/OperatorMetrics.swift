import Synchronization

/// What the operator counts, served at `/metrics` in the Prometheus text format:
/// decisions by kind, Jobs created by operation, reconcile errors.
public final class OperatorMetrics: Sendable {
    private struct State {
        var decisions: [String: Int] = [:]
        var jobsCreated: [String: Int] = [:]
        var reconcileErrors = 0
        var expired = 0
        var ready = false
    }

    private let state = Mutex(State())

    public init() {}

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
        state.withLock { $0.decisions[kind, default: 0] += 1 }
    }

    func recordJobCreated(_ operation: String) { state.withLock { $0.jobsCreated[operation, default: 0] += 1 } }

    func recordReconcileError() { state.withLock { $0.reconcileErrors += 1 } }

    func recordExpired() { state.withLock { $0.expired += 1 } }

    /// Ready once the controllers run.
    public var isReady: Bool {
        get { state.withLock { $0.ready } }
        set { state.withLock { $0.ready = newValue } }
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String {
        let snapshot = state.withLock { $0 }
        var lines = [
            "# HELP db_operator_decisions_total Decisions of the operator, by kind.",
            "# TYPE db_operator_decisions_total counter",
        ]
        for (kind, count) in snapshot.decisions.sorted(by: { $0.key < $1.key }) {
            lines.append("db_operator_decisions_total{decision=\"\(kind)\"} \(count)")
        }
        lines += [
            "# HELP db_operator_jobs_created_total Driver Jobs created, by operation.",
            "# TYPE db_operator_jobs_created_total counter",
        ]
        for (operation, count) in snapshot.jobsCreated.sorted(by: { $0.key < $1.key }) {
            lines.append("db_operator_jobs_created_total{operation=\"\(operation)\"} \(count)")
        }
        lines += [
            "# HELP db_operator_reconcile_errors_total Reconciles that failed and were retried.",
            "# TYPE db_operator_reconcile_errors_total counter",
            "db_operator_reconcile_errors_total \(snapshot.reconcileErrors)",
            "# HELP db_operator_databases_expired_total Databases deleted because their spec.ttl ran out.",
            "# TYPE db_operator_databases_expired_total counter",
            "db_operator_databases_expired_total \(snapshot.expired)",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
