import Foundation
import KubeModel

/// What a list asks for.
public struct ListOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    public var limit: Int?
    public var continueToken: String?
    public var resourceVersion: String?

    public init(labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil, continueToken: String? = nil, resourceVersion: String? = nil) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
    }
}

/// What a watch asks for.
public struct WatchOptions: Sendable, Hashable {
    public var resourceVersion: String?
    public var labelSelector: String?
    public var fieldSelector: String?
    public var allowBookmarks = true
    /// Asks the server to end the watch after this long (client-go picks 5 to 10 minutes).
    public var timeoutSeconds: Int?

    public init(resourceVersion: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil, allowBookmarks: Bool = true, timeoutSeconds: Int? = nil) {
        self.resourceVersion = resourceVersion
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.allowBookmarks = allowBookmarks
        self.timeoutSeconds = timeoutSeconds
    }
}

/// One page of a list.
public struct ObjectList: Sendable {
    public var items: [JSONValue]
    public var resourceVersion: String
    public var continueToken: String?

    public init(items: [JSONValue], resourceVersion: String, continueToken: String?) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}

/// One page of a list with each object as its own JSON text, not parsed (an
/// informer's list decodes them straight into its typed view).
public struct ObjectTextList: Sendable {
    /// Each object's text, with its type's apiVersion and kind.
    public var items: [[UInt8]]
    public var resourceVersion: String
    public var continueToken: String?

    public init(items: [[UInt8]], resourceVersion: String, continueToken: String?) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
    }
}

/// The patch formats of PATCH.
public enum PatchType: String, Sendable {
    case merge = "application/merge-patch+json"
    case json = "application/json-patch+json"
    case strategicMerge = "application/strategic-merge-patch+json"
}

/// How dependents go with a deleted object.
public enum PropagationPolicy: String, Sendable {
    case background = "Background"
    case foreground = "Foreground"
    case orphan = "Orphan"
}

/// The Kubernetes API as the operator, the driver runtime and the job runner use it.
/// Objects travel as raw JSON here; the typed methods of the extension wrap them.
public protocol KubernetesAPI: Sendable {
    func get(_ resource: ResourceDescriptor, namespace: String?, name: String) async throws -> JSONValue
    /// GET of one object, its JSON text as the server sent it (not parsed here).
    func getText(_ resource: ResourceDescriptor, namespace: String?, name: String) async throws -> [UInt8]
    func list(_ resource: ResourceDescriptor, namespace: String?, options: ListOptions) async throws -> ObjectList
    /// `list`, each object as its own JSON text (no tree built for the page).
    func listText(_ resource: ResourceDescriptor, namespace: String?, options: ListOptions) async throws -> ObjectTextList
    func create(_ resource: ResourceDescriptor, namespace: String?, object: JSONValue) async throws -> JSONValue
    /// POST of an object already encoded as JSON text; the answer's text, not parsed.
    @discardableResult
    func create(_ resource: ResourceDescriptor, namespace: String?, encoded: [UInt8]) async throws -> [UInt8]
    /// POST to a subresource of one object (`serviceaccounts/NAME/token`, say).
    func create(_ resource: ResourceDescriptor, namespace: String?, name: String, subresource: String, object: JSONValue) async throws -> JSONValue
    /// PUT: a compare-and-swap when the object carries `metadata.resourceVersion`.
    func update(_ resource: ResourceDescriptor, namespace: String?, name: String, object: JSONValue, subresource: String?) async throws -> JSONValue
    /// `update`, with the answer's text as it came (not parsed).
    func updateText(_ resource: ResourceDescriptor, namespace: String?, name: String, object: JSONValue, subresource: String?) async throws -> [UInt8]
    func patch(_ resource: ResourceDescriptor, namespace: String?, name: String, patch: JSONValue, type: PatchType, subresource: String?) async throws -> JSONValue
    func delete(_ resource: ResourceDescriptor, namespace: String?, name: String, propagation: PropagationPolicy?, preconditionUID: String?) async throws
    /// Opens a watch; the sequence ends when the server closes the stream.
    func watch(_ resource: ResourceDescriptor, namespace: String?, options: WatchOptions) async throws -> WatchEventStream
}

/// The events of one watch request.
public struct WatchEventStream: AsyncSequence, Sendable {
    public typealias Element = WatchEvent
    let makeIterator: @Sendable () -> AsyncIterator

    public init(_ makeIterator: @escaping @Sendable () -> AsyncIterator) {
        self.makeIterator = makeIterator
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextEvent: () async throws -> WatchEvent?

        public init(_ next: @escaping () async throws -> WatchEvent?) { nextEvent = next }

        public mutating func next() async throws -> WatchEvent? { try await nextEvent() }
    }

    public func makeAsyncIterator() -> AsyncIterator { makeIterator() }
}

extension KubernetesAPI {
    private static var serviceAccounts: ResourceDescriptor {
        ResourceDescriptor(group: "", version: "v1", plural: "serviceaccounts", kind: "ServiceAccount", namespaced: true)
    }

    /// A token of the service account `namespace/name` (TokenRequest, as a kubelet
    /// asks for a pod's), valid for `seconds` (at least 600).
    public func requestToken(serviceAccount name: String, namespace: String, seconds: Int = 3600) async throws -> String {
        let response = try await create(
            Self.serviceAccounts, namespace: namespace, name: name, subresource: "token",
            object: ["apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": ["expirationSeconds": .int(Int64(seconds))]])
        guard let token = response[path: ["status", "token"]]?.stringValue, !token.isEmpty else {
            throw KubeError(code: .decoding, message: "the TokenRequest for service account \(namespace)/\(name) returned no token")
        }
        return token
    }

