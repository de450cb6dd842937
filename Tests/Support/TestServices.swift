import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A service an integration test needs, with the variables that locate it.
public enum TestService: String, Sendable, CaseIterable {
    case postgresql
    case mysql
    case s3
    /// The same store over HTTPS with a certificate from a test CA, and the domain of
    /// its virtual-host names.
    case s3TLS
    case kubectl
    /// The aws CLI, the reference S3 client of the tests and benchmarks.
    case awsCLI
    /// A python3 that imports the official `kubernetes` client.
    case pythonKubernetes
    /// The `age` tool (Debian's), the reference for the backups' encryption.
    case age
    /// Every PostgreSQL major of the matrix (15-18), and the client tools' directories.
    case postgresqlVersions
    /// The second S3 implementation, which verifies every signature against the raw
    /// request, with STS (web identity roles) at the same endpoint.
    case s3Strict
    /// A MariaDB that folds names to lower case (`lower_case_table_names=1`).
    case mysqlCaseFolding
    /// A PostgreSQL that takes TLS only and a MariaDB that offers it, both with a
    /// certificate (for 127.0.0.1 alone) from the test CA; and a CA that signed neither.
    case databaseTLS
    /// The image (`ci/image.sh build`: DBOP_IMAGE_ARCHIVE) and runc, run as root: pods as containers.
    case containers

    /// The variables that must be set for this service.
    public var requiredVariables: [String] {
        switch self {
        case .postgresql: ["DBOP_PG_HOST", "DBOP_PG_PORT", "DBOP_PG_USER", "DBOP_PG_PASSWORD"]
        case .mysql: ["DBOP_MYSQL_HOST", "DBOP_MYSQL_PORT", "DBOP_MYSQL_USER", "DBOP_MYSQL_PASSWORD"]
        case .s3: ["DBOP_S3_ENDPOINT", "DBOP_S3_REGION", "DBOP_S3_BUCKET", "DBOP_S3_ACCESS_KEY_ID", "DBOP_S3_SECRET_ACCESS_KEY"]
        case .s3TLS: ["DBOP_S3_TLS_ENDPOINT", "DBOP_S3_CA_FILE", "DBOP_S3_VHOST_DOMAIN"]
        case .kubectl: ["DBOP_KUBECTL"]
        case .containers: ["DBOP_IMAGE_ARCHIVE", "DBOP_RUNC"]
        case .awsCLI: ["DBOP_AWS"]
        case .age: ["DBOP_AGE"]
        case .pythonKubernetes: ["DBOP_PYTHON"]
        case .postgresqlVersions: ["DBOP_PG_SERVERS", "DBOP_PG_BIN_DIRS", "DBOP_PG_HOST", "DBOP_PG_USER", "DBOP_PG_PASSWORD", "DBOP_PG_LIMITED_USER", "DBOP_PG_LIMITED_PASSWORD"]
        case .s3Strict:
            [
                "DBOP_S3_STRICT_ENDPOINT", "DBOP_S3_STRICT_ACCESS_KEY_ID", "DBOP_S3_STRICT_SECRET_ACCESS_KEY", "DBOP_S3_REGION", "DBOP_S3_BUCKET",
                "DBOP_S3_STRICT_ROLE_ARN", "DBOP_S3_STRICT_DENIED_ROLE_ARN",
            ]
        case .mysqlCaseFolding: ["DBOP_MYSQL_CI_PORT", "DBOP_MYSQL_HOST", "DBOP_MYSQL_USER", "DBOP_MYSQL_PASSWORD"]
        case .databaseTLS:
            ["DBOP_PG_TLS_PORT", "DBOP_MYSQL_TLS_PORT", "DBOP_DB_CA_FILE", "DBOP_DB_OTHER_CA_FILE", "DBOP_PG_USER", "DBOP_PG_PASSWORD", "DBOP_MYSQL_USER", "DBOP_MYSQL_PASSWORD"]
        }
    }
}

/// Why a service cannot be used: names the missing variable or the unreachable server,
/// and says how to start the services.
public struct ServiceUnavailable: Error, CustomStringConvertible, Equatable {
    public let service: TestService
    public let reason: String

    public init(service: TestService, reason: String) {
        self.service = service
        self.reason = reason
    }

