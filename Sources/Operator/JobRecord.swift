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

    public init(from decoder: any Decoder) throws {
        let top = try decoder.container(keyedBy: Keys.self)
        let meta = try top.nestedContainer(keyedBy: Keys.self, forKey: .metadata)
        name = try meta.decodeIfPresent(String.self, forKey: .name)
        namespace = try meta.decodeIfPresent(String.self, forKey: .namespace)
        resourceVersion = try meta.decodeIfPresent(String.self, forKey: .resourceVersion)
        var labels: KeyedDecodingContainer<Key>?
        if try meta.contains(.labels) && !meta.decodeNil(forKey: .labels) { labels = try meta.nestedContainer(keyedBy: Key.self, forKey: .labels) }
        var annotations: KeyedDecodingContainer<Key>?
        if try meta.contains(.annotations) && !meta.decodeNil(forKey: .annotations) {
            annotations = try meta.nestedContainer(keyedBy: Key.self, forKey: .annotations)
        }
        databaseUID = try labels?.decodeIfPresent(String.self, forKey: Key(LabelKey.databaseUID))
        operation = try labels?.decodeIfPresent(String.self, forKey: Key(LabelKey.operation)).flatMap(DatabaseOperation.init(rawValue:))
        databaseNamespace = try labels?.decodeIfPresent(String.self, forKey: Key(LabelKey.databaseNamespace))
        backup = try annotations?.decodeIfPresent(String.self, forKey: Key(AnnotationKey.backup))
        generation = try annotations?.decodeIfPresent(String.self, forKey: Key(AnnotationKey.generation)).flatMap(Int64.init) ?? 0
        databaseName = try annotations?.decodeIfPresent(String.self, forKey: Key(AnnotationKey.databaseName))
        owner = try meta.decodeIfPresent([Owner].self, forKey: .ownerReferences)?
            .first { $0.kind == Database.resource.kind && $0.controller == true }?.name

        let status = try top.contains(.status) && !top.decodeNil(forKey: .status) ? try top.nestedContainer(keyedBy: Keys.self, forKey: .status) : nil
        let conditions = try status?.decodeIfPresent([Condition].self, forKey: .conditions) ?? []
        func condition(_ type: String) -> Condition? { conditions.first { $0.type == type && $0.status == "True" } }
        let ended = condition("Complete") ?? condition("Failed")
        state = ended == nil ? .running : ended?.type == "Complete" ? .succeeded : .failed
        let completionTime = try status?.decodeIfPresent(String.self, forKey: .completionTime)
        finishedAt = ended == nil ? nil : ended?.lastTransitionTime.flatMap(KubeTime.parse) ?? completionTime.flatMap(KubeTime.parse)
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
