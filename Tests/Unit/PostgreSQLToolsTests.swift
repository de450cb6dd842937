import DriverProtocol
import Testing

@testable import PostgreSQLDriver

/// Which pg_dump dumps which server (SPEC section 11): the newest found, never one
/// older than the server; none new enough is ToolTooOld, naming both versions.
@Suite("PostgreSQL client tool selection")
struct PostgreSQLToolsTests {
    let found = [
        PostgreSQLTools.Tool(path: "/usr/lib/postgresql/15/bin/pg_dump", version: "15.18", major: 15),
        PostgreSQLTools.Tool(path: "/opt/pg/18/bin/pg_dump", version: "18.6", major: 18),
        PostgreSQLTools.Tool(path: "/opt/pg/17/bin/pg_dump", version: "17.11", major: 17),
    ]

    @Test("the newest tool is chosen for every server it is not older than", arguments: [13, 15, 16, 17, 18])
    func newest(_ server: Int) throws {
        let tool = try PostgreSQLTools.choose("pg_dump", serverVersion: "\(server).1", serverMajor: server, among: found, searched: [])
        #expect(tool.path == "/opt/pg/18/bin/pg_dump")
    }

    @Test("a server newer than every tool is ToolTooOld, naming both versions and the fix, and is not retried")
    func tooOld() {
        let error = #expect(throws: DriverError.self) {
            _ = try PostgreSQLTools.choose("pg_dump", serverVersion: "19.0", serverMajor: 19, among: found, searched: ["/opt/pg/18/bin"])
        }
        #expect(error?.reason == "ToolTooOld")
        #expect(error?.retryable == false)
        #expect(error?.message.contains("19.0") == true)
        #expect(error?.message.contains("18.6") == true)
        #expect(error?.message.contains("DB_OPERATOR_PG_BIN_DIRS") == true)
    }

    @Test("no tool at all is ToolNotFound, naming where it looked")
    func none() {
        let error = #expect(throws: DriverError.self) {
            _ = try PostgreSQLTools.choose("pg_dump", serverVersion: "16.2", serverMajor: 16, among: [], searched: ["/nowhere/bin"])
        }
        #expect(error?.reason == "ToolNotFound")
        #expect(error?.message.contains("/nowhere/bin") == true)
    }

    @Test("versions as pg_dump prints them, Debian's and pre-releases included")
    func versions() {
        #expect(PostgreSQLTools.parseVersion("pg_dump (PostgreSQL) 18.6\n")! == ("18.6", 18))
        #expect(PostgreSQLTools.parseVersion("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n")! == ("15.18", 15))
        #expect(PostgreSQLTools.parseVersion("pg_dump (PostgreSQL) 19beta1")! == ("19beta1", 19))
        #expect(PostgreSQLTools.parseVersion("pg_dump (PostgreSQL) 9.6.24")! == ("9.6.24", 9))
        #expect(PostgreSQLTools.parseVersion("") == nil)
    }

    @Test("DB_OPERATOR_PG_BIN_DIRS, colon-separated, is searched in its order; without it Debian's layout then PATH")
    func directories() {
        #expect(PostgreSQLTools.fromEnvironment(["DB_OPERATOR_PG_BIN_DIRS": "/a/bin:/b/bin"]).directories == ["/a/bin", "/b/bin"])
        let fallback = PostgreSQLTools.fromEnvironment(["PATH": "/x:/y"]).directories
        #expect(Array(fallback.suffix(2)) == ["/x", "/y"])
        #expect(fallback.dropLast(2).allSatisfy { $0.hasPrefix("/usr/lib/postgresql/") })
    }
}
