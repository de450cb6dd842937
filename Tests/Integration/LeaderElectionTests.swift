import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Synchronization
import Testing

@Suite("Leader election on a Lease")
struct LeaderElectionTests {
    private func configuration(_ identity: String) -> LeaderElector.Configuration {
        var configuration = LeaderElector.Configuration(leaseName: "db-operator", namespace: "default", identity: identity)
        // Far wider than this test needs (a hand-over here is a release, never an
        // expiry): the whole test run shares two cores, and other suites block the
        // test process's threads for seconds while their programs stop.
        configuration.leaseDuration = .seconds(60)
        configuration.renewDeadline = .seconds(45)
        configuration.retryPeriod = .milliseconds(200)
        return configuration
    }

    @Test("of two candidates exactly one leads; when it stops, the other takes over")
    func oneLeaderThenFailover() async throws {
        try await FakeCluster.with { cluster in
            let a = LeaderElector(api: cluster.client, configuration: configuration("a"), logger: FakeCluster.logger)
            let b = LeaderElector(api: cluster.client, configuration: configuration("b"), logger: FakeCluster.logger)
            let bothLed = Atomic<Bool>(false)
            try await withThrowingTaskGroup(of: Void.self) { followers in
                try await withThrowingTaskGroup(of: Void.self) { leaders in
                    leaders.addTask { try? await a.run { try await Task.sleep(for: .seconds(3600)) } }
                    try await eventually("a to lead") { a.isLeader }
                    followers.addTask { try? await b.run { try await Task.sleep(for: .seconds(3600)) } }
                    // Watch through several renewals: b waits, never two leaders.
                    for _ in 0..<40 {
                        if a.isLeader && b.isLeader { bothLed.store(true, ordering: .relaxed) }
                        try await Task.sleep(for: .milliseconds(25))
                    }
                    #expect(a.isLeader && !b.isLeader)
                    // Stop the leader: it releases the lease as it goes.
                    leaders.cancelAll()
                }
                // The leader released the lease as it stopped: no waiting for it to expire.
                try await eventually(timeout: .seconds(40), "the other candidate to lead before the lease would have expired") { b.isLeader }
                #expect(!a.isLeader)
                let lease = try await cluster.client.get(Lease.self, namespace: "default", name: "db-operator")
                #expect(lease.object.spec?.holderIdentity == "b")
                #expect(lease.object.spec?.leaseTransitions == 1)
                followers.cancelAll()
            }
            let neverTwoLeaders = !bothLed.load(ordering: .relaxed)
            #expect(neverTwoLeaders)
        }
    }

    /// How the leader's lease requests fail while partitioned away.
    enum Partition: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case failing, hanging
        var rule: FaultRule {
            switch self {
            case .failing: FaultRule(resource: "leases", user: "job", status: 500)
            // Longer than the lease lasts: a renewal not bounded by the deadline would
            // still be waiting when the other candidate takes over.
            case .hanging: FaultRule(resource: "leases", user: "job", delayMilliseconds: 12_000)
            }
        }
        var testDescription: String { rawValue }
    }

    @Test(
        "a leader that can no longer renew (requests failing and retried, or hanging) stops leading before the lease expires, and the other takes over after",
        arguments: Partition.allCases)
    func lostRenewals(_ partition: Partition) async throws {
        try await FakeCluster.with { cluster in
            // The leader's client retries as the operator's does: the renew deadline
            // must bound each renewal, retries included.
            var jobConfiguration = cluster.client.configuration
            jobConfiguration.token = cluster.server.configuration.tokens.first { $0.value == "job" }!.key
            let otherClient = try HTTPKubernetesClient(configuration: jobConfiguration, logger: FakeCluster.logger)
            do {
                try await partitionedLeader(cluster, otherClient, partition)
            } catch {
                try? await otherClient.shutdown()
                throw error
            }
            try await otherClient.shutdown()
        }
    }

    private func partitionedLeader(_ cluster: FakeCluster, _ otherClient: HTTPKubernetesClient, _ partition: Partition) async throws {
        // A wide margin between the renew deadline and the lease duration, so a
        // loaded machine cannot blur which comes first.
        var first = configuration("first")
        first.leaseName = "renewals-\(partition.rawValue)"
        first.leaseDuration = .seconds(8)
        first.renewDeadline = .seconds(2)
        var second = first
        second.identity = "second"
        let leader = LeaderElector(api: otherClient, configuration: first, logger: FakeCluster.logger)
        let candidate = LeaderElector(api: cluster.client, configuration: second, logger: FakeCluster.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await #expect(throws: LeaderElector.LostLeadership.self) {
                    try await leader.run { try await Task.sleep(for: .seconds(3600)) }
                }
            }
            try await eventually("the first to lead") { leader.isLeader }
            group.addTask { try? await candidate.run { try await Task.sleep(for: .seconds(3600)) } }
            // The first candidate's requests now fail or hang, as if it were partitioned away.
            cluster.server.injectFault(partition.rule)
            // Watch both: the first must have stopped leading before the second leads.
            var stopped: ContinuousClock.Instant? = nil
            try await eventually(timeout: .seconds(30), "the second to take over") {
                if stopped == nil && !leader.isLeader { stopped = .now }
                return candidate.isLeader
            }
            #expect(stopped != nil, "the first still leads while the second does")
            group.cancelAll()
            cluster.server.clearFaults()
        }
    }
}
