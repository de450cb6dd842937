import Foundation
import KubeModel
import Synchronization

/// The server's state: every object, the resource types (built-in and from CRDs),
/// one global resourceVersion counter, the watch history and the open watches.
///
/// One lock serialises every change, as etcd's single revision does; every rule of
/// the object semantics (SPEC section 7) is enforced here, below the HTTP layer.
final class Storage: Sendable {
    struct Configuration: Sendable {
        /// How many changes the watch history keeps; a watch from an older version gets 410 Gone.
        var historyLimit = 100_000
    }

    let state: Mutex<State>
    /// A check of the object about to be written (and the one it replaces), after
    /// validation: an admission step such as RBAC's escalation prevention. It runs
    /// under the storage lock, so it must not call back into the storage.
    typealias Admission = (_ object: JSONValue, _ old: JSONValue?) throws(APIError) -> Void
    /// Where committed changes are saved (`--data-dir`); nil keeps them in memory only.
    let journal: Journal?

    /// A store, restored from `persistence` when given: its objects, their CRDs'
    /// resources served again, and the resourceVersion after the last reserved one
    /// (watches from before the restart get 410 Gone and relist).
    init(configuration: Configuration = Configuration(), persistence: (journal: Journal, restored: Journal.Restored)? = nil) {
        var state = State(configuration: configuration)
        if let persistence {
            for (storeKey, key, object) in persistence.restored.objects { state.store(storeKey, key, object) }
            if let crds = state.types[State.typeKey("apiextensions.k8s.io", "v1", "customresourcedefinitions")] {
                for object in (state.objects[crds.storeKey] ?? [:]).values { Strategies.afterWrite(crds, object, old: nil, state: &state) }
            }
            state.revision = max(state.revision, persistence.restored.revision)
            state.compactedRevision = state.revision
            state.reservedRevision = state.revision
            state.journal = persistence.journal
            persistence.journal.start(objects: state.objects, revision: state.reservedRevision)
        }
        self.state = Mutex(state)
        journal = persistence?.journal
    }

    /// What the lock protects.
    struct State: ~Copyable {
        let configuration: Configuration
        var revision: UInt64 = 1
        /// Served resource types by "group/version/plural".
        var types: [String: ResourceType] = [:]
        /// Objects by resource, then "namespace/name".
        var objects: [StoreKey: [String: JSONValue]] = [:]
        /// Each object of `objects` as JSON text, written once when it is stored: a list,
        /// a watch event and a write's answer send these bytes instead of encoding the
        /// tree again (#15: a list of 10,000 objects under 100 ms).
        var encoded: [StoreKey: [String: [UInt8]]] = [:]
        /// Dependents by owner UID (ownerReferences), for garbage collection.
        var dependents: [String: Set<ObjectRef>] = [:]
        var history: [WatchEvent] = []
        /// Changes at or below this revision are no longer in `history`.
        var compactedRevision: UInt64 = 0
        var watchers: [UInt64: Watcher] = [:]
        var nextWatcherID: UInt64 = 1
        /// Saves every change when the server has a data directory.
        var journal: Journal?
        /// resourceVersions up to this one are reserved on disk (see Journal).
        var reservedRevision: UInt64 = 0
        /// Bumped by every change to a Role, ClusterRole or binding: the authorizer's cache key.
        var rbacRevision: UInt64 = 0

        init(configuration: Configuration) {
            self.configuration = configuration
            for type in BuiltinResources.all { types[Self.typeKey(type.group, type.version, type.plural)] = type }
        }

        static func typeKey(_ group: String, _ version: String, _ plural: String) -> String {
            "\(group)/\(version)/\(plural)"
        }
    }

    /// An object's place in the store.
    struct ObjectRef: Hashable, Sendable {
        var storeKey: StoreKey
        var key: String
    }

    static func objectKey(_ namespace: String?, _ name: String) -> String {
        "\(namespace ?? "")/\(name)"
    }

