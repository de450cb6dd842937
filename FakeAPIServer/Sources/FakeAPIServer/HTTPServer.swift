import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A request as the API handler sees it: head and whole body.
struct HTTPRequest: Sendable {
    var method: HTTPMethod
    var uri: String
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// Completes when the client's connection closes (ends watches of gone clients).
    var connectionClosed: EventLoopFuture<Void>
}

/// A response: a whole body, or a stream written chunk by chunk (watches).
struct HTTPResponse: Sendable {
    typealias ChunkWriter = @Sendable (ByteBuffer) async throws -> Void

    enum Body: Sendable {
        case bytes(ByteBuffer)
        case stream(@Sendable (ChunkWriter) async throws -> Void)
    }

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body
}

/// HTTP/1.1 on SwiftNIO's async channels: one task per connection, keep-alive,
/// chunked streaming. No HTTP parsing of our own: NIOHTTP1 does it.
enum HTTPServer {
    typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    /// Binds, reports the bound port, and serves until the surrounding task is cancelled.
    static func run(
        host: String, port: Int, tls: TLSConfiguration?, group: any EventLoopGroup, logger: Logger,
        onBound: @Sendable (Int) -> Void, handler: @escaping Handler
    ) async throws {
        let sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    let wrapped = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                    return ConnectionChannel(channel: wrapped, closeFuture: channel.closeFuture)
                }
            }
        onBound(server.channel.localAddress?.port ?? port)
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask {
                            do {
                                try await serve(connection, handler: handler)
                            } catch {
                                logger.trace("connection ended", metadata: ["error": "\(error)"])
                            }
                        }
                    }
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    struct ConnectionChannel: Sendable {
        var channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>
        var closeFuture: EventLoopFuture<Void>
    }

    private static func serve(_ connection: ConnectionChannel, handler: Handler) async throws {
        try await connection.channel.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var chunk):
                    body.writeBuffer(&chunk)
                case .end:
                    guard let requestHead = head else { continue }
                    let request = HTTPRequest(
                        method: requestHead.method, uri: requestHead.uri, headers: requestHead.headers, body: body,
                        connectionClosed: connection.closeFuture)
                    let response = await withTaskCancellationHandler {
                        await handler(request)
                    } onCancel: {}
                    var headers = response.headers
                    if !requestHead.isKeepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
                    switch response.body {
                    case .bytes(let bytes):
                        headers.replaceOrAdd(name: "Content-Length", value: String(bytes.readableBytes))
                        // One write, so one flush: one TLS record and one syscall per answer, not three.
                        try await outbound.write(contentsOf: [
                            .head(HTTPResponseHead(version: requestHead.version, status: response.status, headers: headers)),
                            .body(.byteBuffer(bytes)), .end(nil),
                        ])
                    case .stream(let produce):
                        headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
                        try await outbound.write(.head(HTTPResponseHead(version: requestHead.version, status: response.status, headers: headers)))
                        try await produce { chunk in try await outbound.write(.body(.byteBuffer(chunk))) }
                        try await outbound.write(.end(nil))
                    }
                    if !requestHead.isKeepAlive { return }
                    head = nil
                }
            }
        }
    }
}
