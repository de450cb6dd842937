import DriverProtocol
import Foundation
import MySQLDriver
import NIOCore
import PostgreSQLDriver
import SQLSupport
import Testing
import TestSupport

/// The engine a driver test runs against, with the few things the tests do
/// differently per engine: log in as the tenant, make a table, restore a dump.
struct Engine: Sendable, CustomTestStringConvertible {
    let name: String
    /// "pg16-rds", "mysql-root": short, for names of namespaces and databases.
    let label: String
    let admin: @Sendable () throws -> DatabaseServerLogin
    /// The instance's superuser, for what the tests do behind the driver's back.
    let superuser: @Sendable () throws -> DatabaseServerLogin
    let driver: any DatabaseDriver
    /// Runs statements as `user` in `database`; throws on failure.
    let runAs: @Sendable (_ login: DatabaseServerLogin, _ user: String, _ password: String, _ database: String, _ sql: [String]) async throws -> [[String?]]
    /// Runs statements as the admin (no database, or `database`).
    let runAsAdmin: @Sendable (_ login: DatabaseServerLogin, _ database: String?, _ sql: [String]) async throws -> [[String?]]
    let quote: @Sendable (String) -> String
    /// Loads a dump (as the driver produced it) into a new scratch database.
    let restore: @Sendable (_ login: DatabaseServerLogin, _ dump: URL, _ scratch: String) async throws -> Void
    let limits: NameLimits
    /// Run before the engine is used: one admin login per instance owns the
    /// bookkeeping, so a superuser engine lets the RDS-like admin make it first.
    let prepare: @Sendable () async throws -> Void

    var testDescription: String { name }
    var isPostgreSQL: Bool { name.hasPrefix("postgresql") }
    /// The driver's name in a Database's spec.
    var driverName: String { isPostgreSQL ? "postgresql" : "mysql" }

    static let services = TestServices.current

    /// The PostgreSQL driver, finding `pg_dump` where the services put it.
    static let postgresqlDriver = PostgreSQLDatabaseDriver(
        engine: PostgreSQLEngine(tools: services.postgresqlToolDirectories.isEmpty ? .fromEnvironment() : PostgreSQLTools(directories: services.postgresqlToolDirectories)))

    static func postgresql(_ server: PostgreSQLServer, limited: Bool) -> Engine {
        let admin: @Sendable () throws -> DatabaseServerLogin
        if limited {
            admin = { try services.postgresqlLimited(server) }
        } else {
            admin = { try services.postgresql(server) }
        }
        let version = server.major == 0 ? "" : " \(server.major)"
        return Engine(
            name: "postgresql" + version + (limited ? " (RDS-like admin)" : " (superuser)"), label: "pg\(server.major)-" + (limited ? "rds" : "su"),
            admin: admin, superuser: { try services.postgresql(server) }, driver: postgresqlDriver,
            runAs: { login, user, password, database, sql in
                let connection = try await PGConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: user, password: password, database: database, tlsMode: .disable))
                var rows: [[String?]] = []
                for statement in sql { rows = try await connection.query(statement) }
                return rows
            },
            runAsAdmin: { login, database, sql in
                let connection = try await PGConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, database: database ?? "postgres", tlsMode: .disable))
                var rows: [[String?]] = []
                for statement in sql { rows = try await connection.query(statement) }
                return rows
            },
            quote: { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" },
            restore: { login, dump, scratch in
                let env = ["PGPASSWORD": login.password]
                _ = try await ChildProcess.run(services.postgresqlTool("createdb"), ["-h", login.host, "-p", "\(login.port)", "-U", login.user, scratch], environment: env)
                let result = try await ChildProcess.run(
                    services.postgresqlTool("pg_restore"), ["-h", login.host, "-p", "\(login.port)", "-U", login.user, "--no-owner", "-d", scratch, dump.path], environment: env)
                // pg_restore 18 sets transaction_timeout (17+) even on older servers, which
                // refuse that one statement and take the rest: the only error allowed.
                let onlyTransactionTimeout = result.stderr.contains("unrecognized configuration parameter \"transaction_timeout\"")
                    && result.stderr.contains("errors ignored on restore: 1")
                guard result.status == 0 || (server.major < 17 && onlyTransactionTimeout) else {
                    throw EventuallyTimedOut(description: "pg_restore failed: \(result.stderr)")
                }
            },
            limits: .postgresql,
            prepare: {
                guard !limited else { return }
                let login = try services.postgresqlLimited(server)
                let instance = ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, tlsMode: .disable)
                let session = try await postgresqlDriver.engine.connect(instance)
                _ = try await postgresqlDriver.engine.openBookkeeping(session, instance: instance)
            })
    }

    /// MariaDB; `caseFolding` is the server with lower_case_table_names=1.
    static func mysql(limited: Bool, caseFolding: Bool = false) -> Engine {
        let superuser: @Sendable () throws -> DatabaseServerLogin
        if caseFolding {
            superuser = { try services.mysqlCaseFolding() }
        } else {
            superuser = { try services.mysql() }
        }
        let admin: @Sendable () throws -> DatabaseServerLogin
        if limited {
            admin = {
                let rds = try services.mysqlLimited(), server = try superuser()
                return DatabaseServerLogin(host: server.host, port: server.port, user: rds.user, password: rds.password)
            }
        } else {
            admin = superuser
        }
        return Engine(
            name: "mysql" + (caseFolding ? " lower_case_table_names=1" : "") + (limited ? " (RDS-like admin)" : " (root)"),
            label: "mysql-" + (caseFolding ? "ci-" : "") + (limited ? "rds" : "root"),
            admin: admin, superuser: superuser,
            driver: MySQLDatabaseDriver(engine: MySQLEngine()),
            runAs: { login, user, password, database, sql in
                let connection = try await MySQLConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: user, password: password, database: database, tlsMode: .disable))
                var rows: [[String?]] = []
                for statement in sql { rows = try await connection.query(statement) }
                return rows
            },
            runAsAdmin: { login, database, sql in
                let connection = try await MySQLConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, database: database, tlsMode: .disable))
                var rows: [[String?]] = []
                for statement in sql { rows = try await connection.query(statement) }
                return rows
            },
            quote: { MySQLConnection.quoteIdentifier($0) },
            restore: { login, dump, scratch in
                let connection = try await MySQLConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, tlsMode: .disable))
                try await connection.query("CREATE DATABASE \(MySQLConnection.quoteIdentifier(scratch))")
                let result = try await ChildProcess.run(
                    "/bin/sh", ["-c", "mariadb --protocol=TCP -h \"$H\" -P \"$P\" -u \"$U\" \"$D\" < \"$F\""],
                    environment: ["H": login.host, "P": "\(login.port)", "U": login.user, "D": scratch, "F": dump.path, "MYSQL_PWD": login.password])
                guard result.status == 0 else { throw EventuallyTimedOut(description: "mariadb restore failed: \(result.stderr)") }
            },
            limits: .mysql, prepare: {})
    }

    /// The RDS-like admins on every PostgreSQL of the matrix (Debian's 15 first), and MySQL's.
    static var limitedEngines: [Engine] {
        services.postgresqlServers().map { postgresql($0, limited: true) } + [mysql(limited: true)]
    }

    /// Both kinds of admin on every server: superuser and RDS-like; and the MariaDB
    /// that folds names to lower case, through the RDS-like admin.
    static var allEngines: [Engine] {
        services.postgresqlServers().flatMap { [postgresql($0, limited: true), postgresql($0, limited: false)] }
            + [mysql(limited: true), mysql(limited: false), mysql(limited: true, caseFolding: true)]
    }

    /// PostgreSQL 15 (the default server) and MySQL through the RDS-like admins:
    /// what the suites that test the lifecycle rather than the versions use.
    static var postgresql: Engine { postgresql(services.postgresqlServers().first { $0.port == Int(services.environment["DBOP_PG_PORT"] ?? "") } ?? services.postgresqlServers()[0], limited: true) }
    static var mysql: Engine { mysql(limited: true) }
}

