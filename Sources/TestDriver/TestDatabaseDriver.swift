import DriverProtocol
import Foundation
import KubeModel
import NIOCore
import SQLSupport

/// A driver for tests that needs no database server: each "instance" is a directory
/// (named after the host) of JSON files, one per database, holding the owner and the
/// password. It keeps the rules a real driver keeps — idempotent create and drop,
/// `NameConflict` for a name owned by another resource, drop and backup only for the
/// owner — so the runtime's lifecycle is proven without PostgreSQL or MySQL.
///
/// Behaviour per database is steered by flag files in `<root>/flags/`:
/// `<database>.fail-create`, `<database>.fail-backup`, `<database>.backup-seconds`
/// (spread the dump over that many seconds), `<database>.backup-bytes`.
///
/// Programs register it only when asked (`--enable-test-driver`), so it cannot be
/// selected in a production deployment by accident.
public struct TestDatabaseDriver: DatabaseDriver {
    public static let name = "test"
    public let root: URL

    public init(root: String) { self.root = URL(fileURLWithPath: root) }

    public var defaultPort: Int { 1 }
    public var nameLimits: NameLimits { NameLimits(database: 63, user: 32) }

    /// What an instance stores for one database.
    public struct Record: Codable, Sendable, Hashable {
        public var ownerUID: String
        public var namespace: String
        public var name: String
        public var username: String
        public var password: String
        public var cluster: String?
        public var createdAt: String?
        public var adoptedFrom: String?
        /// The first line of the dump last restored into it, and its size.
        public var restoredFrom: String?
        public var restoredBytes: Int?
    }

    @discardableResult
    public func create(_ target: DatabaseTarget, password: String) async throws -> CreateOutcome {
        if flag(target, "fail-create") != nil {
            throw DriverError(reason: .instanceUnreachable, message: "test driver: \(target.instance.host) is unreachable (flag fail-create)", retryable: true)
        }
        var adoptedFrom: OwnerRecord?
        if let existing = try record(target) {
            let owner = OwnerRecord(uid: existing.ownerUID, namespace: existing.namespace, name: existing.name, cluster: existing.cluster ?? "", createdAt: existing.createdAt ?? "")
            switch Adoption.decide(record: owner, recordedUser: existing.username, target: target) {
            case .conflict(let message): throw DriverError.nameConflict(message)
            case .ours: adoptedFrom = existing.adoptedFrom.map { OwnerRecord(uid: $0, namespace: existing.namespace, name: existing.name) }
            case .adopt: adoptedFrom = owner
            }
        }
        var record = Record(ownerUID: target.owner.uid, namespace: target.owner.namespace, name: target.owner.name, username: target.username, password: password)
        record.cluster = target.owner.cluster
        record.createdAt = target.owner.createdAt
        record.adoptedFrom = adoptedFrom?.uid
        let data = try JSONEncoder().encode(record)
        try FileManager.default.createDirectory(at: instance(target), withIntermediateDirectories: true)
        try data.write(to: file(target), options: .atomic)
        return adoptedFrom.map { .adopted(from: $0) } ?? .ready
    }

    public func drop(_ target: DatabaseTarget) async throws {
        guard let existing = try record(target) else { return }
        // Someone else's: nothing of ours to drop.
        guard existing.ownerUID == target.owner.uid else { return }
        try FileManager.default.removeItem(at: file(target))
    }

    public func backup(_ target: DatabaseTarget) async throws -> DatabaseDump {
        guard let existing = try record(target), existing.ownerUID == target.owner.uid else {
            throw DriverError.notOwned("database \(target.databaseName) is not recorded as \(target.owner)'s")
        }
        let total = flag(target, "backup-bytes").flatMap(Int.init) ?? (1 << 20)
        let seconds = flag(target, "backup-seconds").flatMap(Double.init) ?? 0
        let fail = flag(target, "fail-backup") != nil
        let header = "test-driver dump of \(target.databaseName) for \(target.owner)\n"
        let bytes = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
            let task = Task {
                let chunk = 64 << 10
                let chunks = max(1, (total + chunk - 1) / chunk)
                var buffer = ByteBuffer(string: header)
                continuation.yield(buffer)
                var produced = 0
                for index in 0..<chunks {
                    if fail, index == chunks / 2 {
                        continuation.finish(throwing: DriverError.toolFailed("test driver: the dump tool exited with status 1 (flag fail-backup)"))
                        return
                    }
                    let count = min(chunk, total - produced)
                    buffer = ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: (produced + $0) &* 2654435761 >> 13) })
                    produced += count
                    continuation.yield(buffer)
                    if seconds > 0 { try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000) / Int64(chunks))) }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
        return DatabaseDump(fileExtension: "testdump", wantsCompression: false, bytes: DumpStream(bytes))
    }

    /// Reads the whole dump (a test-driver dump: its first line says so) and records
    /// its first line and size with the database.
    public func restore(_ target: DatabaseTarget, ownerPassword: String, dump: RestoreInput, emptyFirst: Bool) async throws {
        guard var existing = try record(target), existing.ownerUID == target.owner.uid else {
            throw DriverError.notOwned("database \(target.databaseName) is not recorded as \(target.owner)'s")
        }
        guard dump.head.readableBytesView.starts(with: Array("test-driver dump of ".utf8)) else {
            throw DriverError(reason: .restoreFormatMismatch, message: "test driver: not a test-driver dump", retryable: false)
        }
        var size = dump.head.readableBytes
        for try await chunk in dump.rest { size += chunk.readableBytes }
        existing.restoredFrom = String(decoding: dump.head.readableBytesView.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        existing.restoredBytes = size
        try JSONEncoder().encode(existing).write(to: file(target), options: .atomic)
    }

    /// Forgets what a restore loaded.
    public func empty(_ target: DatabaseTarget, ownerPassword: String) async throws {
        guard var existing = try record(target), existing.ownerUID == target.owner.uid else { return }
        existing.restoredFrom = nil
        existing.restoredBytes = nil
        try JSONEncoder().encode(existing).write(to: file(target), options: .atomic)
    }

    public func estimatedSize(_ target: DatabaseTarget) async throws -> Int64? {
        Int64(flag(target, "backup-bytes").flatMap(Int.init) ?? (1 << 20))
    }

    /// Fails with the flag `<host>.fail-probe` (in `<root>/flags/`), else reports version `test-1`.
    public func probe(_ instance: ConnectionSettings) async throws -> String {
        if FileManager.default.fileExists(atPath: root.appendingPathComponent("flags/\(instance.host).fail-probe").path) {
            throw DriverError(reason: .adminLoginFailed, message: "test driver: the admin login was refused (flag fail-probe)", retryable: false)
        }
        return "test-1"
    }

    // MARK: Files

    func instance(_ target: DatabaseTarget) -> URL { root.appendingPathComponent("instances").appendingPathComponent(target.instance.host) }

    func file(_ target: DatabaseTarget) -> URL { instance(target).appendingPathComponent("\(target.databaseName).json") }

    /// The record of the target's database, if it exists.
    public func record(_ target: DatabaseTarget) throws -> Record? {
        guard let data = FileManager.default.contents(atPath: file(target).path) else { return nil }
        return try JSONDecoder().decode(Record.self, from: data)
    }

    func flag(_ target: DatabaseTarget, _ name: String) -> String? {
        let path = root.appendingPathComponent("flags").appendingPathComponent("\(target.databaseName).\(name)").path
        return FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}
