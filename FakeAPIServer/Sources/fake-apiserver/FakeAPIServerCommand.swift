import ArgumentParser
import FakeAPIServer
import Foundation
import Logging
import ServiceLifecycle

/// `fake-apiserver`: serves the fake Kubernetes API on 127.0.0.1 and writes a
/// kubeconfig for it; `fake-apiserver bench` measures it.
@main
struct FakeAPIServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-apiserver",
        abstract: "An honest fake Kubernetes API server for tests and local development.",
        subcommands: [Serve.self, Benchmark.self],
        defaultSubcommand: Serve.self
    )
}

/// Options shared by the commands that start a server.
struct ServerOptions: ParsableArguments {
    @Option(help: "Port to listen on (127.0.0.1); 0 picks a free one.")
    var port = 0

    @Option(help: "Seconds between watch bookmarks.")
    var bookmarkInterval = 5

    @Flag(help: "Serve plain HTTP instead of HTTPS (kubectl then sends no token, so requests are refused).")
    var insecureHTTP = false

    @Option(help: "Keep every object, the CA and the tokens in this directory, so a restart keeps them (default: memory only).")
    var dataDir: String?

    @Option(help: "AlwaysAllow (any authenticated request) or RBAC (Roles, ClusterRoles and their bindings decide; the admin user is in system:masters).")
    var authorizationMode: AuthorizationMode = .alwaysAllow

    @Option(help: "Milliseconds to wait before each write to the data directory, as a slow disk would (for tests).")
    var slowDiskMs = 0

    func configuration() -> FakeAPIServer.Configuration {
        var configuration = FakeAPIServer.Configuration()
        configuration.port = port
        configuration.bookmarkInterval = .seconds(bookmarkInterval)
        configuration.tls = !insecureHTTP
        configuration.dataDirectory = dataDir
        configuration.slowDisk = .milliseconds(slowDiskMs)
        configuration.authorization = authorizationMode
        return configuration
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the API until SIGINT or SIGTERM.")

    @OptionGroup var server: ServerOptions

    @Option(help: "Write a kubeconfig (with the admin token) to this file once listening.")
    var kubeconfigOut: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        var logger = Logger(label: "fake-apiserver")
        logger.logLevel = logLevel
        let apiServer = try FakeAPIServer(configuration: server.configuration(), logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [apiServer], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = await apiServer.waitUntilListening()
            if let kubeconfigOut {
                try apiServer.writeKubeconfig(to: kubeconfigOut)
                FileHandle.standardOutput.write(Data("kubeconfig written to \(kubeconfigOut)\n".utf8))
            }
            // Unbuffered: a program waiting on this line gets it at once.
            FileHandle.standardOutput.write(Data("fake API server listening on \(apiServer.url) (port \(port))\n".utf8))
            try await tasks.waitForAll()
        }
        apiServer.close()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension AuthorizationMode: ExpressibleByArgument {}