    /// One object, decoded straight from the answer's text (#15: the operator reads
    /// each Database fresh before making its Job).
    public func get<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String) async throws -> Resource<T> {
        try await get(type, namespace: namespace, name: name, reusing: nil)
    }

    /// A fresh read of an object the caller holds a copy of (from a cache): the copy's
    /// typed view when the server's object is at the copy's resourceVersion (one
    /// version is one content), with the answer's text if the copy keeps none; else
    /// the answer decoded. Only the version is read from the answer in the first case.
    public func get<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, reusing copy: Resource<T>?) async throws -> Resource<T> {
        let text = try await getText(T.resource, namespace: namespace, name: name)
        if let copy, let version = copy.metadata.resourceVersion, !version.isEmpty,
            (try? JSONValue.string(at: ["metadata", "resourceVersion"], in: text)) == version
        {
            return copy.keepsJSON ? copy : copy.withJSON(text)
        }
        return try Self.decoded(text, request: "GET \(T.resource.path(namespace: namespace, name: name))")
    }

    /// The object as read, with its JSON: itself, or for a cache's copy that keeps
    /// none the server's text of it, read now. The write still carries the copy's
    /// resourceVersion, so an object that moved on since is the server's Conflict.
    private func withJSON<T: KubernetesObject>(_ resource: Resource<T>) async throws -> Resource<T> {
        if resource.keepsJSON { return resource }
        return resource.withJSON(try await getText(T.resource, namespace: resource.namespace, name: resource.name))
    }

    /// An answer's text as a typed object; a failure is a `.decoding` KubeError.
    private static func decoded<T: KubernetesObject>(_ text: [UInt8], request: String) throws -> Resource<T> {
        do {
            return try Resource(text: text)
        } catch {
            throw KubeError(code: .decoding, message: "\(T.resource.kind): \(error)", request: request)
        }
    }

    /// Every object, following `continue` tokens, each decoded from its own text (no tree of the page).
    public func list<T: KubernetesObject>(_ type: T.Type, namespace: String?, labelSelector: String? = nil, fieldSelector: String? = nil) async throws -> [Resource<T>] {
        var result: [Resource<T>] = []
        var options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector, limit: 500)
        repeat {
            let page = try await listText(T.resource, namespace: namespace, options: options)
            result += try page.items.map { try Resource<T>(text: $0) }
            options.continueToken = page.continueToken
        } while options.continueToken != nil
        return result
    }

    /// Creates `object` without decoding the answer into `T`, for a caller that does
    /// not read it: the operator's Jobs, whose pod template is most of their decoding
    /// time (#15). Encoded by `StreamingJSONEncoder` (JSONEncoder was 14% of the
    /// operator's CPU).
    public func createIgnoringResponse<T: KubernetesObject>(_ object: T) async throws {
        try await create(T.resource, namespace: object.metadata.namespace, encoded: try StreamingJSONEncoder.encodeOrFallBack(object))
    }

    /// Creates `object`: its streamed JSON bytes are sent as they are and the answer's
    /// text is decoded directly (no JSONValue tree either way).
    public func create<T: KubernetesObject>(_ object: T) async throws -> Resource<T> {
        let text = try await create(T.resource, namespace: object.metadata.namespace, encoded: try StreamingJSONEncoder.encodeOrFallBack(object))
        return try Self.decoded(text, request: "POST \(T.resource.path(namespace: object.metadata.namespace))")
    }

    /// Compare-and-swap: writes `modified` over the object as read, or fails with Conflict
    /// if it changed since. Fields the typed view does not know are kept.
    /// A copy from a cache that keeps no JSON is read again first (a Conflict if it
    /// changed meanwhile).
    public func update<T: KubernetesObject>(_ resource: Resource<T>, to modified: T) async throws -> Resource<T> {
        try await update(resource, to: modified, subresource: nil)
    }

    /// Compare-and-swap on the status subresource.
    public func updateStatus<T: KubernetesObject>(_ resource: Resource<T>, to modified: T) async throws -> Resource<T> {
        try await update(resource, to: modified, subresource: "status")
    }

    private func update<T: KubernetesObject>(_ resource: Resource<T>, to modified: T, subresource: String?) async throws -> Resource<T> {
        let request = "PUT \(T.resource.path(namespace: resource.namespace, name: resource.name, subresource: subresource))"
        var body = try await withJSON(resource).merging(modified)
        body[path: ["metadata", "resourceVersion"]] = resource.metadata.resourceVersion.map(JSONValue.string)
        let text = try await updateText(T.resource, namespace: resource.namespace, name: resource.name, object: body, subresource: subresource)
        return try Self.decoded(text, request: request)
    }

    /// A JSON merge patch of the fields that differ between the object as read and `modified`.
    public func patch<T: KubernetesObject>(_ resource: Resource<T>, to modified: T, subresource: String? = nil) async throws -> Resource<T> {
        let patch = try resource.mergePatch(to: modified)
        return try Resource(raw: try await self.patch(T.resource, namespace: resource.namespace, name: resource.name, patch: patch, type: .merge, subresource: subresource))
    }

    public func delete<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, propagation: PropagationPolicy? = nil) async throws {
        try await delete(T.resource, namespace: namespace, name: name, propagation: propagation, preconditionUID: nil)
    }
}
