import FakeAPIServer
import Foundation
import KubeClient
import Logging

/// A fake API server running for one test, with a real client for it built from the
/// kubeconfig the server writes (TLS, CA, token), as the programs build theirs.
struct FakeCluster {
    let server: FakeAPIServer
    let client: HTTPKubernetesClient
    let kubeconfigPath: String

    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = ProcessInfo.processInfo.environment["DBOP_TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    static func with<T: Sendable>(
        configure: (inout FakeAPIServer.Configuration) -> Void = { _ in }, _ body: (FakeCluster) async throws -> T
    ) async throws -> T {
        var configuration = FakeAPIServer.Configuration()
        configuration.tokens = ["operator-token": "operator", "job-token": "job"]
        configure(&configuration)
        let server = try FakeAPIServer(configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            _ = await server.waitUntilListening()
            defer { group.cancelAll() }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fake-cluster-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let path = directory.appendingPathComponent("kubeconfig").path
            try server.writeKubeconfig(to: path, user: "operator")
            var clientConfiguration = try KubeClientConfiguration.kubeconfig(path: path)
            clientConfiguration.initialBackoff = .milliseconds(20)
            let client = try HTTPKubernetesClient(configuration: clientConfiguration, logger: logger)
            do {
                let result = try await body(FakeCluster(server: server, client: client, kubeconfigPath: path))
                try await client.shutdown()
                return result
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }
}

/// Waits until `condition` holds, polling; fails with `message` after `timeout`.
func eventually(
    timeout: Duration = .seconds(30), _ message: @autoclosure () -> String = "condition",
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now > deadline { throw EventuallyTimedOut(description: "timed out after \(timeout) waiting for \(message())") }
        try await Task.sleep(for: .milliseconds(25))
    }
}

struct EventuallyTimedOut: Error, CustomStringConvertible {
    let description: String
}
