import Foundation

/// One thing wrong with a resource's spec, as a condition message names it.
public struct SpecProblem: Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

extension Database {
    /// `spec.restoreFrom`: exactly one of `backup` and `s3`; an S3 source names a bucket and a key.
    static func validate(restoreFrom source: RestoreSource) -> [SpecProblem] {
        var problems: [SpecProblem] = []
        if source.s3 != nil, source.S3 != nil {
            problems.append(SpecProblem(field: "spec.restoreFrom", message: "give S3 or s3, not both"))
        }
        switch (source.backup, source.s3Source) {
        case (nil, nil):
            problems.append(SpecProblem(field: "spec.restoreFrom", message: "name a Backup (backup) or an object (s3)"))
        case (.some, .some):
            problems.append(SpecProblem(field: "spec.restoreFrom", message: "give backup or s3, not both"))
        case (nil, let s3?):
            if (s3.bucket ?? s3.Bucket ?? "").isEmpty { problems.append(SpecProblem(field: "spec.restoreFrom.s3.bucket", message: "the bucket is required")) }
            if (s3.objectKey ?? "").isEmpty { problems.append(SpecProblem(field: "spec.restoreFrom.s3.key", message: "the object's key is required")) }
        case (let name?, nil):
            if name.isEmpty { problems.append(SpecProblem(field: "spec.restoreFrom.backup", message: "name a Backup of this namespace")) }
        }
        return problems
    }

    /// What is wrong with the spec that the CRD schema cannot say: an unknown driver,
    /// both spellings of a backup key, a Secret in another namespace, a policy that
    /// needs a backup target without one, `server` together with `connect`. Empty when
    /// the spec can be acted on. `server` is the DatabaseServer `spec.server` names,
    /// when it exists: its driver and backup target count.
    public func validate(knownDrivers: Set<String>, server: DatabaseServer? = nil) -> [SpecProblem] {
        var problems: [SpecProblem] = []
        let namespace = metadata.namespace ?? ""
        if let serverName = spec.server {
            if serverName.isEmpty {
                problems.append(SpecProblem(field: "spec.server", message: "name a DatabaseServer, or leave server out"))
            }
            if spec.connect != nil || spec.credentials != nil {
                problems.append(SpecProblem(
                    field: "spec.server", message: "give server or connect and credentials, not both (the server holds the instance's address and admin login)"))
            }
            if let driver = spec.driver, let server, driver != server.spec.driver {
                problems.append(SpecProblem(
                    field: "spec.driver", message: "\"\(driver)\" differs from DatabaseServer \(serverName)'s driver \"\(server.spec.driver)\"; leave driver out"))
            }
        } else {
            if let driver = spec.driver, !driver.isEmpty {
                if !knownDrivers.contains(driver) {
                    let known = knownDrivers.sorted().joined(separator: ", ")
                    problems.append(SpecProblem(field: "spec.driver", message: "unknown driver \"\(driver)\" (this operator runs: \(known))"))
                }
            } else {
                problems.append(SpecProblem(field: "spec.driver", message: "the driver is required (or name a DatabaseServer in spec.server)"))
            }
            problems += Self.validate(connect: spec.connect ?? ConnectSpec(host: nil))
            problems += Self.validate(credentials: spec.credentials, namespace: namespace)
        }
        if let target = spec.backupTo { problems += Self.validate(backupTo: target) }
        if let ttl = spec.ttl {
            if let seconds = GoDuration.seconds(ttl) {
                if seconds <= 0 { problems.append(SpecProblem(field: "spec.ttl", message: "\"\(ttl)\" is not a positive duration")) }
            } else {
                problems.append(SpecProblem(field: "spec.ttl", message: "\"\(ttl)\" is not a duration like 2h, 30m or 1h30m"))
            }
        }
        if status?.phase == nil || status?.phase == .creating {
            if let source = spec.restoreFrom { problems += Self.validate(restoreFrom: source) }
            if let clone = spec.cloneFrom {
                if spec.restoreFrom != nil {
                    problems.append(SpecProblem(field: "spec.cloneFrom", message: "give restoreFrom or cloneFrom, not both"))
                }
                if clone.database.isEmpty || clone.database == metadata.name {
                    problems.append(SpecProblem(field: "spec.cloneFrom.database", message: "name another Database of this namespace"))
                }
            }
        }
        if spec.deletionPolicy == .backupBeforeDelete, backupTarget(server: server)?.target.s3Spec == nil {
            problems.append(SpecProblem(field: "spec.deletionPolicy", message: "BackupBeforeDelete needs spec.backupTo (or a server with one)"))
        }
        return problems
    }

    /// The instance's address: a host and a TCP port.
    public static func validate(connect: ConnectSpec) -> [SpecProblem] {
        var problems: [SpecProblem] = []
        if (connect.host ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            problems.append(SpecProblem(field: "spec.connect.host", message: "the instance's host is required"))
        }
        if let port = connect.port, !(1...65535).contains(port) {
            problems.append(SpecProblem(field: "spec.connect.port", message: "\(port) is not a TCP port"))
        }
        return problems
    }

    /// The admin login: both parts, each a value or a Secret key (in `namespace`,
    /// when given: a Secret of another namespace is refused).
    public static func validate(credentials: CredentialsSpec?, namespace: String?) -> [SpecProblem] {
        var problems: [SpecProblem] = []
        for (field, source) in [("username", credentials?.username), ("password", credentials?.password)] {
            guard let source else {
                problems.append(SpecProblem(field: "spec.credentials.\(field)", message: "the admin login's \(field) is required"))
                continue
            }
            problems += validate(source, field: "spec.credentials.\(field)", namespace: namespace)
        }
        return problems
    }

