import Foundation
import KubeModel
import Logging
import NIOCore
import NIOHTTP1

/// Maps HTTP requests onto the storage: authentication, fault injection, discovery,
/// OpenAPI, and the verbs of every resource, with Table and watch responses.
struct APIHandler: Sendable {
    let storage: Storage
    let faults: FaultInjector
    let authenticator: Authenticator
    let authorizer: Authorizer
    let bookmarkInterval: Duration
    let serverAddress: @Sendable () -> String
    let logger: Logger

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let components = URLComponents(string: request.uri)
        let path = components?.percentEncodedPath.removingPercentEncoding ?? request.uri
        let query = QueryString.parse(components?.percentEncodedQuery ?? "")
        do {
            let user = try authenticate(request, path: path)
            logger.trace("request", metadata: ["http.method": "\(request.method)", "http.path": "\(path)", "k8s.user": "\(user)"])
            let response = try await route(request, path: path, query: query, user: user)
            return Self.negotiated(response, accept: request.headers.first(name: "Accept"))
        } catch let error as APIError {
            return Self.error(error)
        } catch {
            return Self.error(APIError(code: 500, reason: "InternalError", message: "an error on the server (\"\(error)\") has prevented the request from succeeding"))
        }
    }

    private func authenticate(_ request: HTTPRequest, path: String) throws(APIError) -> UserInfo {
        if let header = request.headers.first(name: "Authorization") {
            guard header.hasPrefix("Bearer "), let user = authenticator.user(token: String(header.dropFirst(7)), storage: storage) else { throw .unauthorized }
            return user
        }
        if ["/healthz", "/readyz", "/livez", "/version"].contains(path) { return .anonymous }
        throw .unauthorized
    }

    /// Authorizes a request for a path that is not a resource (discovery, OpenAPI, health).
    private func authorizePath(_ request: HTTPRequest, path: String, user: UserInfo) throws(APIError) {
        try authorizer.authorize(.nonResource(request.method.rawValue.lowercased(), path: path), user: user)
    }

    private func route(_ request: HTTPRequest, path: String, query: [String: String], user: UserInfo) async throws -> HTTPResponse {
        let segments = path.split(separator: "/").map(String.init)
        let isResourcePath = (segments.first == "api" && segments.count > 2) || (segments.first == "apis" && segments.count > 3)
        if !isResourcePath { try authorizePath(request, path: path, user: user) }
        switch segments.first {
        case nil:
            return Self.json(["paths": ["/api", "/api/v1", "/apis", "/healthz", "/openapi/v3", "/version"]])
        case "healthz", "readyz", "livez":
            return HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: .bytes(ByteBuffer(string: "ok")))
        case "version":
            return Self.json(Discovery.serverVersion)
        case "openapi":
            return try openAPI(Array(segments.dropFirst()))
        case "fake":
            return try await admin(request, Array(segments.dropFirst()), query: query)
        case "api":
            if segments.count == 1 { return Self.json(Discovery.coreVersions(serverAddress: serverAddress())) }
            return try await resourceRequest(request, group: "", version: segments[1], rest: Array(segments.dropFirst(2)), query: query, user: user)
        case "apis":
            if segments.count == 1 { return Self.json(Discovery.groupList(storage.allTypes())) }
            if segments.count == 2 {
                guard let group = Discovery.group(segments[1], storage.allTypes()) else { throw APIError.pathNotFound(path) }
                return Self.json(group.merging(kind: "APIGroup"))
            }
            return try await resourceRequest(request, group: segments[1], version: segments[2], rest: Array(segments.dropFirst(3)), query: query, user: user)
        default:
            throw APIError.pathNotFound(path)
        }
    }

    // MARK: OpenAPI

    private func openAPI(_ segments: [String]) throws -> HTTPResponse {
        let types = storage.allTypes()
        guard segments.first == "v3" else {
            throw APIError.pathNotFound("/openapi/\(segments.joined(separator: "/")): only OpenAPI v3 is served")
        }
        let rest = Array(segments.dropFirst())
        if rest.isEmpty { return Self.json(Discovery.openAPIRoot(types, revision: storage.currentRevision)) }
        let document: JSONValue?
        switch (rest.first, rest.count) {
        case ("api", 2): document = Discovery.openAPIDocument(group: "", version: rest[1], types)
        case ("apis", 3): document = Discovery.openAPIDocument(group: rest[1], version: rest[2], types)
        default: document = nil
        }
        guard let document else { throw APIError.pathNotFound("/openapi/v3/\(rest.joined(separator: "/"))") }
        return Self.json(document)
    }

    // MARK: Fault injection and test controls

    private func admin(_ request: HTTPRequest, _ segments: [String], query: [String: String]) async throws -> HTTPResponse {
        switch (request.method, segments.first) {
        case (.GET, "faults"?):
            return Self.json(try JSONValue(encoding: faults.active))
        case (.POST, "faults"?):
            let rule = try JSONDecoder().decode(FaultRule.self, from: Data(request.body.readableBytesView))
            faults.add(rule)
            return Self.json(try JSONValue(encoding: rule), status: .created)
        case (.DELETE, "faults"?):
            faults.clear()
            return Self.json(["cleared": true])
        case (.POST, "drop-watches"?):
            return Self.json(["dropped": .int(Int64(storage.dropWatches(plural: query["resource"])))])
        case (.GET, "access"?):
            return Self.json(.array(try authorizer.accessLog().map { entry in
                var record = try JSONValue(encoding: entry.record)
                record["count"] = .int(Int64(entry.count))
                return record
            }))
        case (.DELETE, "access"?):
            authorizer.clearAccessLog()
            return Self.json(["cleared": true])
        case (.POST, "compact"?):
            storage.compact()
            return Self.json(["compactedRevision": .string(String(storage.currentRevision))])
        default:
            throw APIError.pathNotFound("/fake/\(segments.joined(separator: "/"))")
        }
    }

    // MARK: Resources

    private func resourceRequest(
        _ request: HTTPRequest, group: String, version: String, rest: [String], query: [String: String], user: UserInfo
    ) async throws -> HTTPResponse {
        if rest.isEmpty {
            guard let list = Discovery.resourceList(group: group, version: version, storage.allTypes()) else {
                throw APIError.pathNotFound(request.uri)
            }
            return Self.json(list)
        }
        var namespace: String?
        var parts = rest
        if parts.count >= 3, parts[0] == "namespaces",
            storage.resourceType(group: group, version: version, plural: parts[2])?.namespaced == true
        {
            namespace = parts[1]
            parts = Array(parts.dropFirst(2))
        }
        guard let type = storage.resourceType(group: group, version: version, plural: parts[0]) else {
            throw APIError.pathNotFound(request.uri)
        }
        let name = parts.count > 1 ? parts[1] : nil
        let subresource = parts.count > 2 ? parts[2] : nil
        let isTokenRequest = type.storeKey == StoreKey(group: "", plural: "serviceaccounts") && subresource == "token"
        if parts.count > 3 || (subresource != nil && !isTokenRequest && (subresource != "status" || !type.hasStatusSubresource)) {
            throw APIError.pathNotFound(request.uri)
        }
        if !type.namespaced && namespace != nil { throw APIError.pathNotFound(request.uri) }
        if type.namespaced && namespace == nil && name != nil { throw APIError.pathNotFound(request.uri) }

        let verb: String
        switch (request.method, name) {
        case (.GET, nil): verb = ["true", "1"].contains(query["watch"] ?? "") ? "watch" : "list"
        case (.GET, _): verb = "get"
        case (.POST, nil): verb = "create"
        case (.POST, _?) where isTokenRequest: verb = "create"
        case (.PUT, _?): verb = "update"
        case (.PATCH, _?): verb = "patch"
        case (.DELETE, nil): verb = "deletecollection"
        case (.DELETE, _?): verb = "delete"
        default: throw APIError.methodNotAllowed()
        }
        if type.readOnly && !["get", "list", "watch"].contains(verb) { throw APIError.methodNotAllowed() }
        if (type.createOnly || isTokenRequest) && request.method != .POST { throw APIError.methodNotAllowed() }
        // As kube-apiserver: a list or watch of one name (fieldSelector metadata.name=x) is authorized for that name.
        let authorizedName = name ?? (["list", "watch"].contains(verb) ? FieldSelector.singleName(query["fieldSelector"]) : nil)
        let attributes = RequestAttributes.resource(
            isTokenRequest ? "create" : verb, group: group, resource: type.plural, subresource: subresource ?? "", name: authorizedName ?? "",
            namespace: namespace ?? "")
        try authorizer.authorize(attributes, user: user)
        if let rule = faults.match(verb: verb, resource: type.plural, subresource: subresource, namespace: namespace, name: name, user: user.name) {
            if let delay = rule.delayMilliseconds { try? await Task.sleep(for: .milliseconds(delay)) }
            if let error = FaultInjector.error(for: rule) { throw error }
        }

        if type.createOnly { return try review(request, type: type, user: user) }
        if isTokenRequest { return try tokenRequest(request, namespace: namespace ?? "", name: name ?? "") }
        let dryRun = query["dryRun"] == "All"
        let admit = authorizer.escalationCheck(plural: type.group == Storage.rbacGroup ? type.plural : "", namespace: namespace ?? "", user: user)
        if !["get", "list", "watch"].contains(verb) && !dryRun {
            // Answer a write only once it is on disk (with a data directory).
            let response = try await serveResource(
                request, type: type, verb: verb, namespace: namespace, name: name, subresource: subresource, query: query, dryRun: dryRun, admit: admit)
            try await saved()
            return response
        }
        return try await serveResource(
            request, type: type, verb: verb, namespace: namespace, name: name, subresource: subresource, query: query, dryRun: dryRun, admit: admit)
    }

    /// SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview: answered, never stored.
    private func review(_ request: HTTPRequest, type: ResourceType, user: UserInfo) throws -> HTTPResponse {
        let body = try Self.decodeBody(request)
        switch type.plural {
        case "selfsubjectaccessreviews": return Self.json(try authorizer.accessReview(body, user: user), status: .created)
        case "selfsubjectrulesreviews": return Self.json(authorizer.rulesReview(body, user: user), status: .created)
        default: return Self.json(authorizer.selfReview(body, user: user), status: .created)
        }
    }

    /// `POST .../serviceaccounts/NAME/token` (TokenRequest; `kubectl create token`).
    private func tokenRequest(_ request: HTTPRequest, namespace: String, name: String) throws -> HTTPResponse {
        let body = request.body.readableBytes > 0 ? try Self.decodeBody(request) : [:]
        let serviceAccounts = storage.resourceType(group: "", version: "v1", plural: "serviceaccounts")!
        let account = try storage.get(serviceAccounts, namespace: namespace, name: name)
        return Self.json(try authenticator.tokenRequest(body, serviceAccount: account), status: .created)
    }

    /// Waits until the changes made so far are in the data directory.
    private func saved() async throws {
        do {
            try await storage.journal?.waitUntilDurable()
        } catch {
            throw APIError(code: 500, reason: "InternalError", message: "Internal error occurred: the change could not be saved: \(error)")
        }
    }

    private func serveResource(
        _ request: HTTPRequest, type: ResourceType, verb: String, namespace: String?, name: String?, subresource: String?,
        query: [String: String], dryRun: Bool, admit: Storage.Admission?
    ) async throws -> HTTPResponse {
        let wantsTable = (request.headers.first(name: "Accept") ?? "").contains("as=Table")
        var unknownFields = UnknownFields(directive: UnknownFields.Directive(rawValue: query["fieldValidation"] ?? "Warn") ?? .warn)
        switch verb {
        case "get":
            let object = try storage.getServed(type, namespace: namespace, name: name!)
            if wantsTable {
                return Self.table(TableRenderer.table([object.object], type: type, includeObject: query["includeObject"] ?? "Metadata", revision: storage.currentRevision, continueToken: nil))
            }
            return Self.json(object)
        case "list":
            let labels = try LabelSelector(parsing: query["labelSelector"] ?? "")
            let fields = try FieldSelector(parsing: query["fieldSelector"] ?? "", for: type)
            let result = try storage.list(
                type, namespace: namespace, labels: labels, fields: fields, limit: query["limit"].flatMap { Int($0) },
                continueToken: query["continue"], asText: !wantsTable)
            if wantsTable {
                return Self.table(TableRenderer.table(result.items, type: type, includeObject: query["includeObject"] ?? "Metadata", revision: result.revision, continueToken: result.continueToken))
            }
            var metadata: JSONValue = ["resourceVersion": .string(String(result.revision))]
            if let token = result.continueToken { metadata["continue"] = .string(token) }
            if let remaining = result.remaining { metadata["remainingItemCount"] = .int(Int64(remaining)) }
            return Self.listResponse(kind: type.listKind, apiVersion: type.groupVersion, metadata: metadata, items: result.texts)
        case "watch":
            return try watch(request, type: type, namespace: namespace, query: query, table: wantsTable)
        case "create":
            let object = try Self.decodeBody(request)
            let created = try storage.create(type, namespace: namespace, object: object, dryRun: dryRun, unknownFields: &unknownFields, admit: admit)
            return Self.withFieldValidation(Self.json(created, status: .created), unknownFields)
        case "update":
            let object = try Self.decodeBody(request)
            let updated = try storage.update(
                type, namespace: namespace, name: name!, object: object, subresource: subresource, dryRun: dryRun, unknownFields: &unknownFields, admit: admit)
            return Self.withFieldValidation(Self.json(updated), unknownFields)
        case "patch":
            let patchType = try PatchType(contentType: request.headers.first(name: "Content-Type") ?? "")
            let patch = try Self.decodeBody(request)
            let patched = try storage.patch(
                type, namespace: namespace, name: name!, patchType: patchType, patch: patch, subresource: subresource, dryRun: dryRun,
                unknownFields: &unknownFields, admit: admit)
            return Self.withFieldValidation(Self.json(patched), unknownFields)
        case "delete":
            let deleted = try storage.delete(type, namespace: namespace, name: name!, options: try Self.deleteOptions(request, query: query))
            return Self.json(deleted)
        default:
            let labels = try LabelSelector(parsing: query["labelSelector"] ?? "")
            let fields = try FieldSelector(parsing: query["fieldSelector"] ?? "", for: type)
            let result = try storage.deleteCollection(type, namespace: namespace, labels: labels, fields: fields, options: try Self.deleteOptions(request, query: query))
            return Self.json(["kind": .string(type.listKind), "apiVersion": .string(type.groupVersion), "metadata": ["resourceVersion": .string(String(result.revision))], "items": .array(result.items)])
        }
    }

    private func watch(_ request: HTTPRequest, type: ResourceType, namespace: String?, query: [String: String], table: Bool) throws -> HTTPResponse {
        let filter = WatchFilter(
            storeKey: type.storeKey, namespace: namespace, labels: try LabelSelector(parsing: query["labelSelector"] ?? ""),
            fields: try FieldSelector(parsing: query["fieldSelector"] ?? "", for: type))
        let sendInitialEvents = ["true", "1"].contains(query["sendInitialEvents"] ?? "")
        if sendInitialEvents {
            // As the real server validates a streaming list's options.
            guard query["resourceVersionMatch"] == "NotOlderThan" else {
                throw APIError(code: 422, reason: "Invalid", message: "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
            }
            guard ["true", "1"].contains(query["allowWatchBookmarks"] ?? "") else {
                throw APIError(code: 422, reason: "Invalid", message: "allowWatchBookmarks: Required value: sendInitialEvents requires allowWatchBookmarks=true")
            }
        }
        let watcher = try storage.watch(type, filter: filter, resourceVersion: query["resourceVersion"], sendInitialEvents: sendInitialEvents)
        let storage = self.storage
        request.connectionClosed.whenComplete { _ in storage.stopWatching(watcher) }
        let bookmarks = ["true", "1"].contains(query["allowWatchBookmarks"] ?? "")
        let timeout = query["timeoutSeconds"].flatMap { Int($0) }.map { Duration.seconds($0) }
        let interval = bookmarkInterval
        let includeObject = query["includeObject"] ?? "Metadata"
        let contentType = table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json"
        return HTTPResponse(status: .ok, headers: ["Content-Type": contentType], body: .stream { write in
            try await withThrowingTaskGroup(of: Void.self) { group in
                if bookmarks {
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: interval)
                            storage.sendBookmark(watcher)
                        }
                    }
                }
                if let timeout {
                    group.addTask {
                        try await Task.sleep(for: timeout)
                        storage.stopWatching(watcher)
                    }
                }
                defer { storage.stopWatching(watcher) }
                for await event in watcher.stream {
                    if !table, event.kind == .added || event.kind == .modified || event.kind == .deleted, let text = event.encoded,
                        storage.isServed(event.object, as: type)
                    {
                        // The stored text as it is: no second encoding per watcher.
                        var line: [UInt8] = []
                        line.reserveCapacity(text.count + 32)
                        line.append(contentsOf: #"{"object":"#.utf8)
                        line.append(contentsOf: text)
                        line.append(contentsOf: #","type":""#.utf8)
                        line.append(contentsOf: event.kind.rawValue.utf8)
                        line.append(contentsOf: "\"}\n".utf8)
                        try await write(ByteBuffer(bytes: line))
                        continue
                    }
                    var object = storage.served(event.object, as: type)
                    if table && (event.kind == .added || event.kind == .modified || event.kind == .deleted) {
                        object = TableRenderer.table([object], type: type, includeObject: includeObject, revision: event.revision, continueToken: nil)
                    }
                    if event.kind == .error { object = event.object }
                    var line = JSONValue.object(["type": .string(event.kind.rawValue), "object": object]).encoded()
                    line.append(UInt8(ascii: "\n"))
                    try await write(ByteBuffer(bytes: line))
                }
                group.cancelAll()
            }
        })
    }

    // MARK: Encoding

    /// A single object of a kind with a protobuf message goes back as protobuf when
    /// the client asks for it first (kubectl's typed commands do); everything else,
    /// errors and lists included, stays JSON, which such clients also accept.
    static func negotiated(_ response: HTTPResponse, accept: String?) -> HTTPResponse {
        guard KubernetesProtobuf.preferred(accept: accept), (200..<300).contains(response.status.code),
            response.headers.first(name: "Content-Type") == "application/json", case .bytes(let body) = response.body,
            let object = try? JSONValue.decode(Data(body.readableBytesView)), let encoded = KubernetesProtobuf.encode(object)
        else { return response }
        var copy = response
        copy.headers.replaceOrAdd(name: "Content-Type", value: KubernetesProtobuf.mediaType)
        copy.body = .bytes(ByteBuffer(bytes: encoded))
        return copy
    }

    private static func decodeBody(_ request: HTTPRequest) throws(APIError) -> JSONValue {
        let data = Data(request.body.readableBytesView)
        if data.isEmpty { throw .badRequest("the request body is empty") }
        let contentType = (request.headers.first(name: "Content-Type") ?? "application/json").lowercased()
        if contentType.hasPrefix(KubernetesProtobuf.mediaType) {
            do {
                return try KubernetesProtobuf.decode(data)
            } catch KubernetesProtobuf.Failure.unsupportedKind(let kind) {
                throw APIError(code: 415, reason: "UnsupportedMediaType", message: KubernetesProtobuf.Failure.unsupportedKind(kind).description + "; send JSON")
            } catch {
                throw .badRequest("\(error)")
            }
        }
        if contentType.contains("yaml") || contentType.contains("protobuf") {
            throw .unsupportedMediaType(contentType)
        }
        do {
            return try JSONValue.decode(data)
        } catch {
            throw .badRequest("the body of the request could not be decoded as JSON: \(error)")
        }
    }

    private static func deleteOptions(_ request: HTTPRequest, query: [String: String]) throws(APIError) -> DeleteOptions {
        var options = DeleteOptions()
        var body: JSONValue = [:]
        if request.body.readableBytes > 0 {
            do { body = try JSONValue.decode(Data(request.body.readableBytesView)) } catch { throw .badRequest("invalid DeleteOptions: \(error)") }
        }
        let policy = body["propagationPolicy"]?.stringValue ?? query["propagationPolicy"]
        if let policy {
            guard let parsed = PropagationPolicy(rawValue: policy) else {
                throw .badRequest("propagationPolicy: Unsupported value: \"\(policy)\": supported values: \"Foreground\", \"Background\", \"Orphan\"")
            }
            options.propagationPolicy = parsed
        } else if body["orphanDependents"]?.boolValue == true || query["orphanDependents"] == "true" {
            options.propagationPolicy = .orphan
        }
        options.preconditionUID = body[path: ["preconditions", "uid"]]?.stringValue
        options.preconditionResourceVersion = body[path: ["preconditions", "resourceVersion"]]?.stringValue
        options.dryRun = query["dryRun"] == "All" || (body["dryRun"]?.arrayValue?.contains("All") ?? false)
        return options
    }

    /// `fieldValidation=Warn` (the default) reports pruned unknown fields in Warning
    /// headers; Strict already failed the request, Ignore stays silent.
    private static func withFieldValidation(_ response: HTTPResponse, _ unknownFields: UnknownFields) -> HTTPResponse {
        guard unknownFields.directive == .warn else { return response }
        var copy = response
        for field in unknownFields.paths { copy.headers.add(name: "Warning", value: "299 - \"unknown field \\\"\(field)\\\"\"") }
        return copy
    }

    static func json(_ value: JSONValue, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: .bytes(ByteBuffer(bytes: value.encoded())))
    }

    static func json(_ served: Storage.Served, status: HTTPResponseStatus = .ok) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: .bytes(ByteBuffer(bytes: served.json)))
    }

    /// A list whose items are already JSON text, written as `json` would write the
    /// whole (keys in order: apiVersion, items, kind, metadata).
    static func listResponse(kind: String, apiVersion: String, metadata: JSONValue, items: [[UInt8]]) -> HTTPResponse {
        var body = ByteBuffer()
        body.reserveCapacity(items.reduce(256) { $0 + $1.count + 1 })
        body.writeString("{\"apiVersion\":")
        body.writeBytes(JSONValue.string(apiVersion).encoded())
        body.writeString(",\"items\":[")
        for (index, item) in items.enumerated() {
            if index > 0 { body.writeInteger(UInt8(ascii: ",")) }
            body.writeBytes(item)
        }
        body.writeString("],\"kind\":")
        body.writeBytes(JSONValue.string(kind).encoded())
        body.writeString(",\"metadata\":")
        body.writeBytes(metadata.encoded())
        body.writeString("}")
        return HTTPResponse(status: .ok, headers: ["Content-Type": "application/json"], body: .bytes(body))
    }

    static func table(_ value: JSONValue) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: ["Content-Type": "application/json;as=Table;v=v1;g=meta.k8s.io"], body: .bytes(ByteBuffer(bytes: value.encoded())))
    }

    static func error(_ error: APIError) -> HTTPResponse {
        var response = json(error.status, status: HTTPResponseStatus(statusCode: error.code))
        for (name, value) in error.headers { response.headers.add(name: name, value: value) }
        return response
    }
}

extension JSONValue {
    fileprivate func merging(kind: String) -> JSONValue {
        var copy = self
        copy["kind"] = .string(kind)
        copy["apiVersion"] = "v1"
        return copy
    }
}
