import KubeClient
import KubeModel
import Logging
import ServiceLifecycle

/// What a reconcile asks for next.
public enum ReconcileResult: Sendable, Equatable {
    /// Converged; wait for the next change.
    case done
    /// Look again after a while (a Job to watch, a backoff of the domain).
    case requeue(after: Duration)
}

/// The controller-runtime loop: a watcher keeps a cache of `Object`, every change
/// queues the object's key, and up to `maxConcurrent` workers call `reconcile` —
/// never two at once for one key. Errors requeue with per-key exponential backoff;
/// `watches` map changes of other resources (a Job, say) to the keys they concern.
public final class Controller<Object: KubernetesObject>: Service {
    public struct Configuration: Sendable {
        public var name: String
        public var watcher: Watcher<Object>.Configuration
        public var maxConcurrent = 4
        public var errorBaseDelay: Duration = .milliseconds(50)
        public var errorMaxDelay: Duration = .seconds(300)
        /// Called with each event of the primary watch after the cache has it: another
        /// controller that follows these objects (a DatabaseServer's count of its
        /// Databases) reads them here instead of decoding a watch of its own.
        public var observe: (@Sendable (WatcherEvent<Object>) async -> Void)?

        public init(name: String, watcher: Watcher<Object>.Configuration = .init()) {
            self.name = name
            self.watcher = watcher
        }
    }

    /// A stream of keys to reconcile, from a secondary watch or any other source.
    public typealias KeySource = @Sendable (_ enqueue: @escaping @Sendable (ObjectKey) async -> Void) async throws -> Void

    public let cache = ObjectCache<Object>()
    public let queue: WorkQueue<ObjectKey>
    private let api: any KubernetesAPI
    private let configuration: Configuration
    private let reconcile: @Sendable (ObjectKey, Controller<Object>) async throws -> ReconcileResult
    private let sources: [KeySource]
    private let logger: Logger
    private let schedule = AsyncStream<(ObjectKey, Duration)>.makeStream()

    public init(
        api: any KubernetesAPI, configuration: Configuration, logger: Logger, sources: [KeySource] = [],
        reconcile: @escaping @Sendable (ObjectKey, Controller<Object>) async throws -> ReconcileResult
    ) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
        self.sources = sources
        self.reconcile = reconcile
        queue = WorkQueue(baseDelay: configuration.errorBaseDelay, maxDelay: configuration.errorMaxDelay)
    }

    /// Queues a key now (from outside the watch: a test, a secondary source).
    public func enqueue(_ key: ObjectKey) async { await queue.add(key) }

    /// Queues a key after `delay`.
    public func enqueue(_ key: ObjectKey, after delay: Duration) {
        schedule.continuation.yield((key, delay))
    }

    /// Runs until cancelled or, in a ServiceGroup, until graceful shutdown; workers
    /// finish the reconcile they are in.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.watchPrimary() }
            for source in self.sources {
                group.addTask { try await source { key in await self.queue.add(key) } }
            }
            group.addTask {
                await withDiscardingTaskGroup { timers in
                    for await (key, delay) in self.schedule.stream {
                        timers.addTask {
                            try? await Task.sleep(for: delay)
                            if !Task.isCancelled { await self.queue.add(key) }
                        }
                    }
                    timers.cancelAll()
                }
            }
            for worker in 0..<self.configuration.maxConcurrent {
                group.addTask { await self.work(worker) }
            }
            try? await gracefulShutdown()
            self.schedule.continuation.finish()
            await self.queue.shutDown()
            group.cancelAll()
        }
    }

    private func watchPrimary() async throws {
        let watcher = Watcher<Object>(api: api, configuration: configuration.watcher, logger: logger)
        for try await event in watcher {
            for key in cache.apply(event) { await queue.add(key) }
            await configuration.observe?(event)
        }
    }

    private func work(_ worker: Int) async {
        while let key = await queue.next() {
            do {
                let result = try await reconcile(key, self)
                await queue.forget(key)
                if case .requeue(let delay) = result { enqueue(key, after: delay) }
            } catch is CancellationError {
                await queue.done(key)
                return
            } catch {
                let delay = await queue.failureDelay(key)
                logger.info("reconcile failed; will retry", metadata: [
                    "controller": "\(configuration.name)", "k8s.object": "\(key)", "error": "\(error)", "retry.delay": "\(delay)",
                ])
                enqueue(key, after: delay)
            }
            await queue.done(key)
        }
    }
}

extension Controller {
    /// A key source that watches `Owned` and queues the key of each one's controller
    /// owner of kind `Object` (the Jobs of a Database, say).
    public static func owned<Owned: KubernetesObject>(
        _ type: Owned.Type, api: any KubernetesAPI, configuration: Watcher<Owned>.Configuration, logger: Logger
    ) -> KeySource {
        { enqueue in
            for try await event in Watcher<Owned>(api: api, configuration: configuration, logger: logger) {
                let resources = event.resources
                for resource in resources {
                    for owner in resource.metadata.ownerReferences ?? [] where owner.kind == Object.resource.kind && owner.controller == true {
                        await enqueue(ObjectKey(namespace: resource.metadata.namespace, name: owner.name))
                    }
                }
            }
        }
    }
}
