import KubeClient
import KubeModel
import Logging
import Synchronization

/// A watcher feeding an indexed `ObjectCache` (client-go's shared informer): the
/// objects of one kind a controller reads instead of listing them on every
/// reconcile. `run` applies the watcher's events and hands each change (old and
/// new) to a handler, which decides what to queue; `waitUntilSynced` holds a reader
/// until the first full list is in, so an empty cache is never taken for "none".
public final class Informer<Object: KubernetesObject>: Sendable {
    public let cache: ObjectCache<Object>
    private let api: any KubernetesAPI
    private let configuration: Watcher<Object>.Configuration
    private let logger: Logger
    private let waiters = Mutex<[UInt64: CheckedContinuation<Void, Never>]>([:])
    private let nextWaiter = Atomic<UInt64>(0)

    public init(
        api: any KubernetesAPI, configuration: Watcher<Object>.Configuration, indexes: [String: ObjectCache<Object>.IndexFunction] = [:], logger: Logger
    ) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
        cache = ObjectCache(indexes: indexes)
    }

    /// Watches until cancelled; `onChange` sees every change after it is in the cache.
    public func run(_ onChange: @Sendable (ObjectCache<Object>.Change) async -> Void) async throws {
        for try await event in Watcher<Object>(api: api, configuration: configuration, logger: logger) {
            let changes = cache.changes(applying: event)
            if case .restarted = event { resumeWaiters() }
            for change in changes { await onChange(change) }
        }
    }

    /// Returns once the cache holds a full list (at once when it does), or when the
    /// calling task is cancelled.
    public func waitUntilSynced() async {
        if cache.hasSynced { return }
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = waiters.withLock { waiters -> Bool in
                    if cache.hasSynced || Task.isCancelled { return true }
                    waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.removeValue(forKey: id) }?.resume()
        }
    }

    private func resumeWaiters() {
        let waiting = waiters.withLock { waiters in
            defer { waiters = [:] }
            return Array(waiters.values)
        }
        for continuation in waiting { continuation.resume() }
    }
}
