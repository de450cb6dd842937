import Foundation
import MySQLDriver
import PostgreSQLDriver
import SQLSupport
import Testing
import TestSupport

/// The connection layers of the drivers against the real servers of the harness.
@Suite(
    "PostgreSQL connection (libpq)",
    .enabled(if: TestServices.current.shouldRun(.postgresql), "needs PostgreSQL: run ci/services.sh start")
)
struct PGConnectionTests {
    private func settings(password: String? = nil, port: Int? = nil, tls: TLSMode = .prefer) throws -> ConnectionSettings {
        let login = try TestServices.current.postgresql()
        return ConnectionSettings(host: login.host, port: port ?? login.port, user: login.user, password: password ?? login.password, tlsMode: tls, connectTimeoutSeconds: 5)
    }

    @Test("parameters travel apart from the SQL, and a hostile role name is created and dropped as exactly itself")
    func parametersAndQuoting() async throws {
        let connection = try await PGConnection.connect(try settings())
        #expect(try await connection.query("SELECT $1::text || $2::text", ["a'b", "; DROP ROLE x; --"]) == [["a'b; DROP ROLE x; --"]])
        let hostile = "dbop \"role\"; DROP TABLE x; -- é \(UUID().uuidString.prefix(8))"
        let quoted = try connection.quoteIdentifier(hostile)
        try await connection.query("CREATE ROLE \(quoted) LOGIN PASSWORD \(try connection.quoteLiteral("p'w"))")
        #expect(try await connection.query("SELECT count(*) FROM pg_roles WHERE rolname = $1", [hostile]) == [["1"]])
        try await connection.query("DROP ROLE \(quoted)")
        #expect(try await connection.query("SELECT count(*) FROM pg_roles WHERE rolname = $1", [hostile]) == [["0"]])
        #expect(connection.serverVersion >= 120_000)
    }

    @Test("a wrong password, an unreachable server and a refused TLS mode are three distinct errors that name no password")
    func distinctErrors() async throws {
        let wrong = await #expect(throws: SQLError.self) { _ = try await PGConnection.connect(try settings(password: "not-the-password-123")) }
        #expect(wrong?.kind == .authenticationFailed)
        #expect(wrong?.description.contains("not-the-password-123") == false)
        let unreachable = await #expect(throws: SQLError.self) { _ = try await PGConnection.connect(try settings(port: 1)) }
        #expect(unreachable?.kind == .unreachable)
        // The harness's server has no TLS: requiring it must fail as such.
        let tls = await #expect(throws: SQLError.self) { _ = try await PGConnection.connect(try settings(tls: .require)) }
        #expect(tls?.kind == .tlsRefused)
    }

    @Test("the harness's limited admin has CREATEDB and CREATEROLE and is no superuser")
    func limitedAdmin() async throws {
        let login = try TestServices.current.postgresqlLimited()
        let connection = try await PGConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password))
        #expect(try await connection.query("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user") == [["f", "t", "t"]])
    }

    @Test("a failing statement carries the server's SQLSTATE")
    func sqlState() async throws {
        let connection = try await PGConnection.connect(try settings())
        let error = await #expect(throws: SQLError.self) { try await connection.query("SELECT * FROM no_such_table_here") }
        #expect(error?.serverCode == "42P01")
        #expect(error?.kind == .statementFailed)
    }
}

@Suite(
    "MySQL connection (libmysqlclient)",
    .enabled(if: TestServices.current.shouldRun(.mysql), "needs MariaDB/MySQL: run ci/services.sh start")
)
struct MySQLConnectionTests {
    private func settings(password: String? = nil, port: Int? = nil, tls: TLSMode = .prefer) throws -> ConnectionSettings {
        let login = try TestServices.current.mysql()
        return ConnectionSettings(host: login.host, port: port ?? login.port, user: login.user, password: password ?? login.password, tlsMode: tls, connectTimeoutSeconds: 5)
    }

    @Test("placeholders take escaped literals, and a hostile database name is created and dropped as exactly itself")
    func parametersAndQuoting() async throws {
        let connection = try await MySQLConnection.connect(try settings())
        #expect(try await connection.query("SELECT CONCAT(?, ?), '?'", ["a'b\\", "`; DROP DATABASE x; --"]) == [["a'b\\`; DROP DATABASE x; --", "?"]])
        let hostile = "dbop `db`; DROP -- é \(UUID().uuidString.prefix(8))"
        try await connection.query("CREATE DATABASE \(MySQLConnection.quoteIdentifier(hostile))")
        #expect(try await connection.query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", [hostile]) == [["1"]])
        try await connection.query("DROP DATABASE \(MySQLConnection.quoteIdentifier(hostile))")
        #expect(try await connection.query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", [hostile]) == [["0"]])
        #expect(try await connection.query("SELECT ?", [nil]) == [[nil]])
    }

    @Test("a wrong password, an unreachable server and a refused TLS mode are three distinct errors that name no password")
    func distinctErrors() async throws {
        let wrong = await #expect(throws: SQLError.self) { _ = try await MySQLConnection.connect(try settings(password: "not-the-password-123")) }
        #expect(wrong?.kind == .authenticationFailed)
        #expect(wrong?.serverCode == "1045")
        #expect(wrong?.description.contains("not-the-password-123") == false)
        let unreachable = await #expect(throws: SQLError.self) { _ = try await MySQLConnection.connect(try settings(port: 1)) }
        #expect(unreachable?.kind == .unreachable)
        let tls = await #expect(throws: SQLError.self) { _ = try await MySQLConnection.connect(try settings(tls: .require)) }
        #expect(tls?.kind == .tlsRefused)
    }

    @Test("the harness's limited admin has CREATE USER and GRANT OPTION but no SUPER")
    func limitedAdmin() async throws {
        let login = try TestServices.current.mysqlLimited()
        let connection = try await MySQLConnection.connect(ConnectionSettings(host: login.host, port: login.port, user: login.user, password: login.password))
        let grants = try await connection.query("SHOW GRANTS").compactMap { $0.first ?? nil }.joined(separator: "\n")
        #expect(grants.contains("CREATE USER"))
        #expect(grants.contains("WITH GRANT OPTION"))
        #expect(!grants.contains("SUPER"))
        #expect(!grants.contains("ALL PRIVILEGES"))
    }
}
