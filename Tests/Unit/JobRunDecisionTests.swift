import Foundation
@testable import JobRunner
import Testing

/// The job runner's decision, as the Kubernetes job controller behaves.
@Suite("The job runner's decision")
struct JobRunDecisionTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func decide(_ facts: JobRunFacts) -> JobRunDecision {
        JobRunDecider.decide(facts, now: now, retryBackoff: .seconds(10), maxRetryBackoff: .seconds(360))
    }

    @Test("gone, deleting and finished Jobs stop their processes")
    func endings() {
        #expect(Self.decide(JobRunFacts(exists: false)) == .stop(because: "the Job was deleted"))
        #expect(Self.decide(JobRunFacts(deleting: true, podRunning: true)) == .stop(because: "the Job is being deleted"))
        #expect(Self.decide(JobRunFacts(finished: true, podRunning: true)) == .finished)
        // Deleting wins over finished: its processes stop either way, no ttl to wait for.
        #expect(Self.decide(JobRunFacts(deleting: true, finished: true)) == .stop(because: "the Job is being deleted"))
    }

    @Test("activeDeadlineSeconds: failed when passed, rechecked at the deadline while the pod runs")
    func deadline() {
        let started = Self.now.addingTimeInterval(-30)
        #expect(Self.decide(JobRunFacts(activeDeadlineSeconds: 30, startTime: started, podRunning: true)) == .failDeadlineExceeded)
        #expect(Self.decide(JobRunFacts(activeDeadlineSeconds: 10, startTime: started)) == .failDeadlineExceeded)
        #expect(Self.decide(JobRunFacts(activeDeadlineSeconds: 40, startTime: started, podRunning: true)) == .watchPod(recheckAfter: .milliseconds(10_050)))
        #expect(Self.decide(JobRunFacts(podRunning: true)) == .watchPod(recheckAfter: nil))
        // Not started yet: no deadline runs.
        #expect(Self.decide(JobRunFacts(activeDeadlineSeconds: 1)) == .start)
    }

    @Test("failures: backoff doubling from 10 s to 6 min, then the backoff limit")
    func failures() {
        #expect(Self.decide(JobRunFacts()) == .start)
        #expect(Self.decide(JobRunFacts(failures: 1, sinceLastFailure: .seconds(4))) == .backoff(.seconds(6)))
        #expect(Self.decide(JobRunFacts(failures: 1, sinceLastFailure: .seconds(10))) == .start)
        #expect(Self.decide(JobRunFacts(failures: 3, sinceLastFailure: .seconds(1))) == .backoff(.seconds(39)))
        #expect(Self.decide(JobRunFacts(failures: 6, backoffLimit: 6, sinceLastFailure: .seconds(1))) == .backoff(.seconds(319)))
        #expect(Self.decide(JobRunFacts(failures: 7, backoffLimit: 6, sinceLastFailure: .seconds(1))) == .failBackoffLimitExceeded)
        #expect(Self.decide(JobRunFacts(failures: 1, backoffLimit: 0)) == .failBackoffLimitExceeded)
        // A runner that did not see the failure (restarted) starts at once.
        #expect(Self.decide(JobRunFacts(failures: 2, sinceLastFailure: nil)) == .start)
        // A running pod is never doubled, whatever the count says.
        #expect(Self.decide(JobRunFacts(podRunning: true, failures: 9, backoffLimit: 6)) == .watchPod(recheckAfter: nil))
    }
}
