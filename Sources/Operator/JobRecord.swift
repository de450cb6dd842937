import Foundation
import KubeModel

/// What the operator keeps of a driver Job in its cache: the handful of fields its
/// decisions and its Job-to-Database mapping read, decoded straight from a Job's JSON
/// (JSONDecoder skips the rest). A full `Job` with its labels and annotations as
/// dictionaries, kept with its text, took about 2.4 KB per Job at 10,000 Databases,
/// the largest part of the operator's memory (#15); this is a few hundred bytes.
///
/// It is read-only: the Job cache keeps no JSON text (`Watcher.Configuration.keepsJSON`),
/// so nothing is written back from it. A new field a decision reads belongs here.
public struct JobRecord: KubernetesObject, Hashable {
    public static let resource = Job.resource

    public var name: String?
    public var namespace: String?
    public var resourceVersion: String?

    /// Name, namespace and resourceVersion only (kept as three strings: an
    /// `ObjectMeta` is 170 bytes inline, mostly nil).
    public var metadata: ObjectMeta {
        get {
            var metadata = ObjectMeta(name: name, namespace: namespace)
            metadata.resourceVersion = resourceVersion
            return metadata
        }
        set {
            name = newValue.name
            namespace = newValue.namespace
            resourceVersion = newValue.resourceVersion
        }
    }
    /// `dboperator.io/database-uid`: the Database the Job works for (the cache's index).
    public var databaseUID: String?
    /// `dboperator.io/operation`; nil when absent or unknown (such a Job is not counted).
    public var operation: DatabaseOperation?
    /// `dboperator.io/backup`: the Backup a backup Job writes.
    public var backup: String?
    /// `dboperator.io/generation`: the Database's generation the Job was made for.
    public var generation: Int64
    /// `dboperator.io/database-namespace` and `dboperator.io/database-name`: the
    /// Database of a Job in the operator's namespace (a Database on a server).
    public var databaseNamespace: String?
    public var databaseName: String?
    /// The name of the Database that controls the Job (its controller ownerReference).
    public var owner: String?
    public var state: JobFacts.State
    /// When it finished: its Complete or Failed condition's transition, else its
    /// `completionTime`; nil while running or when the Job does not say.
    public var finishedAt: Date?

    /// The record of a typed Job: through its JSON, the one path a cached Job takes.
    public init(_ job: Job) throws {
        self = try JSONDecoder().decode(JobRecord.self, from: JSONEncoder().encode(job))
    }

    /// The facts a decision reads; nil for a Job without a known operation. A finished
    /// Job that says no time counts as finished `now`.
    public func facts(now: Date) -> JobFacts? {
        guard let operation else { return nil }
        return JobFacts(
            name: name ?? "", operation: operation, backup: backup, generation: generation,
            state: state, finishedAt: state == .running ? nil : (finishedAt ?? now))
    }

    // MARK: Codable, as a Job's JSON

    private enum Keys: String, CodingKey {
        case apiVersion, kind, metadata, status
        case name, namespace, resourceVersion, labels, annotations, ownerReferences
        case conditions, completionTime, type, lastTransitionTime, controller
    }

    /// Keys of labels and annotations, and of the owner references' fields.
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Condition: Codable {
        var type: String
        var status: String
        var lastTransitionTime: String?
    }

    private struct Owner: Codable {
        var apiVersion: String?
        var kind: String
        var name: String
        var uid: String?
        var controller: Bool?
    }

