import Foundation
import KubeModel
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
        let pg = try Self.services.postgresqlLimited()
        let session = try DevSession(name: "quickstart", port: 0)
        defer { session.close() }
        try await session.start()
        let ns = "quickstart-\(UUID().uuidString.prefix(6).lowercased())"
        func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            try await session.run(arguments, sourceLocation: sourceLocation)
        }
        let fixtures = try await session.applyQuickStart(namespace: ns)

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

        // Under deploy/'s RBAC with the service accounts' tokens, as in a cluster: no 403.
        let users = try await session.serviceAccountUsers()
        #expect(users.contains("system:serviceaccount:db-operator:db-operator"), "\(users)")
        #expect(users.contains("system:serviceaccount:\(ns):db-operator-driver"), "\(users)")
    }

    @Test("the README's multi-tenant setup: admin Secrets in db-operator, apply the DatabaseServers, a labelled tenant applies Databases naming them, get databaseservers shows the columns")
    func multiTenant() async throws {
        let pg = try Self.services.postgresqlLimited(), mysql = try Self.services.mysqlLimited(), s3 = try Self.services.s3()
        let session = try DevSession(name: "multitenant", port: 0)
        defer { session.close() }
        try await session.start()
        func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            try await session.run(arguments, sourceLocation: sourceLocation)
        }
        let ns = "tenant-\(UUID().uuidString.prefix(6).lowercased())"
        let fixtures = Self.repository.appendingPathComponent("Fixtures/multi-tenant").path
        // The platform team, in the operator's namespace that db-operator dev made.
        _ = try await run(["create", "secret", "generic", "pg-admin", "-n", "db-operator", "--from-literal=password=\(pg.password)"])
        _ = try await run(["create", "secret", "generic", "mysql-admin", "-n", "db-operator", "--from-literal=password=\(mysql.password)"])
        _ = try await run([
            "create", "secret", "generic", "s3-creds", "-n", "db-operator", "--from-literal=accessKeyId=\(s3.accessKeyID)", "--from-literal=secretAccessKey=\(s3.secretAccessKey)",
        ])
        let applied = try await run(["apply", "-f", "\(fixtures)/10-servers.yaml"])
        #expect(applied.contains("databaseserver.dboperator.io/shared-postgresql created"), "\(applied)")
        _ = try await run(["wait", "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=Connected", "databaseserver/shared-postgresql", "databaseserver/shared-mysql", "--timeout=120s"])
        // The tenant: a labelled namespace, Databases that name only the server.
        _ = try await run(["create", "namespace", ns])
        _ = try await run(["label", "namespace", ns, "db-operator.io/tenant=true"])
        _ = try await run(["apply", "-n", ns, "-f", "\(fixtures)/20-databases.yaml"])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Created", "database/orders", "database/inventory", "--timeout=180s"])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Completed", "backup/orders-1", "--timeout=180s"])
        #expect(try await run(["get", "backup", "orders-1", "-n", ns, "-o", "jsonpath={.status.destination}"]).hasPrefix("s3://\(s3.bucket)/shared/\(ns)/orders/"))
        let table = try await run(["get", "databaseservers"])
        let header = table.split(separator: "\n").first.map { $0.split(separator: " ").map(String.init) } ?? []
        #expect(header == ["NAME", "DRIVER", "HOST", "VERSION", "DATABASES", "READY", "AGE"], "\(table)")
        let row = table.split(separator: "\n").first { $0.hasPrefix("shared-postgresql ") }.map { $0.split(separator: " ").map(String.init) } ?? []
        #expect(row.count == 7 && row[1] == "postgresql" && row[2] == "127.0.0.1" && row[4] == "1" && row[5] == "Connected", "\(table)")
        // The tenant's Jobs ran in db-operator; the tenant sees its Secret, not the admin's.
        #expect(try await run(["get", "jobs", "-n", ns, "-o", "name"]).isEmpty)
        #expect(try await run(["get", "secrets", "-n", ns, "-o", "name"]).split(separator: "\n").sorted() == ["secret/inventory", "secret/orders"])
        let user = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.username}"])) ?? Data(), as: UTF8.self)
        let password = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.password}"])) ?? Data(), as: UTF8.self)
        let database = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.database}"])) ?? Data(), as: UTF8.self)
        #expect(try await Engine.postgresql.runAs(pg, user, password, database, ["SELECT current_user"]) == [[user]])

        _ = try await run(["delete", "-n", ns, "-f", "\(fixtures)/20-databases.yaml", "--wait=false"])
        _ = try await run(["wait", "-n", ns, "--for=delete", "database/orders", "database/inventory", "--timeout=180s"])
        _ = try await run(["delete", "-f", "\(fixtures)/10-servers.yaml", "--wait=false"])
        _ = try await run(["wait", "--for=delete", "databaseserver/shared-postgresql", "databaseserver/shared-mysql", "--timeout=60s"])
        // The servers' Jobs ran in db-operator as its driver account; no 403 anywhere.
        let users = try await session.serviceAccountUsers()
        #expect(users == ["system:serviceaccount:db-operator:db-operator", "system:serviceaccount:db-operator:db-operator-driver"], "\(users)")
    }

    @Test("db-operator dev stopped with Ctrl-C during a backup and started again: Databases, Secrets and the kubeconfig are as they were, and the backup completes")
    func restartKeepsEverything() async throws {
        let pg = try Self.services.postgresqlLimited()
        // A fixed port, as the default one is: a kubeconfig names it.
        let session = try DevSession(name: "restart", port: try ChildProcess.freePort())
        defer { session.close() }
        try await session.start()
        let ns = "restart-\(UUID().uuidString.prefix(6).lowercased())"
        func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            try await session.run(arguments, sourceLocation: sourceLocation)
        }
        let fixtures = try await session.applyQuickStart(namespace: ns)
        let kubeconfig = session.kubeconfig

        // Enough rows that a backup takes a while, then a backup, and Ctrl-C while it runs.
        let user = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.username}"])) ?? Data(), as: UTF8.self)
        let password = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.password}"])) ?? Data(), as: UTF8.self)
        let database = String(decoding: Data(base64Encoded: try await run(["get", "secret", "orders", "-n", ns, "-o", "jsonpath={.data.database}"])) ?? Data(), as: UTF8.self)
        _ = try await Engine.postgresql.runAs(pg, user, password, database, [
            "CREATE TABLE rows AS SELECT n, md5(n::text) || md5((n * 7)::text) AS payload FROM generate_series(1, 800000) AS n",
        ])
        let before = try await run(["get", "databases,secrets,backups", "-n", ns, "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.uid}{\"\\n\"}{end}"])
        let kubeconfigBefore = try String(contentsOfFile: kubeconfig, encoding: .utf8)
        let manifest = "\(session.root)/orders-2.yaml"
        try "apiVersion: dboperator.io/v1alpha1\nkind: Backup\nmetadata:\n  name: orders-2\nspec:\n  database: orders\n".write(toFile: manifest, atomically: true, encoding: .utf8)
        _ = try await run(["apply", "-n", ns, "-f", manifest])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=BackingUp", "backup/orders-2", "--timeout=120s"])
        let exitStatus = try await session.interrupt()
        #expect(exitStatus == 0, "\(session.output.suffix(3000))")

        try await session.start()
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

