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
    /// What is wrong with the spec that the CRD schema cannot say: an unknown driver,
    /// both spellings of a backup key, a Secret in another namespace, a policy that
    /// needs a backup target without one. Empty when the spec can be acted on.
    public func validate(knownDrivers: Set<String>) -> [SpecProblem] {
        var problems: [SpecProblem] = []
        let namespace = metadata.namespace ?? ""
        if !knownDrivers.contains(spec.driver) {
            let known = knownDrivers.sorted().joined(separator: ", ")
            problems.append(SpecProblem(field: "spec.driver", message: "unknown driver \"\(spec.driver)\" (this operator runs: \(known))"))
        }
        if (spec.connect.host ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            problems.append(SpecProblem(field: "spec.connect.host", message: "the instance's host is required"))
        }
        if let port = spec.connect.port, !(1...65535).contains(port) {
            problems.append(SpecProblem(field: "spec.connect.port", message: "\(port) is not a TCP port"))
        }
        for (field, source) in [("username", spec.credentials?.username), ("password", spec.credentials?.password)] {
            guard let source else {
                problems.append(SpecProblem(field: "spec.credentials.\(field)", message: "the admin login's \(field) is required"))
                continue
            }
            problems += Self.validate(source, field: "spec.credentials.\(field)", namespace: namespace)
        }
        if let target = spec.backupTo {
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
            if let compression = target.compression, target.compressionFormat == nil {
                let known = BackupCompression.allCases.map(\.rawValue).joined(separator: ", ")
                problems.append(SpecProblem(field: "spec.backupTo.compression", message: "\"\(compression)\" is not one of \(known)"))
            }
        }
        if spec.deletionPolicy == .backupBeforeDelete, spec.backupTo?.s3Spec == nil {
            problems.append(SpecProblem(field: "spec.deletionPolicy", message: "BackupBeforeDelete needs spec.backupTo"))
        }
        return problems
    }

    private static func validate(_ source: ValueSource, field: String, namespace: String) -> [SpecProblem] {
        switch (source.value, source.valueFrom?.secretKeyRef) {
        case (_?, _?):
            return [SpecProblem(field: field, message: "give value or valueFrom, not both")]
        case (nil, nil):
            return [SpecProblem(field: field, message: "give value or valueFrom.secretKeyRef")]
        case (nil, let ref?):
            if let other = ref.namespace, other != namespace {
                return [SpecProblem(
                    field: "\(field).valueFrom.secretKeyRef.namespace",
                    message: "the Secret must be in the Database's namespace \(namespace), not \(other)")]
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
        if let driver = status.driver, driver != spec.driver { changes.append("driver (\(driver) -> \(spec.driver))") }
        if let host = status.host, let given = spec.connect.host, host != given { changes.append("connect.host (\(host) -> \(given))") }
        if let port = status.port, let given = spec.connect.port, port != given { changes.append("connect.port (\(port) -> \(given))") }
        if let name = status.databaseName, let given = spec.databaseName, name != given { changes.append("databaseName (\(name) -> \(given))") }
        if let name = status.username, let given = spec.username, name != given { changes.append("username (\(name) -> \(given))") }
        return changes
    }
}
