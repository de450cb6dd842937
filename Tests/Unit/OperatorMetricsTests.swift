import Foundation
import KubeModel
import KubeRuntime
import Operator
import TestSupport
import Testing

/// The per-Database backup figures at `/metrics`: what "no backup in 26 hours" and
/// "backups failing" alerts read.
@Suite("Operator metrics: backups per Database")
struct OperatorMetricsTests {
    static let started = Date(timeIntervalSince1970: 1_800_000_000)
    static let shopOrders = ObjectKey(namespace: "shop", name: "orders")

    static func backup(
        _ name: String, database: String = "orders", phase: BackupPhase, startedAt: Date? = nil, completedAt: Date?, size: Int64? = nil, reason: Reason? = nil
    ) -> Backup {
        var status = BackupStatus()
        status.phase = phase
        status.startedAt = startedAt.map(KubeTime.format)
        status.completedAt = completedAt.map(KubeTime.format)
        status.size = size
        if let reason { status.conditions = [Condition(type: "Ready", status: "False", reason: reason, message: "m", lastTransitionTime: "")] }
        var metadata = ObjectMeta(name: name, namespace: "shop")
        metadata.uid = "uid-\(name)"
        return Backup(metadata: metadata, spec: BackupSpec(database: database), status: status)
    }

    /// The samples of the exposition, by "name{labels}".
    static func samples(_ metrics: OperatorMetrics) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in metrics.render().split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }

    static func series(_ name: String, _ database: String = "orders", reason: String? = nil) -> String {
        "\(name){namespace=\"shop\",database=\"\(database)\"\(reason.map { ",reason=\"\($0)\"" } ?? "")}"
    }

    @Test("the newest Completed Backup gives time, duration and size; an older one seen later changes nothing")
    func lastSuccess() {
        let metrics = OperatorMetrics(now: Self.started)
        metrics.observe(database: Self.shopOrders, creationTimestamp: KubeTime.format(Self.started), expectsBackups: true)
        let t = Self.started.addingTimeInterval(3600)
        metrics.observe(backup: Self.backup("b2", phase: .completed, startedAt: t.addingTimeInterval(-42), completedAt: t, size: 1107))
        metrics.observe(backup: Self.backup("b1", phase: .completed, startedAt: t.addingTimeInterval(-900), completedAt: t.addingTimeInterval(-600), size: 5))
        metrics.observe(backup: Self.backup("b3", phase: .backingUp, completedAt: nil))
        let samples = Self.samples(metrics)
        #expect(samples[Self.series("db_operator_backup_last_success_timestamp_seconds")] == t.timeIntervalSince1970)
        #expect(samples[Self.series("db_operator_backup_last_success_duration_seconds")] == 42)
        #expect(samples[Self.series("db_operator_backup_last_success_size_bytes")] == 1107)
        #expect(samples[Self.series("db_operator_backup_expected_since_timestamp_seconds")] == Self.started.timeIntervalSince1970)
        #expect(metrics.render().contains("# HELP db_operator_backup_last_success_timestamp_seconds"))
    }

    @Test("a failure is counted once per Backup, by reason, and only if it failed after the operator started")
    func failures() {
        let metrics = OperatorMetrics(now: Self.started)
        metrics.observe(database: Self.shopOrders, creationTimestamp: nil, expectsBackups: true)
        let failed = Self.backup("f1", phase: .failed, completedAt: Self.started.addingTimeInterval(5), reason: "ToolFailed")
        metrics.observe(backup: failed)
        metrics.observe(backup: failed)
        metrics.observe(backup: Self.backup("f2", phase: .failed, completedAt: Self.started.addingTimeInterval(9), reason: "StoreUnreachable"))
        metrics.observe(backup: Self.backup("old", phase: .failed, completedAt: Self.started.addingTimeInterval(-60), reason: "ToolFailed"))
        let samples = Self.samples(metrics)
        #expect(samples[Self.series("db_operator_backup_failures_total", reason: "ToolFailed")] == 1)
        #expect(samples[Self.series("db_operator_backup_failures_total", reason: "StoreUnreachable")] == 1)
        #expect(samples[Self.series("db_operator_backup_expected_since_timestamp_seconds")] == nil, "no creation time, no expectation")
    }

    @Test("only Databases that exist have series: a gone Database's go, and a Backup seen after it does not bring them back")
    func forget() {
        let metrics = OperatorMetrics(now: Self.started)
        let t = Self.started.addingTimeInterval(60)
        metrics.observe(backup: Self.backup("early", phase: .completed, completedAt: t, size: 1))
        #expect(Self.samples(metrics)[Self.series("db_operator_backup_last_success_size_bytes")] == nil, "not before its Database is seen")
        metrics.observe(database: Self.shopOrders, creationTimestamp: KubeTime.format(Self.started), expectsBackups: true)
        metrics.observe(backup: Self.backup("b1", phase: .completed, completedAt: t, size: 1))
        metrics.observe(backup: Self.backup("f1", phase: .failed, completedAt: t, reason: "ToolFailed"))
        metrics.observe(database: ObjectKey(namespace: "shop", name: "plain"), creationTimestamp: KubeTime.format(Self.started), expectsBackups: false)
        #expect(Self.samples(metrics)[Self.series("db_operator_backup_expected_since_timestamp_seconds", "plain")] == nil, "no backup target, nothing expected")
        #expect(Self.samples(metrics).keys.contains { $0.contains("database=\"orders\"") })

        metrics.forget(database: Self.shopOrders)
        metrics.observe(backup: Self.backup("final", phase: .completed, completedAt: t.addingTimeInterval(60), size: 9))
        #expect(!Self.samples(metrics).keys.contains { $0.contains("database=\"orders\"") }, "\(metrics.render())")

        // A backup target removed: the expectation goes.
        let shop = ObjectKey(namespace: "shop", name: "cart")
        metrics.observe(database: shop, creationTimestamp: KubeTime.format(Self.started), expectsBackups: true)
        #expect(Self.samples(metrics)[Self.series("db_operator_backup_expected_since_timestamp_seconds", "cart")] != nil)
        metrics.observe(database: shop, creationTimestamp: KubeTime.format(Self.started), expectsBackups: false)
        #expect(Self.samples(metrics)[Self.series("db_operator_backup_expected_since_timestamp_seconds", "cart")] == nil)
    }

    @Test("every attempt of a Kubernetes API request is counted by method and status, and the ones tried again also as retries")
    func apiRequests() {
        let metrics = OperatorMetrics(now: Self.started)
        metrics.record(request: .init(method: "GET", status: 429, retrying: true))
        metrics.record(request: .init(method: "GET", status: 200, retrying: false))
        metrics.record(request: .init(method: "GET", status: 200, retrying: false))
        metrics.record(request: .init(method: "POST", status: nil, retrying: true))
        metrics.record(request: .init(method: "POST", status: 500, retrying: false))
        let samples = Self.samples(metrics)
        #expect(samples[#"db_operator_api_requests_total{method="GET",code="429"}"#] == 1)
        #expect(samples[#"db_operator_api_requests_total{method="GET",code="200"}"#] == 2)
        #expect(samples[#"db_operator_api_requests_total{method="POST",code="none"}"#] == 1)
        #expect(samples[#"db_operator_api_requests_total{method="POST",code="500"}"#] == 1)
        #expect(samples[#"db_operator_api_request_retries_total{method="GET",code="429"}"#] == 1)
        #expect(samples[#"db_operator_api_request_retries_total{method="POST",code="none"}"#] == 1)
        #expect(samples[#"db_operator_api_request_retries_total{method="GET",code="200"}"#] == nil)
        #expect(samples[#"db_operator_api_request_retries_total{method="POST",code="500"}"#] == nil)
    }
}
