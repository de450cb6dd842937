import DriverProtocol
import Foundation
import KubeClient
import KubeModel
import Logging
import ObjectStore
import SQLSupport
import Synchronization

/// What a driver call needs, resolved from the Database (and its DatabaseServer)
/// and their Secrets.
struct DriverContext {
    var driver: any DatabaseDriver
    var driverName: String
    var target: DatabaseTarget
    var sslMode: TLSModeName?
    /// The DatabaseServer the database is on, if any.
    var server: DatabaseServer?
    /// The backup target in force, and the namespace of its CredentialsSecret.
    var backup: (target: BackupTarget, secretsNamespace: String)?
}

extension DriverRuntime {
    // MARK: Reads

    func readDatabase() async throws -> Resource<Database>? {
        do {
            return try await api.get(Database.self, namespace: configuration.namespace, name: configuration.database)
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    func readBackup(_ name: String) async throws -> Resource<Backup>? {
        do {
            return try await api.get(Backup.self, namespace: backupNamespace, name: name)
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    func readSecret(_ name: String? = nil, namespace: String? = nil) async throws -> Resource<Secret>? {
        do {
            return try await api.get(Secret.self, namespace: namespace ?? configuration.namespace, name: name ?? configuration.database)
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    /// Whether the Database's namespace is being deleted.
    func namespaceTerminating() async throws -> Bool {
        do {
            return try await api.get(Namespace.self, namespace: nil, name: configuration.namespace).metadata.deletionTimestamp != nil
        } catch let error as KubeError where error.code == .notFound {
            return true
        } catch let error as KubeError where error.code == .forbidden {
            logger.warning("cannot read the Database's namespace (the Jobs need get on namespaces): taken as not being deleted")
            return false
        }
    }

    func readServer(_ name: String) async throws -> Resource<DatabaseServer>? {
        do {
            return try await api.get(DatabaseServer.self, namespace: nil, name: name)
        } catch let error as KubeError where error.code == .notFound {
            return nil
        }
    }

    /// The DatabaseServer `database` is on, when it names one and it exists.
    func server(of database: Database) async throws -> DatabaseServer? {
        guard let name = database.serverName else { return nil }
        return try await readServer(name)?.object
    }

    // MARK: Resolution

    /// The DatabaseServer a Database names, checked: it exists, this Job runs where its
    /// Secrets are, and (to create or back up) it allows the Database's namespace.
    private func resolveServer(_ name: String) async throws -> (server: DatabaseServer, secretsNamespace: String) {
        guard let operatorNamespace = configuration.operatorNamespace, !operatorNamespace.isEmpty else {
            throw DriverError(
                reason: .invalidSpec,
                message: "the Database is on DatabaseServer \(name), whose Jobs the operator runs in its own namespace; this Job has no DB_OPERATOR_OPERATOR_NAMESPACE",
                retryable: false)
        }
        guard let server = try await readServer(name)?.object else {
            throw DriverError(reason: .serverNotFound, message: "DatabaseServer \(name) does not exist", retryable: true)
        }
        if [.create, .backup].contains(configuration.operation), server.spec.allowedNamespaces?.selector != nil {
            let labels = try await api.get(Namespace.self, namespace: nil, name: configuration.namespace).metadata.labels ?? [:]
            guard server.allows(namespaceLabels: labels) else {
                throw DriverError(
                    reason: .namespaceNotAllowed, message: "DatabaseServer \(name) does not allow namespace \(configuration.namespace)", retryable: false)
            }
        }
        return (server, operatorNamespace)
    }

    /// The driver, the admin login and the names; a problem becomes a condition, an
    /// Event and a thrown `RuntimeFailure`.
    func resolve(_ database: Resource<Database>) async throws -> DriverContext {
        let object = database.object
        var server: DatabaseServer?
        var secretsNamespace = configuration.namespace
        if let name = object.serverName {
            do {
                (server, secretsNamespace) = try await resolveServer(name)
            } catch {
                throw await failure(database, error, operation: "resolve")
            }
        }
        // Once created, the recorded driver, host and port are the truth (changes are
        // reported, not applied); a server's address is its own.
        let driverName = object.status?.driver ?? server?.spec.driver ?? object.spec.driver ?? ""
        guard let driver = drivers.driver(named: driverName) else {
            throw await failure(database, DriverError(reason: .invalidSpec, message: "no driver \"\(driverName)\" in this program (it has: \(drivers.names.joined(separator: ", ")))", retryable: false), operation: "resolve")
        }
        let problems = object.validate(knownDrivers: Set(drivers.names), server: server)
        if !problems.isEmpty, object.status?.driver == nil {
            throw await failure(database, DriverError(reason: .invalidSpec, message: problems.map(\.description).joined(separator: "; "), retryable: false), operation: "resolve")
        }
        let names: (database: String, user: String)
        if let recordedDatabase = object.status?.databaseName, let recordedUser = object.status?.username {
            names = (recordedDatabase, recordedUser)
        } else {
            switch InstanceNames.derive(
                namespace: configuration.namespace, name: configuration.database, databaseName: object.spec.databaseName,
                username: object.spec.username, limits: driver.nameLimits)
            {
            case .success(let derived): names = derived
            case .failure(let invalid):
                throw await failure(database, DriverError(reason: .invalidSpec, message: invalid.message, retryable: false), operation: "resolve")
            }
        }
        let connect = server?.spec.connect ?? object.spec.connect ?? ConnectSpec(host: nil)
        let credentials = server?.spec.credentials ?? object.spec.credentials
        let username: String, password: String
        var certificateAuthority: String?
        do {
            username = try await value(of: credentials?.username, field: "spec.credentials.username", namespace: secretsNamespace)
            password = try await value(of: credentials?.password, field: "spec.credentials.password", namespace: secretsNamespace)
            if let caSecret = connect.caSecret {
                certificateAuthority = try await value(
                    of: ValueSource(valueFrom: .init(secretKeyRef: SecretKeyRef(name: caSecret, key: "ca.crt"))), field: "spec.connect.caSecret",
                    namespace: secretsNamespace)
            }
        } catch {
            throw await failure(database, error, operation: "resolve")
        }
        let host = server == nil ? (object.status?.host ?? connect.host ?? "") : (connect.host ?? "")
        let port = server == nil ? (object.status?.port ?? connect.port ?? driver.defaultPort) : (connect.port ?? driver.defaultPort)
        let instance = ConnectionSettings(
            host: host, port: port, user: username, password: password, tlsMode: Self.tlsMode(connect.sslMode), certificateAuthorityPEM: certificateAuthority)
        let owner = OwnerRecord(
            uid: object.metadata.uid ?? "", namespace: configuration.namespace, name: configuration.database, cluster: configuration.clusterID,
            createdAt: object.metadata.creationTimestamp ?? "")
        let backup = object.backupTarget(server: server).map { ($0.target, $0.fromServer ? secretsNamespace : configuration.namespace) }
        return DriverContext(
            driver: driver, driverName: driverName,
            target: DatabaseTarget(instance: instance, databaseName: names.database, username: names.user, owner: owner, adopt: object.spec.adopt ?? false),
            sslMode: connect.sslMode, server: server, backup: backup)
    }

    static func tlsMode(_ name: TLSModeName?) -> TLSMode {
        switch name ?? .prefer {
        case .disable: .disable
        case .prefer: .prefer
        case .require: .require
        case .verifyCA: .verifyCA
        case .verifyFull: .verifyFull
        }
    }

    /// A literal, or a key of a Secret in `namespace`: the resource's own, or the
    /// operator's for a DatabaseServer's.
    func value(of source: ValueSource?, field: String, namespace: String) async throws -> String {
        // The Database's own Secrets are kept while it needs them; the operator's are the admin's business.
        try await SecretReader(api: api, namespace: namespace, protect: namespace == configuration.namespace, logger: logger).value(of: source, field: field)
    }

    /// Puts the in-use finalizer on every Secret of the namespace the Database's spec
    /// names (one missing yet is left to the read that needs it).
    func protectSecrets(of database: Database) async {
        for name in database.referencedSecrets.sorted() {
            guard let secret = try? await readSecret(name) else { continue }
            await SecretReader.protect(secret, api: api, logger: logger)
        }
    }

    /// Takes the in-use finalizer off the Secrets of the namespace that no Database
    /// needs any more (this one is done with them): run as the Database is released.
    func releaseSecrets(of database: Database) async throws {
        let protected = try await api.list(Secret.self, namespace: configuration.namespace, labelSelector: Database.secretInUseFinalizer)
        guard !protected.isEmpty else { return }
        let needed = try await api.list(Database.self, namespace: configuration.namespace)
            .filter { $0.metadata.uid != database.metadata.uid && $0.object.needsSecrets }
            .reduce(into: Set<String>()) { $0.formUnion($1.object.referencedSecrets) }
        for secret in protected where !needed.contains(secret.name) {
            var current = secret
            for _ in 0..<5 {
                var released = current.object
                released.metadata.finalizers?.removeAll { $0 == Database.secretInUseFinalizer }
                if released.metadata.finalizers?.isEmpty == true { released.metadata.finalizers = nil }
                released.metadata.labels?.removeValue(forKey: Database.secretInUseFinalizer)
                guard released != current.object else { break }
                do {
                    _ = try await api.update(current, to: released)
                    logger.info("released Secret: no Database of the namespace needs it", metadata: ["k8s.secret": "\(secret.name)"])
                    break
                } catch let error as KubeError where error.code == .conflict {
                    current = try await api.get(Secret.self, namespace: configuration.namespace, name: secret.name)
                } catch let error as KubeError where error.code == .notFound {
                    break
                }
            }
        }
    }

    /// The age recipients of `backupTo.encryption` (key `recipients` of its Secret,
    /// read where the CredentialsSecret is); empty when the target is not encrypted.
    func encryptionRecipients(_ target: BackupTarget, namespace: String) async throws -> [AgeRecipient] {
        guard let encryption = target.encryption else { return [] }
        let name = encryption.recipientsSecret ?? ""
        guard let secret = try await readSecret(name, namespace: namespace) else {
            throw DriverError(reason: .secretNotFound, message: "encryption recipientsSecret \(name) not found in namespace \(namespace)", retryable: true)
        }
        if namespace == configuration.namespace { await SecretReader.protect(secret, api: api, logger: logger) }
        guard let text = secret.object.value("recipients") else {
            throw DriverError(reason: .secretKeyNotFound, message: "encryption recipientsSecret \(name) needs key recipients (age1... public keys, one per line)", retryable: true)
        }
        let recipients: [AgeRecipient]
        do {
            recipients = try AgeRecipient.parseList(text)
        } catch {
            throw DriverError(reason: .invalidRecipients, message: "encryption recipientsSecret \(name): \(error)", retryable: true)
        }
        guard !recipients.isEmpty else {
            throw DriverError(reason: .invalidRecipients, message: "encryption recipientsSecret \(name) lists no age1... public key", retryable: true)
        }
        return recipients
    }

    /// The credentials for `location` (its CredentialsSecret, else the `AWS_*` keys
    /// of the environment, else its web identity: `AWS_ROLE_ARN` and
    /// `AWS_WEB_IDENTITY_TOKEN_FILE`, as EKS sets them) and the CA to trust besides the system's: the Secret's `ca.crt`,
    /// else the PEM file `AWS_CA_BUNDLE` names.
    func s3Access(_ location: S3Location, namespace: String) async throws -> S3Access {
        if let name = location.credentialsSecret {
            guard let secret = try await readSecret(name, namespace: namespace) else {
                throw DriverError(reason: .secretNotFound, message: "S3 CredentialsSecret \(name) not found in namespace \(namespace)", retryable: true)
            }
            if namespace == configuration.namespace { await SecretReader.protect(secret, api: api, logger: logger) }
            guard let key = secret.object.value("accessKeyId"), let secretKey = secret.object.value("secretAccessKey") else {
                throw DriverError(reason: .secretKeyNotFound, message: "S3 CredentialsSecret \(name) needs keys accessKeyId and secretAccessKey", retryable: true)
            }
            return S3Access(
                credentials: S3Credentials(accessKeyID: key, secretAccessKey: secretKey, sessionToken: secret.object.value("sessionToken")),
                certificateAuthorityPEM: try Self.certificateAuthority(secretValue: secret.object.value("ca.crt"), environment: environment))
        }
        let certificateAuthority = try Self.certificateAuthority(secretValue: nil, environment: environment)
        if let credentials = S3Credentials.fromEnvironment(environment) {
            return S3Access(credentials: credentials, certificateAuthorityPEM: certificateAuthority)
        }
        if let identity = WebIdentity.fromEnvironment(environment, region: location.region) {
            return S3Access(webIdentity: identity, certificateAuthorityPEM: certificateAuthority)
        }
        throw DriverError(
            reason: .noS3Credentials,
            message: "no CredentialsSecret in backupTo, and neither AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY nor AWS_ROLE_ARN/AWS_WEB_IDENTITY_TOKEN_FILE in the Job's environment",
            retryable: false)
    }

    /// The CA PEM to trust for the store: `secretValue` (the CredentialsSecret's
    /// `ca.crt`) when given, else the contents of the file `AWS_CA_BUNDLE` names.
    static func certificateAuthority(secretValue: String?, environment: [String: String]) throws -> String? {
        if let secretValue, !secretValue.isEmpty { return secretValue }
        guard let path = environment["AWS_CA_BUNDLE"], !path.isEmpty else { return nil }
        guard let pem = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DriverError(reason: .caBundleUnreadable, message: "AWS_CA_BUNDLE \(path) cannot be read", retryable: true)
        }
        return pem
    }

    /// Any error as a DriverError: the store's errors keep their S3 code as the
    /// reason and say what to fix; those that cannot pass on a retry are not retried.
    static func classify(_ error: any Error) -> DriverError {
        if let failure = error as? RuntimeFailure {  // already said on the Database
            return DriverError(reason: failure.reason, message: failure.message, retryable: !failure.terminal)
        }
        guard let error = error as? ObjectStoreError else { return DriverError.classify(error) }
        let hint: String? = switch error.code {
        case .signatureDoesNotMatch:
            "the store refused the request's signature: check secretAccessKey in the S3 CredentialsSecret, and that backupTo's Endpoint and Region are the store's"
        case .invalidAccessKeyID: "the store does not know the access key: check accessKeyId in the S3 CredentialsSecret"
        case .accessDenied:
            "the credentials may not do this: they need s3:PutObject, s3:GetObject, s3:ListBucket, s3:ListBucketMultipartUploads and s3:AbortMultipartUpload on the bucket and prefix (and s3:DeleteObject for a BackupSchedule's retention)"
        case .noSuchBucket: "create the bucket, or fix backupTo's Bucket"
        default: nil
        }
        return DriverError(reason: Reason(rawValue: error.code.rawValue), message: hint.map { "\(error.description); \($0)" } ?? error.description, retryable: error.isRetryable)
    }

    /// Says what went wrong (Ready=False, Event, log) and returns the error to throw.
    func failure(_ database: Resource<Database>, _ error: any Error, operation: String) async -> RuntimeFailure {
        let classified = Self.classify(error)
        logger.warning("\(operation) failed", metadata: ["reason": "\(classified.reason)", "error": "\(classified.message)"])
        await events.record(database.object, type: .warning, reason: classified.reason, message: classified.message)
        do {
            if let fresh = try await readDatabase() {
                var modified = fresh.object
                var status = modified.status ?? DatabaseStatus()
                status.conditions = Self.setting(status.conditions, ready: ("False", classified.reason, classified.message), generation: fresh.metadata.generation)
                modified.status = status
                _ = try await api.updateStatus(fresh, to: modified)
            }
        } catch {
            logger.info("could not write the failure condition", metadata: ["error": "\(error)"])
        }
        return RuntimeFailure(reason: classified.reason, message: classified.message, terminal: !classified.retryable)
    }

    // MARK: Writes

    /// A phase write: compare-and-swap on the status, with the Ready condition.
    /// Returns the Database as the write left it.
    @discardableResult
    func writePhase(
        _ database: Resource<Database>, to phase: DatabasePhase, ready: (String, Reason, String),
        _ change: (inout DatabaseStatus) -> Void = { _ in }
    ) async throws -> Resource<Database> {
        var modified = database.object
        var status = modified.status ?? DatabaseStatus()
        let from = status.phase
        status.phase = phase
        status.observedGeneration = database.metadata.generation
        change(&status)
        status.conditions = Self.setting(status.conditions, ready: ready, generation: database.metadata.generation)
        if phase == .created, from != .backupBeforeDeleteInProgress {
            // A fresh start clears an old block; D17 itself sets it after this.
            status.conditions?.removeAll { $0.type == ConditionType.deletionBlocked }
        }
        modified.status = status
        let written = try await api.updateStatus(database, to: modified)
        let transition = Transition.database(from: from, to: phase)
        logger.info("phase", metadata: ["from": "\(from?.rawValue ?? "none")", "to": "\(phase.rawValue)", "transition": "\(transition?.rawValue ?? "-")"])
        if let transition { configuration.afterTransition(transition) }
        return written
    }

    /// A Backup status write (compare-and-swap).
    @discardableResult
    func writeBackup(_ backup: Resource<Backup>, transition: Transition?, _ change: (inout BackupStatus) -> Void) async throws -> Resource<Backup> {
        var modified = backup.object
        var status = modified.status ?? BackupStatus()
        change(&status)
        modified.status = status
        let written = try await api.updateStatus(backup, to: modified)
        if let transition {
            logger.info("backup phase", metadata: ["k8s.backup": "\(backup.name)", "to": "\(status.phase?.rawValue ?? "none")", "transition": "\(transition.rawValue)"])
            configuration.afterTransition(transition)
        }
        return written
    }

    /// Reads the Backup and writes the change, again on conflict (the operator may
    /// have touched a condition meanwhile).
    @discardableResult
    func writeBackupFresh(_ name: String, transition: Transition?, _ change: (inout BackupStatus) -> Void) async throws -> Resource<Backup>? {
        for _ in 0..<10 {
            guard let backup = try await readBackup(name) else { return nil }
            do {
                return try await writeBackup(backup, transition: transition, change)
            } catch let error as KubeError where error.code == .conflict {
                continue
            }
        }
        throw RuntimeFailure(reason: .conflict, message: "could not write the status of Backup \(name)")
    }

    /// The connection Secret with the owned keys set and everything else kept.
    func writeSecret(_ details: ConnectionDetails, existing: Resource<Secret>?, database: Database) async throws {
        let owner = OwnerReference(
            apiVersion: Database.resource.apiVersion, kind: Database.resource.kind, name: configuration.database,
            uid: database.metadata.uid ?? "", controller: true, blockOwnerDeletion: true)
        if let existing {
            // Only ever this Database's own Secret (the caller checked the owner).
            let owned = details.secret(updating: existing.object, name: configuration.database, namespace: configuration.namespace, owner: owner)
            guard owned != existing.object else { return }
            _ = try await api.update(existing, to: owned)
        } else {
            _ = try await api.create(details.secret(updating: nil, name: configuration.database, namespace: configuration.namespace, owner: owner))
        }
    }

    /// Conditions with Ready (or `type`) set.
    static func setting(_ conditions: [Condition]?, type: String = ConditionType.ready, ready: (String, Reason, String), generation: Int64?) -> [Condition] {
        var conditions = conditions ?? []
        conditions.set(Condition(type: type, status: ready.0, reason: ready.1, message: ready.2, lastTransitionTime: KubeTime.now(), observedGeneration: generation))
        return conditions
    }
}

/// Writes progress (B3) at most once per interval while the upload runs: the bytes
/// stored, and a percent of the database's estimated size from the bytes the dump has
/// produced (the stored bytes may be compressed; the estimate is not).
final class ProgressWriter: Sendable {
    private let runtime: DriverRuntime
    private let name: String
    private let estimate: Int64?
    private let interval: Duration
    private let dumped: ByteCounter
    private let state: Mutex<(last: ContinuousClock.Instant, latest: Resource<Backup>?)>

    init(runtime: DriverRuntime, backup: Resource<Backup>, estimate: Int64?, interval: Duration, dumped: ByteCounter) {
        self.runtime = runtime
        name = backup.name
        self.estimate = estimate
        self.interval = interval
        self.dumped = dumped
        state = Mutex((ContinuousClock.now, nil))
    }

    /// The percent shown while a backup runs: never 100 before it is stored.
    static func percent(dumped: Int64, estimate: Int64?) -> Int? {
        estimate.map { $0 > 0 ? min(99, Int(dumped * 100 / $0)) : 0 }
    }

    var latest: Resource<Backup>? { state.withLock { $0.latest } }

    func report(_ bytes: Int64) async {
        let now = ContinuousClock.now
        let due = state.withLock { state -> Bool in
            guard now - state.last >= interval else { return false }
            state.last = now
            return true
        }
        guard due else { return }
        let estimate = self.estimate
        let percent = Self.percent(dumped: max(dumped.count, bytes), estimate: estimate)
        do {
            let written = try await runtime.writeBackupFresh(name, transition: .b3) {
                $0.progress = BackupProgress(bytes: bytes, estimatedTotalBytes: estimate, percent: percent, updatedAt: KubeTime.now())
            }
            state.withLock { $0.latest = written }
        } catch {
            // Progress is best effort; the upload goes on.
        }
    }
}

/// Reads values of `ValueSource`s from the Secrets of one namespace; with `protect`,
/// puts the in-use finalizer on each Secret read (see `Database.secretInUseFinalizer`).
struct SecretReader {
    let api: any KubernetesAPI
    let namespace: String
    var protect = false
    var logger: Logger?

    /// A literal, or a key of a Secret in `namespace` (a reference to another
    /// namespace is refused).
    func value(of source: ValueSource?, field: String) async throws -> String {
        if let value = source?.value { return value }
        guard let ref = source?.valueFrom?.secretKeyRef else {
            throw DriverError(reason: .invalidSpec, message: "\(field) is required", retryable: false)
        }
        if let other = ref.namespace, other != namespace {
            throw DriverError(reason: .invalidSpec, message: "\(field): Secrets are read from namespace \(namespace) only, not \(other)", retryable: false)
        }
        let secret = try await read(ref.name, field: field)
        if protect { await Self.protect(secret, api: api, logger: logger) }
        guard let value = secret.object.value(ref.key) else {
            throw DriverError(reason: .secretKeyNotFound, message: "\(field): Secret \(ref.name) has no key \(ref.key)", retryable: true)
        }
        return value
    }

    func read(_ name: String, field: String) async throws -> Resource<Secret> {
        do {
            return try await api.get(Secret.self, namespace: namespace, name: name)
        } catch let error as KubeError where error.code == .notFound {
            throw DriverError(reason: .secretNotFound, message: "\(field): Secret \(name) not found in namespace \(namespace)", retryable: true)
        }
    }

    /// Adds the in-use finalizer and label, unless the Secret has them or is being
    /// deleted (no finalizer may be added then). Best effort: a Secret left
    /// unprotected is logged, and the operation goes on.
    static func protect(_ secret: Resource<Secret>, api: any KubernetesAPI, logger: Logger?) async {
        var current = secret
        for _ in 0..<5 {
            guard current.metadata.deletionTimestamp == nil, !(current.metadata.finalizers?.contains(Database.secretInUseFinalizer) ?? false) else { return }
            var protected = current.object
            protected.metadata.finalizers = (protected.metadata.finalizers ?? []) + [Database.secretInUseFinalizer]
            protected.metadata.labels = (protected.metadata.labels ?? [:]).merging([Database.secretInUseFinalizer: "true"]) { $1 }
            do {
                _ = try await api.update(current, to: protected)
                return
            } catch let error as KubeError where error.code == .conflict {
                guard let fresh = try? await api.get(Secret.self, namespace: current.namespace, name: current.name) else { return }
                current = fresh
            } catch {
                logger?.warning("could not protect the Secret from deletion while it is needed", metadata: ["k8s.secret": "\(current.name)", "error": "\(error)"])
                return
            }
        }
    }
}
