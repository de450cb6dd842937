import ArgumentParser
import DriverProtocol
import Foundation
import NIOCore
import PostgreSQLDriver
import SQLSupport
import TestSupport

/// `clone`: `spec.cloneFrom`'s two PostgreSQL paths against what a person would run
/// by hand (SPEC section 13's benchmark). A pgbench database (scale 70 is about
/// 1 GiB), made by the driver and filled by its own user, is cloned in rounds:
/// - the TEMPLATE path: the driver's `createForCopy` (the user, no database yet), then `copyInside`
///   (`CREATE DATABASE ... TEMPLATE`, `REASSIGN OWNED`, the database closed),
///   against a raw `CREATE DATABASE ... TEMPLATE` by the admin;
/// - the streamed path: the driver's `create`, then its dump of the source streamed
///   into its restore (what a clone with sessions on the source does), against
///   `pg_dump -Fc | pg_restore` by hand into a database made by `createdb`.
/// Prints every time, the medians and the differences.
struct CloneBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone",
        abstract: "Clone a pgbench database by db-operator's TEMPLATE and streamed paths and by hand; print both.",
        discussion: "Uses the newest PostgreSQL server of DBOP_PG_SERVERS (ci/services.sh writes it).")

    @Option(help: "pgbench scale of the source database (70 is about 1 GiB).")
    var scale = 70

    @Option(help: "Rounds; each runs every contender once, in alternating order.")
    var rounds = 2

    @Flag(help: "Only the TEMPLATE path and the raw TEMPLATE (the streamed ones take minutes at scale 70).")
    var templateOnly = false

    func run() async throws {
        let services = TestServices()
        guard let server = services.postgresqlServers().last else { throw ValidationError("no PostgreSQL server in DBOP_PG_SERVERS") }
        let login = try services.postgresql(server)
        let run = String(UUID().uuidString.prefix(6).lowercased())
        let adminEnvironment = ["PGPASSWORD": login.password, "PGHOST": login.host, "PGPORT": "\(login.port)", "PGUSER": login.user]
        func tool(_ name: String, _ arguments: [String], environment: [String: String] = adminEnvironment) async throws {
            let result = try await ChildProcess.run(services.postgresqlTool(name), arguments, environment: environment)
            guard result.status == 0 else { throw ValidationError("\(name) \(arguments.joined(separator: " ")): \(result.stderr)") }
        }
        let driver = PostgreSQLDatabaseDriver(engine: PostgreSQLEngine(tools: PostgreSQLTools(directories: services.postgresqlToolDirectories)))
        let instance = ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, tlsMode: .disable)
        func target(_ name: String) -> DatabaseTarget {
            DatabaseTarget(instance: instance, databaseName: name, username: name, owner: OwnerRecord(uid: UUID().uuidString, namespace: "bench", name: name))
        }
        let source = target("bench_clsrc_\(run)"), templated = target("bench_cltpl_\(run)"), streamed = target("bench_clstr_\(run)")
        let raw = "bench_clraw_\(run)", byHand = "bench_clhand_\(run)"
        let password = "bench-\(run)-password"
        let admin = try await PGConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, database: "postgres", tlsMode: .disable))
        func seconds(_ body: () async throws -> Void) async throws -> Double {
            let start = ContinuousClock.now
            try await body()
            return (ContinuousClock.now - start).seconds
        }
        // What the last contender left is dropped, written out (CHECKPOINT, sync) and
        // only then is the next one timed: a copy is mostly writes, and the previous
        // one's write-back would otherwise land in it.
        func settled(_ cleanup: () async throws -> Void, timing body: () async throws -> Void) async throws -> Double {
            try await cleanup()
            try await admin.query("CHECKPOINT")
            _ = try await ChildProcess.run("/bin/sync", [])
            return try await seconds(body)
        }
        var times: [String: [Double]] = [:]
        do {
            print("clone benchmark: pgbench scale \(scale) on PostgreSQL \(server.major) (port \(server.port))")
            try await driver.create(source, password: password)
            let fill = try await seconds {
                try await tool("pgbench", ["-i", "-q", "-s", "\(scale)", source.databaseName], environment: [
                    "PGPASSWORD": password, "PGHOST": login.host, "PGPORT": "\(login.port)", "PGUSER": source.username,
                ])
            }
            let size = try await admin.query("SELECT pg_size_pretty(pg_database_size($1))", [source.databaseName]).first?.first ?? nil
            print(String(format: "source: %@ (pgbench -i %.1f s), owned by its own user", size ?? "?", fill))
            try await admin.query("CHECKPOINT")
            var contenders: [(String, () async throws -> Double)] = [
                ("raw CREATE DATABASE ... TEMPLATE", {
                    return try await settled { _ = try await admin.query("DROP DATABASE IF EXISTS \(raw)") } timing: { try await admin.query("CREATE DATABASE \(raw) TEMPLATE \(source.databaseName)") }
                }),
                ("db-operator TEMPLATE path (createForCopy + copyInside)", {
                    return try await settled { try? await driver.drop(templated) } timing: {
                        try await driver.createForCopy(templated, password: password)
                        guard case .copied = try await driver.copyInside(from: source, into: templated, ownerPassword: password) else {
                            throw ValidationError("the TEMPLATE path was not taken")
                        }
                    }
                }),
            ]
            if !templateOnly {
                contenders += [
                    ("pg_dump -Fc | pg_restore by hand", {
                        return try await settled { _ = try await admin.query("DROP DATABASE IF EXISTS \(byHand)") } timing: {
                            try await tool("createdb", [byHand])
                            let pipe = try await ChildProcess.run(
                                "/bin/bash", ["-c", "set -o pipefail; \"$1\" -Fc \"$3\" | \"$2\" --single-transaction --no-owner --no-privileges -d \"$4\"", "sh",
                                            services.postgresqlTool("pg_dump"), services.postgresqlTool("pg_restore"), source.databaseName, byHand],
                                environment: adminEnvironment)
                            guard pipe.status == 0 else { throw ValidationError("pg_dump | pg_restore: \(pipe.stderr)") }
                        }
                    }),
                    ("db-operator streamed path (create + dump into restore)", {
                        return try await settled { try? await driver.drop(streamed) } timing: {
                            try await driver.create(streamed, password: password)
                            let dump = try await driver.backup(source)
                            try await driver.restore(streamed, ownerPassword: password, dump: try await RestoreInput.reading(dump.bytes), emptyFirst: false)
                        }
                    }),
                ]
            }
            for round in 0..<rounds {
                let order = round % 2 == 0 ? contenders : contenders.reversed()
                for (name, body) in order { times[name, default: []].append(try await body()) }
            }
            let median = { (values: [Double]) -> Double in
                let sorted = values.sorted()
                guard !sorted.isEmpty else { return 0 }
                return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
            for (name, _) in contenders {
                let values = times[name] ?? []
                print("\(name.padding(toLength: 56, withPad: " ", startingAt: 0)) \(values.map { String(format: "%.3f", $0) }.joined(separator: ", ")) s (median \(String(format: "%.3f", median(values))) s)")
            }
            // The copy itself varies by hundreds of ms from one run to the next on a
            // shared disk; the medians over several rounds compare the paths.
            let difference = median(times[contenders[1].0] ?? []) - median(times[contenders[0].0] ?? [])
            print(String(format: "TEMPLATE path minus raw TEMPLATE (medians): %+.0f ms (goal: within 100 ms)", difference * 1000))
            if !templateOnly {
                let ratio = median(times[contenders[3].0] ?? []) / median(times[contenders[2].0] ?? [])
                print(String(format: "streamed path / pg_dump | pg_restore (medians): %.2fx", ratio))
            }
        } catch {
            print("failed: \(error)")
        }
        for target in [templated, streamed, source] { try? await driver.drop(target) }
        for name in [raw, byHand] { _ = try? await admin.query("DROP DATABASE IF EXISTS \(name)") }
    }
}