    // MARK: Types

    func resourceType(group: String, version: String, plural: String) -> ResourceType? {
        state.withLock { $0.types[State.typeKey(group, version, plural)] }
    }

    func allTypes() -> [ResourceType] {
        state.withLock { Array($0.types.values) }
    }

    var currentRevision: UInt64 { state.withLock { $0.revision } }

    static let rbacGroup = "rbac.authorization.k8s.io"

    /// Changes when a Role, ClusterRole or binding does.
    var rbacRevision: UInt64 { state.withLock { $0.rbacRevision } }

    /// Every Role, ClusterRole, RoleBinding and ClusterRoleBinding, and the `rbacRevision` they are at.
    func rbacObjects() -> (revision: UInt64, roles: [JSONValue], clusterRoles: [JSONValue], roleBindings: [JSONValue], clusterRoleBindings: [JSONValue]) {
        state.withLock { state in
            func all(_ plural: String) -> [JSONValue] { Array((state.objects[StoreKey(group: Self.rbacGroup, plural: plural)] ?? [:]).values) }
            return (state.rbacRevision, all("roles"), all("clusterroles"), all("rolebindings"), all("clusterrolebindings"))
        }
    }

    /// An object as a read or write answers it, with its JSON text when that is the
    /// stored text (no second encoding for the answer).
    struct Served: Sendable {
        var object: JSONValue
        var text: [UInt8]?

        /// The JSON text of `object`.
        var json: [UInt8] {
            if let text { return text }
            var bytes: [UInt8] = []
            object.write(to: &bytes)
            return bytes
        }
    }

    // MARK: Reads

    func get(_ type: ResourceType, namespace: String?, name: String) throws(APIError) -> JSONValue {
        try getServed(type, namespace: namespace, name: name).object
    }

    /// `get`, with the stored text when it is what is served.
    func getServed(_ type: ResourceType, namespace: String?, name: String) throws(APIError) -> Served {
        try state.withLock { (state) throws(APIError) -> Served in
            let key = Self.objectKey(namespace, name)
            guard let object = state.objects[type.storeKey]?[key] else {
                throw .notFound(type, name)
            }
            return state.served(object, as: type, storeKey: type.storeKey, key: key, storage: self)
        }
    }

    struct ListResult: Sendable {
        /// The objects, as served; empty when the list was asked for as text.
        var items: [JSONValue]
        /// The objects as served, as JSON text, when asked for (`asText`).
        var texts: [[UInt8]] = []
        var revision: UInt64
        var continueToken: String?
        var remaining: Int?
    }

    /// Lists in namespace/name order; `limit` and `continue` page through the result.
    /// `asText` gives the items as JSON text (`texts`), mostly the stored bytes.
    func list(
        _ type: ResourceType, namespace: String?, labels: LabelSelector, fields: FieldSelector,
        limit: Int?, continueToken: String?, asText: Bool = false
    ) throws(APIError) -> ListResult {
        var after: String?
        if let continueToken, !continueToken.isEmpty {
            guard let data = Data(base64Encoded: continueToken), let key = String(data: data, encoding: .utf8) else {
                throw .badRequest("continue key is not valid: illegal base64 data")
            }
            after = key
        }
        return state.withLock { state in
            let filter = WatchFilter(storeKey: type.storeKey, namespace: namespace, labels: labels, fields: fields)
            let all = state.objects[type.storeKey] ?? [:]
            let stored = asText ? state.encoded[type.storeKey] ?? [:] : [:]
            let prefix = namespace.map { $0 + "/" }
            var keys = all.keys.filter { key in
                if let prefix, !key.hasPrefix(prefix) { return false }
                if let after, key <= after { return false }
                return true
            }
            keys.sort()
            var items: [JSONValue] = []
            var texts: [[UInt8]] = []
            var count = 0
            var lastKey: String?
            var index = 0
            while index < keys.count {
                let object = all[keys[index]]!
                index += 1
                guard filter.matches(object) else { continue }
                if !asText {
                    items.append(served(object, as: type))
                } else if isServed(object, as: type), let text = stored[keys[index - 1]] {
                    texts.append(text)
                } else {
                    var text: [UInt8] = []
                    served(object, as: type).write(to: &text)
                    texts.append(text)
                }
                count += 1
                lastKey = keys[index - 1]
                if let limit, limit > 0, count == limit { break }
            }
            var token: String?
            var remaining: Int?
            // As kube-apiserver: remainingItemCount only for a list without selectors
            // (with one it would have to match every remaining object, per page).
            let selected = !labels.requirements.isEmpty || !fields.requirements.isEmpty
            if let limit, limit > 0, count == limit, index < keys.count,
                !selected || keys[index...].contains(where: { filter.matches(all[$0]!) })
            {
                token = Data(lastKey!.utf8).base64EncodedString()
                remaining = selected ? nil : keys.count - index
            }
            return ListResult(items: items, texts: texts, revision: state.revision, continueToken: token, remaining: remaining)
        }
    }

