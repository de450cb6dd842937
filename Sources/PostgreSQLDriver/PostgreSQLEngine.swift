import DriverProtocol
import Foundation
import KubeModel
import SQLSupport

extension PGConnection: SQLSession {}

/// The PostgreSQL side of the driver: SQL for libpq, `pg_dump --format=custom`.
/// Works with a non-superuser admin that has CREATEDB and CREATEROLE (Amazon RDS's
/// master user) on 15 to 18: the admin makes itself a member of each user it creates,
/// with the rights to use it and to SET ROLE to it (16+ gives a CREATEROLE admin only
/// ADMIN OPTION on roles it creates), which `CREATE DATABASE ... OWNER`, ending the
/// user's sessions and dumping its tables need.
public struct PostgreSQLEngine: SQLEngine {
    /// Where `pg_dump` is looked for; the newest found that is not older than the
    /// server is used.
    public var tools: PostgreSQLTools

    public init(tools: PostgreSQLTools = .fromEnvironment()) {
        self.tools = tools
    }

    public var defaultPort: Int { 5432 }
    public var sessionAdminRight: String { "membership in the user's role or pg_signal_backend" }
    public var requiredAdminRights: String { "CREATEDB and CREATEROLE (ALTER ROLE <admin> CREATEDB CREATEROLE; Amazon RDS's master user has both)" }
    public var nameLimits: NameLimits { .postgresql }
    public var bookkeepingTable: String { "databases" }

    public func placeholder(_ index: Int) -> String { "$\(index)" }

    public func connect(_ instance: ConnectionSettings) async throws -> PGConnection {
        var settings = instance
        settings.database = settings.database ?? "postgres"
        return try await PGConnection.connect(settings)
    }

    /// Both logins at once: on an instance already set up (every Job after the first)
    /// the bookkeeping session is there, and one query on it checks everything
    /// `openBookkeeping` would mend. A bookkeeping database missing or not usable yet
    /// (its connect fails) or not set up goes through `openBookkeeping`.
    public func connectWithBookkeeping(_ instance: ConnectionSettings) async throws -> (admin: PGConnection, book: PGConnection) {
        var settings = instance
        settings.database = InstanceNames.bookkeepingDatabase
        async let early = try? PGConnection.connect(settings)
        let admin = try await connect(instance)
        if let book = await early, try await Self.bookkeepingIsSetUp(book) { return (admin, book) }
        return (admin, try await openBookkeeping(admin, instance: instance))
    }

