import BackupData
import Crypto
import DriverProtocol
import Foundation
import KubeClient
import KubeModel
import KubeRuntime
import Logging
import NIOCore
import ObjectStore
import SQLSupport
import Synchronization

/// The Driver API runtime inside a Job (SPEC sections 3.1 and 4): reads the
/// Database (and Backup), asks `RuntimeDecider` for the next step, performs it with
/// a compare-and-swap write, and repeats until the operation has nothing left to do.
/// A conflict means another writer moved first: re-read and re-decide.
public final class DriverRuntime: Sendable {
    /// What one run does; `DB_OPERATOR_*` variables fill it in the CLI.
    public struct Configuration: Sendable {
        public var namespace: String
        public var database: String
        public var operation: DatabaseOperation
        public var backup: String?
        /// A backup started this many times fails for good (B5) on the next start.
        public var maxBackupAttempts = 3
        /// A restore tried this many times fails for good (`RestoreFailed`).
        public var maxRestoreAttempts = 3
        /// The cluster's identity (UID of namespace kube-system, `DB_OPERATOR_CLUSTER_ID`
        /// from the operator); empty when unknown. Recorded with each database, it
        /// decides what a new Database may adopt.
        public var clusterID = ""
        /// The operator's namespace (`DB_OPERATOR_OPERATOR_NAMESPACE`), where the
        /// Secrets of DatabaseServers are; set on Jobs of Databases on a server.
        public var operatorNamespace: String?
        /// At most one progress write (B3) per this interval.
        public var progressInterval: Duration = .seconds(2)
        public var upload = StreamingUpload.Configuration()
        /// Called after each phase write: tests stop the process here to prove recovery.
        public var afterTransition: @Sendable (Transition) -> Void = { _ in }

        public init(namespace: String, database: String, operation: DatabaseOperation, backup: String? = nil) {
            self.namespace = namespace
            self.database = database
            self.operation = operation
            self.backup = backup
        }
    }

    /// Makes the object store of a backup target, with what it takes to reach it.
    public typealias StoreFactory = @Sendable (S3Location, S3Access) throws -> any ObjectStore

    let api: any KubernetesAPI
    let configuration: Configuration
    let drivers: DriverRegistry
    let makeStore: StoreFactory
    let environment: [String: String]
    let logger: Logger
    let events: EventRecorder
    /// Where this run keeps Backups: the Database's namespace, or, for a final backup
    /// while that namespace is being deleted (nothing can be created there), the
    /// operator's, where the record also outlives the namespace.
    let backupNamespaceState: Mutex<String>

    public init(
        api: any KubernetesAPI, configuration: Configuration, drivers: DriverRegistry, logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment, makeStore: @escaping StoreFactory
    ) {
        self.api = api
        self.configuration = configuration
        self.drivers = drivers
        self.makeStore = makeStore
        self.environment = environment
        var logger = logger
        logger[metadataKey: "k8s.namespace"] = "\(configuration.namespace)"
        logger[metadataKey: "k8s.database"] = "\(configuration.database)"
        logger[metadataKey: "operation"] = "\(configuration.operation.rawValue)"
        self.logger = logger
        events = EventRecorder(api: api, component: "db-operator-driver", logger: logger)
        backupNamespaceState = Mutex(configuration.namespace)
    }

    var backupNamespace: String { backupNamespaceState.withLock { $0 } }