    // MARK: Writes

    /// Creates an object. `pruned` receives the unknown fields a schema dropped.
    func create(
        _ type: ResourceType, namespace: String?, object input: JSONValue, dryRun: Bool, unknownFields: inout UnknownFields,
        admit: Admission? = nil
    ) throws(APIError) -> Served {
        guard case .object = input else { throw .badRequest("the body of the request must be a JSON object") }
        var object = input
        try checkKind(object, type)
        object["apiVersion"] = .string(type.groupVersion)
        object["kind"] = .string(type.kind)
        var metadata = object["metadata"]?.objectValue ?? [:]
        if let bodyNamespace = metadata["namespace"]?.stringValue, !bodyNamespace.isEmpty, type.namespaced,
            bodyNamespace != namespace
        {
            throw .badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        if type.namespaced { metadata["namespace"] = namespace.map(JSONValue.string) } else { metadata.removeValue(forKey: "namespace") }
        for serverField in ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink"] {
            metadata.removeValue(forKey: serverField)
        }
        object["metadata"] = .object(metadata)
        if type.hasStatusSubresource && type.crdName != nil { object.removeValue(forKey: "status") }

        return try state.withLock { (state) throws(APIError) -> Served in
            if type.namespaced {
                guard let ns = namespace, let nsObject = state.objects[StoreKey(group: "", plural: "namespaces")]?[Self.objectKey(nil, ns)] else {
                    throw .namespaceNotFound(namespace ?? "")
                }
                if nsObject[path: ["metadata", "deletionTimestamp"]] != nil {
                    throw .forbidden("\(type.plural) \"\(object[path: ["metadata", "name"]]?.stringValue ?? "")\" is forbidden: unable to create new content in namespace \(ns) because it is being terminated")
                }
            }
            var name = object[path: ["metadata", "name"]]?.stringValue ?? ""
            if name.isEmpty, let prefix = object[path: ["metadata", "generateName"]]?.stringValue, !prefix.isEmpty {
                repeat {
                    name = prefix + Self.randomSuffix()
                } while state.objects[type.storeKey]?[Self.objectKey(namespace, name)] != nil
                object[path: ["metadata", "name"]] = .string(name)
            }
            try Strategies.prepareForCreate(type, &object, unknownFields: &unknownFields, state: state)
            var errors = Strategies.validateMetadata(type, object)
            errors += Strategies.validate(type, object, old: nil, state: state)
            if !errors.isEmpty { throw .invalid(type, name, errors) }
            try admit?(object, nil)
            let key = Self.objectKey(namespace, name)
            if state.objects[type.storeKey]?[key] != nil { throw .alreadyExists(type, name) }

            object[path: ["metadata", "uid"]] = .string(RandomUUID.make())
            object[path: ["metadata", "creationTimestamp"]] = .string(Timestamp.now())
            if type.hasGeneration { object[path: ["metadata", "generation"]] = 1 }
            Strategies.afterIdentity(type, &object)
            if dryRun {
                object[path: ["metadata", "resourceVersion"]] = .string(String(state.revision))
                return Served(object: served(object, as: type))
            }
            state.revision += 1
            object[path: ["metadata", "resourceVersion"]] = .string(String(state.revision))
            let text = state.store(type.storeKey, key, object)
            state.record(WatchEvent(kind: .added, object: object, encoded: text, storeKey: type.storeKey, namespace: namespace ?? "", revision: state.revision))
            Strategies.afterWrite(type, object, old: nil, state: &state)
            return isServed(object, as: type) ? Served(object: object, text: text) : Served(object: served(object, as: type))
        }
    }

