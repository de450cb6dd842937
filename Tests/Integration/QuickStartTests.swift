import Foundation
import Testing
import TestSupport

/// The README's quick start, as a newcomer types it: `db-operator dev`, then real
/// kubectl — `kubectl create secret generic` for the admin and S3 Secrets (protobuf
/// bodies), `kubectl apply -f Fixtures/dev/`, `kubectl wait` until the Databases are
/// Created and the Backups Completed, a login with the Secret's values, and
/// `kubectl delete -f Fixtures/dev/`. In a namespace of its own, so a developer's
/// own dev session on the same servers is not disturbed.
@Suite(
    "The README's quick start through db-operator dev and real kubectl",
    .enabled(
        if: TestServices.current.shouldRun(.kubectl) && TestServices.current.shouldRun(.postgresql) && TestServices.current.shouldRun(.mysql)
            && TestServices.current.shouldRun(.s3),
        "needs kubectl and the local services: run ci/services.sh start"))
struct QuickStartTests {
    static let services = TestServices.current
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("create secret generic, apply -f Fixtures/dev/, wait, log in, delete -f Fixtures/dev/")
    func quickStart() async throws {
        let kubectl = try Self.services.kubectl()
        let pg = try Self.services.postgresqlLimited(), mysql = try Self.services.mysqlLimited(), s3 = try Self.services.s3()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quickstart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let kubeconfig = "\(root)/kubeconfig"
        let tools = Self.services.postgresqlToolDirectories.joined(separator: ":")
        let dev = try RunningProcess(
            LifecycleHarness.binary, ["dev", "--port", "0", "--kubeconfig-out", kubeconfig, "--state-dir", "\(root)/state", "--log-format", "text"],
            environment: tools.isEmpty ? [:] : ["DB_OPERATOR_PG_BIN_DIRS": tools])
        defer { dev.terminate() }
        _ = try await dev.waitForOutput(timeout: .seconds(60)) { $0.contains("db-operator dev is running") }

        let ns = "quickstart-\(UUID().uuidString.prefix(6).lowercased())"
        func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            let result = try await ChildProcess.run(
                kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", "\(root)/cache"] + arguments,
                environment: ["HOME": root])
            try #require(result.status == 0, "kubectl \(arguments.joined(separator: " ")): \(result.stderr)\n\(dev.text.suffix(4000))", sourceLocation: sourceLocation)
            return result.stdoutText
        }
        _ = try await run(["create", "namespace", ns])
        #expect(try await run(["create", "secret", "generic", "pg-admin", "-n", ns, "--from-literal=password=\(pg.password)"]).contains("created"))
        #expect(try await run(["create", "secret", "generic", "mysql-admin", "-n", ns, "--from-literal=password=\(mysql.password)"]).contains("created"))
        #expect(try await run([
            "create", "secret", "generic", "s3-creds", "-n", ns, "--from-literal=accessKeyId=\(s3.accessKeyID)", "--from-literal=secretAccessKey=\(s3.secretAccessKey)",
        ]).contains("created"))
        let fixtures = Self.repository.appendingPathComponent("Fixtures/dev").path + "/"
        let applied = try await run(["apply", "-n", ns, "-f", fixtures])
        #expect(applied.contains("database.dboperator.io/orders created") && applied.contains("backup.dboperator.io/inventory-1 created"), "\(applied)")
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Created", "database/orders", "database/inventory", "--timeout=180s"])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Completed", "backup/orders-1", "backup/inventory-1", "--timeout=180s"])

        // The connection Secret logs in.
        let uri = try #require(Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.uri}"])))
        let user = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.username}"])) ?? Data(), as: UTF8.self)
        let password = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.password}"])) ?? Data(), as: UTF8.self)
        let database = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.database}"])) ?? Data(), as: UTF8.self)
        #expect(String(decoding: uri, as: UTF8.self).hasPrefix("postgresql://"))
        #expect(try await Engine.postgresql.runAs(pg, user, password, database, ["SELECT current_user"]) == [[user]])

        let deleted = try await run(["delete", "-n", ns, "-f", fixtures, "--wait=false"])
        #expect(deleted.contains("database.dboperator.io \"orders\" deleted"), "\(deleted)")
        _ = try await run(["wait", "-n", ns, "--for=delete", "database/orders", "database/inventory", "--timeout=180s"])
        // orders is BackupBeforeDelete: its final backup stays, Completed; inventory's policy is Delete.
        let finals = try await run(["get", "backups", "-n", ns, "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase}{\"\\n\"}{end}"])
        #expect(finals.split(separator: "\n").filter { $0.hasPrefix("orders-final-") && $0.hasSuffix("=Completed") }.count == 1, "\(finals)")
        await #expect(throws: (any Error).self) { _ = try await Engine.postgresql.runAs(pg, user, password, database, ["SELECT 1"]) }
    }

    @Test("db-operator dev stopped with Ctrl-C during a backup and started again: Databases, Secrets and the kubeconfig are as they were, and the backup completes")
    func restartKeepsEverything() async throws {
        let kubectl = try Self.services.kubectl()
        let pg = try Self.services.postgresqlLimited(), mysql = try Self.services.mysqlLimited(), s3 = try Self.services.s3()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("restart-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let kubeconfig = "\(root)/kubeconfig"
        let tools = Self.services.postgresqlToolDirectories.joined(separator: ":")
        // A fixed port, as the default one is: a kubeconfig names it.
        let port = try ChildProcess.freePort()
        func startDev() async throws -> RunningProcess {
            let dev = try RunningProcess(
                LifecycleHarness.binary,
                ["dev", "--port", "\(port)", "--kubeconfig-out", kubeconfig, "--state-dir", "\(root)/state", "--log-format", "text"],
                environment: tools.isEmpty ? [:] : ["DB_OPERATOR_PG_BIN_DIRS": tools])
            _ = try await dev.waitForOutput(timeout: .seconds(60)) { $0.contains("db-operator dev is running") }
            return dev
        }
        var dev = try await startDev()
        defer { dev.terminate() }

        let ns = "restart-\(UUID().uuidString.prefix(6).lowercased())"
        func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            let result = try await ChildProcess.run(
                kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", "\(root)/cache"] + arguments, environment: ["HOME": root])
            try #require(result.status == 0, "kubectl \(arguments.joined(separator: " ")): \(result.stderr)\n\(dev.text.suffix(4000))", sourceLocation: sourceLocation)
            return result.stdoutText
        }
        _ = try await run(["create", "namespace", ns])
        _ = try await run(["create", "secret", "generic", "pg-admin", "-n", ns, "--from-literal=password=\(pg.password)"])
        _ = try await run(["create", "secret", "generic", "mysql-admin", "-n", ns, "--from-literal=password=\(mysql.password)"])
        _ = try await run([
            "create", "secret", "generic", "s3-creds", "-n", ns, "--from-literal=accessKeyId=\(s3.accessKeyID)", "--from-literal=secretAccessKey=\(s3.secretAccessKey)",
        ])
        let fixtures = Self.repository.appendingPathComponent("Fixtures/dev").path + "/"
        _ = try await run(["apply", "-n", ns, "-f", fixtures])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Created", "database/orders", "database/inventory", "--timeout=180s"])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Completed", "backup/orders-1", "backup/inventory-1", "--timeout=180s"])

        // Enough rows that a backup takes a while, then a backup, and Ctrl-C while it runs.
        let user = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.username}"])) ?? Data(), as: UTF8.self)
        let password = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.password}"])) ?? Data(), as: UTF8.self)
        let database = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.database}"])) ?? Data(), as: UTF8.self)
        _ = try await Engine.postgresql.runAs(pg, user, password, database, [
            "CREATE TABLE rows AS SELECT n, md5(n::text) || md5((n * 7)::text) AS payload FROM generate_series(1, 800000) AS n",
        ])
        let before = try await run(["get", "databases,secrets,backups", "-n", ns, "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.uid}{\"\\n\"}{end}"])
        let kubeconfigBefore = try String(contentsOfFile: kubeconfig, encoding: .utf8)
        let manifest = "\(root)/orders-2.yaml"
        try "apiVersion: dboperator.io/v1alpha1\nkind: Backup\nmetadata:\n  name: orders-2\nspec:\n  database: orders\n".write(toFile: manifest, atomically: true, encoding: .utf8)
        _ = try await run(["apply", "-n", ns, "-f", manifest])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=BackingUp", "backup/orders-2", "--timeout=120s"])
        dev.signal(SIGINT)
        try await eventually(timeout: .seconds(60), "db-operator dev to stop on Ctrl-C") { !dev.isRunning }
        let stoppedOutput = dev.text
        #expect(dev.exitStatus == 0, "\(stoppedOutput.suffix(3000))")

        dev = try await startDev()
        // The kubeconfig written before still works (same CA, token and port), and is unchanged.
        #expect(try String(contentsOfFile: kubeconfig, encoding: .utf8) == kubeconfigBefore)
        let after = try await run(["get", "databases,secrets,backups", "-n", ns, "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.uid}{\"\\n\"}{end}"])
        let lines = Set(after.split(separator: "\n"))
        for line in before.split(separator: "\n") { #expect(lines.contains(line), "\(line) is gone after the restart:\n\(after)") }
        #expect(try await run(["get", "database", "inventory", "-n", ns, "-o", "jsonpath={.status.phase}"]) == "Created")
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Completed", "backup/orders-2", "--timeout=180s"])
        // The attempt Ctrl-C ended and the one after the restart: the backup ran across it.
        #expect(try await run(["get", "backup", "orders-2", "-n", ns, "-o", "jsonpath={.status.attempts}"]) == "2")
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Created", "database/orders", "--timeout=60s"])
        #expect(try await Engine.postgresql.runAs(pg, user, password, database, ["SELECT count(*) FROM rows"]) == [["800000"]])

        _ = try await run(["delete", "-n", ns, "-f", fixtures, "--wait=false"])
        _ = try await run(["wait", "-n", ns, "--for=delete", "database/orders", "database/inventory", "--timeout=180s"])
    }
}
