/// `metav1.ObjectMeta`: the metadata every object carries.
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var ownerReferences: [OwnerReference]?
    public var finalizers: [String]?

    public init(
        name: String? = nil, generateName: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
        annotations: [String: String]? = nil, ownerReferences: [OwnerReference]? = nil, finalizers: [String]? = nil
    ) {
        self.name = name
        self.generateName = generateName
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.ownerReferences = ownerReferences
        self.finalizers = finalizers
    }
}

/// `metav1.OwnerReference`: ties a dependent to its owner for garbage collection.
public struct OwnerReference: Codable, Sendable, Hashable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool?
    public var blockOwnerDeletion: Bool?

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool? = nil, blockOwnerDeletion: Bool? = nil) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }
}

/// `metav1.Status`: what the API server answers an error with.
public struct Status: Codable, Sendable, Hashable {
    public var status: String?
    public var message: String?
    public var reason: String?
    public var code: Int?
    public var details: StatusDetails?

    public init(status: String? = nil, message: String? = nil, reason: String? = nil, code: Int? = nil, details: StatusDetails? = nil) {
        self.status = status
        self.message = message
        self.reason = reason
        self.code = code
        self.details = details
    }
}

/// `metav1.StatusDetails`.
public struct StatusDetails: Codable, Sendable, Hashable {
    public var name: String?
    public var group: String?
    public var kind: String?
    public var causes: [StatusCause]?
    public var retryAfterSeconds: Int?
}

/// `metav1.StatusCause`: one field and what is wrong with it.
public struct StatusCause: Codable, Sendable, Hashable {
    public var reason: String?
    public var message: String?
    public var field: String?
}

/// `metav1.Condition`, the shape of conditions in Kubernetes API conventions.
public struct Condition: Codable, Sendable, Hashable {
    public var type: String
    public var status: String
    public var reason: Reason
    public var message: String
    public var lastTransitionTime: String
    public var observedGeneration: Int64?

    public init(type: String, status: String, reason: Reason, message: String, lastTransitionTime: String, observedGeneration: Int64? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
        self.lastTransitionTime = lastTransitionTime
        self.observedGeneration = observedGeneration
    }
}

extension Array where Element == Condition {
    /// Sets a condition; `lastTransitionTime` changes only when the status changes.
    public mutating func set(_ condition: Condition) {
        if let index = firstIndex(where: { $0.type == condition.type }) {
            var updated = condition
            if self[index].status == condition.status { updated.lastTransitionTime = self[index].lastTransitionTime }
            self[index] = updated
        } else {
            append(condition)
        }
    }

    public subscript(type type: String) -> Condition? { first { $0.type == type } }
}

/// Label values as the API server accepts them: at most 63 characters of
/// `[A-Za-z0-9._-]`, beginning and ending with a letter or digit (or empty).
public enum LabelValue {
    /// `text` as a valid label value: cut to 63 characters, characters outside the
    /// set dropped, and non-alphanumerics trimmed from both ends.
    public static func valid(_ text: String) -> String {
        let allowed = text.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        var value = Substring(allowed.prefix(63))
        while let first = value.first, !(first.isLetter || first.isNumber) { value = value.dropFirst() }
        while let last = value.last, !(last.isLetter || last.isNumber) { value = value.dropLast() }
        return String(value)
    }
}
