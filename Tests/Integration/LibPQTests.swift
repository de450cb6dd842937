import CLibPQ
import Foundation
import Testing
import TestSupport

/// libpq is linked and talks to the real PostgreSQL server of the harness.
@Suite(
    "PostgreSQL through libpq",
    .enabled(if: TestServices.current.shouldRun(.postgresql), "needs PostgreSQL: run ci/services.sh start")
)
struct LibPQTests {
    /// Connects with libpq's keyword/value interface; the caller owns the connection.
    private func connect(_ login: DatabaseServerLogin, password: String? = nil) -> OpaquePointer? {
        let parameters = [
            ("host", login.host), ("port", String(login.port)), ("user", login.user),
            ("password", password ?? login.password), ("dbname", "postgres"), ("connect_timeout", "5"),
        ]
        let keys = parameters.map { strdup($0.0) } + [nil]
        let values = parameters.map { strdup($0.1) } + [nil]
        defer { (keys + values).forEach { free($0) } }
        return keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                PQconnectdbParams(
                    UnsafeRawPointer(k.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self),
                    UnsafeRawPointer(v.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self),
                    0)
            }
        }
    }

    @Test("libpq connects with the admin login and runs a parameterised query")
    func parameterisedQuery() throws {
        let login = try TestServices.current.postgresql()
        let connection = connect(login)
        defer { PQfinish(connection) }
        try #require(PQstatus(connection) == CONNECTION_OK, "\(String(cString: PQerrorMessage(connection)))")
        #expect(PQserverVersion(connection) >= 120_000)

        let parameter = strdup("41")
        defer { free(parameter) }
        var values: [UnsafePointer<CChar>?] = [UnsafePointer(parameter)]
        let result = PQexecParams(connection, "SELECT $1::int + 1, current_user", 1, nil, &values, nil, nil, 0)
        defer { PQclear(result) }
        try #require(PQresultStatus(result) == PGRES_TUPLES_OK, "\(String(cString: PQerrorMessage(connection)))")
        #expect(PQntuples(result) == 1)
        #expect(String(cString: PQgetvalue(result, 0, 0)) == "42")
        #expect(String(cString: PQgetvalue(result, 0, 1)) == login.user)
    }

    @Test("a wrong password is refused by the server with an authentication error")
    func wrongPassword() throws {
        let login = try TestServices.current.postgresql()
        let connection = connect(login, password: "not-the-password")
        defer { PQfinish(connection) }
        #expect(PQstatus(connection) == CONNECTION_BAD)
        #expect(String(cString: PQerrorMessage(connection)).contains("password authentication failed"))
    }
}
