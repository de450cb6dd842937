import CMySQL
import Testing
import TestSupport

/// The libmysqlclient API (MariaDB Connector/C) is linked and talks to the real
/// MariaDB server of the harness. Serialized: `mysql_init` initialises the library
/// on first use, which is not thread-safe.
@Suite(
    "MySQL through libmysqlclient",
    .serialized,
    .enabled(if: TestServices.current.shouldRun(.mysql), "needs MariaDB/MySQL: run ci/services.sh start")
)
struct MySQLClientTests {
    private func connect(_ login: DatabaseServerLogin, password: String? = nil) -> (UnsafeMutablePointer<MYSQL>, Bool) {
        let handle = mysql_init(nil)!
        var timeout: UInt32 = 5
        mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &timeout)
        let connected = mysql_real_connect(
            handle, login.host, login.user, password ?? login.password, nil, UInt32(login.port), nil, 0) != nil
        return (handle, connected)
    }

    @Test("libmysqlclient connects with the admin login and runs a query")
    func query() throws {
        let login = try TestServices.current.mysql()
        let (handle, connected) = connect(login)
        defer { mysql_close(handle) }
        try #require(connected, "\(String(cString: mysql_error(handle)))")

        try #require(mysql_query(handle, "SELECT 40 + 2, CURRENT_USER()") == 0, "\(String(cString: mysql_error(handle)))")
        let result = try #require(mysql_store_result(handle))
        defer { mysql_free_result(result) }
        #expect(mysql_num_rows(result) == 1)
        let row = try #require(mysql_fetch_row(result))
        #expect(String(cString: row[0]!) == "42")
        #expect(String(cString: row[1]!).hasPrefix("\(login.user)@"))
    }

    @Test("a wrong password is refused by the server with ER_ACCESS_DENIED_ERROR (1045)")
    func wrongPassword() throws {
        let login = try TestServices.current.mysql()
        let (handle, connected) = connect(login, password: "not-the-password")
        defer { mysql_close(handle) }
        #expect(!connected)
        #expect(mysql_errno(handle) == 1045)
    }
}