    public var description: String {
        "\(service.rawValue) is not available: \(reason). Start the local services with `ci/services.sh start` "
            + "(or point the DBOP_* variables at your own; see README.md, \"The env contract\")."
    }
}

/// Connection settings of the PostgreSQL or MySQL admin login the tests use.
public struct DatabaseServerLogin: Sendable {
    public let host: String
    public let port: Int
    public let user: String
    public let password: String

    public init(host: String, port: Int, user: String, password: String) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }
}

/// One PostgreSQL server of the version matrix: every server shares the host and
/// the logins of `DBOP_PG_*`, each on a port of its own.
public struct PostgreSQLServer: Sendable, Hashable, CustomStringConvertible {
    public let major: Int
    public let port: Int

    public var description: String { "PostgreSQL \(major)" }
}

/// Connection settings of the S3 store the tests use.
public struct S3Settings: Sendable {
    public let endpoint: String
    public let region: String
    public let bucket: String
    public let accessKeyID: String
    public let secretAccessKey: String

    public init(endpoint: String, region: String, bucket: String, accessKeyID: String, secretAccessKey: String) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }
}

/// The S3 store over HTTPS, and its virtual-host domain.
public struct S3TLSSettings: Sendable {
    /// The same store over plain HTTP.
    public let plain: S3Settings
    /// `https://127.0.0.1:PORT`.
    public let endpoint: String
    public let certificateAuthorityPEM: String
    /// Requests to `<bucket>.<domain>` name the bucket by host; it resolves nowhere,
    /// so clients connect to 127.0.0.1 for it.
    public let virtualHostDomain: String
}

/// Finds the services of the env contract, and decides whether a test needing one runs.
///
/// Outside CI a test whose service is unavailable is skipped (its trait says why);
/// with `CI=true` it runs, and fails with the `ServiceUnavailable` message.
public struct TestServices: Sendable {
    public let environment: ServiceEnvironment

    public init(environment: ServiceEnvironment = .current) {
        self.environment = environment
    }

    /// Whether a test needing `service` should run: always in CI, else only if available.
    public func shouldRun(_ service: TestService) -> Bool {
        environment.isCI || check(service) == nil
    }

