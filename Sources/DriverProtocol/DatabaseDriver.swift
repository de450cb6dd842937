import NIOCore
import SQLSupport

/// What a driver implements: the work inside one engine, with plain values in and
/// out and no Kubernetes type in sight. Every method is idempotent and safe to run
/// again after a crash at any point (SPEC section 4).
public protocol DatabaseDriver: Sendable {
    /// The engine's port when the spec gives none.
    var defaultPort: Int { get }
    /// The engine's identifier length limits, for names derived from the resource.
    var nameLimits: NameLimits { get }

    /// Converges: the user exists with exactly `password`, the database exists and is
    /// owned by (or fully granted to) the user, closed to everyone else, and the
    /// bookkeeping row records `target.owner`. Throws `DriverError.nameConflict` when
    /// the database or user exists but belongs to someone else. A database retained
    /// by an earlier resource of the same cluster, namespace and name (or of another
    /// cluster, with `target.adopt`) is adopted: recorded as `target.owner`'s, its
    /// user's password reset to `password`.
    @discardableResult
    func create(_ target: DatabaseTarget, password: String) async throws -> CreateOutcome

    /// Ends sessions, drops the database and the user, removes the bookkeeping row —
    /// only when the row records `target.owner`. Nothing of the owner's to drop (never
    /// created, already dropped, or recorded for another resource) is success, and
    /// touches nothing.
    func drop(_ target: DatabaseTarget) async throws

    /// Starts a consistent dump of a database recorded as `target.owner`'s.
    func backup(_ target: DatabaseTarget) async throws -> DatabaseDump

    /// Loads `dump` into the database of `target` (recorded as `target.owner`'s); with
    /// `emptyFirst` (every attempt but the first) the database is dropped and made
    /// again first, so what an earlier attempt loaded goes. The load runs as the
    /// database's own user (`ownerPassword`), so what it creates is that user's. A
    /// dump of another format (another engine's) is refused before anything is loaded.
    func restore(_ target: DatabaseTarget, ownerPassword: String, dump: RestoreInput, emptyFirst: Bool) async throws

    /// `create` for a clone: the same, but a database that does not exist yet is not
    /// made: `copyInside` makes it next, as a copy or (when it cannot copy) empty.
    @discardableResult
    func createForCopy(_ target: DatabaseTarget, password: String) async throws -> CreateOutcome

    /// `create` (`createForCopy` when `forCopy`), connecting to the instance while
    /// `password` runs: the runtime stores the password in the connection Secret
    /// meanwhile, so a Job does not wait for both one after the other. Nothing of
    /// `target` is claimed or made before `password` has returned, and a `password`
    /// that throws leaves the instance as it was (its error is the one thrown).
    @discardableResult
    func create(_ target: DatabaseTarget, forCopy: Bool, password: () async throws -> String) async throws -> CreateOutcome

    /// Makes the database of `target` (not made yet, or empty) a copy of `source`'s
    /// inside the instance, when the engine can do it there (PostgreSQL: `CREATE
    /// DATABASE ... TEMPLATE`, one instance and admin login, the source without
    /// sessions); the copy's objects become the target user's. `.notCopied` leaves the
    /// database empty and the user's (made now if it was not), for the streamed path
    /// (`backup` into `restore`). Both databases must be recorded as their targets' owners'.
    func copyInside(from source: DatabaseTarget, into target: DatabaseTarget, ownerPassword: String) async throws -> InstanceCopy

    /// Drops and makes again, empty and the user's, a database recorded as
    /// `target.owner`'s: what a restore that failed for good had loaded goes.
    func empty(_ target: DatabaseTarget, ownerPassword: String) async throws

    /// The database's size in bytes, for a progress estimate; nil when unknown.
    func estimatedSize(_ target: DatabaseTarget) async throws -> Int64?

    /// Checks that the admin login of `instance` can do the driver's work (logs in,
    /// opens the bookkeeping database) and returns the server's version, e.g. `18.6`.
    func probe(_ instance: ConnectionSettings) async throws -> String
}

/// One database inside an instance, as a driver operation sees it.
public struct DatabaseTarget: Sendable {
    /// The admin login and where the instance listens (`database` unset).
    public var instance: ConnectionSettings
    public var databaseName: String
    public var username: String
    /// The resource the database belongs to, as the bookkeeping row records it.
    public var owner: OwnerRecord
    /// `spec.adopt`: take over a database recorded for the same namespace and name
    /// in another cluster (or in one not recorded), as when moving it on purpose.
    public var adopt: Bool

    public init(instance: ConnectionSettings, databaseName: String, username: String, owner: OwnerRecord, adopt: Bool = false) {
        self.instance = instance
        self.databaseName = databaseName
        self.username = username
        self.owner = owner
        self.adopt = adopt
    }
}

extension DatabaseDriver {
    public func createForCopy(_ target: DatabaseTarget, password: String) async throws -> CreateOutcome {
        try await create(target, password: password)
    }

