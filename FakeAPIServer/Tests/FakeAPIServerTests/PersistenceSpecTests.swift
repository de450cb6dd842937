import AsyncHTTPClient
import FakeAPIServer
import Foundation
import KubeModel
import NIOCore
import Synchronization
import Testing
import TestSupport

/// `--data-dir`: what a restart keeps (SPEC section 7; Journal.swift).
@Suite("A fake API server with a data directory keeps its state across restarts")
struct PersistenceSpecTests {
    let configMaps = "/api/v1/namespaces/default/configmaps"
    let widgets = "/apis/example.dboperator.io/v1/namespaces/default/widgets"

    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fake-data-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private func files(_ directory: String, _ prefix: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
    }

    @Test("objects of built-in and custom resources, their uids and resourceVersions, the CA and the tokens survive a restart; a watch from before gets 410; no version is given twice")
    func restartKeepsEverything() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        struct Before: Sendable {
            var caPEM: String
            var configMap: JSONValue
            var widget: JSONValue
            var team: JSONValue
            var highestVersion: UInt64
        }
        let before = try await TestAPIServer.with(tls: true, configure: { $0.dataDirectory = directory }) { api in
            try await api.installWidgets()
            let widget = try await api.create(widgets, Fixtures.widget("w1", color: "blue"))
            try await api.create(configMaps, Fixtures.configMap("c1"))
            try await api.create(configMaps, Fixtures.configMap("c2"))
            let patched = try await api.patch("\(configMaps)/c1", ["data": ["k": "changed"]])
            #expect(patched.status == 200)
            #expect(try await api.delete("\(configMaps)/c2").status == 200)
            try await api.create("/api/v1/namespaces", Fixtures.namespace("team"))
            let team = try await api.create("/api/v1/namespaces/team/configmaps", Fixtures.configMap("in-team"))
            // A second server on the same directory is refused while this one holds it.
            #expect(throws: (any Error).self) {
                var configuration = FakeAPIServer.Configuration()
                configuration.dataDirectory = directory
                configuration.dataDirectoryLockWait = .milliseconds(200)
                _ = try FakeAPIServer(configuration: configuration)
            }
            return Before(
                caPEM: api.server.tlsIdentity!.caPEM, configMap: patched.body, widget: widget, team: team,
                highestVersion: api.server.resourceVersion)
        }

        try await TestAPIServer.with(
            tls: true,
            configure: {
                $0.dataDirectory = directory
                // Saved tokens win: the admin's old token (which `with` uses) keeps working.
                $0.tokens = ["a-new-token-for-admin": "admin"]
            }
        ) { api in
            #expect(api.server.tlsIdentity?.caPEM == before.caPEM)
            #expect(api.server.configuration.tokens["admin-token"] == "admin")
            #expect(try await api.get("\(configMaps)/c1").body == before.configMap)
            #expect(try await api.get("\(widgets)/w1").body == before.widget)
            #expect(try await api.get("/api/v1/namespaces/team/configmaps/in-team").body == before.team)
            #expect(try await api.get("\(configMaps)/c2").status == 404)
            #expect(api.server.resourceVersion >= before.highestVersion)

            let watch = try await api.watch("\(configMaps)?watch=true&resourceVersion=\(before.configMap.resourceVersion!)")
            let events = try await watch.collect { !$0.isEmpty }
            #expect(events.first?.eventType == "ERROR")
            #expect(events.first?[path: ["object", "code"]] == 410)

            let created = try await api.create(configMaps, Fixtures.configMap("c3"))
            #expect(UInt64(created.resourceVersion ?? "") ?? 0 > before.highestVersion)
            let updated = try await api.patch("\(widgets)/w1", ["spec": ["color": "green"]])
            #expect(updated.status == 200)
            #expect(UInt64(updated.body.resourceVersion ?? "") ?? 0 > before.highestVersion)
        }
    }

    @Test("a torn record at the end of the journal (a kill while writing) is discarded, and everything before it is kept")
    func tornLastRecord() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await TestAPIServer.with(configure: { $0.dataDirectory = directory }) { api in
            try await api.create(configMaps, Fixtures.configMap("kept-1"))
            try await api.create(configMaps, Fixtures.configMap("kept-2"))
        }
        let segment = try #require(files(directory, "wal-").last)
        let handle = try #require(FileHandle(forWritingAtPath: "\(directory)/\(segment)"))
        try handle.seekToEnd()
        // The header of a 300-byte record and only part of its payload.
        try handle.write(contentsOf: Data([0x2C, 0x01, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF]) + Data("{\"op\":\"put\",\"group\":\"\"".utf8))
        try handle.close()

        try await TestAPIServer.with(configure: { $0.dataDirectory = directory }) { api in
            #expect(try await api.get("\(configMaps)/kept-1").status == 200)
            #expect(try await api.get("\(configMaps)/kept-2").status == 200)
            try await api.create(configMaps, Fixtures.configMap("after"))
        }
        try await TestAPIServer.with(configure: { $0.dataDirectory = directory }) { api in
            let names = try await api.get(configMaps).body["items"]?.arrayValue?.compactMap(\.name) ?? []
            #expect(names == ["after", "kept-1", "kept-2"])
        }
    }

    @Test("the journal is compacted: after many changes one snapshot and one segment remain, and a restart has the latest state")
    func compaction() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var expected: [String: String] = [:]
        try await TestAPIServer.with(configure: {
            $0.dataDirectory = directory
            $0.recordsPerSnapshot = 40
        }) { api in
            for n in 0..<120 { try await api.create(configMaps, Fixtures.configMap("m\(n)")) }
            for n in 0..<120 where n % 2 == 0 {
                #expect(try await api.patch("\(configMaps)/m\(n)", ["data": ["k": .string("v\(n)")]]).status == 200)
            }
            for n in 0..<120 where n % 3 == 0 { #expect(try await api.delete("\(configMaps)/m\(n)").status == 200) }
        }
        for n in 0..<120 where n % 3 != 0 { expected["m\(n)"] = n % 2 == 0 ? "v\(n)" : "v" }
        #expect(files(directory, "snapshot-").count == 1, "\(files(directory, ""))")
        #expect(files(directory, "wal-").count == 1, "\(files(directory, ""))")
        try await TestAPIServer.with(configure: { $0.dataDirectory = directory }) { api in
            let items = try await api.get(configMaps).body["items"]?.arrayValue ?? []
            var found: [String: String] = [:]
            for item in items { found[item.name ?? ""] = item[path: ["data", "k"]]?.stringValue }
            #expect(found == expected)
        }
    }

    /// The server as a program, killed with SIGKILL while clients write.
    @Test("kill -9 under write load: every write that was answered is there after a restart, and versions go on from above every one seen")
    func killedUnderLoad() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fake-apiserver").path
        let port = try ChildProcess.freePort()
        let kubeconfig = "\(directory)/kubeconfig"
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await killedUnderLoad(client: client, binary: binary, port: port, directory: directory, kubeconfig: kubeconfig)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    private func killedUnderLoad(client: HTTPClient, binary: String, port: Int, directory: String, kubeconfig: String) async throws {
        func start() async throws -> (RunningProcess, String) {
            let server = try RunningProcess(binary, [
                "--data-dir", "\(directory)/data", "--port", "\(port)", "--insecure-http", "--kubeconfig-out", kubeconfig,
                // A slow disk: writes wait in memory long enough that an answer sent
                // before its write is saved would be caught by the kill.
                "--slow-disk-ms", "30",
            ])
            try await server.waitForOutput(timeout: .seconds(30)) { $0.contains("listening on") }
            let token = try String(contentsOfFile: kubeconfig, encoding: .utf8).split(separator: "\n")
                .first { $0.contains("token:") }.map { String($0.split(separator: ":").last!).trimmingCharacters(in: .whitespaces) } ?? ""
            return (server, token)
        }
        @Sendable func create(_ name: String, token: String) async throws -> UInt64? {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(configMaps)")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: Fixtures.configMap(name).encoded()))
            let response = try await client.execute(request, timeout: .seconds(10))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard response.status == .created else { return nil }
            return UInt64(try JSONValue.decode(Data(body.readableBytesView)).resourceVersion ?? "")
        }

        var (server, token) = try await start()
        defer { server.terminate() }
        let acknowledged = Answered()
        let writerToken = token
        await withTaskGroup(of: Void.self) { writers in
            for writer in 0..<4 {
                writers.addTask {
                    for n in 0..<100_000 {
                        let name = "w\(writer)-\(n)"
                        guard let version = try? await create(name, token: writerToken) else { return }
                        acknowledged.add(name, version)
                    }
                }
            }
            while acknowledged.count < 400 { try? await Task.sleep(for: .milliseconds(5)) }
            server.signal(SIGKILL)
            await writers.waitForAll()
        }
        try await eventually { !server.isRunning }
        let answered = acknowledged.all

        (server, token) = try await start()
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(configMaps)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await client.execute(request, timeout: .seconds(30))
        let list = try JSONValue.decode(Data(try await response.body.collect(upTo: 256 << 20).readableBytesView))
        let present = Set(list["items"]?.arrayValue?.compactMap(\.name) ?? [])
        let lost = answered.keys.filter { !present.contains($0) }
        #expect(lost.isEmpty, "\(lost.count) of \(answered.count) answered writes lost, e.g. \(lost.prefix(5))")
        #expect(token == writerToken)
        let next = try #require(try await create("after-restart", token: token))
        #expect(next > answered.values.max() ?? 0)
    }
}

/// Writes answered with 201, and the resourceVersion each got.
private final class Answered: Sendable {
    private let versions = Mutex<[String: UInt64]>([:])
    func add(_ name: String, _ version: UInt64) { versions.withLock { $0[name] = version } }
    var count: Int { versions.withLock { $0.count } }
    var all: [String: UInt64] { versions.withLock { $0 } }
}

private func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now > deadline { throw TimedOut(description: "timed out after \(timeout)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}