    /// Runs the operation to its end. Throws `RuntimeFailure` when a step failed and
    /// the Job should be retried (or has been given up on in status already).
    public func run() async throws {
        if configuration.operation == .expireBackup {
            try await expireBackup()
            return
        }
        var conflicts = 0
        // The Database as the last step's write left it: as fresh as a read (every
        // write is a compare-and-swap on its version), one request less per step.
        var written: Resource<Database>?
        while true {
            try Task.checkCancellation()
            let fresh: Resource<Database>?
            if let written {
                fresh = written
            } else {
                fresh = try await readDatabase()
            }
            written = nil
            guard let database = fresh else {
                try await finishBackupOfMissingDatabase()
                logger.info("the Database is gone; nothing to do")
                return
            }
            let backupName = configuration.operation == .backupBeforeDelete
                ? (database.object.status?.activeBackup.flatMap { $0.isEmpty ? nil : $0 } ?? finalBackupName(database.object))
                : configuration.backup
            // Only a Job in the operator's namespace outlives the Database's namespace (and
            // may read namespaces: a tenant's Jobs cannot, a RoleBinding grants nothing
            // cluster-scoped); one in that namespace is deleted with it.
            let terminating = configuration.operation == .backupBeforeDelete && configuration.operatorNamespace != nil
                ? try await namespaceTerminating() : false
            if terminating, let operatorNamespace = configuration.operatorNamespace {
                backupNamespaceState.withLock { $0 = operatorNamespace }
            }
            let backup = try await backupName.asyncMap { try await readBackup($0) } ?? nil
            let server = try await server(of: database.object)
            var state = RuntimeState(
                phase: database.object.phase, deleting: database.object.isBeingDeleted,
                hasFinalizer: database.metadata.finalizers?.contains(Database.finalizer) ?? false,
                activeBackup: database.object.status?.activeBackup.flatMap { $0.isEmpty ? nil : $0 },
                backup: backupName.map { name in
                    BackupState(name: name, exists: backup != nil, phase: backup?.phase, attempts: backup?.object.status?.attempts ?? 0)
                },
                deletionBlocked: database.object.status?.conditions?[type: ConditionType.deletionBlocked].map {
                    $0.status == "True" && ($0.observedGeneration ?? 0) >= (database.metadata.generation ?? 0)
                } ?? false,
                backupBeforeDelete: database.object.effectiveDeletionPolicy(server: server) == .backupBeforeDelete,
                namespaceTerminating: terminating && configuration.operatorNamespace != nil)
            state.restoreFailed = database.object.restoreFailed
            let step = RuntimeDecider.next(
                configuration.operation, state, backupName: configuration.backup, finalBackupName: finalBackupName(database.object),
                maxAttempts: configuration.maxBackupAttempts)
            logger.debug("next step", metadata: [
                "step": "\(step)", "phase": "\(database.object.phase?.rawValue ?? "none")", "k8s.generation": "\(database.metadata.generation ?? 0)",
                "deletion_blocked": "\(state.deletionBlocked)",
            ])
            if case .finished(let why) = step {
                logger.info("finished", metadata: ["reason": "\(why)"])
                return
            }
            do {
                written = try await perform(step, database: database, backup: backup)
            } catch let error as KubeError where error.code == .conflict {
                conflicts += 1
                logger.debug("conflict; re-reading", metadata: ["conflicts": "\(conflicts)"])
                if conflicts > 50 { throw RuntimeFailure(reason: .conflict, message: "gave up after \(conflicts) write conflicts") }
            }
        }
    }

    /// `<database>-final-<8 hex>`, the hex from the UID and the generation: a new
    /// attempt after a blocked deletion (and a spec change) gets a new Backup.
    func finalBackupName(_ database: Database) -> String {
        let seed = "\(database.metadata.uid ?? "")|\(database.metadata.generation ?? 0)"
        let hex = SHA256.hash(data: Array(seed.utf8)).prefix(4).map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
        var prefix = String((database.metadata.name ?? "").prefix(253 - 15))
        // A DNS subdomain's parts start and end alphanumeric: no '-' or '.' before "-final".
        while let last = prefix.last, last == "-" || last == "." { prefix.removeLast() }
        return "\(prefix)-final-\(hex)"
    }

    // MARK: Steps

