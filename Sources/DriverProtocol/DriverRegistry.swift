/// The drivers a program can run, by `spec.driver` name. Registering one is one line:
/// `registry.register("postgresql") { PostgreSQLDatabaseDriver(logger: $0) }`.
public struct DriverRegistry: Sendable {
    public typealias Factory = @Sendable () -> any DatabaseDriver

    private var factories: [String: Factory] = [:]

    public init() {}

    public mutating func register(_ name: String, _ factory: @escaping Factory) {
        factories[name] = factory
    }

    /// A new driver for `name`, or nil when none is registered under it.
    public func driver(named name: String) -> (any DatabaseDriver)? { factories[name]?() }

    public var names: [String] { factories.keys.sorted() }
}
