import KubeModel

extension Storage {
    /// Opens a watch. Without a resourceVersion (or with "0") it starts with an ADDED
    /// event for every selected object; with one, it replays the changes after it, or
    /// ends at once with a 410 Expired ERROR event when that version was compacted.
    /// `sendInitialEvents` (a streaming list, what client-go's reflectors and
    /// `kubectl wait` use): ADDED for every selected object now, then a BOOKMARK
    /// annotated `k8s.io/initial-events-end: "true"`, then the changes.
    func watch(_ type: ResourceType, filter: WatchFilter, resourceVersion: String?, sendInitialEvents: Bool = false) throws(APIError) -> Watcher {
        var from: UInt64?
        if let resourceVersion, !resourceVersion.isEmpty, resourceVersion != "0" {
            guard let parsed = UInt64(resourceVersion) else {
                throw .badRequest("resourceVersion: Invalid value: \"\(resourceVersion)\": must be a non-negative integer")
            }
            from = parsed
        }
        return state.withLock { state in
            let watcher = Watcher(id: state.nextWatcherID, filter: filter, type: type)
            state.nextWatcherID += 1
            if let from, !sendInitialEvents {
                if from < state.compactedRevision {
                    let expired = APIError.gone("too old resource version: \(from) (\(state.compactedRevision + 1))")
                    watcher.continuation.yield(WatchEvent(kind: .error, object: expired.status, namespace: "", revision: state.revision))
                    watcher.finish()
                    return watcher
                }
                for event in state.history where event.revision > from {
                    if let translated = filter.translate(event) { watcher.continuation.yield(translated) }
                }
            } else {
                let all = state.objects[type.storeKey] ?? [:]
                let texts = state.encoded[type.storeKey] ?? [:]
                for key in all.keys.sorted() where filter.matches(all[key]!) {
                    let object = all[key]!
                    watcher.continuation.yield(WatchEvent(
                        kind: .added, object: object, encoded: texts[key], storeKey: type.storeKey,
                        namespace: object[path: ["metadata", "namespace"]]?.stringValue ?? "", revision: state.revision))
                }
                if sendInitialEvents {
                    let end: JSONValue = [
                        "kind": .string(type.kind), "apiVersion": .string(type.groupVersion),
                        "metadata": [
                            "resourceVersion": .string(String(state.revision)), "creationTimestamp": nil,
                            "annotations": ["k8s.io/initial-events-end": "true"],
                        ],
                    ]
                    watcher.continuation.yield(WatchEvent(kind: .bookmark, object: end, namespace: "", revision: state.revision))
                }
            }
            state.watchers[watcher.id] = watcher
            return watcher
        }
    }

    /// Ends a watch (client gone, timeout).
    func stopWatching(_ watcher: Watcher) {
        state.withLock { _ = $0.watchers.removeValue(forKey: watcher.id) }
        watcher.finish()
    }

    /// Sends a BOOKMARK carrying the current resourceVersion. Under the lock, so it
    /// never overtakes an event of a lower version.
    func sendBookmark(_ watcher: Watcher) {
        state.withLock { state in
            guard state.watchers[watcher.id] != nil else { return }
            let object: JSONValue = [
                "kind": .string(watcher.type.kind), "apiVersion": .string(watcher.type.groupVersion),
                "metadata": ["resourceVersion": .string(String(state.revision)), "creationTimestamp": nil],
            ]
            watcher.continuation.yield(WatchEvent(kind: .bookmark, object: object, namespace: "", revision: state.revision))
        }
    }

    /// Ends every open watch (of one resource, when given): clients see the stream end.
    @discardableResult
    func dropWatches(plural: String? = nil) -> Int {
        let dropped: [Watcher] = state.withLock { state in
            let selected = state.watchers.values.filter { plural == nil || $0.filter.storeKey.plural == plural }
            for watcher in selected { state.watchers.removeValue(forKey: watcher.id) }
            return Array(selected)
        }
        for watcher in dropped { watcher.finish() }
        return dropped.count
    }

    /// Forgets the watch history up to now: a watch from any earlier version gets 410.
    func compact() {
        state.withLock { state in
            state.compactedRevision = state.revision
            state.history.removeAll()
        }
    }

    var openWatchCount: Int { state.withLock { $0.watchers.count } }
}
