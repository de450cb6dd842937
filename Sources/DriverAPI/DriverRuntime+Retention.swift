import BackupData
import DriverProtocol
import Foundation
import KubeClient
import KubeModel
import ObjectStore

/// Retention's deletions (operation `expire-backup`, SPEC section 14): the operator
/// decides which Completed Backups of a BackupSchedule expire; a Job of the Database
/// deletes each one's object and manifest from the Database's backup target, then the
/// Backup. A failure is said on the Backup (condition `Expiring=False` with the cause,
/// a Warning Event) for the schedule's status, and thrown for the Job to be retried.
extension DriverRuntime {
    func expireBackup() async throws {
        guard let name = configuration.backup else {
            throw RuntimeFailure(reason: .invalidJob, message: "an expire-backup Job needs DB_OPERATOR_BACKUP", terminal: true)
        }
        guard let backup = try await readBackup(name) else {
            logger.info("the Backup is gone; nothing to expire", metadata: ["k8s.backup": "\(name)"])
            return
        }
        // Only what a schedule made, and only a Completed one: anything else is not retention's.
        guard let schedule = backup.object.metadata.labels?[LabelKey.schedule], backup.phase == .completed,
            let destination = backup.object.status?.destination
        else {
            throw await expiryFailure(backup, DriverError(
                reason: .notExpirable, message: "Backup \(name) is not a Completed Backup of a BackupSchedule; retention leaves it alone", retryable: false))
        }
        guard let database = try await readDatabase() else {
            logger.info("the Database is gone, and with it the backup target: the Backup stays", metadata: ["k8s.backup": "\(name)"])
            return
        }
        do {
            let server = try await server(of: database.object)
            guard let (target, fromServer) = database.object.backupTarget(server: server), let location = target.s3Spec?.location else {
                throw DriverError(reason: .noBackupTarget, message: "the Database has no spec.backupTo (and its server none): the object \(destination) cannot be reached", retryable: true)
            }
            guard let key = location.key(ofDestination: destination, namespace: configuration.namespace, database: configuration.database, backup: name) else {
                throw DriverError(
                    reason: .backupTargetChanged,
                    message: "\(destination) is not in the Database's backup target (s3://\(location.bucket)/\(location.prefix)) any more: delete the object and the Backup by hand",
                    retryable: false)
            }
            let namespace = fromServer ? (configuration.operatorNamespace ?? configuration.namespace) : configuration.namespace
            let archive = BackupArchive(store: try makeStore(location, try await s3Access(location, namespace: namespace)), location: location, logger: logger)
            do {
                try await archive.delete(key: key)
            } catch {
                await archive.shutdown()
                throw error
            }
            await archive.shutdown()
        } catch {
            throw await expiryFailure(backup, error)
        }
        do {
            try await api.delete(Backup.resource, namespace: backup.namespace, name: name, propagation: nil, preconditionUID: backup.metadata.uid)
        } catch let error as KubeError where error.code == .notFound || error.code == .conflict {
            // Gone already, or another Backup of that name since.
        }
        logger.info("expired", metadata: ["k8s.backup": "\(name)", "schedule": "\(schedule)", "destination": "\(destination)"])
        await events.record(
            backup.object, type: .normal, reason: .expired,
            message: "retention of BackupSchedule \(schedule): deleted \(destination) and its manifest, then this Backup")
    }

    /// Says why an expiry failed (condition `Expiring=False`, Warning Event, log) and
    /// returns the error to throw.
    private func expiryFailure(_ backup: Resource<Backup>, _ error: any Error) async -> RuntimeFailure {
        let classified = Self.classify(error)
        logger.warning("expiry failed", metadata: ["k8s.backup": "\(backup.name)", "reason": "\(classified.reason)", "error": "\(classified.message)"])
        await events.record(backup.object, type: .warning, reason: classified.reason, message: "retention cannot delete this backup: \(classified.message)")
        do {
            _ = try await writeBackupFresh(backup.name, transition: nil) {
                $0.conditions = Self.setting(
                    $0.conditions, type: ConditionType.expiring, ready: ("False", classified.reason, classified.message), generation: backup.metadata.generation)
            }
        } catch {
            logger.info("could not write the expiry condition", metadata: ["error": "\(error)"])
        }
        return RuntimeFailure(reason: classified.reason, message: classified.message, terminal: !classified.retryable)
    }
}
