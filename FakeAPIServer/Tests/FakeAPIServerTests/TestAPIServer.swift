import AsyncHTTPClient
import FakeAPIServer
import Foundation
import KubeModel
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// A fake API server running for one test, and a raw HTTP client for it: the spec
/// tests speak HTTP exactly as a client would, and read Status bodies themselves.
struct TestAPIServer {
    let server: FakeAPIServer
    let client: HTTPClient
    let token: String

    /// Runs `body` against a fresh server (plain HTTP unless `tls`), then stops it.
    static func with<T: Sendable>(tls: Bool = false, _ body: (TestAPIServer) async throws -> T) async throws -> T {
        try await with(tls: tls, configure: { _ in }, body)
    }

    /// As `with(tls:_:)`, with the server's configuration adjusted first.
    static func with<T: Sendable>(
        tls: Bool = false, configure: (inout FakeAPIServer.Configuration) -> Void,
        _ body: (TestAPIServer) async throws -> T
    ) async throws -> T {
        var configuration = FakeAPIServer.Configuration()
        configuration.tls = tls
        configuration.tokens = ["admin-token": "admin", "other-token": "someone"]
        configure(&configuration)
        var logger = Logger(label: "fake-apiserver-test")
        logger.logLevel = .warning
        let server = try FakeAPIServer(configuration: configuration, logger: logger)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.tlsConfiguration = try server.tlsIdentity?.clientConfiguration()
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        do {
            let result = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                _ = await server.waitUntilListening()
                defer { group.cancelAll() }
                let result = try await body(TestAPIServer(server: server, client: client, token: "admin-token"))
                // Every answer is sent from the kept text: it must be the stored object's.
                #expect(server.objectsWithStaleText() == [])
                return result
            }
            server.close()
            try await client.shutdown()
            return result
        } catch {
            server.close()
            try? await client.shutdown()
            throw error
        }
    }

    struct Response: Sendable {
        var status: Int
        var body: JSONValue
        var headers: HTTPHeaders

        /// The `reason` of a Status body.
        var reason: String? { body["reason"]?.stringValue }
        var message: String { body["message"]?.stringValue ?? "" }
        var resourceVersion: String? { body[path: ["metadata", "resourceVersion"]]?.stringValue }
    }

    func request(
        _ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil, contentType: String = "application/json",
        token: String? = nil, headers: [(String, String)] = []
    ) async throws -> Response {
        var request = HTTPClientRequest(url: server.url + path)
        request.method = method
        if let token = token ?? self.token as String?, !token.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body.encoded()))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let json = bytes.readableBytes == 0 ? JSONValue.null : ((try? JSONValue.decode(Data(bytes.readableBytesView))) ?? .string(String(buffer: bytes)))
        return Response(status: Int(response.status.code), body: json, headers: response.headers)
    }

    /// A request with a body of raw bytes (a protobuf body, say); the response as `request`'s.
    func requestBytes(_ method: HTTPMethod, _ path: String, body: [UInt8], contentType: String, accept: String? = nil) async throws -> (Response, [UInt8]) {
        var request = HTTPClientRequest(url: server.url + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: contentType)
        if let accept { request.headers.add(name: "Accept", value: accept) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        let json = (try? JSONValue.decode(Data(bytes.readableBytesView))) ?? .null
        return (Response(status: Int(response.status.code), body: json, headers: response.headers), Array(bytes.readableBytesView))
    }

    func get(_ path: String) async throws -> Response { try await request(.GET, path) }
    func post(_ path: String, _ body: JSONValue) async throws -> Response { try await request(.POST, path, body) }
    func put(_ path: String, _ body: JSONValue) async throws -> Response { try await request(.PUT, path, body) }
    func delete(_ path: String, _ body: JSONValue? = nil) async throws -> Response { try await request(.DELETE, path, body) }
    func patch(_ path: String, _ body: JSONValue, type: String = "application/merge-patch+json") async throws -> Response {
        try await request(.PATCH, path, body, contentType: type)
    }

    /// Creates an object and returns it, failing the test if the server refuses.
    @discardableResult
    func create(_ path: String, _ body: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let response = try await post(path, body)
        try #require(response.status == 201, "create \(path): \(response.status) \(response.message)", sourceLocation: sourceLocation)
        return response.body
    }

    /// Installs the test CRD of Fixtures/widgets-crd.yaml (as JSON) and waits until it is served.
    func installWidgets() async throws {
        try await create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", Fixtures.widgetsCRD)
        let discovery = try await get("/apis/example.dboperator.io/v1")
        try #require(discovery.status == 200)
    }

    /// Opens a watch and returns its events as they arrive, one JSON line each.
    func watch(_ path: String, token: String? = nil) async throws -> WatchStream {
        var request = HTTPClientRequest(url: server.url + path)
        request.headers.add(name: "Authorization", value: "Bearer \(token ?? self.token)")
        let response = try await client.execute(request, timeout: .seconds(60))
        return WatchStream(status: Int(response.status.code), body: response.body)
    }
}

/// The events of one watch response, framed by lines across chunks.
struct WatchStream {
    let status: Int
    let body: HTTPClientResponse.Body

    /// Reads events until `stop` says so or the stream ends; returns them all.
    func collect(until stop: ([JSONValue]) -> Bool) async throws -> [JSONValue] {
        var events: [JSONValue] = []
        var pending = Data()
        for try await chunk in body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[pending.index(after: newline)...])
                if !line.isEmpty { events.append(try JSONValue.decode(Data(line))) }
            }
            if stop(events) { return events }
        }
        return events
    }
}

extension JSONValue {
    var name: String? { self[path: ["metadata", "name"]]?.stringValue }
    var resourceVersion: String? { self[path: ["metadata", "resourceVersion"]]?.stringValue }
    var eventType: String? { self["type"]?.stringValue }
}
