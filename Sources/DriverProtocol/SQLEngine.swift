import SQLSupport

/// A connection a SQL engine's driver talks through: text rows out, parameters
/// passed apart from the SQL.
public protocol SQLSession: Sendable {
    @discardableResult
    func query(_ sql: String, _ parameters: [String?]) async throws -> [[String?]]
}

/// What differs between PostgreSQL and MySQL for the driver operations: the SQL,
/// the catalogs, the dump tool. The lifecycle around it is `SQLDatabaseDriver`'s,
/// one piece of code for both engines.
public protocol SQLEngine: Sendable {
    associatedtype Session: SQLSession

    var defaultPort: Int { get }
    var nameLimits: NameLimits { get }
    /// The rights the admin login needs, as a person would grant them (in errors).
    var requiredAdminRights: String { get }
    /// The right that lets the admin end other users' sessions (for error messages).
    var sessionAdminRight: String { get }

    /// The admin login's session on the instance (no particular database).
    func connect(_ instance: ConnectionSettings) async throws -> Session

    /// Creates the bookkeeping database and table when missing and closes them to
    /// everyone else; returns the session the bookkeeping queries run on.
    func openBookkeeping(_ admin: Session, instance: ConnectionSettings) async throws -> Session

    /// The admin session and the bookkeeping one (`openBookkeeping`'s), for the
    /// operations that need both. The default connects, then opens the bookkeeping;
    /// an engine may open both at once.
    func connectWithBookkeeping(_ instance: ConnectionSettings) async throws -> (admin: Session, book: Session)

    /// The bookkeeping table's name as the bookkeeping session sees it.
    var bookkeepingTable: String { get }

    /// The engine's placeholder for the `index`th parameter (from 1).
    func placeholder(_ index: Int) -> String

    /// The name as the server compares database names: lower-cased where the server
    /// folds case (MySQL's `lower_case_table_names`), else as it is.
    func canonicalDatabaseName(_ admin: Session, _ name: String) async throws -> String

    func databaseExists(_ admin: Session, _ name: String) async throws -> Bool
    func userExists(_ admin: Session, _ name: String) async throws -> Bool

    /// The user exists, can log in, and has exactly `password`.
    func ensureUser(_ admin: Session, _ name: String, password: String) async throws
    /// The database exists, belongs to (or is fully granted to) `user`, and no one
    /// else may connect to it.
    func ensureDatabase(_ admin: Session, _ name: String, user: String) async throws

    /// Stops the user logging in again and ends its sessions (and the database's).
    /// Returns what it could not end ("session 12: <error>"): the drop that follows
    /// may then wait for their locks, and its failure says why.
    func endSessions(_ admin: Session, database: String, user: String) async throws -> [String]
    func dropDatabase(_ admin: Session, _ name: String) async throws
    func dropUser(_ admin: Session, _ name: String) async throws

    func size(_ admin: Session, database: String) async throws -> Int64?
    /// The server's version as people write it: `18.6`, `10.11.14-MariaDB`.
    func serverVersion(_ admin: Session) async throws -> String

    /// The dump tool's invocation for a database, its password kept off the command
    /// line; the admin session tells the server's version where the tool depends on it.
    func dumpCommand(_ admin: Session, _ target: DatabaseTarget) async throws -> DumpCommand

    /// The restore tool's invocation: it reads the dump on standard input and loads
    /// it into the target's database as the database's own user (`ownerPassword`).
    func restoreCommand(_ admin: Session, _ target: DatabaseTarget, ownerPassword: String) async throws -> DumpCommand

    /// Throws `RestoreFormatMismatch` when the dump is not one this engine loads.
    func checkRestoreFormat(_ input: RestoreInput) throws

    /// Makes database `name` (not there yet, or empty: replaced) a copy of database `source`
    /// (`sourceUser`'s) made inside the server, its objects made `user`'s, the user's
    /// login as `password`; `book` is the instance's bookkeeping session (a lock
    /// between concurrent copies). Returns why not when the server cannot copy it
    /// now; the database is then as it was (made by the caller if it is not there).
    func copyDatabase(
        _ admin: Session, instance: ConnectionSettings, book: Session, from source: String, sourceUser: String, into name: String, user: String, password: String
    ) async throws -> String?
}

extension SQLEngine {
    public func copyDatabase(
        _ admin: Session, instance: ConnectionSettings, book: Session, from source: String, sourceUser: String, into name: String, user: String, password: String
    ) async throws -> String? {
        "the engine cannot copy a database inside the server"
    }

    public func connectWithBookkeeping(_ instance: ConnectionSettings) async throws -> (admin: Session, book: Session) {
        let admin = try await connect(instance)
        return (admin, try await openBookkeeping(admin, instance: instance))
    }
}

/// How to run a dump tool: never with a password in `arguments`.
public struct DumpCommand: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    /// Files the dump needs (a MySQL option file with the password), by name: created
    /// 0600 in a private directory before it starts, removed after. Arguments name
    /// that directory as `DumpCommand.privateDirectory`.
    public var files: [String: String]

    /// Stands in an argument for the directory of `files`.
    public static let privateDirectory = "${DB_OPERATOR_PRIVATE_DIR}"
    public var fileExtension: String
    public var wantsCompression: Bool
    /// For the backup's manifest: the server's version, the tool and its version.
    public var serverVersion: String?
    public var tool: String?
    /// A restore tool's failure that is no failure (exit status, the end of its
    /// errors): see `PostgreSQLEngine.restoreCommand`.
    public var tolerated: (@Sendable (Int32, String) -> Bool)?

    public init(
        executable: String, arguments: [String], environment: [String: String] = [:], files: [String: String] = [:], fileExtension: String,
        wantsCompression: Bool, serverVersion: String? = nil, tool: String? = nil
    ) {
        self.serverVersion = serverVersion
        self.tool = tool
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.files = files
        self.fileExtension = fileExtension
        self.wantsCompression = wantsCompression
    }
}
