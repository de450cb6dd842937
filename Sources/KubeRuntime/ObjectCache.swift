import KubeModel
import Synchronization

/// The key of an object: namespace and name.
public struct ObjectKey: Hashable, Sendable, CustomStringConvertible, Comparable {
    public var namespace: String?
    public var name: String

    public init(namespace: String?, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public init(_ metadata: ObjectMeta) {
        self.init(namespace: metadata.namespace, name: metadata.name ?? "")
    }

    public var description: String { namespace.map { "\($0)/\(name)" } ?? name }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { a.description < b.description }
}

/// The last known state of every watched object, fed by a watcher, with indexes:
/// named functions from an object to the values it is found under (a Job's owner
/// UID, a Backup's Database), kept up to date on every event so a lookup costs the
/// objects it returns, not the size of the cache.
public final class ObjectCache<Object: KubernetesObject>: Sendable {
    /// The values an object is indexed under (none: not in that index).
    public typealias IndexFunction = @Sendable (Resource<Object>) -> [String]

    /// One event's effect on one key: what was there before and what is now.
    public struct Change: Sendable {
        public var key: ObjectKey
        public var old: Resource<Object>?
        public var new: Resource<Object>?
    }

    private struct State {
        var objects: [ObjectKey: Resource<Object>] = [:]
        var indexes: [String: [String: Set<ObjectKey>]] = [:]
        var synced = false
    }

    private let state = Mutex(State())
    private let indexers: [String: IndexFunction]

    public init(indexes: [String: IndexFunction] = [:]) {
        indexers = indexes
    }

    public subscript(key: ObjectKey) -> Resource<Object>? { state.withLock { $0.objects[key] } }

    public var all: [Resource<Object>] { state.withLock { Array($0.objects.values) } }

    public var count: Int { state.withLock { $0.objects.count } }

    /// Whether a first full list has been applied: before that the cache knows nothing.
    public var hasSynced: Bool { state.withLock { $0.synced } }

    /// The objects index `name` files under `value`.
    public func indexed(_ name: String, _ value: String) -> [Resource<Object>] {
        state.withLock { state in
            (state.indexes[name]?[value] ?? []).compactMap { state.objects[$0] }
        }
    }

    /// Applies a watcher event; returns the keys whose state changed.
    @discardableResult
    public func apply(_ event: WatcherEvent<Object>) -> [ObjectKey] {
        changes(applying: event).map(\.key)
    }

    /// Applies a watcher event; returns what changed, key by key (a relist: every key
    /// known before or after).
    public func changes(applying event: WatcherEvent<Object>) -> [Change] {
        state.withLock { state in
            switch event {
            case .restarted(let items):
                let old = state.objects
                state.objects = Dictionary(items.map { (ObjectKey($0.metadata), $0) }, uniquingKeysWith: { _, last in last })
                state.indexes = [:]
                for (key, object) in state.objects { index(object, at: key, into: &state.indexes) }
                state.synced = true
                return Set(old.keys).union(state.objects.keys).map { Change(key: $0, old: old[$0], new: state.objects[$0]) }
            case .applied(let resource):
                let key = ObjectKey(resource.metadata)
                let old = state.objects.updateValue(resource, forKey: key)
                if let old { unindex(old, at: key, from: &state.indexes) }
                index(resource, at: key, into: &state.indexes)
                return [Change(key: key, old: old, new: resource)]
            case .deleted(let resource):
                let key = ObjectKey(resource.metadata)
                let old = state.objects.removeValue(forKey: key)
                if let old { unindex(old, at: key, from: &state.indexes) }
                return [Change(key: key, old: old, new: nil)]
            }
        }
    }

    private func index(_ object: Resource<Object>, at key: ObjectKey, into indexes: inout [String: [String: Set<ObjectKey>]]) {
        for (name, function) in indexers {
            for value in function(object) { indexes[name, default: [:]][value, default: []].insert(key) }
        }
    }

    private func unindex(_ object: Resource<Object>, at key: ObjectKey, from indexes: inout [String: [String: Set<ObjectKey>]]) {
        for (name, function) in indexers {
            for value in function(object) {
                indexes[name]?[value]?.remove(key)
                if indexes[name]?[value]?.isEmpty == true { indexes[name]?[value] = nil }
            }
        }
    }
}
