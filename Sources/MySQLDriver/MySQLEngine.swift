import DriverProtocol
import Foundation
import KubeModel
import SQLSupport

extension MySQLConnection: SQLSession {}

/// The MySQL side of the driver: SQL for MySQL 5.7/8.x and MariaDB through the
/// libmysqlclient API, `mysqldump`/`mariadb-dump` for backups. Works with an admin
/// without SUPER (Amazon RDS's master user): it needs CREATE USER, GRANT OPTION and
/// database privileges only.
///
/// MySQL 8 differs from MariaDB where noted: its default authentication plugin is
/// caching_sha2_password (clients need TLS or the server's RSA key on first login),
/// and user names are limited to 32 characters (MariaDB allows 80; the driver keeps
/// to 32 for both).
public struct MySQLEngine: SQLEngine {
    /// The dump tool: `mariadb-dump` where installed, else `mysqldump`.
    public var dumpTool: String
    /// The host part of the accounts made for databases.
    public var accountHost = "%"

    public init(dumpTool: String? = nil) {
        self.dumpTool = dumpTool ?? Self.findDumpTool()
    }

    public var defaultPort: Int { 3306 }
    public var sessionAdminRight: String { "CONNECTION ADMIN (MariaDB 10.5+, MySQL 8) or SUPER (on Amazon RDS, mysql.rds_kill is used when KILL is refused)" }
    public var requiredAdminRights: String {
        "CREATE USER, GRANT OPTION and CREATE, DROP, SELECT, INSERT, UPDATE, DELETE, INDEX, ALTER, REFERENCES, CREATE VIEW, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, CREATE ROUTINE, ALTER ROUTINE, EXECUTE on *.* (Amazon RDS's master user has them)"
    }
    public var nameLimits: NameLimits { .mysql }
    public var bookkeepingTable: String { "`\(InstanceNames.bookkeepingDatabase)`.`databases`" }

    public func placeholder(_ index: Int) -> String { "?" }

    public func connect(_ instance: ConnectionSettings) async throws -> MySQLConnection {
        var settings = instance
        settings.database = nil
        return try await MySQLConnection.connect(settings)
    }

    public func openBookkeeping(_ admin: MySQLConnection, instance: ConnectionSettings) async throws -> MySQLConnection {
        try await admin.query("CREATE DATABASE IF NOT EXISTS `\(InstanceNames.bookkeepingDatabase)` CHARACTER SET utf8mb4")
        // Binary collation: names compare exactly as the server stores them.
        try await admin.query("""
            CREATE TABLE IF NOT EXISTS \(bookkeepingTable) (
                database_name VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
                username VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
                owner_uid VARCHAR(64) NOT NULL,
                owner_namespace VARCHAR(253) NOT NULL,
                owner_name VARCHAR(253) NOT NULL,
                created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                cluster_id VARCHAR(64) NOT NULL DEFAULT '',
                owner_created VARCHAR(64) NOT NULL DEFAULT '',
                adopted_from_uid VARCHAR(64) NOT NULL DEFAULT '',
                adopted_from_created VARCHAR(64) NOT NULL DEFAULT '',
                adopted_from_cluster VARCHAR(64) NOT NULL DEFAULT '',
                UNIQUE KEY unique_user (username)) ENGINE=InnoDB
            """)
        // Tables made before the cluster and adoption were recorded get their columns.
        let columns = Set(try await admin.query(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'databases'",
            [InstanceNames.bookkeepingDatabase]).compactMap { $0.first ?? nil })
        for column in InstanceNames.adoptionColumns where !columns.contains(column) {
            do {
                try await admin.query("ALTER TABLE \(bookkeepingTable) ADD COLUMN \(column) VARCHAR(64) NOT NULL DEFAULT ''")
            } catch let error as SQLError where error.serverCode == "1060" {
                // Added meanwhile by another run.
            }
        }
        // Tables made before usernames were unique: one database per user from now on.
        let keys = try await admin.query(
            "SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'databases' AND INDEX_NAME = 'unique_user'",
            [InstanceNames.bookkeepingDatabase])
        if keys.isEmpty {
            do {
                try await admin.query("ALTER TABLE \(bookkeepingTable) ADD UNIQUE KEY unique_user (username)")
            } catch let error as SQLError where ["1061", "1062"].contains(error.serverCode ?? "") {
                // Added meanwhile by another run (1061), or older rows share a user (1062): claims still check.
            }
        }
        // Tenants get grants on their own database only, so db_operator stays closed to them.
        return admin
    }

