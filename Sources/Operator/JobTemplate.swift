import KubeModel

/// How the operator's Jobs look (SPEC section 3.2); every field has a usable default.
public struct JobTemplate: Sendable {
    public var image = "ghcr.io/db-operator/db-operator:latest"
    public var serviceAccountName: String?
    /// Container resources as Kubernetes writes them (`requests`, `limits`).
    public var resources: JSONValue?
    public var backoffLimit = 2
    public var ttlSecondsAfterFinished = 3600
    /// Variables every Job gets besides the `DB_OPERATOR_*` ones.
    public var environment: [String: String] = [:]
    /// Secrets every Job takes all keys of as variables (`envFrom`, optional): the
    /// Secret of that name in the Job's own namespace — the operator's for Jobs of
    /// Databases on a DatabaseServer and for probes — so keys never appear in a Job.
    public var environmentFromSecrets: [String] = []
    /// How long a Job of each operation may run (`activeDeadlineSeconds`) before it
    /// is ended and counted as failed: a hung Job cannot hold its Database for ever.
    public var activeDeadlines: [DatabaseOperation: Int] = Self.defaultDeadlines

    /// 10 minutes to create, drop or delete an expired backup, 6 hours to back up.
    public static let defaultDeadlines: [DatabaseOperation: Int] = [
        .create: 600, .delete: 600, .backup: 21_600, .backupBeforeDelete: 21_600, .expireBackup: 600,
    ]

    public init() {}

    /// Tells the driver where the Secrets of a DatabaseServer are: the operator's namespace.
    public static let operatorNamespaceVariable = "DB_OPERATOR_OPERATOR_NAMESPACE"
    /// Names the DatabaseServer a probe Job probes.
    public static let serverVariable = "DB_OPERATOR_SERVER"

    /// `<database>-<operation>-<8 hex>`, at most 63 characters; the hex comes from the
    /// database's UID, the operation, the backup and the attempt.
    public static func jobName(database: String, uid: String, request: JobRequest) -> String {
        let seed = "\(uid)|\(request.operation.rawValue)|\(request.backup ?? "")|\(request.attempt)"
        let suffix = "-\(request.operation.rawValue)-\(ShortHash.sha256Hex8(seed))"
        var prefix = String(database.prefix(63 - suffix.count))
        // A DNS label may not have a '-' or '.' before the suffix's '-'.
        while let last = prefix.last, last == "-" || last == "." { prefix.removeLast() }
        return prefix.replacingDots() + suffix
    }

    /// The variable that gives a Job the cluster's identity (see `DatabaseOperator`).
    public static let clusterIDVariable = "DB_OPERATOR_CLUSTER_ID"

    /// The Job for `request` on `database`; `clusterID` (the UID of namespace
    /// kube-system) is recorded with the database, for adoption after a Retain.
    /// The Job runs in the Database's namespace, owned by it; the Job of a Database
    /// on a DatabaseServer runs in `operatorNamespace` instead (a tenant never sees
    /// its environment or logs) and is tied to the Database by labels.
    /// `inOperatorNamespace` puts an inline Database's Job there too (its namespace is
    /// being deleted, so no Job can be created in it).
    public func job(
        for database: Database, request: JobRequest, clusterID: String? = nil, operatorNamespace: String = "db-operator", inOperatorNamespace: Bool = false
    ) -> Job {
        let name = database.metadata.name ?? ""
        let namespace = database.metadata.namespace ?? ""
        let uid = database.metadata.uid ?? ""
        let onServer = database.serverName != nil || inOperatorNamespace
        var labels = [LabelKey.databaseUID: uid, LabelKey.operation: request.operation.rawValue, "app.kubernetes.io/managed-by": "db-operator"]
        // The name as a label only where it is one exactly (the UID label selects anyway).
        if LabelValue.valid(name) == name { labels[LabelKey.database] = name }
        var annotations = [AnnotationKey.generation: String(database.metadata.generation ?? 0), AnnotationKey.attempt: String(request.attempt)]
        if onServer {
            labels[LabelKey.databaseNamespace] = namespace
            annotations[AnnotationKey.databaseName] = name
        }
        var env = [
            EnvVar(name: "DB_OPERATOR_DATABASE", value: name),
            EnvVar(name: "DB_OPERATOR_NAMESPACE", value: namespace),
            EnvVar(name: "DB_OPERATOR_OPERATION", value: request.operation.rawValue),
        ]
        if let backup = request.backup {
            annotations[AnnotationKey.backup] = backup
            env.append(EnvVar(name: "DB_OPERATOR_BACKUP", value: backup))
        }
        if let clusterID, !clusterID.isEmpty { env.append(EnvVar(name: Self.clusterIDVariable, value: clusterID)) }
        if onServer { env.append(EnvVar(name: Self.operatorNamespaceVariable, value: operatorNamespace)) }
        let owner = OwnerReference(
            apiVersion: Database.resource.apiVersion, kind: Database.resource.kind, name: name, uid: uid, controller: true, blockOwnerDeletion: true)
        return Job(
            metadata: ObjectMeta(
                name: Self.jobName(database: name, uid: uid, request: request), namespace: onServer ? operatorNamespace : namespace,
                labels: labels, annotations: annotations, ownerReferences: onServer ? nil : [owner]),
            spec: jobSpec(env: env, labels: labels, deadline: activeDeadlines[request.operation]))
    }

