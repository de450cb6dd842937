import BackupData
import DriverProtocol
import Foundation
import KubeClient
import KubeModel
import NIOCore
import ObjectStore

/// Restores (`spec.restoreFrom`, SPEC section 13): the source is checked before
/// anything is created (a Backup that is not Completed, a missing object, a dump of
/// the other engine, an encrypted object without an identity are each a clear
/// condition); after the driver's create the Database is Restoring (R1), the object
/// streams from the store through `BackupArchive.open` (sha256 checked before the end
/// reaches the tool, decrypted, decompressed) into the driver's restore, and the
/// Database is Created (R2). A clone (`spec.cloneFrom`) is first offered to the
/// driver's `copyInside` (PostgreSQL's TEMPLATE copy), else the source's dump streams
/// into the restore. A failed attempt is retried by the Job; past
/// `maxRestoreAttempts`, or for a cause no retry fixes, the restore failed for good:
/// `Ready=False` (`RestoreFailed` or the cause) and the Database stays Restoring.
extension DriverRuntime {
    /// Where a restore reads from and how the object was made.
    struct RestorePlan {
        var archive: BackupArchive
        var stored: BackupArchive.Stored
        /// `s3://bucket/key`.
        var source: String { stored.url }
        /// The Backup's recorded checksum (else the manifest's is checked).
        var expectedSHA256: String?
        var identities: [AgeIdentity]?

        func shutdown() async { await archive.shutdown() }
    }

    /// The source of `spec.restoreFrom`, checked: it exists, it is complete, it is a
    /// dump of this Database's engine, and it can be decrypted if it is encrypted.
    func restorePlan(_ database: Database, driverName: String, backupTarget: (target: BackupTarget, secretsNamespace: String)?) async throws -> RestorePlan {
        guard let source = database.spec.restoreFrom else {
            throw DriverError(reason: .invalidSpec, message: "no spec.restoreFrom", retryable: false)
        }
        let location: S3Location, key: String, secretsNamespace: String
        var expectedSHA256: String?
        if let name = source.backup {
            guard let backup = try await readBackup(name) else {
                throw DriverError(reason: .restoreSourceNotFound, message: "Backup \(name) does not exist in namespace \(configuration.namespace)", retryable: true)
            }
            guard backup.phase == .completed, let destination = backup.object.status?.destination, let sha256 = backup.object.status?.sha256 else {
                throw DriverError(
                    reason: .backupNotCompleted,
                    message: "Backup \(name) is \(backup.phase?.rawValue ?? "not started"): only a Completed Backup can be restored", retryable: backup.phase != .failed)
            }
            let (bucket, objectKey) = Self.split(destination)
            // The store is the Database's own backup target when the object is in its
            // bucket, else the target of the Database the Backup was made of.
            var candidates: [(BackupTarget, String)] = backupTarget.map { [($0.target, $0.secretsNamespace)] } ?? []
            if let made = try? await api.get(Database.self, namespace: configuration.namespace, name: backup.object.spec.database) {
                let server = try? await server(of: made.object)
                if let target = made.object.backupTarget(server: server) {
                    candidates.append((target.target, target.fromServer ? (configuration.operatorNamespace ?? configuration.namespace) : configuration.namespace))
                }
            }
            guard let (target, namespace) = candidates.first(where: { $0.0.s3Spec?.location.bucket == bucket }), var found = target.s3Spec?.location else {
                throw DriverError(
                    reason: .restoreSourceUnreachable,
                    message: "Backup \(name) is in bucket \(bucket), which neither this Database's backupTo nor that of Database \(backup.object.spec.database) names: give restoreFrom.s3 with its endpoint and CredentialsSecret",
                    retryable: false)
            }
            found.prefix = ""
            (location, key, secretsNamespace, expectedSHA256) = (found, objectKey, namespace, sha256)
        } else if let s3 = source.s3Source, let objectKey = s3.objectKey {
            (location, key, secretsNamespace) = (s3.location, objectKey, configuration.namespace)
        } else {
            throw DriverError(reason: .invalidSpec, message: "spec.restoreFrom names neither a Backup nor an object", retryable: false)
        }
        let archive = BackupArchive(store: try makeStore(location, try await s3Access(location, namespace: secretsNamespace)), location: location, logger: logger)
        do {
            let url = location.url(key: key)
            // The manifest next to it, when there is one, says what the object is; an
            // object made by hand is known by its name.
            guard let stored = try await archive.inspect(key: key) else {
                throw DriverError(reason: .restoreSourceNotFound, message: "no object \(url)", retryable: true)
            }
            if let engine = stored.manifest?.engine, engine != driverName {
                throw DriverError(
                    reason: .restoreFormatMismatch, message: "\(url) is a \(engine) backup; this Database's driver is \(driverName)", retryable: false)
            }
            var identities: [AgeIdentity]?
            if stored.encrypted {
                guard let secretName = source.identitySecret else {
                    throw DriverError(
                        reason: .identityRequired, message: "\(url) is encrypted (age): set spec.restoreFrom.identitySecret to a Secret whose key identity holds the age secret key",
                        retryable: false)
                }
                identities = try await restoreIdentities(secretName)
            }
            return RestorePlan(archive: archive, stored: stored, expectedSHA256: expectedSHA256, identities: identities)
        } catch {
            await archive.shutdown()
            throw error
        }
    }

