import Foundation

/// Runs the C client libraries' blocking calls on threads of their own, never on
/// Swift's cooperative pool (on a 2-core machine that pool has two threads, and a
/// blocked one starves everything else in the process).
public enum BlockingExecutor {
    private static let queue = DispatchQueue(label: "db-operator.blocking-sql", attributes: .concurrent)

    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}

/// TLS modes of a database connection, as PostgreSQL's `sslmode` names them; the
/// MySQL driver maps them onto its SSL options.
public enum TLSMode: String, Sendable, CaseIterable, Codable {
    case disable
    case prefer
    case require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"
}

/// Where and as whom to connect. `description` never shows the password.
public struct ConnectionSettings: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var database: String?
    public var tlsMode: TLSMode
    public var connectTimeoutSeconds: Int
    /// The CA (PEM) the server's certificate must chain to (`connect.caSecret`); nil:
    /// the client library's default. Used with verify-ca and verify-full.
    public var certificateAuthorityPEM: String?

    public init(
        host: String, port: Int, user: String, password: String, database: String? = nil, tlsMode: TLSMode = .prefer, connectTimeoutSeconds: Int = 10,
        certificateAuthorityPEM: String? = nil
    ) {
        self.certificateAuthorityPEM = certificateAuthorityPEM
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tlsMode = tlsMode
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    public var description: String { "\(user)@\(host):\(port)\(database.map { "/\($0)" } ?? "")" }
}

/// A database error: what kind, the server's own code (SQLSTATE or MySQL error
/// number), and a message that names no password.
public struct SQLError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        /// The server could not be reached (refused, no route, timeout, DNS).
        case unreachable = "InstanceUnreachable"
        /// The server refused the login.
        case authenticationFailed = "AdminLoginFailed"
        /// The TLS mode asked for could not be had.
        case tlsRefused = "TLSRefused"
        /// The login may not do this.
        case permissionDenied = "PermissionDenied"
        /// A statement failed for another reason.
        case statementFailed = "StatementFailed"
        /// The connection broke while in use.
        case connectionLost = "ConnectionLost"
    }

    public var kind: Kind
    /// SQLSTATE (PostgreSQL) or the error number (MySQL), when the server sent one.
    public var serverCode: String?
    public var message: String

    public init(kind: Kind, serverCode: String? = nil, message: String) {
        self.kind = kind
        self.serverCode = serverCode
        self.message = message
    }

    public var description: String {
        "\(kind.rawValue)\(serverCode.map { " [\($0)]" } ?? ""): \(message)"
    }

    /// `message` with every occurrence of `secret` masked: client libraries may echo a
    /// connection string.
    public static func redacting(_ message: String, _ secret: String) -> String {
        guard !secret.isEmpty else { return message }
        return message.replacingOccurrences(of: secret, with: "********")
    }
}