/// A `db-operator dev` in a directory of its own, and real kubectl pointed at it.
final class DevSession: @unchecked Sendable {
    let root: String
    let kubeconfig: String
    let port: Int
    private let kubectl: String
    private var process: RunningProcess?

    init(name: String, port: Int) throws {
        kubectl = try QuickStartTests.services.kubectl()
        root = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        kubeconfig = "\(root)/kubeconfig"
        self.port = port
    }

    /// Starts it (again, on the same state directory) and waits until it runs.
    func start() async throws {
        let tools = QuickStartTests.services.postgresqlToolDirectories.joined(separator: ":")
        let dev = try RunningProcess(
            LifecycleHarness.binary, ["dev", "--port", "\(port)", "--kubeconfig-out", kubeconfig, "--state-dir", "\(root)/state", "--log-format", "text"],
            environment: tools.isEmpty ? [:] : ["DB_OPERATOR_PG_BIN_DIRS": tools])
        process = dev
        _ = try await dev.waitForOutput(timeout: .seconds(60)) { $0.contains("db-operator dev is running") }
    }

    /// Ctrl-C: SIGINT, then its exit status once it has stopped.
    func interrupt() async throws -> Int32? {
        guard let dev = process else { return nil }
        dev.signal(SIGINT)
        try await eventually(timeout: .seconds(60), "db-operator dev to stop on Ctrl-C") { !dev.isRunning }
        return dev.exitStatus
    }