    /// Nil when the service is configured and reachable, else why not.
    public func check(_ service: TestService) -> ServiceUnavailable? {
        if let missing = service.requiredVariables.first(where: { environment[$0] == nil }) {
            return ServiceUnavailable(service: service, reason: "\(missing) is not set")
        }
        switch service {
        case .postgresql, .mysql:
            let prefix = service == .postgresql ? "DBOP_PG" : "DBOP_MYSQL"
            let host = environment["\(prefix)_HOST"]!
            guard let port = Int(environment["\(prefix)_PORT"]!) else {
                return ServiceUnavailable(service: service, reason: "\(prefix)_PORT is not a port number")
            }
            return Self.probe(service, host: host, port: port)
        case .s3:
            let endpoint = environment["DBOP_S3_ENDPOINT"]!
            guard let url = URL(string: endpoint), let host = url.host else {
                return ServiceUnavailable(service: service, reason: "DBOP_S3_ENDPOINT (\(endpoint)) is not a URL")
            }
            return Self.probe(service, host: host, port: url.port ?? (url.scheme == "https" ? 443 : 80))
        case .s3TLS:
            let endpoint = environment["DBOP_S3_TLS_ENDPOINT"]!
            guard let url = URL(string: endpoint), url.scheme == "https", let host = url.host else {
                return ServiceUnavailable(service: service, reason: "DBOP_S3_TLS_ENDPOINT (\(endpoint)) is not an https URL")
            }
            guard FileManager.default.isReadableFile(atPath: environment["DBOP_S3_CA_FILE"]!) else {
                return ServiceUnavailable(service: service, reason: "DBOP_S3_CA_FILE (\(environment["DBOP_S3_CA_FILE"]!)) cannot be read")
            }
            return Self.probe(service, host: host, port: url.port ?? 443)
        case .postgresqlVersions:
            let servers = postgresqlServers()
            guard servers.count >= 2 else {
                return ServiceUnavailable(service: service, reason: "DBOP_PG_SERVERS (\(environment["DBOP_PG_SERVERS"]!)) names fewer than two MAJOR:PORT servers")
            }
            for server in servers {
                if let problem = Self.probe(service, host: environment["DBOP_PG_HOST"]!, port: server.port) { return problem }
            }
            return nil
        case .s3Strict:
            let endpoint = environment["DBOP_S3_STRICT_ENDPOINT"]!
            guard let url = URL(string: endpoint), let host = url.host else {
                return ServiceUnavailable(service: service, reason: "DBOP_S3_STRICT_ENDPOINT (\(endpoint)) is not a URL")
            }
            return Self.probe(service, host: host, port: url.port ?? 80)
        case .mysqlCaseFolding:
            guard let port = Int(environment["DBOP_MYSQL_CI_PORT"]!) else {
                return ServiceUnavailable(service: service, reason: "DBOP_MYSQL_CI_PORT is not a port number")
            }
            return Self.probe(service, host: environment["DBOP_MYSQL_HOST"]!, port: port)
        case .databaseTLS:
            for file in ["DBOP_DB_CA_FILE", "DBOP_DB_OTHER_CA_FILE"] where !FileManager.default.isReadableFile(atPath: environment[file]!) {
                return ServiceUnavailable(service: service, reason: "\(file) (\(environment[file]!)) cannot be read")
            }
            for port in ["DBOP_PG_TLS_PORT", "DBOP_MYSQL_TLS_PORT"] {
                guard let number = Int(environment[port]!) else { return ServiceUnavailable(service: service, reason: "\(port) is not a port number") }
                if let problem = Self.probe(service, host: "127.0.0.1", port: number) { return problem }
            }
            return nil
        case .containers:
            let archive = environment["DBOP_IMAGE_ARCHIVE"]!, runc = environment["DBOP_RUNC"]!
            if !FileManager.default.fileExists(atPath: archive) { return ServiceUnavailable(service: service, reason: "no image at \(archive) (ci/image.sh build)") }
            if !FileManager.default.isExecutableFile(atPath: runc) { return ServiceUnavailable(service: service, reason: "DBOP_RUNC (\(runc)) is not an executable") }
            return getuid() == 0 ? nil : ServiceUnavailable(service: service, reason: "runc runs containers as root only")
        case .kubectl, .awsCLI, .pythonKubernetes, .age:
            let variable = service.requiredVariables[0]
            let path = environment[variable]!
            return FileManager.default.isExecutableFile(atPath: path)
                ? nil : ServiceUnavailable(service: service, reason: "\(variable) (\(path)) is not an executable")
        }
    }

    /// The admin login of the PostgreSQL server, or the reason it cannot be used.
    public func postgresql() throws -> DatabaseServerLogin {
        try login(.postgresql, prefix: "DBOP_PG")
    }

    /// The admin login of the MySQL/MariaDB server, or the reason it cannot be used.
    public func mysql() throws -> DatabaseServerLogin {
        try login(.mysql, prefix: "DBOP_MYSQL")
    }

    /// The PostgreSQL admin with only CREATEDB and CREATEROLE (as Amazon RDS's master user).
    public func postgresqlLimited() throws -> DatabaseServerLogin {
        try limited(try postgresql(), prefix: "DBOP_PG")
    }

    /// The MySQL admin with RDS's master-user grants and no SUPER.
    public func mysqlLimited() throws -> DatabaseServerLogin {
        try limited(try mysql(), prefix: "DBOP_MYSQL")
    }

    private func limited(_ admin: DatabaseServerLogin, prefix: String) throws -> DatabaseServerLogin {
        for variable in ["\(prefix)_LIMITED_USER", "\(prefix)_LIMITED_PASSWORD"] where environment[variable] == nil {
            throw ServiceUnavailable(service: prefix == "DBOP_PG" ? .postgresql : .mysql, reason: "\(variable) is not set")
        }
        return DatabaseServerLogin(
            host: admin.host, port: admin.port, user: environment["\(prefix)_LIMITED_USER"]!, password: environment["\(prefix)_LIMITED_PASSWORD"]!)
    }

