import DriverProtocol
import MySQLDriver
import PostgreSQLDriver
import TestDriver

/// The drivers this binary runs. Registering a driver is one line here.
enum DriverRegistration {
    static func registry(testDriverRoot: String?) -> DriverRegistry {
        var registry = DriverRegistry()
        registry.register("postgresql") { PostgreSQLDatabaseDriver(engine: PostgreSQLEngine()) }
        registry.register("mysql") { MySQLDatabaseDriver(engine: MySQLEngine()) }
        if let root = testDriverRoot { registry.register(TestDatabaseDriver.name) { TestDatabaseDriver(root: root) } }
        return registry
    }
}

/// How a program is told to register the test driver: never by default.
enum TestDriverSwitch {
    static let environmentKey = "DB_OPERATOR_TEST_DRIVER_DIR"
}
