import Foundation
import KubeClient

/// What the job runner knows of one Job when it decides: the Job as read, and
/// whether this runner has a process for it. Plain values, so `JobRunDecider` is a
/// pure function the tests drive through every case.
struct JobRunFacts: Sendable, Equatable {
    /// False when the read found no Job.
    var exists = true
    var deleting = false
    /// `Complete` or `Failed` is set.
    var finished = false
    var activeDeadlineSeconds: Int?
    var startTime: Date?
    /// This runner has a live process for the Job.
    var podRunning = false
    var failures = 0
    var backoffLimit = 6
    /// Time since this runner saw the Job's last pod fail; nil when it saw none (a
    /// restarted runner starts the next attempt at once).
    var sinceLastFailure: Duration?
}

/// What the job runner does for a Job, as the Kubernetes job controller would.
enum JobRunDecision: Sendable, Equatable {
    /// The Job is gone or being deleted: stop its processes.
    case stop(because: String)
    /// The Job finished: stop what still runs, then its `ttlSecondsAfterFinished`.
    case finished
    /// `activeDeadlineSeconds` passed: stop the process, mark the Job Failed.
    case failDeadlineExceeded
    /// A process runs: nothing to do until it ends, or until the deadline.
    case watchPod(recheckAfter: Duration?)
    /// More failures than `backoffLimit`: mark the Job Failed.
    case failBackoffLimitExceeded
    /// The last pod failed too recently: start the next one after this.
    case backoff(Duration)
    /// Start the next pod.
    case start
}

/// The job runner's pure decision (like `JobDecider` for the operator and
/// `RuntimeDecider` for the driver runtime): the reconcile reads, calls this, and
/// does what it says.
enum JobRunDecider {
    static func decide(_ facts: JobRunFacts, now: Date, retryBackoff: Duration, maxRetryBackoff: Duration) -> JobRunDecision {
        guard facts.exists else { return .stop(because: "the Job was deleted") }
        if facts.deleting { return .stop(because: "the Job is being deleted") }
        if facts.finished { return .finished }
        var untilDeadline: Duration?
        if let deadline = facts.activeDeadlineSeconds, let start = facts.startTime {
            let remaining = start.addingTimeInterval(TimeInterval(deadline)).timeIntervalSince(now)
            if remaining <= 0 { return .failDeadlineExceeded }
            untilDeadline = .milliseconds(Int64(remaining * 1000) + 50)
        }
        if facts.podRunning { return .watchPod(recheckAfter: untilDeadline) }
        if facts.failures > facts.backoffLimit { return .failBackoffLimitExceeded }
        if facts.failures > 0, let elapsed = facts.sinceLastFailure {
            let delay = Backoff.exponential(attempt: facts.failures, base: retryBackoff, cap: maxRetryBackoff)
            if elapsed < delay { return .backoff(delay - elapsed) }
        }
        return .start
    }
}

extension JobRunDecision {
    var isBackoff: Bool {
        if case .backoff = self { return true }
        return false
    }
}
