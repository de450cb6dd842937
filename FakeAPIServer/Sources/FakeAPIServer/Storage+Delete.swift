import KubeModel

/// How dependents are treated when their owner is deleted.
enum PropagationPolicy: String, Sendable {
    case background = "Background"
    case foreground = "Foreground"
    case orphan = "Orphan"
}

/// The parts of `DeleteOptions` the server honours.
struct DeleteOptions: Sendable {
    var propagationPolicy: PropagationPolicy?
    var preconditionUID: String?
    var preconditionResourceVersion: String?
    var dryRun = false
}

extension Storage {
    static let foregroundFinalizer = "foregroundDeletion"
    static let orphanFinalizer = "orphan"

    /// Deletes an object: an object with finalizers is only marked with
    /// `deletionTimestamp`; one without is removed, and its dependents are
    /// garbage-collected as `propagationPolicy` says.
    func delete(_ type: ResourceType, namespace: String?, name: String, options: DeleteOptions) throws(APIError) -> JSONValue {
        try state.withLock { (state) throws(APIError) -> JSONValue in
            let key = Self.objectKey(namespace, name)
            guard let object = state.objects[type.storeKey]?[key] else { throw .notFound(type, name) }
            if let uid = options.preconditionUID, uid != object[path: ["metadata", "uid"]]?.stringValue {
                throw .conflict(
                    type, name,
                    "Precondition failed: UID in precondition: \(uid), UID in object meta: \(object[path: ["metadata", "uid"]]?.stringValue ?? "")")
            }
            if let version = options.preconditionResourceVersion, version != object[path: ["metadata", "resourceVersion"]]?.stringValue {
                throw .conflict(
                    type, name,
                    "Precondition failed: ResourceVersion in precondition: \(version), ResourceVersion in object meta: \(object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")")
            }
            if options.dryRun { return served(object, as: type) }
            let result = state.delete(type.storeKey, key, policy: options.propagationPolicy ?? .background)
            return served(result, as: type)
        }
    }

    /// Deletes every object a list with the same selectors would return.
    func deleteCollection(
        _ type: ResourceType, namespace: String?, labels: LabelSelector, fields: FieldSelector, options: DeleteOptions
    ) throws(APIError) -> ListResult {
        try state.withLock { (state) throws(APIError) -> ListResult in
            let filter = WatchFilter(storeKey: type.storeKey, namespace: namespace, labels: labels, fields: fields)
            let keys = (state.objects[type.storeKey] ?? [:]).filter { filter.matches($0.value) }.keys.sorted()
            var items: [JSONValue] = []
            for key in keys {
                if options.dryRun {
                    items.append(served(state.objects[type.storeKey]![key]!, as: type))
                } else {
                    items.append(served(state.delete(type.storeKey, key, policy: options.propagationPolicy ?? .background), as: type))
                }
            }
            return ListResult(items: items, revision: state.revision)
        }
    }
}

