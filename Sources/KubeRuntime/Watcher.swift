import Foundation
import KubeClient
import KubeModel
import Logging

/// What a watcher reports: a full (re)list, or one object applied or deleted.
public enum WatcherEvent<Object: KubernetesObject>: Sendable {
    /// The complete current state after a (re)list; replaces whatever was known.
    case restarted([Resource<Object>])
    case applied(Resource<Object>)
    case deleted(Resource<Object>)

    /// The objects the event carries: all after a relist, else the one.
    public var resources: [Resource<Object>] {
        switch self {
        case .restarted(let items): items
        case .applied(let item), .deleted(let item): [item]
        }
    }
}

/// The kube-rs watcher as an AsyncSequence: list, then watch from the list's
/// resourceVersion; bookmarks move the version on; a 410 Gone (status or ERROR event)
/// means relist; a stream that ends is re-opened from the last version; errors back
/// off with jitter. It never ends on its own: cancel the task that iterates it.
public struct Watcher<Object: KubernetesObject>: AsyncSequence, Sendable {
    public typealias Element = WatcherEvent<Object>

    public struct Configuration: Sendable {
        public var namespace: String?
        public var labelSelector: String?
        public var fieldSelector: String?
        /// Server-side timeout of each watch request (client-go: 5 to 10 minutes).
        public var watchTimeoutSeconds = 300
        public var initialBackoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(30)
        /// Members dropped from each object's JSON before it is decoded and kept, as
        /// paths of member names (client-go's SetTransform, by path): what a cache
        /// does not need (a Job's pod template, managedFields) is neither decoded nor
        /// kept. A watch event's object is cut down as text, no tree built.
        public var droppedFields: [[String]] = []
        /// `metadata.managedFields`: server-side apply's bookkeeping, often most of an
        /// object's metadata. No decision reads it, and an update that leaves it out
        /// leaves the server's as they are.
        public static var managedFields: [String] { ["metadata", "managedFields"] }
        /// Objects per page of a (re)list (`limit`; client-go's default is 500). A page
        /// is parsed whole before its objects are kept, so large objects want smaller pages.
        public var pageSize = 500
        /// Whether each object's JSON is kept beside its typed view (`Resource.raw`).
        /// A cache nothing is written back from keeps only the typed view, which can
        /// then be a projection (the operator's `JobRecord`).
        public var keepsJSON = true

        public init(namespace: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil) {
            self.namespace = namespace
            self.labelSelector = labelSelector
            self.fieldSelector = fieldSelector
        }
    }

    let api: any KubernetesAPI
    let configuration: Configuration
    let logger: Logger

    public init(api: any KubernetesAPI, configuration: Configuration = Configuration(), logger: Logger) {
        self.api = api
        self.configuration = configuration
        self.logger = logger
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(api: api, configuration: configuration, logger: logger)
    }

    /// The state machine: `resourceVersion == nil` means "list next".
    public struct Iterator: AsyncIteratorProtocol {
        let api: any KubernetesAPI
        let configuration: Configuration
        let logger: Logger
        var resourceVersion: String?
        var stream: WatchEventStream.AsyncIterator?
        var failures = 0

        init(api: any KubernetesAPI, configuration: Configuration, logger: Logger) {
            self.api = api
            self.configuration = configuration
            self.logger = logger
        }

        public mutating func next() async throws -> WatcherEvent<Object>? {
            while true {
                try Task.checkCancellation()
                do {
                    if resourceVersion == nil {
                        let (items, version) = try await listAll()
                        resourceVersion = version
                        stream = nil
                        failures = 0
                        return .restarted(items)
                    }
                    if stream == nil {
                        let options = WatchOptions(
                            resourceVersion: resourceVersion, labelSelector: configuration.labelSelector,
                            fieldSelector: configuration.fieldSelector, allowBookmarks: true,
                            timeoutSeconds: configuration.watchTimeoutSeconds)
                        stream = try await api.watch(Object.resource, namespace: configuration.namespace, options: options).makeAsyncIterator()
                    }
                    guard let event = try await stream!.next() else {
                        // The server closed the stream (timeout, dropped connection): watch again.
                        stream = nil
                        continue
                    }
                    failures = 0
                    switch event.type {
                    case .bookmark:
                        if let version = event.resourceVersion { resourceVersion = version }
                    case .error:
                        let code = event.object["code"]?.intValue ?? 0
                        stream = nil
                        if code == 410 {
                            logger.debug("watch expired, relisting", metadata: ["k8s.resource": "\(Object.resource.plural)"])
                            resourceVersion = nil
                        } else {
                            throw KubeError.from(httpStatus: Int(code), body: event.object, retryAfter: nil, request: "WATCH \(Object.resource.plural)")
                        }
                    case .added, .modified, .deleted:
                        let text = try JSONValue.removingMembers(configuration.droppedFields, fromText: event.objectText)
                        let resource = try Resource<Object>(text: text, keepingJSON: configuration.keepsJSON)
                        if let version = event.resourceVersion { resourceVersion = version }
                        return event.type == .deleted ? .deleted(resource) : .applied(resource)
                    }
                } catch let error as KubeError where error.code == .gone {
                    resourceVersion = nil
                    stream = nil
                } catch is CancellationError {
                    return nil
                } catch {
                    stream = nil
                    failures += 1
                    let delay = Backoff.jittered(Backoff.exponential(attempt: failures, base: configuration.initialBackoff, cap: configuration.maxBackoff))
                    logger.debug("watch failed, backing off", metadata: [
                        "k8s.resource": "\(Object.resource.plural)", "error": "\(error)", "retry.delay": "\(delay)",
                    ])
                    do { try await Task.sleep(for: delay) } catch { return nil }
                }
            }
        }

        /// Every page, each object decoded from its own text (no tree of the page), a
        /// page on every core: a restart with 10,000 Databases spent most of its first
        /// half second decoding on one core while the server waited (#15).
        private func listAll() async throws -> ([Resource<Object>], String) {
            var items: [Resource<Object>] = []
            var options = ListOptions(labelSelector: configuration.labelSelector, fieldSelector: configuration.fieldSelector, limit: configuration.pageSize)
            var version = ""
            repeat {
                let page = try await api.listText(Object.resource, namespace: configuration.namespace, options: options)
                items += try await Self.decode(page.items, dropping: configuration.droppedFields, keepingJSON: configuration.keepsJSON)
                version = page.resourceVersion
                options.continueToken = page.continueToken
            } while options.continueToken != nil
            return (items, version)
        }

        /// Objects from their texts, in order, in as many parts as there are cores.
        static func decode(_ texts: [[UInt8]], dropping dropped: [[String]], keepingJSON: Bool) async throws -> [Resource<Object>] {
            @Sendable func decode(_ texts: ArraySlice<[UInt8]>) throws -> [Resource<Object>] {
                try texts.map { try Resource<Object>(text: JSONValue.removingMembers(dropped, fromText: $0), keepingJSON: keepingJSON) }
            }
            let parts = Swift.min(ProcessInfo.processInfo.activeProcessorCount, texts.count / 50)
            guard parts > 1 else { return try decode(texts[...]) }
            return try await withThrowingTaskGroup(of: (Int, [Resource<Object>]).self) { group in
                let size = (texts.count + parts - 1) / parts
                for part in 0..<parts {
                    let slice = texts[(part * size)..<Swift.min(texts.count, (part + 1) * size)]
                    group.addTask { (part, try decode(slice)) }
                }
                var decoded = [[Resource<Object>]](repeating: [], count: parts)
                for try await (part, objects) in group { decoded[part] = objects }
                return decoded.flatMap { $0 }
            }
        }
    }
}