    /// One after the other: the password first, then the create.
    public func create(_ target: DatabaseTarget, forCopy: Bool, password: () async throws -> String) async throws -> CreateOutcome {
        let password = try await password()
        return forCopy ? try await createForCopy(target, password: password) : try await create(target, password: password)
    }

    public func copyInside(from source: DatabaseTarget, into target: DatabaseTarget, ownerPassword: String) async throws -> InstanceCopy {
        .notCopied(why: "this driver cannot copy a database inside the instance")
    }
}

/// What `copyInside` did: the path a clone took, said in its Event.
public enum InstanceCopy: Sendable, Hashable {
    /// Copied; `how` names the statement, e.g. `CREATE DATABASE ... TEMPLATE`.
    case copied(how: String)
    /// Not copied, for the reason given; the database is as it was.
    case notCopied(why: String)
}

/// What `create` found.
public enum CreateOutcome: Sendable, Hashable {
    /// Made now, or already the owner's.
    case ready
    /// Retained by an earlier resource (`from`), and now the owner's.
    case adopted(from: OwnerRecord)
}

/// The owning resource of a database: what the bookkeeping table stores.
public struct OwnerRecord: Sendable, Hashable, CustomStringConvertible {
    public var uid: String
    public var namespace: String
    public var name: String
    /// The cluster's identity (the UID of its `kube-system` namespace); empty when
    /// unknown (records made before it was kept, or an operator that cannot read it).
    public var cluster: String
    /// The resource's creationTimestamp; empty when unknown.
    public var createdAt: String

    public init(uid: String, namespace: String, name: String, cluster: String = "", createdAt: String = "") {
        self.uid = uid
        self.namespace = namespace
        self.name = name
        self.cluster = cluster
        self.createdAt = createdAt
    }

    public var description: String { "\(namespace)/\(name) (uid \(uid))" }
}

/// A dump in progress: its bytes, and how to store them.
/// What a restore loads: the plain dump (decrypted, decompressed) as a stream.
public struct RestoreInput: Sendable {
    /// The first bytes, read before anything is loaded (the format is checked on them).
    public var head: ByteBuffer
    /// The rest; the sequence throws when the download fails (or the object is not
    /// the one recorded), and the load is then abandoned.
    public var rest: DumpStream

    public init(head: ByteBuffer, rest: DumpStream) {
        self.head = head
        self.rest = rest
    }

    /// Whether the dump is a pg_dump custom-format archive (magic `PGDMP`).
    public var isPostgreSQLArchive: Bool { head.readableBytesView.starts(with: Array("PGDMP".utf8)) }

    /// `source` as its first bytes (at least 64, or all there is), read now, and the
    /// rest: a source that fails at once (a wrong identity, a damaged header) fails
    /// here, before anything is loaded.
    public static func reading<Source: AsyncSequence & Sendable>(_ source: Source) async throws -> RestoreInput where Source.Element == ByteBuffer {
        let box = IteratorBox(source.makeAsyncIterator())
        var head = ByteBuffer()
        while head.readableBytes < 64, var chunk = try await box.next() { head.writeBuffer(&chunk) }
        return RestoreInput(head: head, rest: DumpStream(AsyncThrowingStream<ByteBuffer, any Error>(unfolding: { try await box.next() })))
    }
}

/// An iterator pulled by the one task that reads it (the load), handed over once.
private final class IteratorBox<Iterator: AsyncIteratorProtocol>: @unchecked Sendable where Iterator.Element == ByteBuffer {
    private var iterator: Iterator

    init(_ iterator: Iterator) { self.iterator = iterator }

    func next() async throws -> ByteBuffer? { try await iterator.next() }
}

public struct DatabaseDump: Sendable {
    /// `pgdump`, `sql`: the object key's extension before any compression suffix.
    public var fileExtension: String
    /// Whether the runtime should compress the bytes (in parallel, as the Database's
    /// `backupTo.compression` says) before storing them.
    public var wantsCompression: Bool
    /// The dump's output; the sequence throws if the dump tool fails.
    public var bytes: DumpStream
    /// The server's version ("18.6", "10.11.14-MariaDB"), for the backup's manifest.
    public var serverVersion: String?
    /// The dump tool and its version ("pg_dump 18.6"), for the backup's manifest.
    public var tool: String?

    public init(fileExtension: String, wantsCompression: Bool, bytes: DumpStream, serverVersion: String? = nil, tool: String? = nil) {
        self.fileExtension = fileExtension
        self.wantsCompression = wantsCompression
        self.bytes = bytes
        self.serverVersion = serverVersion
        self.tool = tool
    }
}

/// Identifier length limits of an engine, in bytes.
public struct NameLimits: Sendable, Hashable {
    public var database: Int
    public var user: Int

    public init(database: Int, user: Int) {
        self.database = database
        self.user = user
    }

    /// PostgreSQL: NAMEDATALEN - 1.
    public static let postgresql = NameLimits(database: 63, user: 63)
    /// MySQL and MariaDB: databases 64, users 32 (MySQL 5.7+/MariaDB 10.x user names are 80 on MariaDB; 32 is the common floor).
    public static let mysql = NameLimits(database: 64, user: 32)
}
