/// The reason of a condition or an Event: one CamelCase word a program (or
/// `kubectl get -o jsonpath`, or an alert) can switch on. Every reason db-operator
/// writes is a constant here, shared by the operator, the driver runtime, the drivers
/// and the job runner, so none is spelled twice and none is spelled outside this file
/// (`ReasonTests` checks the sources for literals). On the wire it is a plain string;
/// a reason read from an object that this file does not name (another writer's, a
/// newer version's) is kept as read.
public struct Reason: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }
}

// MARK: The spec and the operator's refusals (Database, Backup, DatabaseServer, BackupSchedule)

extension Reason {
    /// A field of the spec is invalid; the message names it.
    public static let invalidSpec = Reason(rawValue: "InvalidSpec")
    /// An invalid spec was fixed; the driver has not written the next state yet.
    public static let specAccepted = Reason(rawValue: "SpecAccepted")
    /// A field that cannot change once created was changed (`SpecChangeIgnored=True`).
    public static let immutableField = Reason(rawValue: "ImmutableField")
    /// The spec matches the database again (`SpecChangeIgnored=False`).
    public static let specMatches = Reason(rawValue: "SpecMatches")
    /// The DatabaseServer a Database names does not exist.
    public static let serverNotFound = Reason(rawValue: "ServerNotFound")
    /// The DatabaseServer does not allow the Database's namespace.
    public static let namespaceNotAllowed = Reason(rawValue: "NamespaceNotAllowed")
    /// The Database a Backup or BackupSchedule names does not exist (or went away).
    public static let databaseNotFound = Reason(rawValue: "DatabaseNotFound")
    /// A Database whose `spec.ttl` ran out was deleted; a schedule's Backup was expired.
    public static let expired = Reason(rawValue: "Expired")
}

// MARK: Why a Backup without a phase waits (JobDecider.waitingReasons)

extension Reason {
    public static let databaseDeleting = Reason(rawValue: "DatabaseDeleting")
    public static let databaseInvalid = Reason(rawValue: "DatabaseInvalid")
    public static let noBackupTarget = Reason(rawValue: "NoBackupTarget")
    public static let databaseBusy = Reason(rawValue: "DatabaseBusy")
    public static let queued = Reason(rawValue: "Queued")
    public static let retryingAfterFailure = Reason(rawValue: "RetryingAfterFailure")
    /// A backup Job is being started; also a BackupSchedule that runs on time.
    public static let scheduled = Reason(rawValue: "Scheduled")
}

// MARK: BackupSchedule

extension Reason {
    public static let suspended = Reason(rawValue: "Suspended")
    /// Retention deleted what it should (`Retention=True`).
    public static let applied = Reason(rawValue: "Applied")
    /// Retention could not delete a Backup (`Retention=False`).
    public static let deletionFailed = Reason(rawValue: "DeletionFailed")
    public static let backupCreated = Reason(rawValue: "BackupCreated")
    public static let missedRuns = Reason(rawValue: "MissedRuns")
    public static let runSkipped = Reason(rawValue: "RunSkipped")
}

// MARK: The lifecycle, as the driver runtime writes it (Ready's reason follows the phase)

extension Reason {
    public static let creating = Reason(rawValue: "Creating")
    public static let created = Reason(rawValue: "Created")
    public static let adopted = Reason(rawValue: "Adopted")
    public static let restoring = Reason(rawValue: "Restoring")
    public static let restored = Reason(rawValue: "Restored")
    public static let cloned = Reason(rawValue: "Cloned")
    public static let restoreSkipped = Reason(rawValue: "RestoreSkipped")
    public static let backingUp = Reason(rawValue: "BackingUp")
    public static let backupRequested = Reason(rawValue: "BackupRequested")
    public static let backupInProgress = Reason(rawValue: "BackupInProgress")
    public static let backupCompleted = Reason(rawValue: "BackupCompleted")
    public static let backupBeforeDelete = Reason(rawValue: "BackupBeforeDelete")
    public static let backupBeforeDeleteCompleted = Reason(rawValue: "BackupBeforeDeleteCompleted")
    public static let deleting = Reason(rawValue: "Deleting")
    public static let deleted = Reason(rawValue: "Deleted")
    /// The deletion waits for a human (a failed final backup; `DeletionBlocked=True`).
    public static let deletionBlocked = Reason(rawValue: "DeletionBlocked")
    public static let deletionHeld = Reason(rawValue: "DeletionHeld")
    /// A DatabaseServer being deleted that Databases still use (`InUse=True`).
    public static let databasesRemain = Reason(rawValue: "DatabasesRemain")
    public static let finalBackupFailed = Reason(rawValue: "FinalBackupFailed")
    public static let releasedInvalid = Reason(rawValue: "ReleasedInvalid")
    public static let secretConflict = Reason(rawValue: "SecretConflict")
    public static let starting = Reason(rawValue: "Starting")
    public static let completed = Reason(rawValue: "Completed")
    public static let connected = Reason(rawValue: "Connected")
    public static let claimContended = Reason(rawValue: "ClaimContended")
    public static let conflict = Reason(rawValue: "Conflict")
}