    /// With `lower_case_table_names` 1 or 2 the server compares database names in
    /// lower case (`Shop_Orders` is `shop_orders`), so the driver does too.
    public func canonicalDatabaseName(_ admin: MySQLConnection, _ name: String) async throws -> String {
        let folding = try await admin.query("SELECT @@lower_case_table_names").first?.first.flatMap { $0 }.flatMap { Int($0) } ?? 0
        return folding == 0 ? name : name.lowercased()
    }

    public func databaseExists(_ admin: MySQLConnection, _ name: String) async throws -> Bool {
        // information_schema compares case-insensitively on some servers: compare exactly here.
        try await admin.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", [name]).contains { $0.first == name }
    }

    public func userExists(_ admin: MySQLConnection, _ name: String) async throws -> Bool {
        try await admin.query("SELECT User FROM mysql.user WHERE User = ?", [name]).contains { $0.first == name }
    }

    func account(_ admin: MySQLConnection, _ user: String) -> String {
        "\(admin.quoteLiteral(user))@\(admin.quoteLiteral(accountHost))"
    }

    public func ensureUser(_ admin: MySQLConnection, _ name: String, password: String) async throws {
        let account = account(admin, name)
        let secret = admin.quoteLiteral(password)
        // IF NOT EXISTS: MySQL 5.7+ and MariaDB 10.1+. ALTER USER sets the password on both
        // (SET PASSWORD differs between them).
        try await admin.query("CREATE USER IF NOT EXISTS \(account) IDENTIFIED BY \(secret)")
        try await admin.query("ALTER USER \(account) IDENTIFIED BY \(secret)")
        // Unlocked, should `endSessions` have locked it (a restore empties the database so).
        do {
            try await admin.query("ALTER USER \(account) ACCOUNT UNLOCK")
        } catch let error as SQLError where error.kind != .connectionLost && error.kind != .unreachable {
            // Servers before MariaDB 10.4 / MySQL 5.7.6 have no account locks.
        }
    }

    public func ensureDatabase(_ admin: MySQLConnection, _ name: String, user: String) async throws {
        try await admin.query("CREATE DATABASE IF NOT EXISTS \(MySQLConnection.quoteIdentifier(name)) CHARACTER SET utf8mb4")
        // The privileges an application needs, named: ALL would include ones an admin
        // without SUPER may not hold itself (MariaDB's DELETE HISTORY, say), and a grantor
        // can only grant what it has.
        try await admin.query("GRANT \(Self.tenantPrivileges) ON \(Self.grantPattern(name)).* TO \(account(admin, user))")
    }

    static let tenantPrivileges = [
        "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER", "CREATE TEMPORARY TABLES",
        "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "TRIGGER",
    ].joined(separator: ", ")

    /// A database name in a GRANT, where `_` and `%` are wildcards: escaped, so a grant
    /// on `shop_orders` cannot reach `shopXorders`.
    static func grantPattern(_ name: String) -> String {
        var escaped = ""
        for ch in name {
            switch ch {
            case "\\": escaped += "\\\\"
            case "_": escaped += "\\_"
            case "%": escaped += "\\%"
            default: escaped.append(ch)
            }
        }
        return MySQLConnection.quoteIdentifier(escaped)
    }

    /// The account is locked first (no reconnecting pool gets in again), then each
    /// session is killed: `KILL` needs CONNECTION ADMIN or SUPER; where that is
    /// refused and the server has Amazon RDS's `mysql.rds_kill`, that is used.
    public func endSessions(_ admin: MySQLConnection, database: String, user: String) async throws -> [String] {
        if try await userExists(admin, user) {
            do {
                try await admin.query("ALTER USER \(account(admin, user)) ACCOUNT LOCK")
            } catch let error as SQLError where error.kind != .connectionLost && error.kind != .unreachable {
                // Servers before MariaDB 10.4 / MySQL 5.7.6 cannot lock accounts: the kills still run.
            }
        }
        let sessions = try await admin.query("SELECT ID, USER FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()", [user])
        var failures: [String] = []
        var rdsKill: Bool?
        for row in sessions where row[1] == user {
            guard let id = row[0].flatMap({ Int($0) }) else { continue }
            do {
                try await admin.query("KILL CONNECTION \(id)")
            } catch let error as SQLError where error.kind != .connectionLost && error.kind != .unreachable {
                if rdsKill == nil {
                    rdsKill = !(try await admin.query(
                        "SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'mysql' AND ROUTINE_NAME = 'rds_kill'")).isEmpty
                }
                if rdsKill == true, (try? await admin.query("CALL mysql.rds_kill(\(id))")) != nil { continue }
                failures.append("session \(id): \(error.message)")
            }
        }
        return failures
    }

    public func dropDatabase(_ admin: MySQLConnection, _ name: String) async throws {
        try await admin.query("DROP DATABASE IF EXISTS \(MySQLConnection.quoteIdentifier(name))")
    }