extension Engine {
    func target(
        _ login: DatabaseServerLogin, database: String, user: String, uid: String = UUID().uuidString, namespace: String = "ns", name: String = "db",
        cluster: String = "", adopt: Bool = false
    ) -> DatabaseTarget {
        DatabaseTarget(
            instance: ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password, tlsMode: .disable, connectTimeoutSeconds: 5),
            databaseName: database, username: user,
            owner: OwnerRecord(uid: uid, namespace: namespace, name: name, cluster: cluster, createdAt: "2026-12-01T00:00:00Z"), adopt: adopt)
    }

    /// Only the first step of create (the bookkeeping row), as a run that crashed
    /// right after it would leave things.
    func claimOnly(_ target: DatabaseTarget) async throws -> CreateOutcome {
        func claim<E: SQLEngine>(_ driver: SQLDatabaseDriver<E>) async throws -> CreateOutcome {
            let admin = try await driver.engine.connect(target.instance)
            let book = try await driver.engine.openBookkeeping(admin, instance: target.instance)
            return try await driver.claim(target, admin: admin, book: book)
        }
        if let driver = driver as? PostgreSQLDatabaseDriver { return try await claim(driver) }
        return try await claim(try #require(driver as? MySQLDatabaseDriver))
    }

    /// Every database and user name in the instance, to prove nothing else was touched.
    func inventory(_ login: DatabaseServerLogin) async throws -> Set<String> {
        let rows: [[String?]]
        if isPostgreSQL {
            rows = try await runAsAdmin(login, nil, ["SELECT 'db:' || datname FROM pg_database UNION ALL SELECT 'role:' || rolname FROM pg_roles"])
        } else {
            rows = try await runAsAdmin(login, nil, ["SELECT CONCAT('db:', SCHEMA_NAME) FROM information_schema.SCHEMATA UNION ALL SELECT CONCAT('user:', User, '@', Host) FROM mysql.user"])
        }
        return Set(rows.compactMap { $0.first ?? nil })
    }
}

@Suite(
    "PostgreSQL and MySQL drivers against the real servers", .serialized,
    .enabled(
        if: Engine.services.shouldRun(.postgresql) && Engine.services.shouldRun(.postgresqlVersions) && Engine.services.shouldRun(.mysql)
            && Engine.services.shouldRun(.mysqlCaseFolding),
        "needs PostgreSQL 15-18 and both MariaDB servers: run ci/services.sh start"))
struct SQLDriverTests {
    /// The RDS-like admins that are no superuser (the strictest case) on every
    /// PostgreSQL of the matrix and on MariaDB.
    static let limitedEngines = Engine.limitedEngines
    /// Both kinds of admin on every server.
    static let allEngines = Engine.allEngines

    static func unique(_ prefix: String) -> String { "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())" }

