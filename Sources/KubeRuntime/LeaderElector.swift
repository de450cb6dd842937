import Foundation
import KubeClient
import KubeModel
import Logging
import Synchronization

/// Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it: the
/// holder renews the lease every `retryPeriod`; others take it over once it has gone
/// unrenewed for `leaseDuration` (measured on their own clock, from when they last
/// saw it change); a leader that cannot renew within `renewDeadline` stops leading.
/// Each renewal is bounded by that deadline as a whole (the client's own retries
/// included), and counts from when the last successful renewal was sent, so a
/// leader stops before any other candidate can see the lease expire.
public final class LeaderElector: Sendable {
    public struct Configuration: Sendable {
        public var leaseName: String
        public var namespace: String
        /// This candidate's name in the lease (pod name, host:pid).
        public var identity: String
        public var leaseDuration: Duration = .seconds(15)
        public var renewDeadline: Duration = .seconds(10)
        public var retryPeriod: Duration = .seconds(2)

        public init(leaseName: String, namespace: String, identity: String) {
            self.leaseName = leaseName
            self.namespace = namespace
            self.identity = identity
        }
    }

    /// Leadership was lost while leading (the lease could not be renewed in time).
    public struct LostLeadership: Error, CustomStringConvertible {
        public var description: String { "lost leadership: the lease could not be renewed within the renew deadline" }
    }

    private let api: any KubernetesAPI
    public let configuration: Configuration
    private let logger: Logger
    private let leading = Atomic<Bool>(false)

    public init(api: any KubernetesAPI, configuration: Configuration, logger: Logger) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
    }

    public var isLeader: Bool { leading.load(ordering: .relaxed) }

    /// Waits to become leader, then runs `work` while renewing. Returns when `work`
    /// returns (releasing the lease) or throws `LostLeadership`; cancellation releases
    /// the lease so another candidate takes over at once.
    public func run(_ work: @escaping @Sendable () async throws -> Void) async throws {
        var observed = Observation()
        var sent = ContinuousClock.now
        while true {
            sent = .now
            do {
                let outcome = try await tryAcquireOrRenew(observed)
                observed = outcome.observed
                if outcome.acquired { break }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.debug("could not acquire the lease", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: Backoff.jittered(configuration.retryPeriod))
        }
        leading.store(true, ordering: .relaxed)
        logger.info("became leader", metadata: ["lease": "\(configuration.namespace)/\(configuration.leaseName)", "identity": "\(configuration.identity)"])
        let acquired = observed
        let acquiredSent = sent
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await work() }
                group.addTask { try await self.renewLoop(acquired, lastRenewSent: acquiredSent) }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            leading.store(false, ordering: .relaxed)
            await releaseShielded()
            throw error
        }
        leading.store(false, ordering: .relaxed)
        await releaseShielded()
    }

    /// Releases even when the calling task is cancelled (the usual way leading ends),
    /// giving up after a renew deadline: the lease then simply expires.
    private func releaseShielded() async {
        let deadline = ContinuousClock.now + configuration.renewDeadline
        await Task.detached { _ = try? await Self.bounded(by: deadline) { await self.release() } }.value
    }

    private func renewLoop(_ start: Observation, lastRenewSent acquired: ContinuousClock.Instant) async throws {
        var observed = start
        var lastRenewSent = acquired
        while true {
            try await Task.sleep(for: configuration.retryPeriod)
            let deadline = lastRenewSent + configuration.renewDeadline
            let sent = ContinuousClock.now
            let snapshot = observed
            do {
                if let outcome = try await Self.bounded(by: deadline, { try await self.tryAcquireOrRenew(snapshot) }) {
                    observed = outcome.observed
                    if outcome.acquired {
                        lastRenewSent = sent
                        continue
                    }
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.debug("lease renewal failed", metadata: ["error": "\(error)"])
            }
            if ContinuousClock.now >= deadline || observed.holder != configuration.identity {
                // Stop counting as leader before anything else (release, the work's
                // shutdown) so nobody acts on a lease another may take.
                leading.store(false, ordering: .relaxed)
                logger.warning("lost leadership", metadata: ["lease": "\(configuration.leaseName)"])
                throw LostLeadership()
            }
        }
    }

    /// Runs `operation` until `deadline`; past it, cancels it and returns nil.
    static func bounded<T: Sendable>(
        by deadline: ContinuousClock.Instant, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// What this candidate last saw of the lease, and when (on its own clock).
    struct Observation: Sendable {
        var holder: String?
        var renewTime: String?
        var seenAt: ContinuousClock.Instant = .now
    }

    /// One round of client-go's `tryAcquireOrRenew`: create the lease, renew it if
    /// ours, or take it if it expired; every write is a compare-and-swap.
    private func tryAcquireOrRenew(_ previous: Observation) async throws -> (acquired: Bool, observed: Observation) {
        var observed = previous
        let now = KubeTime.microNow()
        let seconds = Int(configuration.leaseDuration.components.seconds)
        let current: Resource<Lease>
        do {
            current = try await api.get(Lease.self, namespace: configuration.namespace, name: configuration.leaseName)
        } catch let error as KubeError where error.code == .notFound {
            let lease = Lease(
                metadata: ObjectMeta(name: configuration.leaseName, namespace: configuration.namespace),
                spec: LeaseSpec(holderIdentity: configuration.identity, leaseDurationSeconds: seconds, acquireTime: now, renewTime: now, leaseTransitions: 0))
            do {
                _ = try await api.create(lease)
                return (true, Observation(holder: configuration.identity, renewTime: now))
            } catch let error as KubeError where error.code == .alreadyExists || error.code == .conflict {
                return (false, observed)
            }
        }
        let spec = current.object.spec ?? LeaseSpec()
        if spec.holderIdentity != observed.holder || spec.renewTime != observed.renewTime {
            observed = Observation(holder: spec.holderIdentity, renewTime: spec.renewTime)
        }
        let holder = spec.holderIdentity ?? ""
        let duration = Duration.seconds(spec.leaseDurationSeconds ?? seconds)
        let expired = ContinuousClock.now - observed.seenAt > duration
        guard holder.isEmpty || holder == configuration.identity || expired else { return (false, observed) }

        var updated = current.object
        var newSpec = spec
        if holder != configuration.identity {
            newSpec.acquireTime = now
            newSpec.leaseTransitions = (spec.leaseTransitions ?? 0) + 1
        }
        newSpec.holderIdentity = configuration.identity
        newSpec.leaseDurationSeconds = seconds
        newSpec.renewTime = now
        updated.spec = newSpec
        do {
            _ = try await api.update(current, to: updated)
            return (true, Observation(holder: configuration.identity, renewTime: now))
        } catch let error as KubeError where error.code == .conflict {
            return (false, observed)
        }
    }

    /// Gives the lease up (holder cleared), so a successor need not wait for expiry.
    private func release() async {
        do {
            let current = try await api.get(Lease.self, namespace: configuration.namespace, name: configuration.leaseName)
            guard current.object.spec?.holderIdentity == configuration.identity else { return }
            var updated = current.object
            updated.spec?.holderIdentity = nil
            updated.spec?.renewTime = KubeTime.microNow()
            updated.spec?.leaseDurationSeconds = 1
            _ = try await api.update(current, to: updated)
            logger.info("released leadership", metadata: ["lease": "\(configuration.leaseName)"])
        } catch {
            logger.debug("could not release the lease", metadata: ["error": "\(error)"])
        }
    }
}
