import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves `/metrics` (Prometheus text), `/healthz` and `/readyz` over plain HTTP
/// (`--metrics-addr`). Runs until graceful shutdown.
public struct MetricsServer: Service {
    public let host: String
    public let port: Int
    let metrics: OperatorMetrics
    let logger: Logger

    public init(host: String, port: Int, metrics: OperatorMetrics, logger: Logger) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        logger.info("serving metrics", metadata: ["metrics.address": "\(host):\(server.channel.localAddress?.port ?? port)"])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        group.addTask { try? await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            for try await part in inbound {
                guard case .head(let head) = part else { continue }
                let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
                let (status, body): (HTTPResponseStatus, String) = switch path {
                case "/metrics": (.ok, metrics.render())
                case "/healthz": (.ok, "ok\n")
                case "/readyz": metrics.isReady ? (.ok, "ok\n") : (.serviceUnavailable, "not ready\n")
                default: (.notFound, "not found\n")
                }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: path == "/metrics" ? "text/plain; version=0.0.4" : "text/plain")
                headers.add(name: "Content-Length", value: String(body.utf8.count))
                // One request per connection: nothing is left open to hold up a shutdown.
                headers.add(name: "Connection", value: "close")
                try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                try await outbound.write(.end(nil))
                return
            }
        }
    }
}