    @Test("create gives a login that works in its own database and nowhere else; every operation twice converges", arguments: allEngines)
    func lifecycle(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let a = engine.target(login, database: Self.unique("dbop_a"), user: Self.unique("dbop_ua"))
        let b = engine.target(login, database: Self.unique("dbop_b"), user: Self.unique("dbop_ub"))
        try await engine.driver.create(a, password: "pw-a-1")
        try await engine.driver.create(a, password: "pw-a-1")  // converges
        try await engine.driver.create(b, password: "pw-b")
        _ = try await engine.runAs(login, a.username, "pw-a-1", a.databaseName, ["CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)"])
        // Not in another tenant's database: no connection (PostgreSQL), no rights (MySQL).
        await #expect(throws: SQLError.self) {
            _ = try await engine.runAs(login, a.username, "pw-a-1", b.databaseName, ["CREATE TABLE intruder (id INT)"])
        }
        // Nor in the bookkeeping database.
        await #expect(throws: SQLError.self) {
            _ = try await engine.runAs(login, a.username, "pw-a-1", InstanceNames.bookkeepingDatabase, ["SELECT * FROM databases"])
        }
        // A new password is applied by the next create (the Secret is the truth).
        try await engine.driver.create(a, password: "pw-a-2")
        await #expect(throws: SQLError.self) { _ = try await engine.runAs(login, a.username, "pw-a-1", a.databaseName, ["SELECT 1"]) }
        #expect(try await engine.runAs(login, a.username, "pw-a-2", a.databaseName, ["SELECT COUNT(*) FROM t"]) == [["1"]])
        #expect(try await engine.driver.estimatedSize(a) ?? 0 > 0)

        try await engine.driver.drop(a)
        try await engine.driver.drop(a)  // converges
        await #expect(throws: SQLError.self) { _ = try await engine.runAs(login, a.username, "pw-a-2", a.databaseName, ["SELECT 1"]) }
        let left = try await engine.inventory(login)
        #expect(!left.contains { $0.contains(a.databaseName) || $0.contains(a.username) })
        #expect(left.contains { $0.contains(b.databaseName) }, "b is untouched")
        try await engine.driver.drop(b)
    }

    @Test("tenant isolation: a name recorded for another resource, or existing unrecorded, is a NameConflict; drop and backup refuse what is not theirs", arguments: allEngines)
    func isolation(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let database = Self.unique("dbop_iso"), user = Self.unique("dbop_uiso")
        let first = engine.target(login, database: database, user: user, uid: "uid-first", namespace: "team-a", name: "orders")
        let second = engine.target(login, database: database, user: user, uid: "uid-second", namespace: "team-b", name: "orders")
        try await engine.driver.create(first, password: "first")
        _ = try await engine.runAs(login, user, "first", database, ["CREATE TABLE kept (id INT)"])
        let conflict = await #expect(throws: DriverError.self) { try await engine.driver.create(second, password: "second") }
        #expect(conflict?.reason == "NameConflict")
        #expect(conflict?.message.contains("team-a/orders") == true)
        // Dropping for the second resource drops nothing (its deletion can finish).
        try await engine.driver.drop(second)
        let refused = await #expect(throws: DriverError.self) { _ = try await engine.driver.backup(second) }
        #expect(refused?.reason == "NotOwned")
        // The first tenant's database and password are untouched.
        #expect(try await engine.runAs(login, user, "first", database, ["SELECT COUNT(*) FROM kept"]) == [["0"]])

        // A database made by hand (not recorded) is never adopted.
        let manual = Self.unique("dbop_manual")
        _ = try await engine.runAsAdmin(login, nil, ["CREATE DATABASE \(engine.quote(manual))"])
        let adopted = await #expect(throws: DriverError.self) {
            try await engine.driver.create(engine.target(login, database: manual, user: Self.unique("dbop_um")), password: "x")
        }
        #expect(adopted?.reason == "NameConflict")
        // Dropping it through the driver does nothing: it is not recorded.
        try await engine.driver.drop(engine.target(login, database: manual, user: Self.unique("dbop_um")))
        #expect(try await engine.inventory(login).contains("db:\(manual)"))
        _ = try await engine.runAsAdmin(login, nil, ["DROP DATABASE \(engine.quote(manual))"])
        try await engine.driver.drop(first)
    }

    @Test(
        "Retain, then re-created: the new resource adopts the database (rows kept, its password works, the old one not), also after a crash between the steps; another namespace never, another or an unrecorded cluster only with adopt",
        arguments: allEngines)
    func adoption(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let database = Self.unique("dbop_adopt"), user = Self.unique("dbop_uad")
        let cluster = "cluster-\(UUID().uuidString.prefix(8))"
        let old = engine.target(login, database: database, user: user, uid: "uid-old", namespace: "shop", name: "orders", cluster: cluster)
        #expect(try await engine.driver.create(old, password: "old-pw") == .ready)
        _ = try await engine.runAs(login, user, "old-pw", database, ["CREATE TABLE kept (id INT)", "INSERT INTO kept VALUES (1), (2)"])
        // The old resource is deleted with Retain: nothing is dropped.

        // Another namespace asking for the name is refused, even with adopt.
        let thief = engine.target(login, database: database, user: user, uid: "uid-thief", namespace: "other", name: "orders", cluster: cluster, adopt: true)
        let stolen = await #expect(throws: DriverError.self) { try await engine.driver.create(thief, password: "thief-pw") }
        #expect(stolen?.reason == "NameConflict" && stolen?.message.contains("managed for shop/orders") == true, "\(stolen?.message ?? "")")
        // Another cluster's resource of the same namespace and name: only with adopt.
        let elsewhere = engine.target(login, database: database, user: user, uid: "uid-elsewhere", namespace: "shop", name: "orders", cluster: "cluster-b")
        let refused = await #expect(throws: DriverError.self) { try await engine.driver.create(elsewhere, password: "elsewhere-pw") }
        #expect(refused?.reason == "NameConflict" && refused?.message.contains("spec.adopt: true") == true, "\(refused?.message ?? "")")
        #expect(try await engine.runAs(login, user, "old-pw", database, ["SELECT COUNT(*) FROM kept"]) == [["2"]])

        // Re-created in the same cluster: adopted, and a crash right after the row
        // changed hands (password not yet reset) converges on the next run.
        let new = engine.target(login, database: database, user: user, uid: "uid-new", namespace: "shop", name: "orders", cluster: cluster)
        let earlier = OwnerRecord(uid: "uid-old", namespace: "shop", name: "orders", cluster: cluster, createdAt: "2026-12-01T00:00:00Z")
        #expect(try await engine.claimOnly(new) == .adopted(from: earlier))
        #expect(try await engine.driver.create(new, password: "new-pw") == .adopted(from: earlier))
        #expect(try await engine.runAs(login, user, "new-pw", database, ["SELECT COUNT(*) FROM kept"]) == [["2"]])
        await #expect(throws: SQLError.self) { _ = try await engine.runAs(login, user, "old-pw", database, ["SELECT 1"]) }
        // The old resource owns nothing any more: its drop touches nothing, its backup is refused.
        try await engine.driver.drop(old)
        #expect(try await engine.runAs(login, user, "new-pw", database, ["SELECT COUNT(*) FROM kept"]) == [["2"]])
        #expect(try await engine.driver.create(new, password: "new-pw") == .adopted(from: earlier))

        // A record without a cluster (made by an earlier release): only with adopt.
        let legacyDatabase = Self.unique("dbop_legacy"), legacyUser = Self.unique("dbop_ulg")
        let legacy = engine.target(login, database: legacyDatabase, user: legacyUser, uid: "uid-legacy", namespace: "shop", name: "legacy")
        try await engine.driver.create(legacy, password: "legacy-pw")
        var again = engine.target(login, database: legacyDatabase, user: legacyUser, uid: "uid-legacy-2", namespace: "shop", name: "legacy", cluster: cluster)
        let unrecorded = await #expect(throws: DriverError.self) { try await engine.driver.create(again, password: "legacy-2") }
        #expect(unrecorded?.message.contains("whose cluster was not recorded") == true, "\(unrecorded?.message ?? "")")
        again.adopt = true
        guard case .adopted = try await engine.driver.create(again, password: "legacy-2") else {
            Issue.record("expected the legacy record to be adopted with spec.adopt")
            return
        }
        #expect(try await engine.runAs(login, legacyUser, "legacy-2", legacyDatabase, ["SELECT 1"]) == [["1"]])

        try await engine.driver.drop(new)
        try await engine.driver.drop(again)
        let left = try await engine.inventory(login)
        #expect(!left.contains { $0.contains(database) || $0.contains(legacyDatabase) })
    }

    @Test(
        "MySQL: a tenant session holding a lock: an admin with CONNECTION ADMIN kills it and drops; one without says SessionsNotEnded naming the right, the account stays locked, and the drop succeeds once the session ends",
        arguments: [Engine.mysql(limited: false), Engine.mysql(limited: true)])
    func sessionsHoldingLocks(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let database = Self.unique("dbop_kill"), user = Self.unique("dbop_ukill")
        let target = engine.target(login, database: database, user: user)
        try await engine.driver.create(target, password: "tenant-pw")
        let tenant = try await MySQLConnection.connect(
            ConnectionSettings(host: login.host, port: login.port, user: user, password: "tenant-pw", database: database, tlsMode: .disable))
        try await tenant.query("CREATE TABLE t (id INT)")
        // An open transaction that read t holds a metadata lock on it until it ends.
        try await tenant.query("START TRANSACTION")
        _ = try await tenant.query("SELECT * FROM t")
        if engine.label.hasSuffix("rds") {
            let refused = await #expect(throws: DriverError.self) { try await engine.driver.drop(target) }
            #expect(refused?.reason == "SessionsNotEnded" && refused?.retryable == true)
            #expect(refused?.message.contains("CONNECTION ADMIN") == true, "\(refused?.message ?? "")")
            #expect(try await engine.inventory(login).contains("db:\(database)"))
            // The account is locked: nothing new logs in while the drop waits.
            await #expect(throws: SQLError.self) { _ = try await engine.runAs(login, user, "tenant-pw", database, ["SELECT 1"]) }
            _ = try await tenant.query("COMMIT")
            try await engine.driver.drop(target)
        } else {
            try await engine.driver.drop(target)
            await #expect(throws: SQLError.self) { _ = try await tenant.query("SELECT 1") }
        }
        let left = try await engine.inventory(login)
        #expect(!left.contains { $0.contains(database) || $0.contains(user) })
    }

    @Test("a server that folds names: another resource's Shop_Orders is its shop_orders (NameConflict, nothing dropped, no backup); DB_OPERATOR and MYSQL are refused")
    func caseFoldingIsolation() async throws {
        let engine = Engine.mysql(limited: true, caseFolding: true)
        let login = try engine.admin()
        let tag = String(UUID().uuidString.prefix(6).lowercased())
        let owner = engine.target(login, database: "shop_orders_\(tag)", user: "dbop_ua_\(tag)", uid: "uid-a-\(tag)", namespace: "team-a", name: "orders")
        try await engine.driver.create(owner, password: "owner-pw")
        _ = try await engine.runAs(login, owner.username, "owner-pw", owner.databaseName, ["CREATE TABLE kept (id INT)", "INSERT INTO kept VALUES (1)"])

        let thief = engine.target(login, database: "Shop_Orders_\(tag.uppercased())", user: "dbop_ub_\(tag)", uid: "uid-b-\(tag)", namespace: "team-b", name: "orders")
        let conflict = await #expect(throws: DriverError.self) { try await engine.driver.create(thief, password: "thief-pw") }
        #expect(conflict?.reason == "NameConflict")
        #expect(conflict?.message.contains("team-a/orders") == true, "\(conflict?.message ?? "")")
        // The thief's user was never made, so it cannot log in anywhere.
        await #expect(throws: SQLError.self) { _ = try await engine.runAs(login, thief.username, "thief-pw", owner.databaseName, ["SELECT 1"]) }
        let refused = await #expect(throws: DriverError.self) { _ = try await engine.driver.backup(thief) }
        #expect(refused?.reason == "NotOwned")
        try await engine.driver.drop(thief)
        #expect(try await engine.runAs(login, owner.username, "owner-pw", owner.databaseName, ["SELECT COUNT(*) FROM kept"]) == [["1"]])

        // Reserved and system names in any case.
        let reserved = await #expect(throws: DriverError.self) {
            try await engine.driver.create(engine.target(login, database: "DB_OPERATOR", user: "dbop_uc_\(tag)"), password: "x")
        }
        #expect(reserved?.reason == "InvalidSpec")
        let system = await #expect(throws: DriverError.self) {
            try await engine.driver.create(engine.target(login, database: "MySQL", user: "dbop_ud_\(tag)"), password: "x")
        }
        #expect(system?.reason == "NameConflict")
        #expect(!(try await engine.inventory(login).contains { $0.contains("dbop_uc_\(tag)") || $0.contains("dbop_ud_\(tag)") }))

        // A resource's own mixed-case name converges and drops.
        let mixed = engine.target(login, database: "Mixed_Case_\(tag)", user: "dbop_um_\(tag)")
        try await engine.driver.create(mixed, password: "m")
        try await engine.driver.create(mixed, password: "m")
        #expect(try await engine.runAs(login, mixed.username, "m", mixed.databaseName, ["SELECT DATABASE()"]) == [["mixed_case_\(tag)"]])
        try await engine.driver.drop(mixed)
        #expect(!(try await engine.inventory(login).contains("db:mixed_case_\(tag)")))
        try await engine.driver.drop(owner)
        #expect(!(try await engine.inventory(login).contains("db:shop_orders_\(tag)")))
    }

    @Test("PostgreSQL: with log_statement=ddl the server logs the DDL but never the tenant's password (a SCRAM verifier is sent)")
    func passwordNotInServerLog() async throws {
        let logPath = try #require(Engine.services.environment["DBOP_PG_SERVER_LOG"], "DBOP_PG_SERVER_LOG is not set: run ci/services.sh start")
        let engine = Engine.postgresql
        let superuser = try engine.superuser(), login = try engine.admin()
        _ = try await engine.runAsAdmin(superuser, nil, ["ALTER ROLE \(login.user) SET log_statement = 'ddl'"])
        let target = engine.target(login, database: Self.unique("dbop_log"), user: Self.unique("dbop_ulog"))
        let first = "first-\(UUID().uuidString)", second = "second-\(UUID().uuidString)"
        do {
            try await engine.driver.create(target, password: first)
            try await engine.driver.create(target, password: second)  // ALTER ROLE
        } catch {
            _ = try? await engine.runAsAdmin(superuser, nil, ["ALTER ROLE \(login.user) RESET log_statement"])
            throw error
        }
        _ = try await engine.runAsAdmin(superuser, nil, ["ALTER ROLE \(login.user) RESET log_statement"])
        #expect(try await engine.runAs(login, target.username, second, target.databaseName, ["SELECT 1"]) == [["1"]])
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(log.contains("CREATE ROLE \"\(target.username)\""), "the DDL is logged, so the check below means something")
        #expect(log.contains("ALTER ROLE \"\(target.username)\""))
        #expect(log.contains("SCRAM-SHA-256$"))
        #expect(!log.contains(first) && !log.contains(second), "a tenant password is in the server log")
        try await engine.driver.drop(target)
    }

    @Test("one username, claimed by eight resources at once for eight databases: exactly one wins, the others get NameConflict, and the winner's password holds", arguments: limitedEngines)
    func usernameClaimedOnce(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let user = Self.unique("dbop_shared")
        let targets = (0..<8).map { engine.target(login, database: Self.unique("dbop_race\($0)"), user: user, uid: "uid-race-\($0)-\(user)") }
        let outcomes = await withTaskGroup(of: (Int, String?).self) { group in
            for (index, target) in targets.enumerated() {
                group.addTask {
                    do {
                        try await engine.driver.create(target, password: "pw-\(index)")
                        return (index, nil)
                    } catch {
                        let classified = DriverError.classify(error)
                        return (index, classified.reason == .nameConflict ? classified.reason.rawValue : "\(classified)")
                    }
                }
            }
            return await group.reduce(into: [Int: String?]()) { $0[$1.0] = $1.1 }
        }
        let winners = outcomes.filter { $0.value == nil }.map(\.key)
        #expect(winners.count == 1, "\(outcomes)")
        #expect(outcomes.values.compactMap { $0 }.allSatisfy { $0 == "NameConflict" }, "\(outcomes)")
        let winner = try #require(winners.first)
        #expect(try await engine.runAs(login, user, "pw-\(winner)", targets[winner].databaseName, ["SELECT 1"]) == [["1"]])
        for target in targets { try await engine.driver.drop(target) }
        #expect(!(try await engine.inventory(login).contains { $0.contains(user) }))
    }

    @Test("PostgreSQL: a drop finishes while the tenant holds a transaction open and its pool keeps reconnecting",
          arguments: limitedEngines.filter(\.isPostgreSQL))
    func dropUnderAReconnectingPool(_ engine: Engine) async throws {
        let login = try engine.admin()
        let target = engine.target(login, database: Self.unique("dbop_pool"), user: Self.unique("dbop_upool"))
        try await engine.driver.create(target, password: "pool-pw")
        let tenant = ConnectionSettings(host: login.host, port: login.port, user: target.username, password: "pool-pw", database: target.databaseName, tlsMode: .disable)
        let held = try await PGConnection.connect(tenant)
        try await held.query("BEGIN")
        try await held.query("CREATE TABLE t (id INT)")
        // A connection pool of eight: whenever a session ends, another one starts.
        let pool = Task {
            await withTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var sessions = 0
                        while !Task.isCancelled {
                            if let session = try? await PGConnection.connect(tenant), (try? await session.query("SELECT pg_sleep(0.05)")) != nil { sessions += 1 }
                        }
                        return sessions
                    }
                }
                return await group.reduce(0, +)
            }
        }
        try await eventually("the pool to be connecting") { (try? await PGConnection.connect(tenant)) != nil }
        try await engine.driver.drop(target)
        pool.cancel()
        #expect(await pool.value > 0)
        let left = try await engine.inventory(login)
        #expect(!left.contains { $0.contains(target.databaseName) || $0.contains(target.username) })
    }

    @Test("PostgreSQL: a bookkeeping database that lost its unique index or let PUBLIC into it or its schema is mended by the next create (the one-query check sees it)",
          arguments: limitedEngines.filter(\.isPostgreSQL))
    func bookkeepingMended(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let first = engine.target(login, database: Self.unique("dbop_bk"), user: Self.unique("dbop_ubk"))
        try await engine.driver.create(first, password: "bk-pw")
        let book = InstanceNames.bookkeepingDatabase
        func state() async throws -> [[String?]] {
            try await engine.runAsAdmin(login, book, [
                """
                SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'databases_username' AND relkind = 'i'),
                       has_schema_privilege('public', 'public', 'CREATE'), has_database_privilege('public', current_database(), 'CONNECT')
                """,
            ])
        }
        #expect(try await state() == [["t", "f", "f"]])
        // Behind the driver's back, one at a time: what the fast check must notice. (A
        // column is not dropped here: other tests on this instance read the table meanwhile.)
        let breakages: [(String, [[String?]])] = [
            ("DROP INDEX databases_username", [["f", "f", "f"]]), ("GRANT CREATE ON SCHEMA public TO PUBLIC", [["t", "t", "f"]]),
            ("GRANT CONNECT ON DATABASE \(book) TO PUBLIC", [["t", "f", "t"]]),
        ]
        var targets = [first]
        for (statement, broken) in breakages {
            _ = try await engine.runAsAdmin(login, book, [statement])
            #expect(try await state() == broken)
            let next = engine.target(login, database: Self.unique("dbop_bk"), user: Self.unique("dbop_ubk"))
            try await engine.driver.create(next, password: "bk-pw")
            #expect(try await state() == [["t", "f", "f"]], "mended after \(statement)")
            targets.append(next)
        }
        for target in targets { try await engine.driver.drop(target) }
    }

    @Test("create claims and makes nothing before the password is stored; a store that fails leaves the instance as it was",
          arguments: limitedEngines)
    func createWaitsForPassword(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let target = engine.target(login, database: Self.unique("dbop_pw"), user: Self.unique("dbop_upw"))
        _ = try await engine.driver.probe(target.instance)  // the bookkeeping table is there
        func recorded() async throws -> [[String?]] {
            try await engine.runAsAdmin(login, InstanceNames.bookkeepingDatabase, [
                "SELECT count(*) FROM \(engine.isPostgreSQL ? "databases" : "`databases`") WHERE database_name = '\(target.databaseName)' OR username = '\(target.username)'",
            ])
        }
        func made() async throws -> Set<String> {
            try await engine.inventory(login).filter { $0.contains(target.databaseName) || $0.contains(target.username) }
        }
        struct StoreFailed: Error {}
        await #expect(throws: StoreFailed.self) {
            try await engine.driver.create(target, forCopy: false) { throw StoreFailed() }
        }
        #expect(try await made().isEmpty)
        #expect(try await recorded() == [["0"]])
        var beforeStored: (made: Set<String>, recorded: [[String?]])?
        try await engine.driver.create(target, forCopy: false) {
            beforeStored = (try await made(), try await recorded())
            return "stored-pw"
        }
        #expect(beforeStored?.made == [], "nothing made before the password was stored")
        #expect(beforeStored?.recorded == [["0"]], "nothing claimed before the password was stored")
        #expect(try await made().count == 2)
        #expect(try await recorded() == [["1"]])
        _ = try await engine.runAs(login, target.username, "stored-pw", target.databaseName, ["CREATE TABLE t (id INT)"])
        try await engine.driver.drop(target)
        #expect(try await made().isEmpty)
    }

    @Test("hostile names are created and dropped as exactly themselves, touching nothing else", arguments: limitedEngines)
    func hostileNames(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let tag = String(UUID().uuidString.prefix(6).lowercased())
        let databases = [
            "dbop'q\"d`b;\(tag)", "dbop-- \(tag); DROP DATABASE x", "dbop é ü 漢 \(tag)",
            "dbop_%\\_\(tag)", String(("dbop" + tag + String(repeating: "x", count: 100)).prefix(engine.limits.database)),
        ]
        // Other suites use the instance at the same time: look only at this test's names,
        // plus a canary that a hostile statement would have to hit.
        let canary = "dbop_canary_\(tag)"
        _ = try await engine.runAsAdmin(login, nil, ["CREATE DATABASE \(engine.quote(canary))"])
        let tagged = { try await engine.inventory(login).filter { $0.contains(tag) } }
        let before = try await tagged()
        #expect(before == ["db:\(canary)"])
        for (index, name) in databases.enumerated() {
            let user = String("u`'\"; -- \(tag)\(index)".prefix(engine.limits.user))
            let target = engine.target(login, database: name, user: user)
            try await engine.driver.create(target, password: "p'w\"\\`;--")
            let inventory = try await tagged()
            #expect(inventory.contains("db:\(name)"), "\(name) exists as itself")
            #expect(inventory.subtracting(before).count == 2, "only \(name) and its user were added: \(inventory.subtracting(before))")
            _ = try await engine.runAs(login, user, "p'w\"\\`;--", name, ["CREATE TABLE t (id INT)"])
            try await engine.driver.drop(target)
            #expect(try await tagged() == before, "dropping \(name) left the instance as it was")
        }
        // Over the engine's limit: refused, never truncated into someone else's name.
        let long = engine.target(login, database: "dbop" + tag + String(repeating: "y", count: 190), user: "dbop_long_\(tag)")
        let refused = await #expect(throws: DriverError.self) { try await engine.driver.create(long, password: "x") }
        #expect(refused?.reason == "InvalidSpec")
        #expect(try await tagged() == before)
        _ = try await engine.runAsAdmin(login, nil, ["DROP DATABASE \(engine.quote(canary))"])
    }

    @Test("a crash between any two statements of create or drop converges on the next run", arguments: allEngines)
    func crashConvergence(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let target = engine.target(login, database: Self.unique("dbop_crash"), user: Self.unique("dbop_ucrash"), uid: "uid-crash")
        let driver = engine.driver
        // Create, interrupted after each of its steps: claim, user, database.
        for stepsDone in 1...3 {
            try await Self.runCreateSteps(engine, target, password: "crash-pw", upTo: stepsDone)
            try await driver.create(target, password: "crash-pw")
            #expect(try await engine.runAs(login, target.username, "crash-pw", target.databaseName, ["SELECT 1"]) == [["1"]])
            // Drop, interrupted after each of its steps: sessions, database, user.
            try await Self.runDropSteps(engine, target, upTo: stepsDone)
            try await driver.drop(target)
            let inventory = try await engine.inventory(login)
            #expect(!inventory.contains { $0.contains(target.databaseName) || $0.contains(target.username) })
        }
    }

    /// The first `count` steps of create, as a crash would leave them.
    static func runCreateSteps(_ engine: Engine, _ target: DatabaseTarget, password: String, upTo count: Int) async throws {
        if let driver = engine.driver as? PostgreSQLDatabaseDriver {
            try await createSteps(driver, target, password: password, upTo: count)
        } else if let driver = engine.driver as? MySQLDatabaseDriver {
            try await createSteps(driver, target, password: password, upTo: count)
        }
    }

    static func createSteps<E: SQLEngine>(_ driver: SQLDatabaseDriver<E>, _ target: DatabaseTarget, password: String, upTo count: Int) async throws {
        let admin = try await driver.engine.connect(target.instance)
        let book = try await driver.engine.openBookkeeping(admin, instance: target.instance)
        try await driver.claim(target, admin: admin, book: book)
        if count >= 2 { try await driver.engine.ensureUser(admin, target.username, password: password) }
        if count >= 3 { try await driver.engine.ensureDatabase(admin, target.databaseName, user: target.username) }
    }

    /// The first `count` steps of drop.
    static func runDropSteps(_ engine: Engine, _ target: DatabaseTarget, upTo count: Int) async throws {
        if let driver = engine.driver as? PostgreSQLDatabaseDriver {
            try await dropSteps(driver, target, upTo: count)
        } else if let driver = engine.driver as? MySQLDatabaseDriver {
            try await dropSteps(driver, target, upTo: count)
        }
    }

    static func dropSteps<E: SQLEngine>(_ driver: SQLDatabaseDriver<E>, _ target: DatabaseTarget, upTo count: Int) async throws {
        let admin = try await driver.engine.connect(target.instance)
        try await driver.engine.endSessions(admin, database: target.databaseName, user: target.username)
        if count >= 2 { try await driver.engine.dropDatabase(admin, target.databaseName) }
        if count >= 3 { try await driver.engine.dropUser(admin, target.username) }
    }

    @Test("a backup restores into a scratch database with the same rows", arguments: allEngines)
    func backupRestores(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let target = engine.target(login, database: Self.unique("dbop_bk"), user: Self.unique("dbop_ubk"))
        try await engine.driver.create(target, password: "bk")
        _ = try await engine.runAs(login, target.username, "bk", target.databaseName, [
            "CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(100))",
            "INSERT INTO items VALUES (1, 'one'), (2, 'two ''quoted'''), (3, 'ünïcode')",
        ])
        let dump = try await engine.driver.backup(target)
        var bytes = ByteBuffer()
        for try await var chunk in dump.bytes { bytes.writeBuffer(&chunk) }
        #expect(bytes.readableBytes > 0)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dump-\(UUID().uuidString).\(dump.fileExtension)")
        try Data(bytes.readableBytesView).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let scratch = Self.unique("dbop_scratch")
        try await engine.restore(try engine.superuser(), file, scratch)
        let adminLogin = try engine.superuser()
        let rows = try await engine.runAsAdmin(adminLogin, scratch, ["SELECT id, label FROM items ORDER BY id"])
        #expect(rows == [["1", "one"], ["2", "two 'quoted'"], ["3", "ünïcode"]])
        _ = try await engine.runAsAdmin(adminLogin, nil, ["DROP DATABASE \(engine.quote(scratch))"])
        try await engine.driver.drop(target)
    }

    @Test(
        "clone inside the instance: PostgreSQL copies by TEMPLATE, every object the clone user's, the source untouched, concurrent copies of one source both succeed; a session on the source or MySQL leaves the database as it was",
        arguments: allEngines)
    func copyInside(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let source = engine.target(login, database: Self.unique("dbop_src"), user: Self.unique("dbop_usrc"))
        let clones = (1...3).map { engine.target(login, database: Self.unique("dbop_cl\($0)"), user: Self.unique("dbop_ucl\($0)")) }
        try await engine.driver.create(source, password: "src")
        // As a clone's create makes them: no database yet; the second has one (an
        // earlier attempt's, empty), which the copy replaces.
        for clone in clones { try await engine.driver.createForCopy(clone, password: "clone") }
        #expect(try await !engine.inventory(login).contains { $0.contains(clones[0].databaseName) })
        try await engine.driver.create(clones[1], password: "clone")
        guard engine.isPostgreSQL else {
            _ = try await engine.runAs(login, source.username, "src", source.databaseName, ["CREATE TABLE items (id INT PRIMARY KEY)"])
            let result = try await engine.driver.copyInside(from: source, into: clones[0], ownerPassword: "clone")
            #expect(result == .notCopied(why: "MySQL and MariaDB have no database copy inside the server"))
            #expect(try await engine.runAs(login, clones[0].username, "clone", clones[0].databaseName, ["SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"]) == [["0"]])
            for target in [source] + clones { try await engine.driver.drop(target) }
            return
        }
        _ = try await engine.runAs(login, source.username, "src", source.databaseName, Self.postgresqlObjects)
        // Two copies of one source at once: they take turns on the source's catalog row.
        async let first = engine.driver.copyInside(from: source, into: clones[0], ownerPassword: "clone")
        async let second = engine.driver.copyInside(from: source, into: clones[1], ownerPassword: "clone")
        let results = try await [first, second]
        for (clone, result) in zip(clones, results) {
            #expect(result == .copied(how: "CREATE DATABASE ... TEMPLATE \(source.databaseName) on the instance"))
            #expect(try await engine.runAs(login, clone.username, "clone", clone.databaseName, ["INSERT INTO items (label) VALUES ('new')", "SELECT COUNT(*) FROM items"]) == [["4"]])
            #expect(try await engine.runAs(login, clone.username, "clone", clone.databaseName, [Self.notOwnedByCurrentUser]) == [["0"]], "every object of \(clone.databaseName) is its user's")
            // The source user may not get in; the copy is closed as any tenant's database.
            await #expect(throws: SQLError.self) { _ = try await engine.runAs(login, source.username, "src", clone.databaseName, ["SELECT 1"]) }
        }
        // The source is as it was: its database and every object still its user's.
        #expect(try await engine.runAsAdmin(login, nil, ["SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '\(source.databaseName)'"]) == [[source.username]])
        #expect(try await engine.runAs(login, source.username, "src", source.databaseName, [Self.notOwnedByCurrentUser]) == [["0"]])
        #expect(try await engine.runAs(login, source.username, "src", source.databaseName, ["SELECT COUNT(*) FROM items"]) == [["3"]])
        // A session on the source: not copied, the database as create made it.
        let session = try await PGConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: source.username, password: "src", database: source.databaseName, tlsMode: .disable))
        let busy = try await engine.driver.copyInside(from: source, into: clones[2], ownerPassword: "clone")
        guard case .notCopied(let why) = busy else { Issue.record("copied with a session on the source"); return }
        #expect(why.contains("1 session(s)"), "\(why)")
        #expect(try await engine.runAs(login, clones[2].username, "clone", clones[2].databaseName, ["SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"]) == [["0"]])
        _ = try await session.query("SELECT 1")
        for target in [source] + clones { try await engine.driver.drop(target) }
        let left = try await engine.inventory(login)
        #expect(!left.contains { entry in ([source] + clones).contains { entry.contains($0.databaseName) || entry.contains($0.username) } })
    }

    /// A table with a serial, a view, a materialized view, a function, an enum, a
    /// schema of its own with a table, and a sequence: one of each kind a tenant owns.
    static let postgresqlObjects = [
        "CREATE TYPE mood AS ENUM ('ok', 'meh')",
        "CREATE TABLE items (id SERIAL PRIMARY KEY, label TEXT, feeling mood DEFAULT 'ok')",
        "INSERT INTO items (label) VALUES ('one'), ('two'), ('three')",
        "CREATE VIEW labels AS SELECT label FROM items",
        "CREATE MATERIALIZED VIEW counted AS SELECT COUNT(*) AS n FROM items",
        "CREATE FUNCTION double_it(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2'",
        "CREATE SEQUENCE tickets",
        "CREATE SCHEMA app",
        "CREATE TABLE app.settings (key TEXT PRIMARY KEY, value TEXT)",
    ]

    /// How many of the database's own objects (outside the system schemas) are not
    /// the current user's.
    static let notOwnedByCurrentUser = """
        SELECT (SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
        + (SELECT COUNT(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
        + (SELECT COUNT(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user)) \
        + (SELECT COUNT(*) FROM pg_namespace n WHERE n.nspname = 'app' AND n.nspowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user))
        """

    @Test("a dump tool that fails gives its own error text", arguments: limitedEngines)
    func dumpFailure(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let target = engine.target(login, database: Self.unique("dbop_gone"), user: Self.unique("dbop_ugone"))
        try await engine.driver.create(target, password: "g")
        // The database vanishes behind the driver's back: the dump tool must say so.
        let adminLogin = try engine.superuser()
        _ = try await engine.runAsAdmin(adminLogin, nil, ["DROP DATABASE \(engine.quote(target.databaseName))"])
        let dump = try await engine.driver.backup(target)
        let failure = await #expect(throws: DriverError.self) { for try await _ in dump.bytes {} }
        #expect(failure?.reason == "DumpFailed")
        #expect(failure?.message.contains("exited with status") == true)
        #expect(failure?.message.contains(target.databaseName) == true, "\(failure?.message ?? "")")
        try await engine.driver.drop(target)
    }

    @Test("a wrong admin password, an unreachable host and a refused TLS mode are distinct, clear errors", arguments: limitedEngines)
    func connectionErrors(_ engine: Engine) async throws {
        try await engine.prepare()
        let login = try engine.admin()
        let target = engine.target(login, database: Self.unique("dbop_err"), user: Self.unique("dbop_uerr"))
        var reasons: [String] = []
        for change in [{ (t: inout DatabaseTarget) in t.instance.password = "wrong-password-777" }, { $0.instance.port = 1 }, { $0.instance.tlsMode = .require }] {
            var broken = target
            change(&broken)
            do {
                try await engine.driver.create(broken, password: "x")
                Issue.record("create should fail")
            } catch {
                let classified = DriverError.classify(error)
                #expect(!classified.message.contains("wrong-password-777"))
                reasons.append(classified.reason.rawValue)
            }
        }
        #expect(reasons == ["AdminLoginFailed", "InstanceUnreachable", "TLSRefused"])
    }
}
