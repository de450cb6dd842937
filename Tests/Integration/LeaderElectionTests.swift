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
        configuration.leaseDuration = .seconds(2)
        configuration.renewDeadline = .milliseconds(1500)
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
                try await eventually(timeout: .seconds(2), "the other candidate to lead within the lease duration") { b.isLeader }
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

    @Test("a leader that can no longer renew stops leading, and the other takes over after the lease expires")
    func lostRenewals() async throws {
        try await FakeCluster.with { cluster in
            var jobConfiguration = cluster.client.configuration
            jobConfiguration.token = cluster.server.configuration.tokens.first { $0.value == "job" }!.key
            jobConfiguration.maxAttempts = 1
            let otherClient = try HTTPKubernetesClient(configuration: jobConfiguration, logger: FakeCluster.logger)
            do {
                try await partitionedLeader(cluster, otherClient)
            } catch {
                try? await otherClient.shutdown()
                throw error
            }
            try await otherClient.shutdown()
        }
    }

    private func partitionedLeader(_ cluster: FakeCluster, _ otherClient: HTTPKubernetesClient) async throws {
            var first = configuration("first")
            first.leaseName = "renewals"
            var second = configuration("second")
            second.leaseName = "renewals"
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
                // The first candidate's requests now fail, as if it were partitioned away.
                cluster.server.injectFault(FaultRule(resource: "leases", user: "job", status: 500))
                try await eventually(timeout: .seconds(10), "the second to take over") { candidate.isLeader }
                #expect(!leader.isLeader)
                group.cancelAll()
            }
    }
}