    /// Returns the Database as the step's last write left it, when the step ends with
    /// one (the next step starts from it instead of a read).
    private func perform(_ step: RuntimeStep, database: Resource<Database>, backup: Resource<Backup>?) async throws -> Resource<Database>? {
        switch step {
        case .restore:
            try await restore(database)
        case .beginCreate:
            var current = database
            if !(current.metadata.finalizers?.contains(Database.finalizer) ?? false) {
                var modified = current.object
                modified.metadata.finalizers = (modified.metadata.finalizers ?? []) + [Database.finalizer]
                current = try await api.update(current, to: modified)
            }
            return try await writePhase(current, to: .creating, ready: ("False", .creating, "the database is being created"))
        case .create:
            return try await create(database)
        case .takeForBackup(let name):
            try await writePhase(database, to: .backupRequested, ready: ready(database, .backupRequested, "backup \(name) requested")) {
                $0.activeBackup = name
            }
        case .takeForFinalBackup(let name):
            try await writePhase(database, to: .backupBeforeDeleteRequested, ready: ("False", .backupBeforeDelete, "a final backup \(name) is taken before the database is dropped")) {
                $0.activeBackup = name
            }
        case .createFinalBackup(let name):
            if try await readBackup(name) == nil {
                var labels = [LabelKey.database: LabelValue.valid(configuration.database), LabelKey.final: "true"]
                var annotations: [String: String]?
                if backupNamespace != configuration.namespace {
                    // Kept in the operator's namespace: say whose it is.
                    labels[LabelKey.databaseNamespace] = configuration.namespace
                    annotations = [AnnotationKey.databaseName: configuration.database]
                    logger.info("the namespace is being deleted: the final Backup is kept in the operator's namespace", metadata: ["k8s.backup": "\(backupNamespace)/\(name)"])
                }
                let final = Backup(
                    metadata: ObjectMeta(name: name, namespace: backupNamespace, labels: labels, annotations: annotations),
                    spec: BackupSpec(database: configuration.database))
                do { _ = try await api.create(final) } catch let error as KubeError where error.code == .alreadyExists {}
            }
            try await writePhase(database, to: .backupBeforeDeleteInProgress, ready: ("False", .backupBeforeDelete, "the final backup \(name) is running"))
        case .startBackup:
            guard let backup else { return nil }
            try await writeBackup(backup, transition: .b1) {
                $0.phase = .starting
                $0.startedAt = $0.startedAt ?? KubeTime.now()
                $0.conditions = Self.setting($0.conditions, ready: ("False", .starting, "the backup Job took the database"), generation: backup.metadata.generation)
            }
        case .beginDump:
            try await writePhase(database, to: .backupInProgress, ready: ready(database, .backupInProgress, "backup \(database.object.status?.activeBackup ?? "") in progress"))
        case .upload:
            guard let backup else { return nil }
            try await upload(database: database, backup: backup)
        case .failBackup(let message):
            try await failBackup(database: database, backup: backup, message: message)
        case .backupCompleted:
            if database.object.phase == .backupBeforeDeleteInProgress {
                try await writePhase(database, to: .backupBeforeDeleteCompleted, ready: ("False", .backupBeforeDeleteCompleted, "the final backup completed; the database is dropped next"))
            } else {
                try await writePhase(database, to: .backupCompleted, ready: ready(database, .backupCompleted, "backup completed"))
            }
        case .releaseAfterBackup:
            let name = database.object.status?.activeBackup ?? ""
            let finished = try await readBackup(name)
            try await writePhase(database, to: .created, ready: ("True", .created, "the database is ready; backup \(name) completed")) {
                $0.activeBackup = ""
                if let finished, finished.phase == .completed {
                    $0.lastBackup = LastBackup(name: name, destination: finished.object.status?.destination, completedAt: finished.object.status?.completedAt)
                }
            }
        case .requestDeletion:
            try await writePhase(database, to: .deletionRequested, ready: ("False", .deleting, "deletion requested"))
        case .beginDrop:
            try await writePhase(database, to: .deletionInProgress, ready: ("False", .deleting, "the database is being dropped"))
        case .drop:
            try await drop(database)
        case .removeFinalizer:
            // The Secrets it kept from deletion go free first, unless another Database needs them.
            do {
                try await releaseSecrets(of: database.object)
            } catch {
                logger.warning("could not release the Secrets this Database kept from deletion; they keep finalizer \(Database.secretInUseFinalizer) until another Database of the namespace is released (the Jobs need list on secrets and databases)", metadata: ["error": "\(error)"])
            }
            var modified = database.object
            modified.metadata.finalizers?.removeAll { $0 == Database.finalizer }
            _ = try await api.update(database, to: modified)
            if database.object.phase == .deleted { configuration.afterTransition(.d10) }
            logger.info("finalizer removed")
        case .finished:
            break
        }
        return nil
    }