    /// The PostgreSQL servers of the version matrix (`DBOP_PG_SERVERS`, "15:45432
    /// 16:45416 ..."), oldest first; without it, the one server of `DBOP_PG_PORT`
    /// (major 0: unknown).
    public func postgresqlServers() -> [PostgreSQLServer] {
        let listed = (environment["DBOP_PG_SERVERS"] ?? "").split(whereSeparator: { $0 == " " || $0 == "," }).compactMap { entry -> PostgreSQLServer? in
            let parts = entry.split(separator: ":")
            guard parts.count == 2, let major = Int(parts[0]), let port = Int(parts[1]) else { return nil }
            return PostgreSQLServer(major: major, port: port)
        }
        if !listed.isEmpty { return listed.sorted { $0.major < $1.major } }
        return [PostgreSQLServer(major: 0, port: environment["DBOP_PG_PORT"].flatMap { Int($0) } ?? 45432)]
    }

    /// The superuser login of one server of the matrix.
    public func postgresql(_ server: PostgreSQLServer) throws -> DatabaseServerLogin {
        let base = try postgresql()
        return DatabaseServerLogin(host: base.host, port: server.port, user: base.user, password: base.password)
    }

    /// The CREATEDB CREATEROLE admin (no superuser) of one server of the matrix.
    public func postgresqlLimited(_ server: PostgreSQLServer) throws -> DatabaseServerLogin {
        let base = try postgresqlLimited()
        return DatabaseServerLogin(host: base.host, port: server.port, user: base.user, password: base.password)
    }

    /// Where the PostgreSQL client tools are, newest first (`DBOP_PG_BIN_DIRS`): what
    /// the driver gets as `DB_OPERATOR_PG_BIN_DIRS`. Empty when unset.
    public var postgresqlToolDirectories: [String] {
        (environment["DBOP_PG_BIN_DIRS"] ?? "").split(separator: ":").map(String.init)
    }

    /// The path of a PostgreSQL client tool of the newest major (`pg_restore`,
    /// `createdb`), else Debian's wrapper.
    public func postgresqlTool(_ name: String) -> String {
        for directory in postgresqlToolDirectories where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return "/usr/bin/\(name)"
    }

    /// The MariaDB with `lower_case_table_names=1` (superuser login), or why not.
    public func mysqlCaseFolding() throws -> DatabaseServerLogin {
        if let problem = check(.mysqlCaseFolding) { throw problem }
        return DatabaseServerLogin(
            host: environment["DBOP_MYSQL_HOST"]!, port: Int(environment["DBOP_MYSQL_CI_PORT"]!)!,
            user: environment["DBOP_MYSQL_USER"]!, password: environment["DBOP_MYSQL_PASSWORD"]!)
    }

    /// The TLS-only PostgreSQL and the TLS MariaDB (superuser logins, host 127.0.0.1,
    /// the only name their certificates hold), the test CA's PEM and another CA's.
    public func databaseTLS() throws -> DatabaseTLSSettings {
        if let problem = check(.databaseTLS) { throw problem }
        return DatabaseTLSSettings(
            postgresql: DatabaseServerLogin(
                host: "127.0.0.1", port: Int(environment["DBOP_PG_TLS_PORT"]!)!, user: environment["DBOP_PG_USER"]!, password: environment["DBOP_PG_PASSWORD"]!),
            mysql: DatabaseServerLogin(
                host: "127.0.0.1", port: Int(environment["DBOP_MYSQL_TLS_PORT"]!)!, user: environment["DBOP_MYSQL_USER"]!,
                password: environment["DBOP_MYSQL_PASSWORD"]!),
            certificateAuthorityPEM: try String(contentsOfFile: environment["DBOP_DB_CA_FILE"]!, encoding: .utf8),
            otherCertificateAuthorityPEM: try String(contentsOfFile: environment["DBOP_DB_OTHER_CA_FILE"]!, encoding: .utf8))
    }

    /// The second S3 implementation (moto, signatures checked against the raw
    /// request), with the same bucket name and region, or why not.
    public func s3Strict() throws -> S3Settings {
        if let problem = check(.s3Strict) { throw problem }
        return S3Settings(
            endpoint: environment["DBOP_S3_STRICT_ENDPOINT"]!, region: environment["DBOP_S3_REGION"]!,
            bucket: environment["DBOP_S3_BUCKET"]!, accessKeyID: environment["DBOP_S3_STRICT_ACCESS_KEY_ID"]!,
            secretAccessKey: environment["DBOP_S3_STRICT_SECRET_ACCESS_KEY"]!)
    }

