import CMySQL
import Foundation
import SQLSupport

/// One connection through the libmysqlclient API (MariaDB Connector/C), which talks to
/// MySQL 5.7/8.x and MariaDB alike. Every call blocks, so every call runs on the
/// `BlockingExecutor`; the connection is used by one task at a time.
public final class MySQLConnection: @unchecked Sendable {
    private let handle: UnsafeMutablePointer<MYSQL>
    private let lock = NSLock()
    public let settings: ConnectionSettings

    /// `mysql_library_init` is not thread-safe: run it once, before any connection.
    private static let libraryInitialised: Bool = { mysql_server_init(0, nil, nil) == 0 }()

    private init(handle: UnsafeMutablePointer<MYSQL>, settings: ConnectionSettings) {
        self.handle = handle
        self.settings = settings
    }

    deinit { mysql_close(handle) }

    public static func connect(_ settings: ConnectionSettings) async throws -> MySQLConnection {
        _ = libraryInitialised
        return try await BlockingExecutor.run {
            try PrivateFiles.withCertificateAuthority(of: settings, named: "ca.crt") { try connectBlocking(settings, certificateAuthority: $0) }
        }
    }

    private static func connectBlocking(_ settings: ConnectionSettings, certificateAuthority: String?) throws -> MySQLConnection {
        do {
            guard let handle = mysql_init(nil) else { throw SQLError(kind: .unreachable, message: "mysql_init failed") }
            var timeout = UInt32(settings.connectTimeoutSeconds)
            mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &timeout)
            mysql_options(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4")
            // Always TCP: with host "localhost" Connector/C would take a local socket instead.
            var tcp = UInt32(MYSQL_PROTOCOL_TCP.rawValue)
            mysql_options(handle, MYSQL_OPT_PROTOCOL, &tcp)
            var yes: my_bool = 1
            // Bounded waits: a metadata lock held by a tenant's session cannot hang a Job.
            _ = mysql_options(handle, MYSQL_INIT_COMMAND, "SET SESSION lock_wait_timeout = \(SessionLimits.lockWaitSeconds)")
            switch settings.tlsMode {
            case .disable:
                break
            case .prefer:
                mysql_ssl_set(handle, nil, nil, nil, nil, nil)
            case .require:
                mysql_options(handle, MYSQL_OPT_SSL_ENFORCE, &yes)
            case .verifyCA, .verifyFull:
                // Connector/C checks the chain and the host name together.
                mysql_options(handle, MYSQL_OPT_SSL_ENFORCE, &yes)
                mysql_options(handle, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes)
            }
            if let certificateAuthority, settings.tlsMode != .disable {
                mysql_options(handle, MYSQL_OPT_SSL_CA, certificateAuthority)
            }
            guard mysql_real_connect(handle, settings.host, settings.user, settings.password, settings.database, UInt32(settings.port), nil, 0) != nil else {
                let code = mysql_errno(handle)
                let message = SQLError.redacting(String(cString: mysql_error(handle)), settings.password)
                mysql_close(handle)
                throw SQLError(kind: classify(code, connecting: true), serverCode: String(code), message: "cannot connect to \(settings): \(message)")
            }
            // Some Connector/C versions connect in plain text despite SSL_ENFORCE when the
            // server has no TLS: check the connection itself.
            if settings.tlsMode != .disable && settings.tlsMode != .prefer && mysql_get_ssl_cipher(handle) == nil {
                mysql_close(handle)
                throw SQLError(
                    kind: .tlsRefused, serverCode: "2026",
                    message: "cannot connect to \(settings): TLS is required (sslMode \(settings.tlsMode.rawValue)) but the server does not offer it")
            }
            return MySQLConnection(handle: handle, settings: settings)
        }
    }

    /// How long a statement waits for a lock before it fails (seconds).
    enum SessionLimits {
        static let lockWaitSeconds = 30
    }