extension Storage.State {
    /// Marks or removes one object; returns its last state.
    mutating func delete(_ storeKey: StoreKey, _ key: String, policy: PropagationPolicy) -> JSONValue {
        guard var object = objects[storeKey]?[key] else { return .null }
        var finalizers = object[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        let alreadyDeleting = object[path: ["metadata", "deletionTimestamp"]] != nil
        let hasDependents = !(dependents[object[path: ["metadata", "uid"]]?.stringValue ?? ""]?.isEmpty ?? true)
        switch policy {
        case .foreground where hasDependents:
            if !finalizers.contains(.string(Storage.foregroundFinalizer)) { finalizers.append(.string(Storage.foregroundFinalizer)) }
        case .orphan where hasDependents:
            if !finalizers.contains(.string(Storage.orphanFinalizer)) { finalizers.append(.string(Storage.orphanFinalizer)) }
        default:
            break
        }
        if finalizers.isEmpty && !Strategies.needsCleanupBeforeRemoval(storeKey, object, state: self) {
            return remove(storeKey, key) ?? object
        }
        let before = object
        object[path: ["metadata", "finalizers"]] = finalizers.isEmpty ? nil : .array(finalizers)
        if !alreadyDeleting {
            object[path: ["metadata", "deletionTimestamp"]] = .string(Timestamp.now())
            object[path: ["metadata", "deletionGracePeriodSeconds"]] = 0
            if object[path: ["metadata", "generation"]] != nil {
                object[path: ["metadata", "generation"]] = .int((object[path: ["metadata", "generation"]]?.intValue ?? 0) + 1)
            }
            Strategies.markDeleting(storeKey, &object)
        }
        if object != before {
            revision += 1
            object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
            let text = store(storeKey, key, object)
            record(WatchEvent(kind: .modified, object: object, encoded: text, oldObject: before, storeKey: storeKey, namespace: object[path: ["metadata", "namespace"]]?.stringValue ?? "", revision: revision))
        }
        processDeletion(storeKey, key)
        return objects[storeKey]?[key] ?? object
    }

    /// Acts on a marked object's server-side finalizers: orphans or deletes its
    /// dependents, cleans up what it contains (namespaces, CRDs), and removes it when
    /// nothing holds it any more.
    mutating func processDeletion(_ storeKey: StoreKey, _ key: String) {
        guard var object = objects[storeKey]?[key], object[path: ["metadata", "deletionTimestamp"]] != nil else { return }
        let uid = object[path: ["metadata", "uid"]]?.stringValue ?? ""
        var finalizers = object[path: ["metadata", "finalizers"]]?.arrayValue ?? []
        let before = object
        if finalizers.contains(.string(Storage.orphanFinalizer)) {
            for ref in dependents[uid] ?? [] {
                guard var dependent = objects[ref.storeKey]?[ref.key] else { continue }
                let old = dependent
                let owners = (dependent[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != uid }
                dependent[path: ["metadata", "ownerReferences"]] = owners.isEmpty ? nil : .array(owners)
                revision += 1
                dependent[path: ["metadata", "resourceVersion"]] = .string(String(revision))
                let text = store(ref.storeKey, ref.key, dependent)
                record(WatchEvent(kind: .modified, object: dependent, encoded: text, oldObject: old, storeKey: ref.storeKey, namespace: dependent[path: ["metadata", "namespace"]]?.stringValue ?? "", revision: revision))
            }
            finalizers.removeAll { $0 == .string(Storage.orphanFinalizer) }
        }
        if finalizers.contains(.string(Storage.foregroundFinalizer)) {
            for ref in dependents[uid] ?? [] {
                if objects[ref.storeKey]?[ref.key]?[path: ["metadata", "deletionTimestamp"]] == nil {
                    _ = delete(ref.storeKey, ref.key, policy: .foreground)
                }
            }
            if dependents[uid]?.isEmpty ?? true {
                finalizers.removeAll { $0 == .string(Storage.foregroundFinalizer) }
            }
        }
        Strategies.cleanUpContents(storeKey, object, state: &self)
        guard objects[storeKey]?[key] != nil else { return }
        object = objects[storeKey]![key]!
        object[path: ["metadata", "finalizers"]] = finalizers.isEmpty ? nil : .array(finalizers)
        if finalizers.isEmpty && !Strategies.needsCleanupBeforeRemoval(storeKey, object, state: self) {
            _ = remove(storeKey, key)
            return
        }
        if object != objects[storeKey]![key]! {
            revision += 1
            object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
            let text = store(storeKey, key, object)
            record(WatchEvent(kind: .modified, object: object, encoded: text, oldObject: before, storeKey: storeKey, namespace: object[path: ["metadata", "namespace"]]?.stringValue ?? "", revision: revision))
        }
    }

    /// Removes an object for good, then garbage-collects: its dependents are deleted
    /// in the background, owners waiting in foreground deletion are re-examined, and
    /// so are terminating namespaces and CRDs.
    @discardableResult
    mutating func remove(_ storeKey: StoreKey, _ key: String) -> JSONValue? {
        guard var object = unstore(storeKey, key) else { return nil }
        revision += 1
        object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? ""
        record(WatchEvent(kind: .deleted, object: object, storeKey: storeKey, namespace: namespace, revision: revision))
        Strategies.afterRemoval(storeKey, object, state: &self)

        let uid = object[path: ["metadata", "uid"]]?.stringValue ?? ""
        if let refs = dependents.removeValue(forKey: uid) {
            for ref in refs.sorted(by: { $0.key < $1.key }) where objects[ref.storeKey]?[ref.key] != nil {
                let dependent = objects[ref.storeKey]![ref.key]!
                // A dependent with another live owner stays (the real GC's rule).
                let otherOwners = Self.ownerUIDs(dependent).filter { $0 != uid && ownerExists($0) }
                if otherOwners.isEmpty { _ = delete(ref.storeKey, ref.key, policy: .background) }
            }
        }
        for ownerUID in Self.ownerUIDs(object) {
            if let owner = findByUID(ownerUID) { processDeletion(owner.storeKey, owner.key) }
        }
        if !namespace.isEmpty, let nsKey = Optional(Storage.objectKey(nil, namespace)),
            objects[StoreKey(group: "", plural: "namespaces")]?[nsKey]?[path: ["metadata", "deletionTimestamp"]] != nil
        {
            processDeletion(StoreKey(group: "", plural: "namespaces"), nsKey)
        }
        if let crdName = Strategies.crdName(of: storeKey, state: self) {
            processDeletion(StoreKey(group: "apiextensions.k8s.io", plural: "customresourcedefinitions"), Storage.objectKey(nil, crdName))
        }
        return object
    }

    func ownerExists(_ uid: String) -> Bool { findByUID(uid) != nil }

    func findByUID(_ uid: String) -> Storage.ObjectRef? {
        for (storeKey, objectsOfType) in objects {
            for (key, object) in objectsOfType where object[path: ["metadata", "uid"]]?.stringValue == uid {
                return Storage.ObjectRef(storeKey: storeKey, key: key)
            }
        }
        return nil
    }
}