    /// The strict store's roles for web identity (its STS answers
    /// AssumeRoleWithWebIdentity): one that may use S3, one that may not.
    public func webIdentityRoles() throws -> (allowed: String, denied: String) {
        if let problem = check(.s3Strict) { throw problem }
        return (environment["DBOP_S3_STRICT_ROLE_ARN"]!, environment["DBOP_S3_STRICT_DENIED_ROLE_ARN"]!)
    }

    /// The S3 store, or the reason it cannot be used.
    public func s3() throws -> S3Settings {
        if let problem = check(.s3) { throw problem }
        return S3Settings(
            endpoint: environment["DBOP_S3_ENDPOINT"]!, region: environment["DBOP_S3_REGION"]!,
            bucket: environment["DBOP_S3_BUCKET"]!, accessKeyID: environment["DBOP_S3_ACCESS_KEY_ID"]!,
            secretAccessKey: environment["DBOP_S3_SECRET_ACCESS_KEY"]!
        )
    }

    /// The store over HTTPS, the PEM of the CA that signed its certificate, and the
    /// domain of its virtual-host names (`<bucket>.<domain>`), or why not.
    public func s3TLS() throws -> S3TLSSettings {
        let plain = try s3()
        if let problem = check(.s3TLS) { throw problem }
        return S3TLSSettings(
            plain: plain, endpoint: environment["DBOP_S3_TLS_ENDPOINT"]!,
            certificateAuthorityPEM: try String(contentsOfFile: environment["DBOP_S3_CA_FILE"]!, encoding: .utf8),
            virtualHostDomain: environment["DBOP_S3_VHOST_DOMAIN"]!)
    }

    /// The path of a real `kubectl`, or the reason there is none.
    /// The image archive and runc, or why containers cannot run here.
    public func containers() throws -> (archive: String, runc: String) {
        if let problem = check(.containers) { throw problem }
        return (environment["DBOP_IMAGE_ARCHIVE"]!, environment["DBOP_RUNC"]!)
    }

    public func kubectl() throws -> String {
        try executable(.kubectl)
    }

    /// The path of the `age` tool, or the reason there is none.
    public func age() throws -> String {
        try executable(.age)
    }

    /// The path of the aws CLI, or the reason there is none.
    public func awsCLI() throws -> String {
        try executable(.awsCLI)
    }

    /// The path of a python3 with the official Kubernetes client, or the reason there is none.
    public func pythonKubernetes() throws -> String {
        try executable(.pythonKubernetes)
    }

    private func executable(_ service: TestService) throws -> String {
        if let problem = check(service) { throw problem }
        return environment[service.requiredVariables[0]]!
    }

    private func login(_ service: TestService, prefix: String) throws -> DatabaseServerLogin {
        if let problem = check(service) { throw problem }
        return DatabaseServerLogin(
            host: environment["\(prefix)_HOST"]!, port: Int(environment["\(prefix)_PORT"]!)!,
            user: environment["\(prefix)_USER"]!, password: environment["\(prefix)_PASSWORD"]!
        )
    }

    /// Opens (and closes) a TCP connection to tell whether a server listens there.
    static func probe(_ service: TestService, host: String, port: Int) -> ServiceUnavailable? {
        var hints = addrinfo()
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            return ServiceUnavailable(service: service, reason: "cannot resolve host \(host)")
        }
        defer { freeaddrinfo(list) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        var lastError: Int32 = 0
        while let info = node {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                let connected = connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
                lastError = errno
                close(fd)
                if connected { return nil }
            }
            node = info.pointee.ai_next
        }
        return ServiceUnavailable(
            service: service, reason: "no server at \(host):\(port) (\(String(cString: strerror(lastError))))")
    }
}

extension TestServices {
    /// The services of this test process.
    public static let current = TestServices()
}

/// Database servers with TLS, and the CAs to verify them with (`TestServices.databaseTLS()`).
public struct DatabaseTLSSettings: Sendable {
    public let postgresql: DatabaseServerLogin
    public let mysql: DatabaseServerLogin
    public let certificateAuthorityPEM: String
    /// A CA that signed neither server's certificate.
    public let otherCertificateAuthorityPEM: String
}
