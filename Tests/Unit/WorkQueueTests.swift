import KubeRuntime
import Testing

@Suite("Work queue")
struct WorkQueueTests {
    @Test("a key waiting is queued once, however often it is added")
    func deduplicates() async {
        let queue = WorkQueue<String>()
        await queue.add("a")
        await queue.add("a")
        await queue.add("b")
        #expect(await queue.depth == 2)
        #expect(await queue.next() == "a")
        #expect(await queue.next() == "b")
    }

    @Test("a key being processed is not handed out again until done, then comes back once if it changed meanwhile")
    func serializesPerKey() async {
        let queue = WorkQueue<String>()
        await queue.add("a")
        let first = await queue.next()
        #expect(first == "a")
        await queue.add("a")
        await queue.add("a")
        #expect(await queue.depth == 0)
        await queue.done("a")
        #expect(await queue.depth == 1)
        #expect(await queue.next() == "a")
        await queue.done("a")
        #expect(await queue.depth == 0)
    }

    @Test("failure delays double per key up to the cap, and forget resets them")
    func backoff() async {
        let queue = WorkQueue<String>(baseDelay: .milliseconds(10), maxDelay: .milliseconds(50))
        #expect(await queue.failureDelay("a") == .milliseconds(10))
        #expect(await queue.failureDelay("a") == .milliseconds(20))
        #expect(await queue.failureDelay("a") == .milliseconds(40))
        #expect(await queue.failureDelay("a") == .milliseconds(50))
        #expect(await queue.failureDelay("b") == .milliseconds(10))
        await queue.forget("a")
        #expect(await queue.failureDelay("a") == .milliseconds(10))
    }

    @Test("shutting down wakes the workers waiting for a key")
    func shutdown() async {
        let queue = WorkQueue<String>()
        async let waiting = queue.next()
        // Shut down only once the worker is really waiting, so the wake-up is what is tested.
        while await queue.waitingWorkers == 0 { await Task.yield() }
        await queue.shutDown()
        #expect(await waiting == nil)
        #expect(await queue.waitingWorkers == 0)
    }
}
