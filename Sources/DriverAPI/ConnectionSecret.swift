import Foundation
import KubeModel

/// The connection Secret of SPEC section 2.2: the keys the operator owns and how
/// they are written without touching anyone else's keys, labels or annotations.
public struct ConnectionDetails: Sendable, Hashable {
    public var driver: String
    public var host: String
    public var port: Int
    public var database: String
    public var username: String
    public var password: String
    public var sslMode: TLSModeName?

    public init(driver: String, host: String, port: Int, database: String, username: String, password: String, sslMode: TLSModeName?) {
        self.driver = driver
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
        self.sslMode = sslMode
    }

    /// The keys this operator owns in the Secret.
    public static let ownedKeys = ["host", "port", "database", "username", "password", "uri", "jdbc-uri"]
    public static let managedByLabel = ("app.kubernetes.io/managed-by", "db-operator")

    /// Every owned key with its value.
    public var values: [String: String] {
        ["host": host, "port": String(port), "database": database, "username": username, "password": password, "uri": uri, "jdbc-uri": jdbcURI]
    }

    /// `postgresql://user:pass@host:port/db?sslmode=...` or `mysql://user:pass@host:port/db`, parts percent-encoded.
    public var uri: String {
        let scheme = driver == "mysql" ? "mysql" : driver == "postgresql" ? "postgresql" : driver
        var uri = "\(scheme)://\(Self.encode(username)):\(Self.encode(password))@\(hostForURI):\(port)/\(Self.encode(database))"
        if let sslMode, driver == "postgresql" { uri += "?sslmode=\(sslMode.rawValue)" }
        return uri
    }

    /// `jdbc:postgresql://host:port/db?user=...&password=...` (and the MySQL equivalent).
    public var jdbcURI: String {
        let scheme = driver == "mysql" ? "mysql" : driver == "postgresql" ? "postgresql" : driver
        var uri = "jdbc:\(scheme)://\(hostForURI):\(port)/\(Self.encode(database))?user=\(Self.encode(username))&password=\(Self.encode(password))"
        if let sslMode {
            if driver == "postgresql" {
                uri += "&sslmode=\(sslMode.rawValue)"
            } else if driver == "mysql" {
                let mode = switch sslMode {
                case .disable: "DISABLED"
                case .prefer: "PREFERRED"
                case .require: "REQUIRED"
                case .verifyCA: "VERIFY_CA"
                case .verifyFull: "VERIFY_IDENTITY"
                }
                uri += "&sslMode=\(mode)"
            }
        }
        return uri
    }

    private var hostForURI: String { host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host }

    /// Percent-encoding that keeps only unreserved characters (RFC 3986).
    static func encode(_ part: String) -> String {
        part.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")) ?? part
    }

    /// `existing` with the owned keys set, the label added and `owner` among its
    /// owners; everything else as it was. A new Secret when `existing` is nil.
    public func secret(updating existing: Secret?, name: String, namespace: String, owner: OwnerReference) -> Secret {
        var secret = existing ?? Secret(metadata: ObjectMeta(name: name, namespace: namespace), type: "Opaque")
        for (key, value) in values { secret.setValue(value, for: key) }
        var labels = secret.metadata.labels ?? [:]
        labels[Self.managedByLabel.0] = Self.managedByLabel.1
        secret.metadata.labels = labels
        var owners = secret.metadata.ownerReferences ?? []
        if !owners.contains(where: { $0.uid == owner.uid }) { owners.append(owner) }
        secret.metadata.ownerReferences = owners
        return secret
    }
}

/// Passwords: 32 characters from the system CSPRNG over a URL-safe alphabet.
public enum PasswordGenerator {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    public static func generate(length: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