    /// Replaces an object (PUT), or only its status when `subresource` is "status".
    func update(
        _ type: ResourceType, namespace: String?, name: String, object input: JSONValue, subresource: String?,
        dryRun: Bool, unknownFields: inout UnknownFields, admit: Admission? = nil
    ) throws(APIError) -> Served {
        guard case .object = input else { throw .badRequest("the body of the request must be a JSON object") }
        try checkKind(input, type)
        return try state.withLock { (state) throws(APIError) -> Served in
            let key = Self.objectKey(namespace, name)
            guard let old = state.objects[type.storeKey]?[key] else { throw .notFound(type, name) }
            if let bodyName = input[path: ["metadata", "name"]]?.stringValue, bodyName != name {
                throw .badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
            }
            if let version = input[path: ["metadata", "resourceVersion"]]?.stringValue, !version.isEmpty,
                version != old[path: ["metadata", "resourceVersion"]]?.stringValue
            {
                throw .conflict(type, name)
            }
            return try state.replace(type, key: key, old: old, with: input, subresource: subresource, dryRun: dryRun, unknownFields: &unknownFields, admit: admit, storage: self)
        }
    }

    /// Applies a patch, then follows the rules of an update.
    func patch(
        _ type: ResourceType, namespace: String?, name: String, patchType: PatchType, patch: JSONValue,
        subresource: String?, dryRun: Bool, unknownFields: inout UnknownFields, admit: Admission? = nil
    ) throws(APIError) -> Served {
        if patchType == .strategicMerge && type.crdName != nil {
            throw .unsupportedMediaType("application/strategic-merge-patch+json")
        }
        return try state.withLock { (state) throws(APIError) -> Served in
            let key = Self.objectKey(namespace, name)
            guard let old = state.objects[type.storeKey]?[key] else { throw .notFound(type, name) }
            let current = served(old, as: type)
            var patched: JSONValue
            switch patchType {
            case .merge:
                patched = current.applyingMergePatch(patch)
            case .json:
                patched = try Patches.applyJSONPatch(patch, to: current)
            case .strategicMerge:
                patched = Patches.applyStrategicMergePatch(
                    patch, to: current, mergeKeys: type.strategicMergeKeys.merging(BuiltinResources.metadataMergeKeys) { a, _ in a })
            }
            if let version = patched[path: ["metadata", "resourceVersion"]]?.stringValue, !version.isEmpty,
                version != old[path: ["metadata", "resourceVersion"]]?.stringValue
            {
                throw .conflict(type, name)
            }
            guard patched[path: ["metadata", "name"]]?.stringValue == name else {
                throw .badRequest("the name of the object cannot be changed by a patch")
            }
            return try state.replace(type, key: key, old: old, with: patched, subresource: subresource, dryRun: dryRun, unknownFields: &unknownFields, admit: admit, storage: self)
        }
    }

