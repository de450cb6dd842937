import KubeModel

/// An error from the API server or the way to it, with a code a program switches on.
/// The description never contains a token or a Secret's data: only the server's
/// Status message, the verb and the path.
public struct KubeError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case notFound = "NotFound"
        case alreadyExists = "AlreadyExists"
        case conflict = "Conflict"
        case invalid = "Invalid"
        case gone = "Gone"
        case badRequest = "BadRequest"
        case unauthorized = "Unauthorized"
        case forbidden = "Forbidden"
        case methodNotAllowed = "MethodNotAllowed"
        case unsupportedMediaType = "UnsupportedMediaType"
        case tooManyRequests = "TooManyRequests"
        case serverError = "ServerError"
        case timeout = "Timeout"
        /// The server could not be reached, or the connection broke.
        case transport = "Transport"
        /// The response was not what the API promises.
        case decoding = "Decoding"
        /// The client is configured wrongly (kubeconfig, in-cluster files).
        case configuration = "Configuration"
    }

    public var code: Code
    /// HTTP status, 0 when none was received.
    public var httpStatus: Int
    public var message: String
    /// The server's Status, when it sent one.
    public var status: Status?
    /// What the server asked us to wait (429, 503).
    public var retryAfterSeconds: Int?
    /// "GET /api/v1/..." of the failed request.
    public var request: String

    public init(code: Code, httpStatus: Int = 0, message: String, status: Status? = nil, retryAfterSeconds: Int? = nil, request: String = "") {
        self.code = code
        self.httpStatus = httpStatus
        self.message = message
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
        self.request = request
    }

    public var description: String {
        let prefix = request.isEmpty ? "" : "\(request): "
        return "\(prefix)\(code.rawValue)\(httpStatus > 0 ? " (\(httpStatus))" : ""): \(message)"
    }

    /// Whether the same request may succeed if sent again later.
    public var isRetryable: Bool {
        switch code {
        case .tooManyRequests, .serverError, .timeout, .transport: true
        default: false
        }
    }

    /// The error for a non-2xx response, from its Status body when there is one.
    public static func from(httpStatus: Int, body: JSONValue?, retryAfter: Int?, request: String) -> KubeError {
        let status = body.flatMap { $0["kind"] == "Status" ? try? $0.decode(as: Status.self) : nil }
        let code: Code
        switch (httpStatus, status?.reason) {
        case (404, _): code = .notFound
        case (409, "AlreadyExists"?): code = .alreadyExists
        case (409, _): code = .conflict
        case (410, _): code = .gone
        case (422, _): code = .invalid
        case (400, _): code = .badRequest
        case (401, _): code = .unauthorized
        case (403, _): code = .forbidden
        case (405, _): code = .methodNotAllowed
        case (415, _): code = .unsupportedMediaType
        case (429, _): code = .tooManyRequests
        case (504, _), (408, _): code = .timeout
        case (500..., _): code = .serverError
        default: code = .badRequest
        }
        return KubeError(
            code: code, httpStatus: httpStatus, message: status?.message ?? "HTTP \(httpStatus)", status: status,
            retryAfterSeconds: retryAfter ?? status?.details?.retryAfterSeconds, request: request)
    }
}
