/// `dboperator.io/v1alpha1` DatabaseServer (cluster-scoped, SPEC section 12): an
/// instance registered once by an admin. Its admin login (and the S3 keys of its
/// default backup target) live in Secrets of the operator's namespace, so tenants
/// name the server in `Database.spec.server` without ever holding them.
public struct DatabaseServer: KubernetesObject, Hashable {
    public static let resource = ResourceDescriptor(
        group: "dboperator.io", version: "v1alpha1", plural: "databaseservers", kind: "DatabaseServer", namespaced: false)
    /// Held by the operator while Databases name the server; removed when none does.
    public static let inUseFinalizer = "dboperator.io/in-use"

    public var apiVersion: String? = "dboperator.io/v1alpha1"
    public var kind: String? = "DatabaseServer"
    public var metadata: ObjectMeta
    public var spec: DatabaseServerSpec
    public var status: DatabaseServerStatus?

    public init(metadata: ObjectMeta, spec: DatabaseServerSpec, status: DatabaseServerStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    public var isBeingDeleted: Bool { metadata.deletionTimestamp != nil }

    /// Whether Databases of a namespace with `labels` may use the server.
    public func allows(namespaceLabels labels: [String: String]) -> Bool {
        spec.allowedNamespaces?.selector?.matches(labels) ?? true
    }
}

/// What the admin registers.
public struct DatabaseServerSpec: Codable, Sendable, Hashable {
    /// `postgresql` or `mysql`.
    public var driver: String
    public var connect: ConnectSpec
    /// The admin login; Secrets are read from the operator's namespace.
    public var credentials: CredentialsSpec?
    /// Absent: every namespace.
    public var allowedNamespaces: AllowedNamespaces?
    /// The default backup target of the server's Databases; its CredentialsSecret is
    /// read from the operator's namespace.
    public var backupTo: BackupTarget?

    public init(
        driver: String, connect: ConnectSpec, credentials: CredentialsSpec? = nil, allowedNamespaces: AllowedNamespaces? = nil,
        backupTo: BackupTarget? = nil
    ) {
        self.driver = driver
        self.connect = connect
        self.credentials = credentials
        self.allowedNamespaces = allowedNamespaces
        self.backupTo = backupTo
    }
}

/// The namespaces whose Databases may use a server.
public struct AllowedNamespaces: Codable, Sendable, Hashable {
    public var selector: LabelSelector?

    public init(selector: LabelSelector?) { self.selector = selector }
}

/// `metav1.LabelSelector`: every `matchLabels` pair and every expression must hold.
/// An empty selector matches everything.
public struct LabelSelector: Codable, Sendable, Hashable {
    public var matchLabels: [String: String]?
    public var matchExpressions: [Requirement]?

    public init(matchLabels: [String: String]? = nil, matchExpressions: [Requirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// One `matchExpressions` entry: `In`, `NotIn`, `Exists`, `DoesNotExist`.
    public struct Requirement: Codable, Sendable, Hashable {
        public var key: String
        public var `operator`: String
        public var values: [String]?

        public init(key: String, operator: String, values: [String]? = nil) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    /// The operators `matchExpressions` may use.
    public static let operators: Set<String> = ["In", "NotIn", "Exists", "DoesNotExist"]

    /// Whether `labels` satisfy the selector; an unknown operator matches nothing.
    public func matches(_ labels: [String: String]) -> Bool {
        for (key, value) in matchLabels ?? [:] where labels[key] != value { return false }
        for requirement in matchExpressions ?? [] {
            let value = labels[requirement.key], values = requirement.values ?? []
            switch requirement.operator {
            case "In": if !(value.map(values.contains) ?? false) { return false }
            case "NotIn": if let value, values.contains(value) { return false }
            case "Exists": if value == nil { return false }
            case "DoesNotExist": if value != nil { return false }
            default: return false
            }
        }
        return true
    }

    /// Problems the API server's validation of a LabelSelector would name.
    public var problems: [String] {
        (matchExpressions ?? []).compactMap { requirement in
            switch requirement.operator {
            case "In", "NotIn" where (requirement.values ?? []).isEmpty:
                return "\(requirement.key): \(requirement.operator) needs values"
            case "Exists", "DoesNotExist" where !(requirement.values ?? []).isEmpty:
                return "\(requirement.key): \(requirement.operator) takes no values"
            case let other where !Self.operators.contains(other):
                return "\(requirement.key): unknown operator \(other)"
            default:
                return nil
            }
        }
    }
}

/// What the server's probe (a Job) and the operator report.
public struct DatabaseServerStatus: Codable, Sendable, Hashable {
    /// The generation the last probe saw (written by the probe).
    public var observedGeneration: Int64?
    /// The server's version as it reports it, e.g. `18.6` or `10.11.14-MariaDB`.
    public var version: String?
    /// When the last probe ended (RFC 3339).
    public var lastProbeTime: String?
    /// How many Databases name the server (written by the operator).
    public var databases: Int?
    public var conditions: [Condition]?

    public init() {}
}

extension DatabaseServer {
    /// What is wrong with the spec that the CRD schema cannot say.
    public func validate(knownDrivers: Set<String>) -> [SpecProblem] {
        var problems: [SpecProblem] = []
        if !knownDrivers.contains(spec.driver) {
            let known = knownDrivers.sorted().joined(separator: ", ")
            problems.append(SpecProblem(field: "spec.driver", message: "unknown driver \"\(spec.driver)\" (this operator runs: \(known))"))
        }
        problems += Database.validate(connect: spec.connect)
        problems += Database.validate(credentials: spec.credentials, namespace: nil)
        if let target = spec.backupTo { problems += Database.validate(backupTo: target) }
        for problem in spec.allowedNamespaces?.selector?.problems ?? [] {
            problems.append(SpecProblem(field: "spec.allowedNamespaces.selector", message: problem))
        }
        return problems
    }
}