    private func checkKind(_ object: JSONValue, _ type: ResourceType) throws(APIError) {
        if let kind = object["kind"]?.stringValue, !kind.isEmpty, kind != type.kind {
            throw .badRequest("the kind of the object (\(kind)) does not match the kind of the resource (\(type.kind))")
        }
        if let apiVersion = object["apiVersion"]?.stringValue, !apiVersion.isEmpty {
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            if group != type.group {
                throw .badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(type.groupVersion))")
            }
        }
    }

    /// Whether `object` is served in `type`'s version as it is stored.
    func isServed(_ object: JSONValue, as type: ResourceType) -> Bool {
        object["apiVersion"]?.stringValue == type.groupVersion
    }

    /// The object as served in `type`'s version.
    func served(_ object: JSONValue, as type: ResourceType) -> JSONValue {
        if isServed(object, as: type) { return object }
        var copy = object
        copy["apiVersion"] = .string(type.groupVersion)
        return copy
    }

    private static let suffixAlphabet = Array("bcdfghjklmnpqrstvwxz2456789")
    static func randomSuffix() -> String {
        String((0..<5).map { _ in suffixAlphabet.randomElement()! })
    }
}

extension Storage.State {
    /// Stores `object` under `key` and returns its JSON text (kept in `encoded`).
    @discardableResult
    mutating func store(_ storeKey: StoreKey, _ key: String, _ object: JSONValue) -> [UInt8] {
        let old = objects[storeKey]?[key]
        if storeKey.group == Storage.rbacGroup { rbacRevision &+= 1 }
        objects[storeKey, default: [:]][key] = object
        var text: [UInt8] = []
        text.reserveCapacity(512)
        object.write(to: &text)
        text = text.withUnsafeBufferPointer { Array($0) }  // exactly its size
        encoded[storeKey, default: [:]][key] = text
        journal?.put(storeKey, key, object)
        let ref = Storage.ObjectRef(storeKey: storeKey, key: key)
        for uid in Self.ownerUIDs(old) where !Self.ownerUIDs(object).contains(uid) {
            dependents[uid]?.remove(ref)
            if dependents[uid]?.isEmpty == true { dependents.removeValue(forKey: uid) }
        }
        for uid in Self.ownerUIDs(object) { dependents[uid, default: []].insert(ref) }
        return text
    }

    mutating func unstore(_ storeKey: StoreKey, _ key: String) -> JSONValue? {
        guard let old = objects[storeKey]?.removeValue(forKey: key) else { return nil }
        encoded[storeKey]?.removeValue(forKey: key)
        journal?.delete(storeKey, key)
        if storeKey.group == Storage.rbacGroup { rbacRevision &+= 1 }
        let ref = Storage.ObjectRef(storeKey: storeKey, key: key)
        for uid in Self.ownerUIDs(old) {
            dependents[uid]?.remove(ref)
            if dependents[uid]?.isEmpty == true { dependents.removeValue(forKey: uid) }
        }
        return old
    }

    static func ownerUIDs(_ object: JSONValue?) -> [String] {
        object?[path: ["metadata", "ownerReferences"]]?.arrayValue?.compactMap { $0["uid"]?.stringValue } ?? []
    }

    /// Appends to the history and fans out to the open watches.
    mutating func record(_ event: WatchEvent) {
        if let journal {
            // The version must be reserved on disk before anyone sees it.
            if event.revision > reservedRevision {
                reservedRevision = event.revision + Journal.reservationBlock
                try? journal.reserve(through: reservedRevision)
            }
            journal.rotateIfDue(objects: objects, revision: reservedRevision)
        }
        history.append(event)
        if history.count > configuration.historyLimit {
            let drop = history.count - configuration.historyLimit / 2
            compactedRevision = history[drop - 1].revision
            history.removeFirst(drop)
        }
        for watcher in watchers.values {
            if let translated = watcher.filter.translate(event) { watcher.continuation.yield(translated) }
        }
    }