    var output: String { process?.text ?? "" }

    /// kubectl with this session's kubeconfig; fails the test when it fails.
    func run(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let result = try await ChildProcess.run(kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", "\(root)/cache"] + arguments, environment: ["HOME": root])
        try #require(result.status == 0, "kubectl \(arguments.joined(separator: " ")): \(result.stderr)\n\(output.suffix(4000))", sourceLocation: sourceLocation)
        return result.stdoutText
    }

    /// The README's steps in `namespace`: the three Secrets with `kubectl create
    /// secret generic`, `kubectl apply -f Fixtures/dev/`, and waits until both
    /// Databases are Created and both Backups Completed. Returns the fixtures' path.
    func applyQuickStart(namespace ns: String) async throws -> String {
        let services = QuickStartTests.services
        let pg = try services.postgresqlLimited(), mysql = try services.mysqlLimited(), s3 = try services.s3()
        _ = try await run(["create", "namespace", ns])
        #expect(try await run(["create", "secret", "generic", "pg-admin", "-n", ns, "--from-literal=password=\(pg.password)"]).contains("created"))
        #expect(try await run(["create", "secret", "generic", "mysql-admin", "-n", ns, "--from-literal=password=\(mysql.password)"]).contains("created"))
        #expect(try await run([
            "create", "secret", "generic", "s3-creds", "-n", ns, "--from-literal=accessKeyId=\(s3.accessKeyID)", "--from-literal=secretAccessKey=\(s3.secretAccessKey)",
        ]).contains("created"))
        let account = QuickStartTests.repository.appendingPathComponent("Fixtures/dev-driver-account.yaml").path
        #expect(try await run(["apply", "-n", ns, "-f", account]).contains("rolebinding.rbac.authorization.k8s.io/db-operator-driver created"))
        let fixtures = QuickStartTests.repository.appendingPathComponent("Fixtures/dev").path + "/"
        let applied = try await run(["apply", "-n", ns, "-f", fixtures])
        #expect(applied.contains("database.dboperator.io/orders created") && applied.contains("backup.dboperator.io/inventory-1 created"), "\(applied)")
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Created", "database/orders", "database/inventory", "--timeout=180s"])
        _ = try await run(["wait", "-n", ns, "--for=jsonpath={.status.phase}=Completed", "backup/orders-1", "backup/inventory-1", "--timeout=180s"])
        return fixtures
    }

    /// The service-account users that made requests (from the fake API server's access
    /// log, `GET /fake/access`); fails the test if any request was refused.
    func serviceAccountUsers(sourceLocation: SourceLocation = #_sourceLocation) async throws -> Set<String> {
        let log = try JSONDecoder().decode([JSONValue].self, from: Data(try await run(["get", "--raw", "/fake/access"]).utf8))
        let denied = log.filter { $0["allowed"] == .bool(false) }
        #expect(denied.isEmpty, "403s under deploy/'s RBAC: \(denied)", sourceLocation: sourceLocation)
        return Set(log.compactMap { $0["user"]?.stringValue }.filter { $0.hasPrefix("system:serviceaccount:") })
    }

    /// Stops it and removes its directory.
    func close() {
        process?.terminate()
        try? FileManager.default.removeItem(atPath: root)
    }
}
