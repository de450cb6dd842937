import FakeAPIServer
import Foundation
import KubeClient
import KubeModel
import Logging

/// A fresh fake API server inside the bench process, listening, with its kubeconfig
/// in a temporary directory and a client: what every bench that needs an API server
/// starts (`control-plane` once per contender, `--apiserver`).
struct InProcessCluster {
    let server: FakeAPIServer
    let api: HTTPKubernetesClient
    /// The temporary directory, removed by `close()`.
    let directory: String
    private let serving: Task<Void, any Error>

    var kubeconfig: String { "\(directory)/kubeconfig" }

    /// Starts a server keeping `historyLimit` watch events (a 410 would spoil a measurement).
    static func start(name: String, historyLimit: Int, logger: Logger) async throws -> InProcessCluster {
        var configuration = FakeAPIServer.Configuration()
        configuration.historyLimit = historyLimit
        let server = try FakeAPIServer(configuration: configuration, logger: logger)
        let serving = Task { try await server.run() }
        _ = await server.waitUntilListening()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try server.writeKubeconfig(to: "\(directory)/kubeconfig")
            let api = try HTTPKubernetesClient(configuration: try KubeClientConfiguration.kubeconfig(path: "\(directory)/kubeconfig"), logger: logger)
            return InProcessCluster(server: server, api: api, directory: directory, serving: serving)
        } catch {
            serving.cancel()
            server.close()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Stops the server and the client and removes the directory.
    func close() {
        let api = self.api
        Task { try? await api.shutdown() }
        serving.cancel()
        server.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