// MARK: Inputs the runtime reads (Secrets, targets, restore sources)

extension Reason {
    public static let secretNotFound = Reason(rawValue: "SecretNotFound")
    public static let secretKeyNotFound = Reason(rawValue: "SecretKeyNotFound")
    public static let invalidRecipients = Reason(rawValue: "InvalidRecipients")
    public static let invalidIdentity = Reason(rawValue: "InvalidIdentity")
    public static let identityRequired = Reason(rawValue: "IdentityRequired")
    public static let caBundleUnreadable = Reason(rawValue: "CABundleUnreadable")
    /// No S3 credentials: neither a CredentialsSecret nor the Job's environment has any.
    public static let noS3Credentials = Reason(rawValue: "NoS3Credentials")
    public static let restoreSourceNotFound = Reason(rawValue: "RestoreSourceNotFound")
    public static let restoreSourceUnreachable = Reason(rawValue: "RestoreSourceUnreachable")
    public static let restoreFormatMismatch = Reason(rawValue: "RestoreFormatMismatch")
    public static let backupNotCompleted = Reason(rawValue: "BackupNotCompleted")
    public static let cloneSourceNotFound = Reason(rawValue: "CloneSourceNotFound")
    public static let cloneSourceNotReady = Reason(rawValue: "CloneSourceNotReady")
    public static let backupTargetChanged = Reason(rawValue: "BackupTargetChanged")
    public static let notExpirable = Reason(rawValue: "NotExpirable")
}

// MARK: Failures (DriverError's reasons)

extension Reason {
    public static let backupFailed = Reason(rawValue: "BackupFailed")
    public static let restoreFailed = Reason(rawValue: "RestoreFailed")
    public static let restoreToolFailed = Reason(rawValue: "RestoreToolFailed")
    public static let verificationFailed = Reason(rawValue: "VerificationFailed")
    public static let dumpFailed = Reason(rawValue: "DumpFailed")
    public static let toolNotFound = Reason(rawValue: "ToolNotFound")
    public static let toolTooOld = Reason(rawValue: "ToolTooOld")
    public static let driverFailed = Reason(rawValue: "DriverFailed")
    public static let nameConflict = Reason(rawValue: "NameConflict")
    public static let notOwned = Reason(rawValue: "NotOwned")
    public static let sessionsNotEnded = Reason(rawValue: "SessionsNotEnded")
    public static let corruptData = Reason(rawValue: "CorruptData")
    public static let checksumMismatch = Reason(rawValue: "ChecksumMismatch")
    public static let decryptionFailed = Reason(rawValue: "DecryptionFailed")
    // SQL errors, by kind
    public static let instanceUnreachable = Reason(rawValue: "InstanceUnreachable")
    public static let adminLoginFailed = Reason(rawValue: "AdminLoginFailed")
    public static let tlsRefused = Reason(rawValue: "TLSRefused")
    public static let permissionDenied = Reason(rawValue: "PermissionDenied")
    public static let statementFailed = Reason(rawValue: "StatementFailed")
    public static let connectionLost = Reason(rawValue: "ConnectionLost")
}

// MARK: Jobs, as the Kubernetes job controller and kubelet write them (the job runner)

extension Reason {
    public static let completionsReached = Reason(rawValue: "CompletionsReached")
    public static let backoffLimitExceeded = Reason(rawValue: "BackoffLimitExceeded")
    public static let deadlineExceeded = Reason(rawValue: "DeadlineExceeded")
    public static let successfulCreate = Reason(rawValue: "SuccessfulCreate")
    public static let failedCreatePodContainer = Reason(rawValue: "FailedCreatePodContainer")
    public static let failedStart = Reason(rawValue: "FailedStart")
    public static let invalidJob = Reason(rawValue: "InvalidJob")
}

/// The condition types db-operator writes on its resources (SPEC: Ready on every
/// kind; the rest where the spec names them).
public enum ConditionType {
    public static let ready = "Ready"
    /// On a Database whose deletion waits for a human (`True`, reason `FinalBackupFailed`).
    public static let deletionBlocked = "DeletionBlocked"
    /// On a Database whose immutable fields were changed.
    public static let specChangeIgnored = "SpecChangeIgnored"
    /// On a BackupSchedule: whether retention deleted what it should.
    public static let retention = "Retention"
    /// On a DatabaseServer being deleted while Databases use it.
    public static let inUse = "InUse"
    /// On a Backup a schedule's retention could not delete (`False`, the cause as reason).
    public static let expiring = "Expiring"
}