    public func dropUser(_ admin: MySQLConnection, _ name: String) async throws {
        try await admin.query("DROP USER IF EXISTS \(account(admin, name))")
    }

    public func size(_ admin: MySQLConnection, database: String) async throws -> Int64? {
        let rows = try await admin.query(
            "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", [database])
        return rows.first?.first.flatMap { $0 }.flatMap { Int64($0) }
    }

    public func serverVersion(_ admin: MySQLConnection) async throws -> String { admin.serverVersion }

    public func dumpCommand(_ admin: MySQLConnection, _ target: DatabaseTarget) async throws -> DumpCommand {
        let instance = target.instance
        var (arguments, files) = Self.connection(instance, user: instance.user, password: instance.password, mariadb: dumpTool.hasSuffix("mariadb-dump"))
        arguments += ["--single-transaction", "--routines", "--triggers", "--events", "--no-tablespaces", "--", target.databaseName]
        return DumpCommand(
            executable: dumpTool, arguments: arguments, files: files,
            fileExtension: "sql", wantsCompression: true, serverVersion: admin.serverVersion, tool: URL(fileURLWithPath: dumpTool).lastPathComponent)
    }

    public func restoreCommand(_ admin: MySQLConnection, _ target: DatabaseTarget, ownerPassword: String) async throws -> DumpCommand {
        // As the database's own user: its objects' DEFINER is that user.
        let client = Self.findClient()
        var (arguments, files) = Self.connection(target.instance, user: target.username, password: ownerPassword, mariadb: client.hasSuffix("mariadb"))
        arguments += ["--binary-mode", "--batch", "--database=\(target.databaseName)"]
        return DumpCommand(
            executable: client, arguments: arguments, files: files, fileExtension: "sql", wantsCompression: true,
            serverVersion: admin.serverVersion, tool: URL(fileURLWithPath: client).lastPathComponent)
    }

    /// A client tool's connection options and files: the password in an option file
    /// only this process can read (never in argv), TLS as the instance asks, spelled
    /// for MariaDB's tools or MySQL's.
    static func connection(_ instance: ConnectionSettings, user: String, password: String, mariadb: Bool) -> (arguments: [String], files: [String: String]) {
        let escaped = password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        var arguments = [
            "--defaults-extra-file=\(DumpCommand.privateDirectory)/client.cnf", "--protocol=TCP", "--host=\(instance.host)", "--port=\(instance.port)",
            "--user=\(user)", "--default-character-set=utf8mb4",
        ]
        switch instance.tlsMode {
        case .disable: arguments.append(mariadb ? "--skip-ssl" : "--ssl-mode=DISABLED")
        case .prefer: break
        case .require: arguments.append(mariadb ? "--ssl" : "--ssl-mode=REQUIRED")
        case .verifyCA, .verifyFull: arguments += mariadb ? ["--ssl", "--ssl-verify-server-cert"] : ["--ssl-mode=VERIFY_IDENTITY"]
        }
        var files = ["client.cnf": "[client]\npassword=\"\(escaped)\"\n"]
        if let pem = instance.certificateAuthorityPEM, instance.tlsMode != .disable {
            files["ca.crt"] = pem
            arguments.append("--ssl-ca=\(DumpCommand.privateDirectory)/ca.crt")
        }
        return (arguments, files)
    }

    public func copyDatabase(
        _ admin: MySQLConnection, instance: ConnectionSettings, book: MySQLConnection, from source: String, sourceUser: String, into name: String, user: String,
        password: String
    ) async throws -> String? {
        "MySQL and MariaDB have no database copy inside the server"
    }

    public func checkRestoreFormat(_ input: RestoreInput) throws {
        if input.isPostgreSQLArchive {
            throw DriverError(
                reason: .restoreFormatMismatch,
                message: "the dump is a pg_dump archive (PGDMP): the mysql driver loads SQL dumps (mysqldump, mariadb-dump; plain, .gz or .zst)",
                retryable: false)
        }
    }

    /// The MySQL client that loads dumps: `mariadb`, else `mysql`.
    static func findClient() -> String {
        for candidate in ["/usr/bin/mariadb", "/usr/local/bin/mariadb", "/usr/bin/mysql", "/usr/local/bin/mysql"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "mysql"
    }

    static func findDumpTool() -> String {
        for candidate in ["/usr/bin/mariadb-dump", "/usr/local/bin/mariadb-dump", "/usr/bin/mysqldump", "/usr/local/bin/mysqldump"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "mysqldump"
    }
}

/// The MySQL driver: the shared lifecycle over `MySQLEngine`.
public typealias MySQLDatabaseDriver = SQLDatabaseDriver<MySQLEngine>