    /// Whether the Secret names the Database (by UID) among its owners.
    static func isOwned(_ secret: Secret, by database: Database) -> Bool {
        guard let uid = database.metadata.uid, !uid.isEmpty else { return false }
        return secret.metadata.ownerReferences?.contains { $0.uid == uid } == true
    }

    /// Ready stays True while the database is usable.
    private func ready(_ database: Resource<Database>, _ reason: Reason, _ message: String) -> (String, Reason, String) {
        ("True", reason, message)
    }

    // MARK: Create and drop

    private func create(_ database: Resource<Database>) async throws -> Resource<Database> {
        let context = try await resolve(database)
        // A restore's source is checked before anything is created.
        var restoreSource: String?
        do {
            if database.object.spec.cloneFrom != nil {
                restoreSource = "database/\(try await cloneSource(database.object, driverName: context.driverName).name)"
            } else if database.object.spec.restoreFrom != nil {
                let plan = try await restorePlan(database.object, driverName: context.driverName, backupTarget: context.backup)
                restoreSource = plan.source
                await plan.shutdown()
            }
        } catch {
            throw await failure(database, error, operation: "restore")
        }
        // The driver connects to the instance while the Secrets are seen to; it claims
        // and makes nothing before this closure has returned the password.
        var stored: (any Error)?
        let outcome: CreateOutcome
        do {
            // A clone's database is made by the copy (Restoring), when it can be one.
            outcome = try await context.driver.create(context.target, forCopy: database.object.spec.cloneFrom != nil) {
                do {
                    return try await storePassword(database, context)
                } catch {
                    stored = error
                    throw error
                }
            }
        } catch {
            if let stored { throw stored }
            throw await failure(database, error, operation: "create")
        }
        var ready: (String, Reason, String) = ("True", .created, "the database is ready; connection details are in Secret \(configuration.database)")
        if case .adopted(let earlier) = outcome {
            let when = earlier.createdAt.isEmpty ? "" : ", created \(earlier.createdAt)"
            let text = "adopted database \(context.target.databaseName) and user \(context.target.username), retained by an earlier Database \(earlier.namespace)/\(earlier.name) (uid \(earlier.uid)\(when)); the user's password is now the one in Secret \(configuration.database)"
            ready = ("True", .adopted, "the database is ready: \(text)")
            await events.record(database.object, type: .normal, reason: .adopted, message: text)
        }
        let restoring = restoreSource != nil && outcome == .ready
        if restoreSource != nil, !restoring {
            await events.record(
                database.object, type: .warning, reason: .restoreSkipped,
                message: "an existing database was adopted: spec.restoreFrom is not loaded into it")
        }
        if restoring { ready = ("False", .restoring, "created; loading from \(restoreSource ?? "")") }
        let written = try await writePhase(database, to: restoring ? .restoring : .created, ready: ready) {
            if restoring { $0.restore = RestoreStatus(source: restoreSource, attempts: 0) }
            $0.databaseName = context.target.databaseName
            $0.username = context.target.username
            $0.secretName = self.configuration.database
            $0.driver = context.driverName
            $0.host = context.target.instance.host
            $0.port = context.target.instance.port
            $0.server = database.object.serverName
            $0.activeBackup = ""
            $0.deletionPolicy = database.object.effectiveDeletionPolicy(server: context.server)
        }
        await events.record(
            database.object, type: .normal, reason: restoring ? .restoring : .created,
            message: "database \(context.target.databaseName) and user \(context.target.username) are \(restoring ? "created; restoring from \(restoreSource ?? "")" : "ready")")
        return written
    }

