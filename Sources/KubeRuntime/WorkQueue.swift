/// The controller work queue of client-go: keys, not events. A key waiting is not
/// queued twice; a key being processed is never handed out again until `done`, and a
/// change meanwhile queues it once more afterwards; failures back off per key.
public actor WorkQueue<Key: Hashable & Sendable> {
    private var queue: [Key] = []
    private var head = 0
    private var queued: Set<Key> = []
    private var processing: Set<Key> = []
    private var dirty: Set<Key> = []
    private var failures: [Key: Int] = [:]
    private var waiters: [CheckedContinuation<Key?, Never>] = []
    private var isShutDown = false
    private let baseDelay: Duration
    private let maxDelay: Duration

    public init(baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .seconds(300)) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public func add(_ key: Key) {
        guard !isShutDown else { return }
        if processing.contains(key) {
            dirty.insert(key)
            return
        }
        guard queued.insert(key).inserted else { return }
        if let waiter = waiters.first {
            waiters.removeFirst()
            queued.remove(key)
            processing.insert(key)
            waiter.resume(returning: key)
        } else {
            queue.append(key)
        }
    }

    /// The next key to process, waiting for one; nil after `shutDown()`.
    public func next() async -> Key? {
        if let key = take() { return key }
        if isShutDown { return nil }
        return await withCheckedContinuation { waiters.append($0) }
    }

    private func take() -> Key? {
        while head < queue.count {
            let key = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            if queued.remove(key) != nil {
                processing.insert(key)
                return key
            }
        }
        return nil
    }

    /// Processing of `key` ended; a change that came meanwhile queues it again.
    public func done(_ key: Key) {
        processing.remove(key)
        if dirty.remove(key) != nil { add(key) }
    }

    /// The delay before retrying a key that failed `n` times in a row: base * 2^n, capped.
    public func failureDelay(_ key: Key) -> Duration {
        let count = failures[key, default: 0]
        failures[key] = count + 1
        var delay = baseDelay
        for _ in 0..<min(count, 40) {
            delay = delay * 2
            if delay >= maxDelay { return maxDelay }
        }
        return delay
    }

    /// The key succeeded: its backoff starts again from the base.
    public func forget(_ key: Key) { failures.removeValue(forKey: key) }

    public var depth: Int { queued.count }

    /// Workers waiting in `next()` for a key.
    public var waitingWorkers: Int { waiters.count }

    public func shutDown() {
        isShutDown = true
        let pending = waiters
        waiters.removeAll()
        for waiter in pending { waiter.resume(returning: nil) }
    }
}
