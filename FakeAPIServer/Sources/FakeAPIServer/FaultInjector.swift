import Foundation
import Synchronization

/// A rule that makes chosen requests fail or wait, for tests of clients' error handling.
public struct FaultRule: Codable, Sendable, Equatable {
    /// Verb to match: get, list, watch, create, update, patch, delete, deletecollection; nil matches all.
    public var verb: String?
    /// Resource (plural) to match; nil matches all.
    public var resource: String?
    /// Subresource to match ("status"); nil matches any.
    public var subresource: String?
    public var namespace: String?
    public var name: String?
    /// User (from the bearer token) to match; nil matches all.
    public var user: String?
    /// HTTP status to answer with (500, 429, 409, ...); nil only delays.
    public var status: Int?
    /// Retry-After seconds sent with the error (429, 503).
    public var retryAfterSeconds: Int?
    /// Delay before the request is served (or failed).
    public var delayMilliseconds: Int?
    /// How many requests this rule hits before it is spent; nil: until cleared.
    public var count: Int?

    public init(
        verb: String? = nil, resource: String? = nil, subresource: String? = nil, namespace: String? = nil,
        name: String? = nil, user: String? = nil, status: Int? = nil, retryAfterSeconds: Int? = nil,
        delayMilliseconds: Int? = nil, count: Int? = nil
    ) {
        self.verb = verb
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
        self.user = user
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.delayMilliseconds = delayMilliseconds
        self.count = count
    }
}

/// The active fault rules; the first rule that matches a request applies to it.
final class FaultInjector: Sendable {
    private let rules = Mutex<[FaultRule]>([])

    func add(_ rule: FaultRule) { rules.withLock { $0.append(rule) } }
    func clear() { rules.withLock { $0.removeAll() } }
    var active: [FaultRule] { rules.withLock { $0 } }

    /// The rule that applies to a request, consuming one use of it.
    func match(verb: String, resource: String, subresource: String?, namespace: String?, name: String?, user: String) -> FaultRule? {
        rules.withLock { rules in
            guard let index = rules.firstIndex(where: { rule in
                (rule.verb == nil || rule.verb == verb) && (rule.resource == nil || rule.resource == resource)
                    && (rule.subresource == nil || rule.subresource == subresource)
                    && (rule.namespace == nil || rule.namespace == namespace) && (rule.name == nil || rule.name == name)
                    && (rule.user == nil || rule.user == user)
            }) else { return nil }
            let rule = rules[index]
            if let count = rule.count {
                if count <= 1 { rules.remove(at: index) } else { rules[index].count = count - 1 }
            }
            return rule
        }
    }

    static func error(for rule: FaultRule) -> APIError? {
        guard let status = rule.status else { return nil }
        var error: APIError
        switch status {
        case 409: error = APIError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected)")
        case 429: error = APIError(code: 429, reason: "TooManyRequests", message: "the server has received too many requests and has asked us to try again later (injected)")
        case 503: error = APIError(code: 503, reason: "ServiceUnavailable", message: "the server is currently unable to handle the request (injected)")
        case 504: error = APIError(code: 504, reason: "Timeout", message: "the server was unable to return a response in the time allotted (injected)")
        case 404: error = APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource (injected)")
        default: error = APIError(code: status, reason: "InternalError", message: "an error on the server (\"injected fault\") has prevented the request from succeeding")
        }
        if let retry = rule.retryAfterSeconds {
            error.headers.append(("Retry-After", String(retry)))
            error.details = ["retryAfterSeconds": .int(Int64(retry))]
        }
        return error
    }
}