    /// The age identities of key `identity` of Secret `name` (this namespace); never echoed.
    func restoreIdentities(_ name: String) async throws -> [AgeIdentity] {
        guard let secret = try await readSecret(name, namespace: configuration.namespace) else {
            throw DriverError(reason: .secretNotFound, message: "restoreFrom.identitySecret \(name) not found in namespace \(configuration.namespace)", retryable: true)
        }
        guard let text = secret.object.value("identity") else {
            throw DriverError(reason: .secretKeyNotFound, message: "Secret \(name) has no key identity (the age secret key, AGE-SECRET-KEY-1...)", retryable: true)
        }
        var identities: [AgeIdentity] = []
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let identity = try? AgeIdentity(trimmed) else {
                throw DriverError(
                    reason: .invalidIdentity, message: "line \(number + 1) of key identity in Secret \(name) is not an age secret key (AGE-SECRET-KEY-1...)", retryable: false)
            }
            identities.append(identity)
        }
        guard !identities.isEmpty else {
            throw DriverError(reason: .invalidIdentity, message: "key identity in Secret \(name) holds no age secret key", retryable: false)
        }
        return identities
    }

    /// `s3://bucket/key` as its bucket and key.
    static func split(_ destination: String) -> (bucket: String, key: String) {
        let path = destination.hasPrefix("s3://") ? destination.dropFirst(5) : Substring(destination)
        guard let slash = path.firstIndex(of: "/") else { return (String(path), "") }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    /// One attempt at the load (Restoring), then R2; see the type's comment.
    func restore(_ database: Resource<Database>) async throws {
        guard database.object.spec.restoreFrom != nil || database.object.spec.cloneFrom != nil else {
            try await writePhase(database, to: .created, ready: ("True", .created, "spec.restoreFrom was removed before the restore: the database is empty"))
            return
        }
        let attempt = (database.object.status?.restore?.attempts ?? 0) + 1
        let max = configuration.maxRestoreAttempts
        let context = try await resolve(database)
        var current = database
        try await writePhase(current, to: .restoring, ready: ("False", .restoring, "attempt \(attempt) of \(max): loading from \(database.object.status?.restore?.source ?? "the source")")) {
            var restore = $0.restore ?? RestoreStatus()
            restore.attempts = attempt
            $0.restore = restore
        }
        current = try await readDatabase() ?? current
        var plan: RestorePlan?
        var dump: DatabaseDump?
        var source = database.object.status?.restore?.source ?? ""
        var ownerPassword: String?
        var clonePath = ""
        do {
            ownerPassword = try await readSecret()?.object.value("password")
            guard let password = ownerPassword else {
                throw DriverError(reason: .secretNotFound, message: "the connection Secret \(configuration.database) has no password", retryable: true)
            }
            let input: RestoreInput?
            if current.object.spec.cloneFrom != nil {
                // A clone: a copy inside the instance where the engine can make one,
                // else the source's dump streams straight into the load.
                let sourceDatabase = try await cloneSource(current.object, driverName: context.driverName)
                let sourceContext = try await resolve(sourceDatabase)
                source = "database/\(sourceDatabase.name)"
                switch try await context.driver.copyInside(from: sourceContext.target, into: context.target, ownerPassword: password) {
                case .copied(let how):
                    clonePath = how
                    input = nil
                case .notCopied(let why):
                    clonePath = "a streamed dump of the source into the new database (\(why))"
                    let started = try await sourceContext.driver.backup(sourceContext.target)
                    dump = started
                    input = try await RestoreInput.reading(started.bytes)
                }
            } else {
                let found = try await restorePlan(current.object, driverName: context.driverName, backupTarget: context.backup)
                plan = found
                source = found.source
                // The first bytes before anything is loaded: a wrong identity, a damaged
                // header or a dump of the other engine fails here.
                input = try await RestoreInput.reading(try await found.archive.open(found.stored, expectedSHA256: found.expectedSHA256, identities: found.identities))
            }
            if let input { try await context.driver.restore(context.target, ownerPassword: password, dump: input, emptyFirst: attempt > 1) }
        } catch {
            dump?.bytes.cancel()
            await plan?.shutdown()
            let failure = await restoreFailure(database: current, error, attempt: attempt)
            // Given up: what was loaded goes (a load that is not one transaction, a
            // checksum known only at the end), so a failed restore leaves no half database.
            if (failure as? RuntimeFailure)?.terminal == true, let ownerPassword {
                do {
                    try await context.driver.empty(context.target, ownerPassword: ownerPassword)
                    logger.info("the database is empty again after the failed restore")
                } catch {
                    logger.warning("could not empty the database after the failed restore", metadata: ["error": "\(error)"])
                }
            }
            throw failure
        }
        await plan?.shutdown()
        let fresh = try await readDatabase() ?? current
        let verb = current.object.spec.cloneFrom != nil ? "cloned" : "restored"
        let how = clonePath.isEmpty ? "" : " by \(clonePath)"
        try await writePhase(
            fresh, to: .created, ready: ("True", verb == "cloned" ? Reason.cloned : .restored, "\(verb) from \(source)\(how); connection details are in Secret \(configuration.database)")
        ) {
            var restore = $0.restore ?? RestoreStatus()
            restore.completedAt = KubeTime.now()
            $0.restore = restore
        }
        await events.record(
            database.object, type: .normal, reason: verb == "cloned" ? Reason.cloned : .restored, message: "database \(context.target.databaseName) \(verb) from \(source)\(how)")
    }

    /// The Database `spec.cloneFrom` names, checked: it exists, is Created, has this driver.
    func cloneSource(_ database: Database, driverName: String) async throws -> Resource<Database> {
        guard let name = database.spec.cloneFrom?.database else {
            throw DriverError(reason: .invalidSpec, message: "no spec.cloneFrom", retryable: false)
        }
        let source: Resource<Database>
        do {
            source = try await api.get(Database.self, namespace: configuration.namespace, name: name)
        } catch let error as KubeError where error.code == .notFound {
            throw DriverError(reason: .cloneSourceNotFound, message: "Database \(name) does not exist in namespace \(configuration.namespace)", retryable: true)
        }
        guard source.object.phase == .created, !source.object.isBeingDeleted else {
            throw DriverError(
                reason: .cloneSourceNotReady, message: "Database \(name) is \(source.object.phase?.rawValue ?? "not created"): only a Created Database can be cloned",
                retryable: true)
        }
        let sourceDriver = source.object.status?.driver ?? source.object.spec.driver ?? ""
        guard sourceDriver == driverName else {
            throw DriverError(
                reason: .restoreFormatMismatch, message: "Database \(name) is a \(sourceDriver) database; this one's driver is \(driverName)", retryable: false)
        }
        return source
    }

    /// A failed attempt: said (Event, Ready); given up on for good when no retry
    /// can fix it or the attempts are spent.
    private func restoreFailure(database: Resource<Database>, _ error: any Error, attempt: Int) async -> any Error {
        let classified = Self.classify(error)
        let gaveUp = !classified.retryable || attempt >= configuration.maxRestoreAttempts
        logger.warning("restore attempt failed", metadata: ["reason": "\(classified.reason)", "error": "\(classified.message)", "attempt": "\(attempt)"])
        await events.record(database.object, type: .warning, reason: classified.reason, message: "restore attempt \(attempt): \(classified.message)")
        let reason = gaveUp ? (classified.retryable ? .restoreFailed : classified.reason) : classified.reason
        let message = gaveUp
            ? "the restore failed for good after \(attempt) attempt(s): \(classified.reason): \(classified.message); delete the Database (and fix the source) to try again"
            : "attempt \(attempt) of \(configuration.maxRestoreAttempts) failed, retried: \(classified.message)"
        do {
            if let fresh = try await readDatabase(), fresh.object.phase == .restoring {
                try await writePhase(fresh, to: .restoring, ready: ("False", reason, message)) {
                    if gaveUp {
                        var restore = $0.restore ?? RestoreStatus()
                        restore.failed = true
                        $0.restore = restore
                    }
                }
            }
        } catch {
            logger.info("could not write the restore failure", metadata: ["error": "\(error)"])
        }
        return RuntimeFailure(reason: reason, message: message, terminal: gaveUp)
    }
}
