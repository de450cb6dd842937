import AsyncHTTPClient
import Foundation
import KubeModel
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// `KubernetesAPI` over HTTPS with AsyncHTTPClient: bearer token or client
/// certificate, the cluster's CA, typed errors from Status bodies, and retries with
/// backoff for 429 (honouring Retry-After) and for 5xx on idempotent verbs.
public final class HTTPKubernetesClient: KubernetesAPI {
    public let configuration: KubeClientConfiguration
    private let http: HTTPClient
    private let logger: Logger
    /// The token file's content and when it was read (see `bearerToken()`).
    private let cachedToken = Mutex<(token: String, read: ContinuousClock.Instant)?>(nil)
    private let observer: (@Sendable (RequestOutcome) -> Void)?

    /// How one attempt of a request ended, for a caller that counts them (the
    /// operator's `/metrics`): a retry is an attempt that ended with `retrying`. A
    /// watch is not retried here (the Watcher opens it again: another WATCH attempt).
    public struct RequestOutcome: Sendable, Equatable {
        /// GET, POST, PUT, PATCH, DELETE; WATCH for a watch being opened.
        public var method: String
        /// The HTTP status; nil when no answer came (connection failed, timed out).
        public var status: Int?
        /// Whether the request is tried again after this attempt.
        public var retrying: Bool

        public init(method: String, status: Int?, retrying: Bool) {
            self.method = method
            self.status = status
            self.retrying = retrying
        }
    }

