import ArgumentParser
import DriverProtocol
import Foundation
import Logging
import NIOCore
import ObjectStore
import PostgreSQLDriver
import SQLSupport
import TestSupport

/// `restore`: the restore path against `pg_restore` from a local file (SPEC section
/// 13's benchmark). A pgbench database (scale 70 is about 1 GiB) is dumped with
/// `pg_dump -Fc` into a file and stored in S3; the same archive is then restored into
/// two fresh databases: by `pg_restore --single-transaction` from the file, and by
/// the PostgreSQL driver's restore from the store (download, sha256, `pg_restore` fed
/// on stdin as the database's owner). Prints both times, the ratio and peak memory.
struct RestoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a pgbench database's dump from S3 through db-operator's restore path and with pg_restore from a local file; print both.",
        discussion: "Uses the newest PostgreSQL server of DBOP_PG_SERVERS and the store of DBOP_S3_* (ci/services.sh writes both).")

    @Option(help: "pgbench scale of the source database (70 is about 1 GiB).")
    var scale = 70

    @Option(help: "Rounds; each restores with both, in alternating order (the server's checkpoints and caches favour neither).")
    var rounds = 2

    func run() async throws {
        MemoryTuning.returnLargeBuffersToTheSystem()
        let services = TestServices()
        guard let server = services.postgresqlServers().last else { throw ValidationError("no PostgreSQL server in DBOP_PG_SERVERS") }
        let login = try services.postgresql(server)
        let run = String(UUID().uuidString.prefix(6).lowercased())
        let source = "bench_src_\(run)", baseline = "bench_file_\(run)", ours = "bench_s3_\(run)"
        let environment = ["PGPASSWORD": login.password, "PGHOST": login.host, "PGPORT": "\(login.port)", "PGUSER": login.user]
        func tool(_ name: String, _ arguments: [String]) async throws -> Double {
            let start = ContinuousClock.now
            let result = try await ChildProcess.run(services.postgresqlTool(name), arguments, environment: environment)
            guard result.status == 0 else { throw ValidationError("\(name) \(arguments.joined(separator: " ")): \(result.stderr)") }
            return (ContinuousClock.now - start).seconds
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("restore-bench-\(run)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("\(source).pgdump")
        let s3 = try services.s3()
        var configuration = S3ObjectStore.Configuration(
            endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket,
            credentials: S3Credentials(accessKeyID: s3.accessKeyID, secretAccessKey: s3.secretAccessKey))
        configuration.forcePathStyle = true
        let store = try S3ObjectStore(configuration: configuration, logger: Logger(label: "bench"))
        let key = "bench/\(source).pgdump"
        let driver = PostgreSQLDatabaseDriver(engine: PostgreSQLEngine(tools: PostgreSQLTools(directories: services.postgresqlToolDirectories)))
        let target = DatabaseTarget(
            instance: ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, tlsMode: .disable),
            databaseName: ours, username: ours, owner: OwnerRecord(uid: UUID().uuidString, namespace: "bench", name: ours))
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            print("restore benchmark: pgbench scale \(scale) on PostgreSQL \(server.major) (port \(server.port))")
            _ = try await tool("createdb", [source])
            _ = try await tool("pgbench", ["-i", "-q", "-s", "\(scale)", source])
            let dumpSeconds = try await tool("pg_dump", ["-Fc", "-f", file.path, source])
            let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.int64Value ?? 0
            let upload = StreamingUpload(store: store, configuration: StreamingUpload.Configuration(), logger: Logger(label: "bench"))
            let stored = try await upload.upload(FileChunks(path: file.path), compressing: nil, encryptingTo: [], key: key)
            print(String(format: "archive: %.1f MiB (pg_dump -Fc %.1f s), stored at s3://%@/%@", Double(size) / Double(1 << 20), dumpSeconds, s3.bucket, key))

            var fileTimes: [Double] = [], oursTimes: [Double] = []
            for round in 0..<rounds {
                for first in [round % 2 == 0, round % 2 != 0] {
                    if first {
                        _ = try? await tool("dropdb", ["--if-exists", baseline])
                        _ = try await tool("createdb", [baseline])
                        fileTimes.append(try await tool("pg_restore", ["--single-transaction", "--no-owner", "--no-privileges", "-d", baseline, file.path]))
                    } else {
                        try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
                        try? await driver.drop(target)
                        try await driver.create(target, password: "bench-\(run)-password")
                        let start = ContinuousClock.now
                        let (_, bytes) = try await store.getObject(key: key)
                        let input = try await RestoreInput.reading(RestoreStream(bytes, options: RestoreStream.Options(expectedSHA256: stored.sha256, identities: nil, compression: nil)))
                        try await driver.restore(target, ownerPassword: "bench-\(run)-password", dump: input, emptyFirst: false)
                        oursTimes.append((ContinuousClock.now - start).seconds)
                    }
                }
            }
            let peak = UploadBench.peakResidentMiB()
            let list = { (times: [Double]) in times.map { String(format: "%.1f", $0) }.joined(separator: ", ") }
            let mean = { (times: [Double]) in times.reduce(0, +) / Double(max(1, times.count)) }
            print("pg_restore from a local file:         \(list(fileTimes)) s")
            print("db-operator restore from S3 (sha256):  \(list(oursTimes)) s  (peak memory \(String(format: "%.0f", peak)) MiB)")
            print(String(format: "ratio of the means: %.2fx", mean(oursTimes) / mean(fileTimes)))
        } catch {
            print("failed: \(error)")
        }
        try? await driver.drop(target)
        for name in [source, baseline] { _ = try? await tool("dropdb", ["--if-exists", name]) }
        try? await store.deleteObject(key: key)
        try await store.shutdown()
    }
}

/// A file in 1 MiB chunks.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?

        mutating func next() async throws -> ByteBuffer? {
            guard let data = try handle?.read(upToCount: 1 << 20), !data.isEmpty else { return nil }
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path)) }
}