    /// The common path of update and patch: status subresource rules, immutable
    /// metadata, finalizer rules, generation, no-op detection, and removal when the
    /// last finalizer of a deleted object goes.
    mutating func replace(
        _ type: ResourceType, key: String, old: JSONValue, with input: JSONValue, subresource: String?,
        dryRun: Bool, unknownFields: inout UnknownFields, admit: Storage.Admission? = nil, storage: Storage
    ) throws(APIError) -> Storage.Served {
        let name = old[path: ["metadata", "name"]]?.stringValue ?? ""
        var object: JSONValue
        if subresource == "status" {
            object = old
            object["status"] = input["status"]
            if input["status"] == nil { object.removeValue(forKey: "status") }
        } else {
            object = input
            object["apiVersion"] = old["apiVersion"]
            object["kind"] = old["kind"]
            for immutable in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace", "name"] {
                object[path: ["metadata", immutable]] = old[path: ["metadata", immutable]]
            }
            object[path: ["metadata", "managedFields"]] = nil
            if type.hasStatusSubresource { object["status"] = old["status"] }
            if object["status"] == nil { object.removeValue(forKey: "status") }
        }
        if subresource != "status" {
            try Strategies.prepareForUpdate(type, &object, old: old, unknownFields: &unknownFields, state: self)
        } else {
            try Strategies.prepareForStatusUpdate(type, &object, old: old, state: self)
        }
        var errors = Strategies.validateMetadata(type, object)
        errors += Strategies.validate(type, object, old: old, state: self)
        if old[path: ["metadata", "deletionTimestamp"]] != nil {
            let oldFinalizers = Set(old[path: ["metadata", "finalizers"]]?.arrayValue ?? [])
            let added = (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).filter { !oldFinalizers.contains($0) }
            if !added.isEmpty {
                errors.append(.forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{\(added.compactMap(\.stringValue).map { "\"\($0)\"" }.joined(separator: ", "))}"))
            }
        }
        if !errors.isEmpty { throw .invalid(type, name, errors) }
        try admit?(object, old)

        object[path: ["metadata", "resourceVersion"]] = old[path: ["metadata", "resourceVersion"]]
        if object == old { return served(old, as: type, storeKey: type.storeKey, key: key, storage: storage) }
        if type.hasGeneration && subresource != "status" && Self.specChanged(old, object) {
            object[path: ["metadata", "generation"]] = .int((old[path: ["metadata", "generation"]]?.intValue ?? 0) + 1)
        }
        if dryRun { return Storage.Served(object: storage.served(object, as: type)) }
        revision += 1
        object[path: ["metadata", "resourceVersion"]] = .string(String(revision))
        let text = store(type.storeKey, key, object)
        let namespace = object[path: ["metadata", "namespace"]]?.stringValue ?? ""
        record(WatchEvent(kind: .modified, object: object, encoded: text, oldObject: old, storeKey: type.storeKey, namespace: namespace, revision: revision))
        Strategies.afterWrite(type, object, old: old, state: &self)
        if object[path: ["metadata", "deletionTimestamp"]] != nil,
            (object[path: ["metadata", "finalizers"]]?.arrayValue ?? []).isEmpty
        {
            let removed = remove(type.storeKey, key)
            return Storage.Served(object: storage.served(removed ?? object, as: type))
        }
        return storage.isServed(object, as: type) ? Storage.Served(object: object, text: text) : Storage.Served(object: storage.served(object, as: type))
    }

    /// A stored object as served, with its stored text when that is what is served.
    func served(_ object: JSONValue, as type: ResourceType, storeKey: StoreKey, key: String, storage: Storage) -> Storage.Served {
        guard storage.isServed(object, as: type), let text = encoded[storeKey]?[key] else {
            return Storage.Served(object: storage.served(object, as: type))
        }
        return Storage.Served(object: object, text: text)
    }

    /// Whether anything but metadata and status changed: what bumps `generation`.
    static func specChanged(_ old: JSONValue, _ new: JSONValue) -> Bool {
        var a = old, b = new
        for key in ["metadata", "status"] {
            a[key] = nil
            b[key] = nil
        }
        return a != b
    }
}
