import KubeModel
import SQLSupport

/// A failure of a driver operation: a `reason` a program can switch on (it becomes
/// the condition's reason), a message a person can act on, and whether running the
/// operation again could help. Never contains a password.
public struct DriverError: Error, CustomStringConvertible, Sendable {
    public var reason: Reason
    public var message: String
    public var retryable: Bool

    public init(reason: Reason, message: String, retryable: Bool) {
        self.reason = reason
        self.message = message
        self.retryable = retryable
    }

    public var description: String { "\(reason): \(message)" }

    /// The database or user exists and is not recorded as this resource's.
    public static func nameConflict(_ message: String) -> DriverError {
        DriverError(reason: .nameConflict, message: message, retryable: false)
    }

    /// The database is recorded as another resource's (drop, backup).
    public static func notOwned(_ message: String) -> DriverError {
        DriverError(reason: .notOwned, message: message, retryable: false)
    }

    /// A dump or restore tool failed; `message` carries its error text.
    public static func toolFailed(_ message: String) -> DriverError {
        DriverError(reason: .dumpFailed, message: message, retryable: true)
    }

    /// Any error as a DriverError: SQL errors keep their kind as the reason.
    public static func classify(_ error: any Error) -> DriverError {
        switch error {
        case let error as DriverError: return error
        case let error as SQLError:
            let retryable: Bool
            switch error.kind {
            case .unreachable, .connectionLost: retryable = true
            default: retryable = false
            }
            return DriverError(reason: reason(of: error.kind), message: error.description, retryable: retryable)
        default:
            return DriverError(reason: .driverFailed, message: "\(error)", retryable: true)
        }
    }

    /// The reason of an SQL error of each kind.
    static func reason(of kind: SQLError.Kind) -> Reason {
        switch kind {
        case .unreachable: .instanceUnreachable
        case .authenticationFailed: .adminLoginFailed
        case .tlsRefused: .tlsRefused
        case .permissionDenied: .permissionDenied
        case .statementFailed: .statementFailed
        case .connectionLost: .connectionLost
        }
    }
}