    static func classify(_ code: UInt32, connecting: Bool) -> SQLError.Kind {
        switch code {
        case 1045, 1698: return .authenticationFailed
        case 2026: return .tlsRefused
        case 2002, 2003, 2004, 2005: return .unreachable
        case 1044, 1142, 1227, 1410: return .permissionDenied
        case 2006, 2013: return .connectionLost
        case 1049: return .statementFailed
        default: return connecting ? .unreachable : .statementFailed
        }
    }

    /// Runs a statement; `?` placeholders outside quotes take `parameters`, each sent as
    /// a literal escaped by the connection's own rules (`mysql_real_escape_string`).
    /// Returns the rows as text; NULL is nil.
    @discardableResult
    public func query(_ sql: String, _ parameters: [String?] = []) async throws -> [[String?]] {
        try await BlockingExecutor.run { [self] in
            lock.lock()
            defer { lock.unlock() }
            let statement = try bind(sql, parameters)
            guard mysql_real_query(handle, statement, UInt(statement.utf8.count)) == 0 else {
                let code = mysql_errno(handle)
                throw SQLError(kind: Self.classify(code, connecting: false), serverCode: String(code), message: SQLError.redacting(String(cString: mysql_error(handle)), settings.password))
            }
            guard let result = mysql_store_result(handle) else {
                if mysql_field_count(handle) == 0 { return [] }
                let code = mysql_errno(handle)
                throw SQLError(kind: Self.classify(code, connecting: false), serverCode: String(code), message: String(cString: mysql_error(handle)))
            }
            defer { mysql_free_result(result) }
            let columns = Int(mysql_num_fields(result))
            var rows: [[String?]] = []
            while let row = mysql_fetch_row(result) {
                let lengths = mysql_fetch_lengths(result)!
                rows.append((0..<columns).map { column in
                    guard let value = row[column] else { return nil }
                    return String(decoding: UnsafeRawBufferPointer(start: value, count: Int(lengths[column])), as: UTF8.self)
                })
            }
            return rows
        }
    }

    /// `sql` with each `?` outside quotes replaced by an escaped literal.
    private func bind(_ sql: String, _ parameters: [String?]) throws -> String {
        var result = ""
        var remaining = parameters[...]
        var quote: Character?
        var previous: Character?
        for ch in sql {
            if let open = quote {
                // Backticks quote identifiers, where a backslash escapes nothing.
                if ch == open && (open == "`" || previous != "\\") { quote = nil }
                result.append(ch)
            } else if ch == "'" || ch == "\"" || ch == "`" {
                quote = ch
                result.append(ch)
            } else if ch == "?" {
                guard let parameter = remaining.popFirst() else {
                    throw SQLError(kind: .statementFailed, message: "more placeholders than parameters")
                }
                result += parameter.map(escapedLiteral) ?? "NULL"
            } else {
                result.append(ch)
            }
            previous = ch
        }
        guard remaining.isEmpty else { throw SQLError(kind: .statementFailed, message: "more parameters than placeholders") }
        return result
    }

    private func escapedLiteral(_ value: String) -> String {
        let bytes = Array(value.utf8)
        var output = [CChar](repeating: 0, count: bytes.count * 2 + 1)
        let length = bytes.withUnsafeBufferPointer { input in
            input.withMemoryRebound(to: CChar.self) { mysql_real_escape_string(handle, &output, $0.baseAddress, UInt(bytes.count)) }
        }
        return "'" + String(decoding: output.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) + "'"
    }

    /// An identifier in backticks, backticks inside doubled: MySQL's quoting rule.
    public static func quoteIdentifier(_ identifier: String) -> String {
        "`" + identifier.replacingOccurrences(of: "`", with: "``") + "`"
    }

    /// A literal escaped by this connection's rules, for statements built as text.
    public func quoteLiteral(_ value: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        return escapedLiteral(value)
    }

    /// "10.11.19-MariaDB-..." or "8.4.0".
    public var serverVersion: String {
        lock.lock()
        defer { lock.unlock() }
        return String(cString: mysql_get_server_info(handle))
    }
}