    /// Through the JSON tree (`init(json:)`, the one reading of a Job).
    public init(from decoder: any Decoder) throws {
        try self.init(json: JSONValue(from: decoder))
    }
    /// Encodes the fields it keeps in a Job's shape (what `init(from:)` reads back).
    public func encode(to encoder: any Encoder) throws {
        var top = encoder.container(keyedBy: Keys.self)
        try top.encode(Job.resource.apiVersion, forKey: .apiVersion)
        try top.encode(Job.resource.kind, forKey: .kind)
        var meta = top.nestedContainer(keyedBy: Keys.self, forKey: .metadata)
        try meta.encodeIfPresent(name, forKey: .name)
        try meta.encodeIfPresent(namespace, forKey: .namespace)
        try meta.encodeIfPresent(resourceVersion, forKey: .resourceVersion)
        var labels = meta.nestedContainer(keyedBy: Key.self, forKey: .labels)
        try labels.encodeIfPresent(databaseUID, forKey: Key(LabelKey.databaseUID))
        try labels.encodeIfPresent(operation?.rawValue, forKey: Key(LabelKey.operation))
        try labels.encodeIfPresent(databaseNamespace, forKey: Key(LabelKey.databaseNamespace))
        var annotations = meta.nestedContainer(keyedBy: Key.self, forKey: .annotations)
        try annotations.encodeIfPresent(backup, forKey: Key(AnnotationKey.backup))
        try annotations.encode(String(generation), forKey: Key(AnnotationKey.generation))
        try annotations.encodeIfPresent(databaseName, forKey: Key(AnnotationKey.databaseName))
        if let owner {
            try meta.encode([Owner(apiVersion: Database.resource.apiVersion, kind: Database.resource.kind, name: owner, uid: databaseUID, controller: true)], forKey: .ownerReferences)
        }
        var status = top.nestedContainer(keyedBy: Keys.self, forKey: .status)
        if state != .running {
            let time = finishedAt.map(KubeTime.format)
            try status.encode([Condition(type: state == .succeeded ? "Complete" : "Failed", status: "True", lastTransitionTime: time)], forKey: .conditions)
        }
    }
}

extension JobRecord: JSONTreeDecodable {
    /// Read from a Job's JSON tree: what a watch event or a list gives the cache
    /// (`Resource(text:)` parses it with our parser: 13 µs a Job's watch event, against
    /// 21 through JSONDecoder; `db-operator-bench codec`).
    /// Values of another JSON type than Kubernetes sends read as absent.
    public init(json: JSONValue) throws {
        guard case .object(let top) = json, case .object(let meta) = top["metadata"] else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a Job without metadata"))
        }
        name = meta["name"]?.stringValue
        namespace = meta["namespace"]?.stringValue
        resourceVersion = meta["resourceVersion"]?.stringValue
        let labels = meta["labels"]?.objectValue ?? [:]
        let annotations = meta["annotations"]?.objectValue ?? [:]
        databaseUID = labels[LabelKey.databaseUID]?.stringValue
        operation = labels[LabelKey.operation]?.stringValue.flatMap(DatabaseOperation.init(rawValue:))
        databaseNamespace = labels[LabelKey.databaseNamespace]?.stringValue
        backup = annotations[AnnotationKey.backup]?.stringValue
        generation = annotations[AnnotationKey.generation]?.stringValue.flatMap(Int64.init) ?? 0
        databaseName = annotations[AnnotationKey.databaseName]?.stringValue
        owner = meta["ownerReferences"]?.arrayValue?
            .first { $0["kind"]?.stringValue == Database.resource.kind && $0["controller"]?.boolValue == true }?["name"]?.stringValue

        let status = top["status"]?.objectValue ?? [:]
        let conditions = status["conditions"]?.arrayValue ?? []
        func condition(_ type: String) -> JSONValue? {
            conditions.first { $0["type"]?.stringValue == type && $0["status"]?.stringValue == "True" }
        }
        let ended = condition("Complete") ?? condition("Failed")
        state = ended == nil ? .running : ended?["type"]?.stringValue == "Complete" ? .succeeded : .failed
        let completionTime = status["completionTime"]?.stringValue
        finishedAt = ended == nil ? nil : ended?["lastTransitionTime"]?.stringValue.flatMap(KubeTime.parse) ?? completionTime.flatMap(KubeTime.parse)
    }
}