    /// Keeps the Secrets the Database needs from deletion and stores its connection
    /// Secret, with the password `create` then applies (stored before it is applied,
    /// so no crash can leave a password that no Secret holds).
    private func storePassword(_ database: Resource<Database>, _ context: DriverContext) async throws -> String {
        // Every Secret of its namespace it will need (the S3 one for backups too) is
        // kept from deletion from now on, so deleting them, or the namespace, waits.
        await protectSecrets(of: database.object)
        let existing = try await readSecret()
        // A Secret of this name that is not this Database's (by UID) is never written,
        // adopted or deleted, and nothing is made in the instance while it is there.
        if let existing, !Self.isOwned(existing.object, by: database.object) {
            throw await failure(database, DriverError(
                reason: .secretConflict,
                message: "Secret \(configuration.database) already exists and does not belong to this Database (no ownerReference to its UID); it is left alone and nothing is created: delete or rename that Secret, or give the Database another name",
                retryable: true), operation: "create")
        }
        let password = existing?.object.value("password").flatMap { $0.isEmpty ? nil : $0 } ?? PasswordGenerator.generate()
        let details = ConnectionDetails(
            driver: context.driverName, host: context.target.instance.host, port: context.target.instance.port,
            database: context.target.databaseName, username: context.target.username, password: password,
            sslMode: context.sslMode)
        try await writeSecret(details, existing: existing, database: database.object)
        return password
    }

    private func drop(_ database: Resource<Database>) async throws {
        let server = try await server(of: database.object)
        let problems = database.object.validate(knownDrivers: Set(drivers.names), server: server)
        let policy = database.object.effectiveDeletionPolicy(server: server)
        if policy == .retain {
            logger.info("deletion policy Retain: the database and user stay in the instance")
        } else if database.object.status?.driver == nil, !problems.isEmpty {
            // Never Created, and the spec cannot say where: released without touching an instance.
            let text = "released without dropping anything: the database was never Created and the spec is invalid (\(problems.map(\.description).joined(separator: "; ")))"
            logger.warning("\(text)")
            await events.record(database.object, type: .warning, reason: .releasedInvalid, message: text)
        } else {
            let context = try await resolve(database)
            do {
                try await context.driver.drop(context.target)
            } catch {
                throw await failure(database, error, operation: "drop")
            }
        }
        // Only this Database's own Secret goes; one that replaced it meanwhile stays.
        if let secret = try await readSecret(database.object.status?.secretName ?? configuration.database), Self.isOwned(secret.object, by: database.object) {
            do {
                try await api.delete(Secret.resource, namespace: configuration.namespace, name: secret.name, propagation: nil, preconditionUID: secret.metadata.uid)
            } catch let error as KubeError where error.code == .notFound || error.code == .conflict {}  // gone, or replaced meanwhile
        }
        try await writePhase(database, to: .deleted, ready: ("False", .deleted, policy == .retain ? "the resource is removed; the database was retained" : "the database was dropped"))
    }

    // MARK: Backups

