import ArgumentParser
import AsyncHTTPClient
import FakeAPIServer
import Foundation
import KubeModel
import Logging
import NIOCore
import NIOHTTP1

/// `fake-apiserver bench`: starts a server in this process and measures it over HTTP
/// with AsyncHTTPClient: creates/s, gets/s, list latency, watch fan-out, peak memory.
/// The figures include the client's own cost, as an operator's would (JSON parsed by
/// KubeModel's parser, as db-operator's client parses it).
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the fake API server and print the figures.")

    @Option(help: "Objects to create (and list).")
    var objects = 10_000

    @Option(help: "Concurrent client requests.")
    var concurrency = 32

    @Option(help: "Watchers for the fan-out measurement.")
    var watchers = 10

    @Option(help: "Objects created while the watchers watch.")
    var watchedChanges = 1_000

    func run() async throws {
        var logger = Logger(label: "fake-apiserver")
        logger.logLevel = .warning
        let server = try FakeAPIServer(logger: logger)
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.tlsConfiguration = try server.tlsIdentity?.clientConfiguration()
        clientConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = concurrency + watchers + 4
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await server.run() }
            _ = await server.waitUntilListening()
            let api = BenchClient(client: client, base: server.url, token: server.configuration.tokens.first!.key)
            do {
                try await measure(api)
            } catch {
                tasks.cancelAll()
                try await client.shutdown()
                throw error
            }
            tasks.cancelAll()
        }
        try await client.shutdown()
    }

    private func measure(_ api: BenchClient) async throws {
        let namespace = "bench"
        _ = try await api.send(.POST, "/api/v1/namespaces", ["metadata": ["name": .string(namespace)]])
        let path = "/api/v1/namespaces/\(namespace)/configmaps"

        let createTime = try await timed {
            try await forEachConcurrently(0..<objects) { i in
                let body: JSONValue = ["metadata": ["name": .string("cm-\(i)"), "labels": ["bench": "yes"]], "data": ["key": .string("value-\(i)")]]
                try await api.expect(.created, .POST, path, body)
            }
        }
        let getTime = try await timed {
            try await forEachConcurrently(0..<objects) { i in try await api.expect(.ok, .GET, "\(path)/cm-\(i)") }
        }
        var listTimes: [Double] = []
        for _ in 0..<5 {
            listTimes.append(try await timed { try await api.expect(.ok, .GET, path) })
        }
        let peakAfterLoad = Self.peakResidentMemoryMiB()

        let fanOutTime = try await measureFanOut(api, namespace: namespace)

        print("fake-apiserver benchmark (in-process server, AsyncHTTPClient, \(concurrency) concurrent requests)")
        print(String(format: "creates:        %8.0f /s  (%d ConfigMaps)", Double(objects) / createTime, objects))
        print(String(format: "gets:           %8.0f /s", Double(objects) / getTime))
        print(String(format: "list latency:   %8.1f ms  (median of 5 lists of %d objects)", listTimes.sorted()[2] * 1000, objects))
        print(String(format: "watch fan-out:  %8.0f events/s delivered  (%d watchers x %d changes in %.2f s)",
                     Double(watchers * watchedChanges) / fanOutTime, watchers, watchedChanges, fanOutTime))
        print(String(format: "peak memory:    %8.1f MiB resident at %d objects (server and client in one process)", peakAfterLoad, objects))
    }

    /// Opens the watchers, creates `watchedChanges` objects, and times until every
    /// watcher has seen every change.
    private func measureFanOut(_ api: BenchClient, namespace: String) async throws -> Double {
        let path = "/api/v1/namespaces/\(namespace)/secrets"
        let list = try await api.send(.GET, path).1
        let revision = list[path: ["metadata", "resourceVersion"]]?.stringValue ?? "0"
        let expected = watchedChanges
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<watchers {
                group.addTask {
                    var request = HTTPClientRequest(url: "\(api.base)\(path)?watch=true&resourceVersion=\(revision)")
                    request.headers.add(name: "Authorization", value: "Bearer \(api.token)")
                    let response = try await api.client.execute(request, timeout: .seconds(120))
                    var seen = 0
                    for try await chunk in response.body {
                        seen += chunk.readableBytesView.filter { $0 == UInt8(ascii: "\n") }.count
                        if seen >= expected { break }
                    }
                }
            }
            let start = ContinuousClock.now
            try await forEachConcurrently(0..<expected) { i in
                try await api.expect(.created, .POST, path, ["metadata": ["name": .string("watched-\(i)")], "stringData": ["k": "v"]])
            }
            try await group.waitForAll()
            return (ContinuousClock.now - start).seconds
        }
    }

    private func forEachConcurrently(_ range: Range<Int>, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let width = concurrency
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = range.lowerBound
            while next < range.upperBound && next - range.lowerBound < width {
                let i = next
                group.addTask { try await body(i) }
                next += 1
            }
            while try await group.next() != nil {
                if next < range.upperBound {
                    let i = next
                    group.addTask { try await body(i) }
                    next += 1
                }
            }
        }
    }

    private func timed(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start).seconds
    }

    /// VmHWM of this process, in MiB (Linux).
    static func peakResidentMemoryMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib / 1024
    }
}

/// The few requests the benchmark makes, with JSON bodies.
struct BenchClient: Sendable {
    let client: HTTPClient
    let base: String
    let token: String

    struct UnexpectedStatus: Error, CustomStringConvertible {
        var status: HTTPResponseStatus
        var path: String
        var description: String { "\(path): unexpected HTTP status \(status)" }
    }

    func send(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> (HTTPResponseStatus, JSONValue) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.encoded()))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        let json = (try? JSONValue.decode(Data(bytes.readableBytesView))) ?? .null
        return (response.status, json)
    }

    func expect(_ status: HTTPResponseStatus, _ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws {
        let (actual, _) = try await send(method, path, body)
        if actual != status { throw UnexpectedStatus(status: actual, path: path) }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
