import KubeModel
import Synchronization

/// One change to one object, as kept in the watch history and sent to watchers.
struct WatchEvent: Sendable {
    enum Kind: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        case bookmark = "BOOKMARK"
        case error = "ERROR"
    }

    var kind: Kind
    var object: JSONValue
    /// `object` as JSON text, when it is the stored object's (not for deletions,
    /// bookmarks and errors): what the watch stream sends.
    var encoded: [UInt8]? = nil
    /// The object before the change (for MODIFIED), so a watcher with a selector can
    /// see an object enter or leave its selection.
    var oldObject: JSONValue?
    var storeKey: StoreKey?
    var namespace: String
    var revision: UInt64
}

/// What a watch selects.
struct WatchFilter: Sendable {
    var storeKey: StoreKey
    var namespace: String?
    var labels: LabelSelector
    var fields: FieldSelector

    func matches(_ object: JSONValue) -> Bool {
        if let namespace, object[path: ["metadata", "namespace"]]?.stringValue != namespace { return false }
        return labels.matches(object: object) && fields.matches(object: object)
    }

    /// The event this watcher should see for `event`, if any: selector transitions turn
    /// MODIFIED into ADDED or DELETED, as the real server's watch cache does.
    func translate(_ event: WatchEvent) -> WatchEvent? {
        guard event.storeKey == storeKey else { return nil }
        let nowMatches = matches(event.object)
        switch event.kind {
        case .modified:
            let wasMatching = event.oldObject.map(matches) ?? nowMatches
            switch (wasMatching, nowMatches) {
            case (true, true): return event
            case (false, true):
                var added = event
                added.kind = .added
                return added
            case (true, false):
                var deleted = event
                deleted.kind = .deleted
                return deleted
            case (false, false): return nil
            }
        case .added, .deleted:
            return nowMatches ? event : nil
        case .bookmark, .error:
            return event
        }
    }
}

/// An open watch: its filter, the version it serves objects in, and the stream the
/// HTTP layer writes out.
final class Watcher: Sendable {
    let id: UInt64
    let filter: WatchFilter
    let type: ResourceType
    let continuation: AsyncStream<WatchEvent>.Continuation
    let stream: AsyncStream<WatchEvent>

    init(id: UInt64, filter: WatchFilter, type: ResourceType) {
        self.id = id
        self.filter = filter
        self.type = type
        (stream, continuation) = AsyncStream.makeStream(of: WatchEvent.self, bufferingPolicy: .unbounded)
    }

    func finish() { continuation.finish() }
}