    private func upload(database: Resource<Database>, backup: Resource<Backup>) async throws {
        // Every attempt counts, also one that fails before the upload begins (B2 counts
        // the others): an unreachable instance or a missing Secret cannot keep a
        // Backup Starting, and its deletion waiting, for ever.
        let context: DriverContext
        let dump: DatabaseDump
        let estimate: Int64?
        let archive: BackupArchive
        let recipients: [AgeRecipient]
        do {
            context = try await resolve(database)
            guard let backupTarget = context.backup, let location = backupTarget.target.s3Spec?.location else {
                try await failBackup(database: database, backup: backup, message: "the Database has no spec.backupTo (and its server none)")
                return
            }
            recipients = try await encryptionRecipients(backupTarget.target, namespace: backupTarget.secretsNamespace)
            archive = BackupArchive(store: try makeStore(location, try await s3Access(location, namespace: backupTarget.secretsNamespace)), location: location, logger: logger)
        } catch {
            throw await backupFailure(database: database, backup: backup, error, uncountedAttempt: true)
        }
        // The extension is known once the driver starts; a few-byte probe would
        // cost a dump, so ask the driver first and name the object after its answer.
        do {
            estimate = try? await context.driver.estimatedSize(context.target)
            dump = try await context.driver.backup(context.target)
        } catch {
            // The dump could not start (e.g. ToolTooOld): an attempt that B2 did not count.
            await archive.shutdown()
            throw await backupFailure(database: database, backup: backup, error, uncountedAttempt: true)
        }
        let identity = BackupArchive.Identity(
            namespace: configuration.namespace, database: configuration.database, databaseName: context.target.databaseName, backup: backup.name,
            backupUID: backup.metadata.uid ?? "", engine: context.driverName)
        let layout = archive.layout(
            identity, dumpFormat: dump.fileExtension, wantsCompression: dump.wantsCompression, compression: context.backup?.target.compressionFormat,
            encrypted: !recipients.isEmpty, at: Date())
        let destination = layout.destination
        // B2 (or B3 when an earlier attempt had begun): the upload begins, counted. If
        // that write fails, the dump already running is stopped (and its files removed).
        var current: Resource<Backup>
        do {
            current = try await writeBackup(backup, transition: backup.phase == .starting ? .b2 : .b3) {
                $0.phase = .backingUp
                $0.destination = destination
                $0.attempts = ($0.attempts ?? 0) + 1
                $0.progress = BackupProgress(bytes: 0, estimatedTotalBytes: estimate, percent: estimate == nil ? nil : 0, updatedAt: KubeTime.now())
                $0.conditions = Self.setting($0.conditions, ready: ("False", .backingUp, "streaming to \(destination)"), generation: backup.metadata.generation)
            }
        } catch {
            dump.bytes.cancel()
            await archive.shutdown()
            throw error
        }
        let dumped = ByteCounter()
        let progress = ProgressWriter(runtime: self, backup: current, estimate: estimate, interval: configuration.progressInterval, dumped: dumped)
        let manifest: BackupManifest
        do {
            manifest = try await archive.write(
                dump.bytes.counted(into: dumped), layout: layout, identity: identity, recipients: recipients, serverVersion: dump.serverVersion, tool: dump.tool,
                startedAt: current.object.status?.startedAt ?? KubeTime.now(), upload: configuration.upload
            ) { await progress.report($0) }
        } catch {
            await archive.shutdown()
            let error: any Error = if let error = error as? BackupArchiveError {
                DriverError(reason: .verificationFailed, message: error.description, retryable: true)
            } else {
                error
            }
            throw await backupFailure(database: database, backup: progress.latest ?? current, error, uncountedAttempt: false)
        }
        await archive.shutdown()
        current = progress.latest ?? current
        let completedAt = KubeTime.now()
        _ = try await writeBackupFresh(current.name, transition: .b4) {
            $0.phase = .completed
            $0.size = manifest.size
            $0.sha256 = manifest.sha256
            $0.completedAt = completedAt
            $0.progress = BackupProgress(bytes: manifest.size, estimatedTotalBytes: estimate, percent: 100, updatedAt: completedAt)
            $0.conditions = Self.setting($0.conditions, ready: ("True", .completed, "stored \(manifest.size) bytes at \(destination)"), generation: backup.metadata.generation)
        }
        await events.record(backup.object, type: .normal, reason: .completed, message: "stored \(manifest.size) bytes at \(destination), sha256 \(manifest.sha256)")
    }

    /// A failed attempt: said on the Backup; given up on for good when it cannot
    /// succeed (its own reason, e.g. ToolTooOld, on the Backup's and the Database's
    /// Ready condition) or the attempts are spent (BackupFailed), else thrown for the
    /// Job to retry.
    private func backupFailure(database: Resource<Database>, backup: Resource<Backup>, _ error: any Error, uncountedAttempt: Bool) async -> any Error {
        let classified = Self.classify(error)
        logger.warning("backup attempt failed", metadata: ["k8s.backup": "\(backup.name)", "reason": "\(classified.reason)", "error": "\(classified.message)"])
        await events.record(backup.object, type: .warning, reason: classified.reason, message: classified.message)
        let attempts = (backup.object.status?.attempts ?? 0) + (uncountedAttempt ? 1 : 0)
        if !classified.retryable || attempts >= configuration.maxBackupAttempts {
            do {
                let fresh = try await readDatabase()
                if let fresh {
                    try await failBackup(
                        database: fresh, backup: try await readBackup(backup.name), message: "\(classified.reason): \(classified.message)",
                        reason: classified.retryable ? .backupFailed : classified.reason, countingAttempt: uncountedAttempt)
                }
                return RuntimeFailure(reason: classified.reason, message: "the backup failed for good: \(classified.message)", terminal: true)
            } catch {
                return error
            }
        }
        _ = try? await writeBackupFresh(backup.name, transition: nil) {
            if uncountedAttempt { $0.attempts = ($0.attempts ?? 0) + 1 }
            $0.conditions = Self.setting($0.conditions, ready: ("False", classified.reason, "attempt \(attempts) of \(self.configuration.maxBackupAttempts) failed: \(classified.message)"), generation: backup.metadata.generation)
        }
        return RuntimeFailure(reason: classified.reason, message: classified.message)
    }

