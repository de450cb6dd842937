import CLibPQ
import Foundation
import SQLSupport

/// One libpq connection. Every call blocks in libpq, so every call runs on the
/// `BlockingExecutor`; the connection is used by one task at a time.
public final class PGConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()
    public let settings: ConnectionSettings

    private init(handle: OpaquePointer, settings: ConnectionSettings) {
        self.handle = handle
        self.settings = settings
    }

    deinit { PQfinish(handle) }

    /// Connects; failures are classified (unreachable, authentication, TLS) from libpq's
    /// message and the server's SQLSTATE.
    public static func connect(_ settings: ConnectionSettings) async throws -> PGConnection {
        try await BlockingExecutor.run {
            try PrivateFiles.withCertificateAuthority(of: settings, named: "root.crt") { try connectBlocking(settings, rootCertificate: $0) }
        }
    }

    private static func connectBlocking(_ settings: ConnectionSettings, rootCertificate: String?) throws -> PGConnection {
        do {
            var parameters: [(String, String)] = [
                ("host", settings.host), ("port", String(settings.port)), ("user", settings.user),
                ("password", settings.password), ("dbname", settings.database ?? "postgres"),
                ("sslmode", settings.tlsMode.rawValue), ("connect_timeout", String(settings.connectTimeoutSeconds)),
                ("application_name", "db-operator"),
            ]
            if settings.password.isEmpty { parameters.removeAll { $0.0 == "password" } }
            if let rootCertificate { parameters.append(("sslrootcert", rootCertificate)) }
            let keys = parameters.map { strdup($0.0) } + [nil]
            let values = parameters.map { strdup($0.1) } + [nil]
            defer { (keys + values).forEach { free($0) } }
            let handle: OpaquePointer? = keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    PQconnectdbParams(
                        UnsafeRawPointer(k.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self),
                        UnsafeRawPointer(v.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self), 0)
                }
            }
            guard let handle else { throw SQLError(kind: .unreachable, message: "libpq could not allocate a connection") }
            guard PQstatus(handle) == CONNECTION_OK else {
                let message = SQLError.redacting(String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines), settings.password)
                PQfinish(handle)
                throw SQLError(kind: classifyConnectFailure(message), message: "cannot connect to \(settings): \(message)")
            }
            // The idempotent DDL's "already exists, skipping" NOTICEs are noise in a Job's
            // log; WARNINGs still reach it (libpq prints them to stderr). A statement, not
            // the `options` startup parameter, which poolers such as PgBouncer refuse.
            // Bounded waits: a lock held by a tenant's session, or a statement that never
            // ends, fails the operation (and the Job retries) instead of hanging it.
            PQclear(PQexec(handle, "SET client_min_messages = warning; SET lock_timeout = '30s'; SET statement_timeout = '300s'"))
            return PGConnection(handle: handle, settings: settings)
        }
    }

    static func classifyConnectFailure(_ message: String) -> SQLError.Kind {
        let text = message.lowercased()
        // A server that takes TLS connections only refuses a plain one by pg_hba.conf.
        if text.contains("no pg_hba.conf entry") && text.contains("no encryption") { return .tlsRefused }
        if text.contains("password authentication failed") || text.contains("no pg_hba.conf entry") || text.contains("authentication failed")
            || text.contains("role") && text.contains("does not exist")
        {
            return .authenticationFailed
        }
        if text.contains("ssl") || text.contains("tls") || text.contains("certificate") { return .tlsRefused }
        return .unreachable
    }

    /// Runs a statement with `$1`-style parameters (sent separately, never pasted into
    /// the SQL) and returns its rows as text; NULL is nil.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) async throws -> [[String?]] {
        try await BlockingExecutor.run { [self] in
            lock.lock()
            defer { lock.unlock() }
            let copies = parameters.map { $0.map { strdup($0) } ?? nil }
            defer { copies.forEach { free($0) } }
            var values = copies.map { UnsafePointer($0) }
            let result = values.withUnsafeMutableBufferPointer { buffer in
                PQexecParams(handle, sql, Int32(parameters.count), nil, buffer.baseAddress, nil, nil, 0)
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
                let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
                let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
                let kind: SQLError.Kind
                switch state {
                case "42501"?: kind = .permissionDenied
                case let s? where s.hasPrefix("08"): kind = .connectionLost
                case nil where PQstatus(handle) != CONNECTION_OK: kind = .connectionLost
                default: kind = .statementFailed
                }
                throw SQLError(kind: kind, serverCode: state, message: SQLError.redacting(message, settings.password))
            }
            var rows: [[String?]] = []
            let columns = PQnfields(result)
            for row in 0..<PQntuples(result) {
                rows.append((0..<columns).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
            }
            return rows
        }
    }

    /// An identifier quoted by libpq's own rules (`PQescapeIdentifier`).
    public func quoteIdentifier(_ identifier: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let bytes = Array(identifier.utf8)
        guard let escaped = bytes.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQescapeIdentifier(handle, $0.baseAddress, bytes.count) }
        }) else {
            throw SQLError(kind: .statementFailed, message: "cannot quote identifier: \(String(cString: PQerrorMessage(handle)))")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// A string literal quoted by libpq's own rules (`PQescapeLiteral`), for the few
    /// statements that take no parameters (`CREATE ROLE ... PASSWORD`).
    public func quoteLiteral(_ literal: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let bytes = Array(literal.utf8)
        guard let escaped = bytes.withUnsafeBufferPointer({ buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQescapeLiteral(handle, $0.baseAddress, bytes.count) }
        }) else {
            throw SQLError(kind: .statementFailed, message: "cannot quote a literal: \(String(cString: PQerrorMessage(handle)))")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// A SCRAM-SHA-256 verifier of `password` for `user`, made here by libpq
    /// (`PQencryptPasswordConn`): `CREATE/ALTER ROLE ... PASSWORD` takes it in place of
    /// the password, so the password itself never reaches the server, its log
    /// (`log_statement=ddl`) or pg_stat_statements.
    public func scramVerifier(password: String, user: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        guard let encrypted = PQencryptPasswordConn(handle, password, user, "scram-sha-256") else {
            throw SQLError(kind: .statementFailed, message: "cannot make a SCRAM verifier: \(String(cString: PQerrorMessage(handle)))")
        }
        defer { PQfreemem(encrypted) }
        return String(cString: encrypted)
    }

    /// The server's version number (150004 for 15.4).
    public var serverVersion: Int {
        lock.lock()
        defer { lock.unlock() }
        return Int(PQserverVersion(handle))
    }
}
