/// `batch/v1` Job, with the parts of its pod template the project uses.
public struct Job: KubernetesObject, Hashable {
    public static let resource = ResourceDescriptor(group: "batch", version: "v1", plural: "jobs", kind: "Job", namespaced: true)
    public var apiVersion: String? = "batch/v1"
    public var kind: String? = "Job"
    public var metadata: ObjectMeta
    public var spec: JobSpec?
    public var status: JobStatus?

    public init(metadata: ObjectMeta, spec: JobSpec? = nil) {
        self.metadata = metadata
        self.spec = spec
    }

    /// The condition of `type` with status True, if any.
    public func condition(_ type: String) -> JobCondition? {
        status?.conditions?.first { $0.type == type && $0.status == "True" }
    }

    /// Finished: Complete or Failed.
    public var isFinished: Bool { condition("Complete") != nil || condition("Failed") != nil }
}

/// `batch/v1` JobSpec.
public struct JobSpec: Codable, Sendable, Hashable {
    public var template: PodTemplateSpec
    public var backoffLimit: Int?
    public var activeDeadlineSeconds: Int?
    public var ttlSecondsAfterFinished: Int?
    public var completions: Int?
    public var parallelism: Int?

    public init(template: PodTemplateSpec, backoffLimit: Int? = nil, activeDeadlineSeconds: Int? = nil, ttlSecondsAfterFinished: Int? = nil) {
        self.template = template
        self.backoffLimit = backoffLimit
        self.activeDeadlineSeconds = activeDeadlineSeconds
        self.ttlSecondsAfterFinished = ttlSecondsAfterFinished
    }
}

/// `v1.PodTemplateSpec`.
public struct PodTemplateSpec: Codable, Sendable, Hashable {
    public var metadata: ObjectMeta?
    public var spec: PodSpec

    public init(metadata: ObjectMeta? = nil, spec: PodSpec) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `v1.PodSpec`: the fields a Job of this project sets.
public struct PodSpec: Codable, Sendable, Hashable {
    public var containers: [Container]
    public var restartPolicy: String?
    public var serviceAccountName: String?
    /// `v1.PodSecurityContext` as Kubernetes writes it (runAsNonRoot, runAsUser, seccompProfile, ...).
    public var securityContext: JSONValue?
    /// `v1.Volume`s as Kubernetes writes them (here an emptyDir for /tmp).
    public var volumes: JSONValue?

    public init(containers: [Container], restartPolicy: String? = "Never", serviceAccountName: String? = nil) {
        self.containers = containers
        self.restartPolicy = restartPolicy
        self.serviceAccountName = serviceAccountName
    }
}

/// `v1.Container`.
public struct Container: Codable, Sendable, Hashable {
    public var name: String
    public var image: String?
    public var command: [String]?
    public var args: [String]?
    public var env: [EnvVar]?
    /// Whole Secrets or ConfigMaps as variables (`env` wins on a clash).
    public var envFrom: [EnvFromSource]?
    public var resources: JSONValue?
    /// `v1.SecurityContext` as Kubernetes writes it (allowPrivilegeEscalation, readOnlyRootFilesystem, capabilities).
    public var securityContext: JSONValue?
    /// `v1.VolumeMount`s as Kubernetes writes them.
    public var volumeMounts: JSONValue?

    public init(name: String, image: String?, command: [String]? = nil, args: [String]? = nil, env: [EnvVar]? = nil) {
        self.name = name
        self.image = image
        self.command = command
        self.args = args
        self.env = env
    }
}

/// `v1.EnvVar`: a literal value or a reference (`valueFrom`).
public struct EnvVar: Codable, Sendable, Hashable {
    public var name: String
    public var value: String?
    public var valueFrom: EnvVarSource?

    public init(name: String, value: String? = nil, valueFrom: EnvVarSource? = nil) {
        self.name = name
        self.value = value
        self.valueFrom = valueFrom
    }
}

/// `v1.EnvFromSource`: every key of a Secret or ConfigMap as a variable, each name
/// with `prefix` before it.
public struct EnvFromSource: Codable, Sendable, Hashable {
    public var prefix: String?
    public var secretRef: Reference?
    public var configMapRef: Reference?

    public init(prefix: String? = nil, secretRef: Reference? = nil, configMapRef: Reference? = nil) {
        self.prefix = prefix
        self.secretRef = secretRef
        self.configMapRef = configMapRef
    }

    /// A Secret or ConfigMap in the pod's namespace; `optional` lets the pod start without it.
    public struct Reference: Codable, Sendable, Hashable {
        public var name: String
        public var optional: Bool?

        public init(name: String, optional: Bool? = nil) {
            self.name = name
            self.optional = optional
        }
    }
}

/// `v1.EnvVarSource`: the references the job runner resolves.
public struct EnvVarSource: Codable, Sendable, Hashable {
    public var secretKeyRef: KeySelector?
    public var configMapKeyRef: KeySelector?
    public var fieldRef: FieldSelector?

    public init(secretKeyRef: KeySelector? = nil, configMapKeyRef: KeySelector? = nil, fieldRef: FieldSelector? = nil) {
        self.secretKeyRef = secretKeyRef
        self.configMapKeyRef = configMapKeyRef
        self.fieldRef = fieldRef
    }

    /// A key of a Secret or ConfigMap.
    public struct KeySelector: Codable, Sendable, Hashable {
        public var name: String
        public var key: String
        public var optional: Bool?

        public init(name: String, key: String, optional: Bool? = nil) {
            self.name = name
            self.key = key
            self.optional = optional
        }
    }

    /// A field of the pod (`metadata.name`, `metadata.namespace`).
    public struct FieldSelector: Codable, Sendable, Hashable {
        public var fieldPath: String

        public init(fieldPath: String) { self.fieldPath = fieldPath }
    }
}

/// `batch/v1` JobStatus, as the job controller writes it.
public struct JobStatus: Codable, Sendable, Hashable {
    public var active: Int?
    public var succeeded: Int?
    public var failed: Int?
    public var startTime: String?
    public var completionTime: String?
    public var conditions: [JobCondition]?

    public init(active: Int? = nil, succeeded: Int? = nil, failed: Int? = nil, startTime: String? = nil, completionTime: String? = nil, conditions: [JobCondition]? = nil) {
        self.active = active
        self.succeeded = succeeded
        self.failed = failed
        self.startTime = startTime
        self.completionTime = completionTime
        self.conditions = conditions
    }
}

/// `batch/v1` JobCondition.
public struct JobCondition: Codable, Sendable, Hashable {
    public var type: String
    public var status: String
    public var reason: Reason?
    public var message: String?
    public var lastProbeTime: String?
    public var lastTransitionTime: String?

    public init(type: String, status: String, reason: Reason? = nil, message: String? = nil, lastTransitionTime: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.lastProbeTime = lastTransitionTime
        self.lastTransitionTime = lastTransitionTime
    }
}
