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

/// The last known state of every watched object, fed by a watcher.
public final class ObjectCache<Object: KubernetesObject>: Sendable {
    private let objects = Mutex<[ObjectKey: Resource<Object>]>([:])

    public init() {}

    public subscript(key: ObjectKey) -> Resource<Object>? { objects.withLock { $0[key] } }

    public var all: [Resource<Object>] { objects.withLock { Array($0.values) } }

    public var count: Int { objects.withLock { $0.count } }

    /// Applies a watcher event; returns the keys whose state changed.
    @discardableResult
    public func apply(_ event: WatcherEvent<Object>) -> [ObjectKey] {
        objects.withLock { objects in
            switch event {
            case .restarted(let items):
                let old = Set(objects.keys)
                objects = Dictionary(items.map { (ObjectKey($0.metadata), $0) }, uniquingKeysWith: { _, last in last })
                return Array(old.union(objects.keys))
            case .applied(let resource):
                objects[ObjectKey(resource.metadata)] = resource
                return [ObjectKey(resource.metadata)]
            case .deleted(let resource):
                objects.removeValue(forKey: ObjectKey(resource.metadata))
                return [ObjectKey(resource.metadata)]
            }
        }
    }
}