    /// A backup target: one spelling of each key, a bucket, an http(s) endpoint.
    public static func validate(backupTo target: BackupTarget) -> [SpecProblem] {
        var problems: [SpecProblem] = []
        if target.S3 != nil, target.s3 != nil {
            problems.append(SpecProblem(field: "spec.backupTo", message: "give either S3 or s3, not both"))
        }
        if let s3 = target.s3Spec {
            for keys in s3.keysGivenTwice {
                problems.append(SpecProblem(field: "spec.backupTo.S3", message: "\(keys) given in both spellings; keep one"))
            }
            let location = s3.location
            if location.bucket.isEmpty {
                problems.append(SpecProblem(field: "spec.backupTo.S3.Bucket", message: "the bucket is required"))
            }
            if let secret = location.credentialsSecret, secret.isEmpty || secret.contains("/") {
                problems.append(SpecProblem(
                    field: "spec.backupTo.S3.CredentialsSecret",
                    message: "\"\(secret)\" is not a Secret name; credentials are read from this namespace only"))
            }
            if let endpoint = location.endpoint, !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
                problems.append(SpecProblem(field: "spec.backupTo.S3.Endpoint", message: "\"\(endpoint)\" is not an http:// or https:// URL"))
            }
        } else {
            problems.append(SpecProblem(field: "spec.backupTo", message: "an S3 destination is required"))
        }
        if let encryption = target.encryption {
            let secret = encryption.recipientsSecret ?? ""
            if secret.isEmpty || secret.contains("/") {
                problems.append(SpecProblem(
                    field: "spec.backupTo.encryption.recipientsSecret",
                    message: "\"\(encryption.recipientsSecret ?? "")\" is not a Secret name; give the Secret whose key recipients lists the age public keys"))
            }
        }
        if let compression = target.compression, target.compressionFormat == nil {
            let known = BackupCompression.allCases.map(\.rawValue).joined(separator: ", ")
            problems.append(SpecProblem(field: "spec.backupTo.compression", message: "\"\(compression)\" is not one of \(known)"))
        }
        return problems
    }

    private static func validate(_ source: ValueSource, field: String, namespace: String?) -> [SpecProblem] {
        switch (source.value, source.valueFrom?.secretKeyRef) {
        case (_?, _?):
            return [SpecProblem(field: field, message: "give value or valueFrom, not both")]
        case (nil, nil):
            return [SpecProblem(field: field, message: "give value or valueFrom.secretKeyRef")]
        case (nil, let ref?):
            if let other = ref.namespace, other != namespace {
                let own = namespace.map { "the Database's namespace \($0)" } ?? "the operator's namespace (leave namespace out)"
                return [SpecProblem(
                    field: "\(field).valueFrom.secretKeyRef.namespace",
                    message: "the Secret must be in \(own), not \(other)")]
            }
            if ref.name.isEmpty || ref.key.isEmpty {
                return [SpecProblem(field: "\(field).valueFrom.secretKeyRef", message: "name and key are required")]
            }
            return []
        case (_?, nil):
            return []
        }
    }

    /// Fields that may not change once the database is Created, and how they changed.
    public var immutableFieldChanges: [String] {
        guard let status, status.phase != nil, status.phase != .creating else { return [] }
        var changes: [String] = []
        if status.server != nil || spec.server != nil, status.server != spec.server {
            changes.append("server (\(status.server ?? "none") -> \(spec.server ?? "none"))")
        }
        if status.server == nil {
            if let driver = status.driver, let given = spec.driver, driver != given { changes.append("driver (\(driver) -> \(given))") }
            if let host = status.host, let given = spec.connect?.host, host != given { changes.append("connect.host (\(host) -> \(given))") }
            if let port = status.port, let given = spec.connect?.port, port != given { changes.append("connect.port (\(port) -> \(given))") }
        }
        if let name = status.databaseName, let given = spec.databaseName, name != given { changes.append("databaseName (\(name) -> \(given))") }
        if let name = status.username, let given = spec.username, name != given { changes.append("username (\(name) -> \(given))") }
        return changes
    }
}

extension Database {
    /// The finalizer (and label) the driver runtime puts on the Secrets of its own
    /// namespace that a Database needs — the admin login's, the CA's, the S3
    /// CredentialsSecret, the encryption recipients' — so deleting them (or the namespace) waits until no Database
    /// needs them any more.
    public static let secretInUseFinalizer = "dboperator.io/in-use"

    /// The Secrets of the Database's own namespace its spec reads.
    public var referencedSecrets: Set<String> {
        var names: Set<String> = []
        if spec.server == nil {
            for source in [spec.credentials?.username, spec.credentials?.password] {
                if let ref = source?.valueFrom?.secretKeyRef, ref.namespace == nil || ref.namespace == metadata.namespace { names.insert(ref.name) }
            }
            if let ca = spec.connect?.caSecret { names.insert(ca) }
        }
        if let secret = spec.backupTo?.s3Spec?.location.credentialsSecret { names.insert(secret) }
        if let secret = spec.backupTo?.encryption?.recipientsSecret, !secret.isEmpty { names.insert(secret) }
        return names
    }

    /// Whether the Database may still read its Secrets: it exists and has not been
    /// dropped (or released) yet.
    public var needsSecrets: Bool {
        phase != .deleted && !(isBeingDeleted && !(metadata.finalizers?.contains(Database.finalizer) ?? false))
    }
}