    /// `observer` is told how every attempt of every request ended (on the task that
    /// made it: keep it quick).
    public init(configuration: KubeClientConfiguration, logger: Logger, observer: (@Sendable (RequestOutcome) -> Void)? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        self.observer = observer
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let ca = configuration.certificateAuthorityPEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.utf8)))
            }
            if configuration.insecureSkipTLSVerify { tls.certificateVerification = .none }
            if let cert = configuration.clientCertificatePEM, let key = configuration.clientKeyPEM {
                tls.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(cert.utf8)).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
            }
        } catch {
            throw KubeError(code: .configuration, message: "invalid TLS material in the client configuration: \(error)")
        }
        var httpConfiguration = HTTPClient.Configuration(tlsConfiguration: tls)
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 32
        httpConfiguration.timeout.connect = .seconds(10)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
    }

    /// Closes the connections; call once, before the client goes away.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: KubernetesAPI

    public func get(_ resource: ResourceDescriptor, namespace: String?, name: String) async throws -> JSONValue {
        try await send(.GET, resource.path(namespace: namespace, name: name))
    }

    public func getText(_ resource: ResourceDescriptor, namespace: String?, name: String) async throws -> [UInt8] {
        try await sendForText(.GET, resource.path(namespace: namespace, name: name))
    }

    public func list(_ resource: ResourceDescriptor, namespace: String?, options: ListOptions) async throws -> ObjectList {
        let body = try await send(.GET, resource.path(namespace: namespace), query: Self.query(options))
        guard let items = body["items"]?.arrayValue else {
            throw KubeError(code: .decoding, message: "list response has no items", request: "GET \(resource.path(namespace: namespace))")
        }
        let version = body[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        let token = body[path: ["metadata", "continue"]]?.stringValue
        // Items of a list carry no apiVersion/kind; give them their type's.
        let typed = items.map { item -> JSONValue in
            var copy = item
            if copy["apiVersion"] == nil { copy["apiVersion"] = .string(resource.apiVersion) }
            if copy["kind"] == nil { copy["kind"] = .string(resource.kind) }
            return copy
        }
        return ObjectList(items: typed, resourceVersion: version, continueToken: (token?.isEmpty ?? true) ? nil : token)
    }

    public func listText(_ resource: ResourceDescriptor, namespace: String?, options: ListOptions) async throws -> ObjectTextList {
        let request = "GET \(resource.path(namespace: namespace))"
        let text = try await sendForText(.GET, resource.path(namespace: namespace), query: Self.query(options))
        let page: (items: [[UInt8]]?, metadata: JSONValue)
        do {
            page = try JSONValue.listItems(fromText: text, apiVersion: resource.apiVersion, kind: resource.kind)
        } catch {
            throw KubeError(code: .decoding, message: "list response: \(error)", request: request)
        }
        guard let items = page.items else { throw KubeError(code: .decoding, message: "list response has no items", request: request) }
        let token = page.metadata["continue"]?.stringValue
        return ObjectTextList(
            items: items, resourceVersion: page.metadata["resourceVersion"]?.stringValue ?? "",
            continueToken: (token?.isEmpty ?? true) ? nil : token)
    }

    private static func query(_ options: ListOptions) -> [(String, String)] {
        var query: [(String, String)] = []
        if let v = options.labelSelector { query.append(("labelSelector", v)) }
        if let v = options.fieldSelector { query.append(("fieldSelector", v)) }
        if let v = options.limit { query.append(("limit", String(v))) }
        if let v = options.continueToken { query.append(("continue", v)) }
        if let v = options.resourceVersion { query.append(("resourceVersion", v)) }
        return query
    }

    public func create(_ resource: ResourceDescriptor, namespace: String?, object: JSONValue) async throws -> JSONValue {
        try await send(.POST, resource.path(namespace: namespace), body: object)
    }

    @discardableResult
    public func create(_ resource: ResourceDescriptor, namespace: String?, encoded: [UInt8]) async throws -> [UInt8] {
        try await sendForText(.POST, resource.path(namespace: namespace), encodedBody: encoded)
    }

    public func create(_ resource: ResourceDescriptor, namespace: String?, name: String, subresource: String, object: JSONValue) async throws -> JSONValue {
        try await send(.POST, resource.path(namespace: namespace, name: name, subresource: subresource), body: object)
    }

    public func update(_ resource: ResourceDescriptor, namespace: String?, name: String, object: JSONValue, subresource: String?) async throws -> JSONValue {
        try await send(.PUT, resource.path(namespace: namespace, name: name, subresource: subresource), body: object)
    }

    public func updateText(_ resource: ResourceDescriptor, namespace: String?, name: String, object: JSONValue, subresource: String?) async throws -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(512)
        object.write(to: &body)
        return try await sendForText(.PUT, resource.path(namespace: namespace, name: name, subresource: subresource), encodedBody: body)
    }

    public func patch(_ resource: ResourceDescriptor, namespace: String?, name: String, patch: JSONValue, type: PatchType, subresource: String?) async throws -> JSONValue {
        try await send(.PATCH, resource.path(namespace: namespace, name: name, subresource: subresource), body: patch, contentType: type.rawValue)
    }

    public func delete(_ resource: ResourceDescriptor, namespace: String?, name: String, propagation: PropagationPolicy?, preconditionUID: String?) async throws {
        var options: JSONValue = ["apiVersion": "v1", "kind": "DeleteOptions"]
        if let propagation { options["propagationPolicy"] = .string(propagation.rawValue) }
        if let preconditionUID { options["preconditions"] = ["uid": .string(preconditionUID)] }
        _ = try await send(.DELETE, resource.path(namespace: namespace, name: name), body: options)
    }

    public func watch(_ resource: ResourceDescriptor, namespace: String?, options: WatchOptions) async throws -> WatchEventStream {
        var query: [(String, String)] = [("watch", "true")]
        if let v = options.resourceVersion { query.append(("resourceVersion", v)) }
        if let v = options.labelSelector { query.append(("labelSelector", v)) }
        if let v = options.fieldSelector { query.append(("fieldSelector", v)) }
        if options.allowBookmarks { query.append(("allowWatchBookmarks", "true")) }
        if let v = options.timeoutSeconds { query.append(("timeoutSeconds", String(v))) }
        let path = resource.path(namespace: namespace)
        let description = "WATCH \(path)"
        let response: HTTPClientResponse
        do {
            response = try await execute(.GET, path, query: query, body: nil, contentType: nil, deadline: .now() + .hours(24), description: description)
        } catch let error as KubeError {
            if error.code != .configuration { observer?(RequestOutcome(method: "WATCH", status: nil, retrying: false)) }
            throw error
        }
        observer?(RequestOutcome(method: "WATCH", status: Int(response.status.code), retrying: false))
        guard response.status.code / 100 == 2 else {
            let bytes = try? await response.body.collect(upTo: 1 << 20)
            throw KubeError.from(
                httpStatus: Int(response.status.code), body: bytes.flatMap { try? JSONValue.decode(Data($0.readableBytesView)) },
                retryAfter: response.headers.first(name: "Retry-After").flatMap { Int($0) }, request: description)
        }
        let body = response.body
        return WatchEventStream {
            var framer = LineFramer()
            var chunks = body.makeAsyncIterator()
            return WatchEventStream.AsyncIterator {
                while true {
                    if let line = framer.nextLine() {
                        do {
                            return try WatchEvent(line: line)
                        } catch {
                            throw KubeError(code: .decoding, message: "bad watch event: \(error)", request: description)
                        }
                    }
                    let chunk: ByteBuffer?
                    do {
                        chunk = try await chunks.next()
                    } catch {
                        throw KubeError(code: .transport, message: "watch stream broke: \(error)", request: description)
                    }
                    guard let chunk else { return nil }
                    framer.append(chunk)
                }
            }
        }
    }

    // MARK: Requests

    private func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONValue? = nil,
        contentType: String = "application/json"
    ) async throws -> JSONValue {
        let encoded = body.map { value in
            var bytes: [UInt8] = []
            bytes.reserveCapacity(512)
            value.write(to: &bytes)
            return bytes
        }
        return try await send(method, path, query: query, encodedBody: encoded, contentType: contentType)
    }

    /// One request with retries; the answer parsed.
    private func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], encodedBody body: [UInt8]?,
        contentType: String = "application/json"
    ) async throws -> JSONValue {
        let description = "\(method) \(path)"
        let bytes = try await sendForText(method, path, query: query, encodedBody: body, contentType: contentType)
        guard !bytes.isEmpty, let json = try? JSONValue.decode(bytes) else {
            if method == .DELETE { return .null }
            throw KubeError(code: .decoding, message: "a successful response is not JSON", request: description)
        }
        return json
    }

    /// One request with retries; the successful answer's body as it came. An error
    /// answer is parsed into a `KubeError`.
    private func sendForText(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], encodedBody body: [UInt8]? = nil,
        contentType: String = "application/json"
    ) async throws -> [UInt8] {
        let description = "\(method) \(path)"
        let idempotent = [.GET, .PUT, .DELETE, .HEAD].contains(method)
        var attempt = 0
        var backoff = configuration.initialBackoff
        while true {
            attempt += 1
            do {
                let response = try await execute(
                    method, path, query: query, body: body, contentType: body == nil ? nil : contentType,
                    deadline: .now() + .nanoseconds(Int64(configuration.requestTimeout.components.seconds) * 1_000_000_000),
                    description: description)
                let bytes = try await response.body.collect(upTo: 256 << 20)
                if response.status.code / 100 == 2 {
                    observer?(RequestOutcome(method: method.rawValue, status: Int(response.status.code), retrying: false))
                    return Array(bytes.readableBytesView)
                }
                let json = bytes.readableBytes == 0 ? nil : try? JSONValue.decode(Data(bytes.readableBytesView))
                throw KubeError.from(
                    httpStatus: Int(response.status.code), body: json,
                    retryAfter: response.headers.first(name: "Retry-After").flatMap { Int($0) }, request: description)
            } catch let error as KubeError {
                let retry = (error.code == .tooManyRequests || (idempotent && error.isRetryable)) && attempt < configuration.maxAttempts
                // A configuration error (the token file unreadable) sent nothing: no attempt.
                if error.code != .configuration {
                    observer?(RequestOutcome(method: method.rawValue, status: error.httpStatus == 0 ? nil : error.httpStatus, retrying: retry))
                }
                guard retry else { throw error }
                var wait = Backoff.jittered(backoff)
                if let seconds = error.retryAfterSeconds { wait = .seconds(min(seconds, 30)) }
                logger.debug("retrying Kubernetes request", metadata: [
                    "k8s.request": "\(description)", "k8s.error": "\(error.code.rawValue)", "retry.attempt": "\(attempt)",
                ])
                try await Task.sleep(for: wait)
                backoff = min(backoff * 2, configuration.maxBackoff)
            }
        }
    }

    private func execute(
        _ method: HTTPMethod, _ path: String, query: [(String, String)], body: [UInt8]?, contentType: String?,
        deadline: NIODeadline, description: String
    ) async throws -> HTTPClientResponse {
        // The path is escaped already (`ResourceDescriptor.path`); only a query needs
        // URLComponents (most requests have none).
        var url = configuration.server + path
        if !query.isEmpty {
            var components = URLComponents()
            components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
            // `+` in a query value is a space to some servers: encode it.
            if let encoded = components.percentEncodedQuery { url += "?" + encoded.replacingOccurrences(of: "+", with: "%2B") }
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        if let token = try bearerToken() { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            return try await http.execute(request, deadline: deadline)
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw KubeError(code: .timeout, message: "no answer in time", request: description)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw KubeError(code: .transport, message: "\(error)", request: description)
        }
    }

    /// The token to send: `tokenFile`'s content, read again after
    /// `tokenFileRefresh` (a minute: not on every request), else `token`.
    private func bearerToken() throws -> String? {
        guard let file = configuration.tokenFile else { return configuration.token }
        let now = ContinuousClock.now
        if let cached = cachedToken.withLock({ $0 }), now - cached.read < configuration.tokenFileRefresh { return cached.token }
        let token: String
        do {
            token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw KubeError(code: .configuration, message: "cannot read token file \(file)")
        }
        cachedToken.withLock { $0 = (token, now) }
        return token
    }
}

/// Splits a byte stream into lines; a line may span chunks.
struct LineFramer {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func append(_ chunk: ByteBuffer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: chunk.readableBytesView)
    }

    /// The next complete, non-empty line, without its newline.
    mutating func nextLine() -> [UInt8]? {
        while let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = buffer[start..<newline]
            start = newline + 1
            if !line.isEmpty { return Array(line) }
        }
        if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
        return nil
    }
}

/// Exponential backoff with full jitter between half and all of the base.
public enum Backoff {
    public static func jittered(_ base: Duration) -> Duration {
        let nanos = Double(base.components.seconds) * 1e9 + Double(base.components.attoseconds) / 1e9
        return .nanoseconds(Int64(nanos * Double.random(in: 0.5...1.0)))
    }

    /// base * 2^(attempt-1), capped.
    public static func exponential(attempt: Int, base: Duration, cap: Duration) -> Duration {
        var value = base
        for _ in 1..<max(1, attempt) {
            value = value * 2
            if value >= cap { return cap }
        }
        return min(value, cap)
    }
}