    /// B5 (unless already Failed), then D16 or D17 when the database is held for it.
    private func failBackup(
        database: Resource<Database>, backup: Resource<Backup>?, message: String, reason: Reason = .backupFailed, countingAttempt: Bool = false
    ) async throws {
        if let backup, backup.phase?.isFinished != true {
            _ = try await writeBackup(backup, transition: .b5) {
                $0.phase = .failed
                $0.completedAt = KubeTime.now()
                if countingAttempt { $0.attempts = ($0.attempts ?? 0) + 1 }
                $0.conditions = Self.setting($0.conditions, ready: ("False", reason, message), generation: backup.metadata.generation)
            }
            await events.record(backup.object, type: .warning, reason: .backupFailed, message: message)
        }
        switch database.object.phase {
        case .backupInProgress?:
            try await writePhase(database, to: .created, ready: ("False", reason, "backup \(backup?.name ?? "") failed: \(message)")) {
                $0.activeBackup = ""
            }
            await events.record(database.object, type: .warning, reason: .backupFailed, message: "backup \(backup?.name ?? "") failed: \(message)")
        case .backupBeforeDeleteInProgress?:
            let text = "the final backup \(backup?.name ?? "") failed, so the database was NOT dropped: \(message). Fix the cause and change the spec (or set deletionPolicy: Delete) to try again."
            try await writePhase(database, to: .created, ready: ("False", .deletionBlocked, text)) {
                $0.activeBackup = ""
                $0.conditions = Self.setting($0.conditions, type: ConditionType.deletionBlocked, ready: ("True", .finalBackupFailed, text), generation: database.metadata.generation)
            }
            await events.record(database.object, type: .warning, reason: .deletionBlocked, message: text)
        default:
            break
        }
    }

    /// A Backup of a Database that no longer exists fails (B5).
    private func finishBackupOfMissingDatabase() async throws {
        guard let name = configuration.backup, let backup = try await readBackup(name), backup.phase?.isFinished != true else { return }
        _ = try await writeBackup(backup, transition: .b5) {
            $0.phase = .failed
            $0.completedAt = KubeTime.now()
            $0.conditions = Self.setting($0.conditions, ready: ("False", .databaseNotFound, "the Database \(self.configuration.database) is gone"), generation: backup.metadata.generation)
        }
    }
}

/// Why a driver Job ends unsuccessfully; `terminal` when status already says it failed for good.
public struct RuntimeFailure: Error, CustomStringConvertible, Sendable {
    public var reason: Reason
    public var message: String
    public var terminal = false

    public var description: String { "\(reason): \(message)" }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let value): try await transform(value)
        case .none: nil
        }
    }
}

/// What reaching a backup target takes besides its location: the credentials, and a
/// CA to trust besides the system's when the store's certificate comes from a private one.
public struct S3Access: Sendable {
    public var credentials: S3Credentials
    /// Credentials from STS for a web identity instead (`credentials` then unused).
    public var webIdentity: WebIdentity?
    public var certificateAuthorityPEM: String?

    public init(credentials: S3Credentials, certificateAuthorityPEM: String? = nil) {
        self.credentials = credentials
        self.certificateAuthorityPEM = certificateAuthorityPEM
    }

    public init(webIdentity: WebIdentity, certificateAuthorityPEM: String? = nil) {
        credentials = S3Credentials(accessKeyID: "", secretAccessKey: "")
        self.webIdentity = webIdentity
        self.certificateAuthorityPEM = certificateAuthorityPEM
    }
}
