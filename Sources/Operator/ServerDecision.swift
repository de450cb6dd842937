import Foundation

/// What the operator knows about a DatabaseServer when it decides whether to probe.
public struct ServerFacts: Sendable, Hashable {
    public var generation: Int64
    /// The generation the last probe saw, and when it ended (from the status).
    public var probedGeneration: Int64?
    public var lastProbe: Date?
    /// The last probe found the server usable.
    public var ready: Bool
    /// A probe Job of this server is running.
    public var probing: Bool
    /// When the newest finished probe Job ended (it may have ended without writing
    /// the status, e.g. killed).
    public var lastProbeJobFinished: Date?

    public init(generation: Int64, probedGeneration: Int64?, lastProbe: Date?, ready: Bool, probing: Bool, lastProbeJobFinished: Date?) {
        self.generation = generation
        self.probedGeneration = probedGeneration
        self.lastProbe = lastProbe
        self.ready = ready
        self.probing = probing
        self.lastProbeJobFinished = lastProbeJobFinished
    }
}

/// The operator's answer for a DatabaseServer's probe.
public enum ProbeDecision: Sendable, Hashable {
    /// A probe runs; its end brings the next decision.
    case wait
    /// Create a probe Job now.
    case probe
    /// Look again after this many seconds.
    case later(TimeInterval)
}

/// When a DatabaseServer is probed, a pure function: at once for a new or changed
/// spec, every `interval` while the server is usable, every `retry` (at most
/// `interval`) while it is not, and never sooner than `retry` after a probe Job
/// ended, so a probe that cannot write its result does not loop.
public enum ProbeDecider {
    public static func decide(_ facts: ServerFacts, now: Date, interval: TimeInterval, retry: TimeInterval = 30) -> ProbeDecision {
        if facts.probing { return .wait }
        let retry = min(retry, interval)
        var due = now
        if facts.probedGeneration == facts.generation, let last = facts.lastProbe {
            due = last.addingTimeInterval(facts.ready ? interval : retry)
        }
        if let ended = facts.lastProbeJobFinished { due = max(due, ended.addingTimeInterval(retry)) }
        let wait = due.timeIntervalSince(now)
        return wait > 0 ? .later(wait) : .probe
    }
}