    public func openBookkeeping(_ admin: PGConnection, instance: ConnectionSettings) async throws -> PGConnection {
        let name = InstanceNames.bookkeepingDatabase
        if try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]).isEmpty {
            do {
                try await admin.query("CREATE DATABASE \(try admin.quoteIdentifier(name))")
            } catch let error as SQLError where error.serverCode == "42P04" || error.serverCode == "23505" {
                // Made meanwhile by another run.
            }
        }
        // Tenants may not connect to it (PUBLIC gets CONNECT and TEMP by default).
        try await Self.revokeFromPublic(
            admin, held: "SELECT has_database_privilege('public', $1, 'CONNECT') OR has_database_privilege('public', $1, 'TEMP')", name,
            revoke: "REVOKE ALL ON DATABASE \(try admin.quoteIdentifier(name)) FROM PUBLIC")
        var settings = instance
        settings.database = name
        let book = try await PGConnection.connect(settings)
        if try await Self.bookkeepingIsSetUp(book) { return book }
        do {
            try await book.query("""
            CREATE TABLE IF NOT EXISTS databases (
                database_name text PRIMARY KEY,
                username text NOT NULL,
                owner_uid text NOT NULL,
                owner_namespace text NOT NULL,
                owner_name text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                cluster_id text NOT NULL DEFAULT '',
                owner_created text NOT NULL DEFAULT '',
                adopted_from_uid text NOT NULL DEFAULT '',
                adopted_from_created text NOT NULL DEFAULT '',
                adopted_from_cluster text NOT NULL DEFAULT '')
            """)
        } catch let error as SQLError where error.serverCode == "23505" || error.serverCode == "42P07" {
            // IF NOT EXISTS is not safe against a concurrent CREATE: another run made it.
        }
        // Tables made before the cluster and adoption were recorded get their columns
        // (pg_attribute: information_schema.columns takes ~5 ms to plan on every Job).
        let columns = Set(try await book.query(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'public.databases'::regclass AND attnum > 0 AND NOT attisdropped").compactMap { $0.first ?? nil })
        for column in InstanceNames.adoptionColumns where !columns.contains(column) {
            do {
                try await book.query("ALTER TABLE databases ADD COLUMN IF NOT EXISTS \(column) text NOT NULL DEFAULT ''")
            } catch let error as SQLError where error.serverCode == "42701" || error.serverCode == "23505" {
                // Added meanwhile by another run.
            }
        }
        // One database per user: two claims of one username cannot both be recorded.
        do {
            // Looked up first: CREATE INDEX locks the table even when the index exists.
            if try await book.query("SELECT 1 FROM pg_class WHERE relname = 'databases_username' AND relkind = 'i'").isEmpty {
                try await book.query("CREATE UNIQUE INDEX IF NOT EXISTS databases_username ON databases (username)")
            }
        } catch let error as SQLError where error.serverCode == "23505" || error.serverCode == "42P07" {
            // Made meanwhile by another run (or older rows share a user: claims still check).
        }
        try await Self.revokeFromPublic(
            book, held: "SELECT has_schema_privilege('public', $1, 'CREATE') OR has_schema_privilege('public', $1, 'USAGE')", "public",
            revoke: "REVOKE ALL ON SCHEMA public FROM PUBLIC")
        return book
    }

    /// Whether the table has every column, its unique index is there and PUBLIC has
    /// no rights on the schema or the database: one round trip on every Job once an
    /// instance is set up, instead of the statements that check and mend each (run
    /// when not).
    static func bookkeepingIsSetUp(_ book: PGConnection) async throws -> Bool {
        let row = try await book.query("""
            SELECT (SELECT string_agg(attname, ',') FROM pg_attribute
                    WHERE attrelid = to_regclass('public.databases') AND attnum > 0 AND NOT attisdropped),
                   EXISTS (SELECT 1 FROM pg_class WHERE relname = 'databases_username' AND relkind = 'i'),
                   has_schema_privilege('public', 'public', 'CREATE') OR has_schema_privilege('public', 'public', 'USAGE')
                   OR has_database_privilege('public', current_database(), 'CONNECT')
                   OR has_database_privilege('public', current_database(), 'TEMP')
            """).first
        guard let row, row.count == 3, let list = row[0] else { return false }
        let columns = Set(list.split(separator: ",").map(String.init))
        return InstanceNames.adoptionColumns.allSatisfy(columns.contains) && columns.contains("username") && row[1] == "t" && row[2] == "f"
    }

    /// Revokes PUBLIC's rights only while it holds them: concurrent GRANT/REVOKE on one
    /// object fail with "tuple concurrently updated" (XX000), which many Jobs creating
    /// databases on one instance at once would hit. Such a failure is checked again.
    static func revokeFromPublic(_ session: PGConnection, held: String, _ object: String, revoke: String) async throws {
        for attempt in 1...5 {
            guard try await session.query(held, [object]).first?.first == "t" else { return }
            do {
                try await session.query(revoke)
                return
            } catch let error as SQLError where error.serverCode == "XX000" && attempt < 5 {
                try await Task.sleep(for: .milliseconds(20 * attempt))
            }
        }
    }

    /// PostgreSQL compares quoted names exactly.
    public func canonicalDatabaseName(_ admin: PGConnection, _ name: String) async throws -> String { name }

    public func databaseExists(_ admin: PGConnection, _ name: String) async throws -> Bool {
        try await !admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]).isEmpty
    }

    public func userExists(_ admin: PGConnection, _ name: String) async throws -> Bool {
        try await !admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [name]).isEmpty
    }

    public func ensureUser(_ admin: PGConnection, _ name: String, password: String) async throws {
        let role = try admin.quoteIdentifier(name)
        // CREATE/ALTER ROLE take no parameters: a SCRAM verifier made here goes as a
        // literal, never the password (it would land in logs and statistics).
        let secret = try admin.quoteLiteral(try admin.scramVerifier(password: password, user: name))
        if try await userExists(admin, name) {
            // Naming NOSUPERUSER here would need a superuser, even as a no-op.
            try await admin.query("ALTER ROLE \(role) WITH LOGIN PASSWORD \(secret)")
        } else {
            try await admin.query("CREATE ROLE \(role) WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD \(secret)")
        }
        // Membership lets a non-superuser admin hand databases to the role, end its
        // sessions and dump its tables. 16+ separates the rights: USAGE (inherit) and
        // SET must both be there; a CREATEROLE admin gets neither by creating the role.
        // Checked every time, so a crash between CREATE ROLE and the GRANT converges.
        if admin.serverVersion >= 160000 {
            let rights = try await admin.query("SELECT pg_has_role(current_user, $1, 'USAGE') AND pg_has_role(current_user, $1, 'SET')", [name])
            if rights.first?.first != "t" {
                try await admin.query("GRANT \(role) TO CURRENT_USER WITH INHERIT TRUE, SET TRUE")
            }
        } else {
            let member = try await admin.query("SELECT pg_has_role(current_user, $1, 'USAGE')", [name])
            if member.first?.first != "t" {
                try await admin.query("GRANT \(role) TO CURRENT_USER")
            }
        }
    }



    public func ensureDatabase(_ admin: PGConnection, _ name: String, user: String) async throws {
        let database = try admin.quoteIdentifier(name)
        let role = try admin.quoteIdentifier(user)
        if try await databaseExists(admin, name) {
            try await admin.query("ALTER DATABASE \(database) OWNER TO \(role)")
        } else {
            do {
                try await admin.query("CREATE DATABASE \(database) OWNER \(role)")
            } catch let error as SQLError where error.serverCode == "42P04" {
                try await admin.query("ALTER DATABASE \(database) OWNER TO \(role)")
            }
        }
        try await admin.query("REVOKE ALL ON DATABASE \(database) FROM PUBLIC")
        try await admin.query("GRANT ALL ON DATABASE \(database) TO \(role)")
    }

    /// The user may log in no more (a pool that reconnects cannot hold the database
    /// open), then its sessions and the database's end.
    public func endSessions(_ admin: PGConnection, database: String, user: String) async throws -> [String] {
        if try await userExists(admin, user) {
            try await admin.query("ALTER ROLE \(try admin.quoteIdentifier(user)) NOLOGIN")
        }
        // Client sessions only (DROP DATABASE itself stops autovacuum workers), one at a
        // time: a session the admin may not signal (a superuser's) is reported, not fatal.
        let sessions = try await admin.query(
            "SELECT pid FROM pg_stat_activity WHERE (datname = $1 OR usename = $2) AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            [database, user])
        var failures: [String] = []
        for pid in sessions.compactMap({ $0.first ?? nil }) {
            do {
                try await admin.query("SELECT pg_terminate_backend($1::int)", [pid])
            } catch let error as SQLError where error.kind == .permissionDenied || error.kind == .statementFailed {
                failures.append("session \(pid): \(error.message)")
            }
        }
        return failures
    }

    /// `WITH (FORCE)` (13+) ends any session that got in since. An admin without
    /// superuser (RDS's) may not end a superuser's process, and an autovacuum worker on
    /// the database counts as one ("permission denied to terminate process"): then a
    /// plain DROP, which has autovacuum leave by itself (a client that got in since
    /// makes it fail with "being accessed by other users", and the Job is retried).
    public func dropDatabase(_ admin: PGConnection, _ name: String) async throws {
        let quoted = try admin.quoteIdentifier(name)
        guard admin.serverVersion >= 130000 else {
            try await admin.query("DROP DATABASE IF EXISTS \(quoted)")
            return
        }
        do {
            try await admin.query("DROP DATABASE IF EXISTS \(quoted) WITH (FORCE)")
        } catch let error as SQLError where error.kind == .permissionDenied {
            try await admin.query("DROP DATABASE IF EXISTS \(quoted)")
        }
    }

    public func dropUser(_ admin: PGConnection, _ name: String) async throws {
        try await admin.query("DROP ROLE IF EXISTS \(try admin.quoteIdentifier(name))")
    }

    public func size(_ admin: PGConnection, database: String) async throws -> Int64? {
        let rows = try await admin.query("SELECT pg_database_size(datname) FROM pg_database WHERE datname = $1", [database])
        return rows.first?.first.flatMap { $0 }.flatMap { Int64($0) }
    }

    public func serverVersion(_ admin: PGConnection) async throws -> String {
        let number = admin.serverVersion  // 180006 for 18.6
        return "\(number / 10000).\(number % 10000)"
    }

    public func dumpCommand(_ admin: PGConnection, _ target: DatabaseTarget) async throws -> DumpCommand {
        let number = admin.serverVersion  // 180006 for 18.6
        let found = await tools.find("pg_dump")
        let pgDump = try PostgreSQLTools.choose(
            "pg_dump", serverVersion: "\(number / 10000).\(number % 10000)", serverMajor: number / 10000,
            among: found, searched: tools.directories)
        let instance = target.instance
        let (environment, files) = Self.connection(instance, user: instance.user, password: instance.password, application: "db-operator-backup")
        // The connection goes as environment (PGPASSWORD never on the command line);
        // the database name as a conninfo keyword so any name is taken literally.
        return DumpCommand(
            executable: pgDump.path,
            arguments: ["--format=custom", "--no-password", "--dbname=dbname='\(Self.conninfoEscape(target.databaseName))'"],
            environment: environment, files: files,
            fileExtension: "pgdump", wantsCompression: false,
            serverVersion: "\(number / 10000).\(number % 10000)", tool: "pg_dump \(pgDump.version)")
    }

    public func restoreCommand(_ admin: PGConnection, _ target: DatabaseTarget, ownerPassword: String) async throws -> DumpCommand {
        let number = admin.serverVersion
        let found = await tools.find("pg_restore")
        let pgRestore = try PostgreSQLTools.choose(
            "pg_restore", serverVersion: "\(number / 10000).\(number % 10000)", serverMajor: number / 10000,
            among: found, searched: tools.directories)
        // As the database's owner: what the archive creates is the owner's (--no-owner
        // drops the archive's own ALTER OWNERs, --no-privileges its GRANTs to roles
        // that need not exist here); one transaction: all of it or nothing.
        let (environment, files) = Self.connection(target.instance, user: target.username, password: ownerPassword, application: "db-operator-restore")
        // pg_restore 17+ sets transaction_timeout, which a server before 17 refuses: in
        // one transaction that refusal would fail the whole restore. There it runs
        // statement by statement instead, and that one error alone is not a failure
        // (an attempt that fails otherwise is dropped and made again anyway).
        let serverMajor = number / 10000
        let atomic = pgRestore.major < 17 || serverMajor >= 17
        var command = DumpCommand(
            executable: pgRestore.path,
            arguments: (atomic ? ["--single-transaction", "--exit-on-error"] : []) + [
                "--no-owner", "--no-privileges", "--no-password", "--dbname=dbname='\(Self.conninfoEscape(target.databaseName))'",
            ],
            environment: environment, files: files, fileExtension: "pgdump", wantsCompression: false,
            serverVersion: "\(serverMajor).\(number % 10000)", tool: "pg_restore \(pgRestore.version)")
        if !atomic { command.tolerated = Self.onlyTransactionTimeoutRefused }
        return command
    }

    /// pg_restore's exit after one ignored error, the `SET transaction_timeout` that a
    /// server before 17 does not know.
    @Sendable static func onlyTransactionTimeoutRefused(_ status: Int32, _ errors: String) -> Bool {
        status == 1 && errors.contains("unrecognized configuration parameter \"transaction_timeout\"")
            && errors.contains("errors ignored on restore: 1")
    }

    /// `CREATE DATABASE ... TEMPLATE` (a copy of the files, far faster than a dump):
    /// the source must have no session, so one that has (after a second's grace for
    /// sessions on their way out) is left to the streamed path. The copy's objects
    /// are the source user's; `REASSIGN OWNED` in the copy hands them to the new
    /// user, and also the *shared* objects the source user owns, its own database
    /// among them, which the same transaction gives back (nothing else is shared).
    /// Concurrent copies of one source would update that database's catalog row
    /// together ("tuple concurrently updated"), so they take turns on an advisory
    /// lock of the bookkeeping session. A non-superuser admin can do all of it: it is
    /// a member of both users (see `ensureUser`).
    public func copyDatabase(
        _ admin: PGConnection, instance: ConnectionSettings, book: PGConnection, from source: String, sourceUser: String, into name: String, user: String,
        password: String
    ) async throws -> String? {
        var sessions = 0
        for wait in 0..<10 {
            if wait > 0 { try await Task.sleep(for: .milliseconds(100)) }
            let rows = try await admin.query(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'", [source])
            sessions = Int(rows.first?.first.flatMap { $0 } ?? "0") ?? 0
            if sessions == 0 { break }
        }
        if sessions > 0 {
            return "database \(source) has \(sessions) session(s), and CREATE DATABASE ... TEMPLATE needs none"
        }
        let copy = try admin.quoteIdentifier(name), role = try admin.quoteIdentifier(user)
        let template = try admin.quoteIdentifier(source), sourceRole = try admin.quoteIdentifier(sourceUser)
        // `createForCopy` made no database; one an earlier attempt made goes.
        if try await databaseExists(admin, name) {
            _ = try await endSessions(admin, database: name, user: user)
            try await dropDatabase(admin, name)
            try await ensureUser(admin, user, password: password)
        }
        do {
            try await admin.query("CREATE DATABASE \(copy) TEMPLATE \(template) OWNER \(role)")
        } catch let error as SQLError where error.serverCode == "55006" {
            // A session came meanwhile (the server waited 5 s for it to leave).
            return "a session of database \(source) kept CREATE DATABASE ... TEMPLATE from copying it (\(error.message))"
        }
        var settings = instance
        settings.database = name
        let inCopy = try await PGConnection.connect(settings)
        try await book.query("SELECT pg_advisory_lock(\(Self.copyLockClass), hashtext($1))", [source])
        do {
            try await inCopy.query("BEGIN")
            try await inCopy.query("REASSIGN OWNED BY \(sourceRole) TO \(role)")
            try await inCopy.query("ALTER DATABASE \(template) OWNER TO \(sourceRole)")
            try await inCopy.query("COMMIT")
        } catch {
            _ = try? await book.query("SELECT pg_advisory_unlock(\(Self.copyLockClass), hashtext($1))", [source])
            throw error
        }
        try await book.query("SELECT pg_advisory_unlock(\(Self.copyLockClass), hashtext($1))", [source])
        // Closed to everyone else (a database's ACL is not copied).
        try await ensureDatabase(admin, name, user: user)
        return nil
    }

    /// The first key of the advisory lock copies of one source take turns on.
    static let copyLockClass = 0x6462_6F70

    public func checkRestoreFormat(_ input: RestoreInput) throws {
        guard input.isPostgreSQLArchive else {
            throw DriverError(
                reason: .restoreFormatMismatch,
                message: "the dump is not a pg_dump custom-format archive (PGDMP): a MySQL dump, or pg_dump's plain format, cannot be restored by the postgresql driver; make it with pg_dump -Fc",
                retryable: false)
        }
    }

    /// A client tool's connection as libpq's variables (PGPASSWORD never on the
    /// command line), and the CA file it names.
    static func connection(_ instance: ConnectionSettings, user: String, password: String, application: String) -> (environment: [String: String], files: [String: String]) {
        var environment = [
            "PGHOST": instance.host, "PGPORT": String(instance.port), "PGUSER": user, "PGPASSWORD": password,
            "PGSSLMODE": instance.tlsMode.rawValue, "PGCONNECT_TIMEOUT": String(instance.connectTimeoutSeconds), "PGAPPNAME": application,
        ]
        var files: [String: String] = [:]
        if let pem = instance.certificateAuthorityPEM {
            files["root.crt"] = pem
            environment["PGSSLROOTCERT"] = "\(DumpCommand.privateDirectory)/root.crt"
        }
        return (environment, files)
    }

    /// A conninfo value inside single quotes: backslash and quote escaped.
    static func conninfoEscape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
    }
}

/// The PostgreSQL driver: the shared lifecycle over `PostgreSQLEngine`.
public typealias PostgreSQLDatabaseDriver = SQLDatabaseDriver<PostgreSQLEngine>