    /// The Job that probes `server` (connects with its admin login, reads its version
    /// and writes the result to its status), in `operatorNamespace`; `seed` makes
    /// each probe's name new.
    public func probeJob(for server: DatabaseServer, seed: String, operatorNamespace: String) -> Job {
        let name = server.metadata.name ?? "", uid = server.metadata.uid ?? ""
        let suffix = "-probe-\(ShortHash.sha256Hex8("\(uid)|\(seed)"))"
        var prefix = String(name.prefix(63 - suffix.count))
        while let last = prefix.last, last == "-" || last == "." { prefix.removeLast() }
        let labels = [LabelKey.serverUID: uid, LabelKey.operation: "probe", "app.kubernetes.io/managed-by": "db-operator"]
        let env = [
            EnvVar(name: "DB_OPERATOR_OPERATION", value: "probe"), EnvVar(name: Self.serverVariable, value: name),
            EnvVar(name: Self.operatorNamespaceVariable, value: operatorNamespace),
        ]
        var spec = jobSpec(env: env, labels: labels, deadline: 120)
        spec.backoffLimit = 0  // a failed probe is a condition; the next comes on the operator's schedule
        return Job(
            metadata: ObjectMeta(
                name: prefix.replacingDots() + suffix, namespace: operatorNamespace, labels: labels,
                annotations: [AnnotationKey.server: name, AnnotationKey.generation: String(server.metadata.generation ?? 0)]),
            spec: spec)
    }

    private func jobSpec(env: [EnvVar], labels: [String: String], deadline: Int?) -> JobSpec {
        let env = env + environment.sorted { $0.key < $1.key }.map { EnvVar(name: $0.key, value: $0.value) }
        var container = Container(name: "driver", image: image, command: ["db-operator", "driver"], env: env)
        container.resources = resources
        container.securityContext = Self.containerSecurityContext
        container.volumeMounts = [["name": "tmp", "mountPath": "/tmp"]]
        if !environmentFromSecrets.isEmpty {
            container.envFrom = environmentFromSecrets.map { EnvFromSource(secretRef: .init(name: $0, optional: true)) }
        }
        var pod = PodSpec(containers: [container], restartPolicy: "Never", serviceAccountName: serviceAccountName)
        pod.securityContext = Self.podSecurityContext
        pod.volumes = [["name": "tmp", "emptyDir": [:]]]
        return JobSpec(
            template: PodTemplateSpec(metadata: ObjectMeta(labels: labels), spec: pod),
            backoffLimit: backoffLimit, activeDeadlineSeconds: deadline, ttlSecondsAfterFinished: ttlSecondsAfterFinished)
    }
}

extension JobTemplate {
    /// The restricted Pod Security Standard, as the operator's own Deployment has it:
    /// the image's non-root user, the runtime's default seccomp profile.
    public static let podSecurityContext: JSONValue = [
        "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "seccompProfile": ["type": "RuntimeDefault"],
    ]
    /// No privilege escalation, no capabilities, a read-only root (dumps stream; /tmp is an emptyDir).
    public static let containerSecurityContext: JSONValue = [
        "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": ["drop": ["ALL"]],
    ]

}

extension String {
    /// Job names are DNS labels: a Database named with dots gets dashes instead.
    fileprivate func replacingDots() -> String { String(map { $0 == "." ? "-" : $0 }) }
}
