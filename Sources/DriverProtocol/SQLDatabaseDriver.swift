import KubeModel
import SQLSupport

/// The lifecycle of a database in a SQL instance, one piece of code for every
/// engine (SPEC sections 2.4 and 4). Create claims the name in the bookkeeping table
/// first, then converges the user and the database, so a crash between any two
/// statements leaves a state the next run finishes; drop and backup act only on a
/// database recorded as the caller's.
public struct SQLDatabaseDriver<Engine: SQLEngine>: DatabaseDriver {
    public let engine: Engine

    public init(engine: Engine) { self.engine = engine }

    public var defaultPort: Int { engine.defaultPort }
    public var nameLimits: NameLimits { engine.nameLimits }

    /// What the bookkeeping table says about a database.
    public struct Record: Sendable, Hashable {
        /// The name the row is kept under (a name recorded before names were folded may differ).
        public var databaseName: String
        public var username: String
        public var owner: OwnerRecord
        /// The resource it was adopted from, if it was.
        public var adoptedFrom: OwnerRecord?
    }

    @discardableResult
    public func create(_ target: DatabaseTarget, password: String) async throws -> CreateOutcome {
        try await create(target, forCopy: false) { password }
    }

    @discardableResult
    public func createForCopy(_ target: DatabaseTarget, password: String) async throws -> CreateOutcome {
        try await create(target, forCopy: true) { password }
    }

    /// `forCopy` leaves a database that does not exist yet (and is not adopted) to
    /// `copyInside`, which makes it as a copy: no empty database to drop. The sessions
    /// are opened (the bookkeeping set up, which is the instance's, not the target's)
    /// while `password` runs; the target is claimed only after it.
    @discardableResult
    public func create(_ target: DatabaseTarget, forCopy: Bool, password: () async throws -> String) async throws -> CreateOutcome {
        try checkNames(target)
        async let opened = sessions(target)
        let password = try await password()
        let (admin, book) = try await opened
        let asGiven = target.databaseName
        let target = try await canonical(target, admin)
        var outcome = CreateOutcome.ready
        try await namingMissingRights {
            // Claimed (or adopted) first; the user's password is then set to the
            // target's, so an adopted database's old password stops working.
            outcome = try await claim(target, admin: admin, book: book, asGiven: asGiven)
            try await engine.ensureUser(admin, target.username, password: password)
            let exists = !forCopy || outcome != .ready ? true : try await engine.databaseExists(admin, target.databaseName)
            if exists {
                try await engine.ensureDatabase(admin, target.databaseName, user: target.username)
            }
        }
        return outcome
    }

    /// The admin session and the bookkeeping one; a login that may not use the
    /// bookkeeping is told why (one admin login per instance: it belongs to the
    /// login that made it).
    func sessions(_ target: DatabaseTarget) async throws -> (admin: Engine.Session, book: Engine.Session) {
        do {
            return try await engine.connectWithBookkeeping(target.instance)
        } catch let error as SQLError where error.kind == .permissionDenied {
            throw DriverError(
                reason: .permissionDenied,
                message: "the admin login cannot use the bookkeeping database \(InstanceNames.bookkeepingDatabase) (was it made by another login? use one admin login per instance, or make this login a member of that one): \(error.description)",
                retryable: false)
        }
    }

    /// A statement the admin login may not run says which rights the login needs.
    func namingMissingRights(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as SQLError where error.kind == .permissionDenied {
            throw DriverError(
                reason: .permissionDenied,
                message: "\(error.description); the admin login needs \(engine.requiredAdminRights)",
                retryable: false)
        }
    }

    public func probe(_ instance: ConnectionSettings) async throws -> String {
        let probe = DatabaseTarget(
            instance: instance, databaseName: InstanceNames.bookkeepingDatabase, username: "", owner: OwnerRecord(uid: "", namespace: "", name: ""))
        let (admin, _) = try await sessions(probe)
        return try await engine.serverVersion(admin)
    }

    public func drop(_ target: DatabaseTarget) async throws {
        try checkNames(target)
        let (admin, book) = try await sessions(target)
        let asGiven = target.databaseName
        let target = try await canonical(target, admin)
        guard let record = try await record(of: target.databaseName, asGiven: asGiven, book: book) else { return }  // never created, or already dropped
        // Someone else's database: nothing of ours to drop, and theirs stays untouched.
        guard record.owner.uid == target.owner.uid else { return }
        let unended = try await engine.endSessions(admin, database: target.databaseName, user: record.username)
        do {
            try await engine.dropDatabase(admin, target.databaseName)
        } catch let error as SQLError where !unended.isEmpty && error.kind != .connectionLost && error.kind != .unreachable {
            throw DriverError(
                reason: .sessionsNotEnded,
                message: "could not end \(unended.count) session(s) of user \(record.username) (\(unended.joined(separator: "; "))), and the drop then failed waiting for their locks: \(error.message); give the admin login \(engine.sessionAdminRight), or end those sessions; the drop is tried again",
                retryable: true)
        }
        try await engine.dropUser(admin, record.username)
        try await book.query(
            "DELETE FROM \(engine.bookkeepingTable) WHERE database_name IN (\(engine.placeholder(1)), \(engine.placeholder(2))) AND owner_uid = \(engine.placeholder(3))",
            [target.databaseName, asGiven, target.owner.uid])
    }

    /// The admin session, the target with its canonical name, and its bookkeeping
    /// record, which must be `target.owner`'s (else `NotOwned`, `refusal` saying what is not done).
    func owned(_ target: DatabaseTarget, refusal: String) async throws -> (admin: Engine.Session, target: DatabaseTarget, record: Record) {
        try checkNames(target)
        let (admin, book) = try await sessions(target)
        let (canonical, record) = try await owned(target, refusal: refusal, admin: admin, book: book)
        return (admin, canonical, record)
    }

    /// `owned` on sessions already open.
    func owned(_ target: DatabaseTarget, refusal: String, admin: Engine.Session, book: Engine.Session) async throws -> (target: DatabaseTarget, record: Record) {
        try checkNames(target)
        let asGiven = target.databaseName
        let target = try await canonical(target, admin)
        guard let record = try await record(of: target.databaseName, asGiven: asGiven, book: book), record.owner.uid == target.owner.uid else {
            throw DriverError.notOwned("database \(target.databaseName) is not recorded as \(target.owner)'s; \(refusal)")
        }
        return (target, record)
    }

    public func backup(_ target: DatabaseTarget) async throws -> DatabaseDump {
        let (admin, target, _) = try await owned(target, refusal: "it is not backed up")
        let command = try await engine.dumpCommand(admin, target)
        return DatabaseDump(
            fileExtension: command.fileExtension, wantsCompression: command.wantsCompression,
            bytes: try DumpProcess.start(command), serverVersion: command.serverVersion, tool: command.tool)
    }

    public func restore(_ target: DatabaseTarget, ownerPassword: String, dump: RestoreInput, emptyFirst: Bool) async throws {
        try engine.checkRestoreFormat(dump)
        let (admin, target, record) = try await owned(target, refusal: "nothing is restored into it")
        // Empty, whatever an earlier attempt loaded. Not on a first attempt: PostgreSQL's
        // DROP DATABASE forces a checkpoint, seconds on a busy server.
        if emptyFirst { try await empty(target.databaseName, user: record.username, password: ownerPassword, admin: admin) }
        var owner = target
        owner.username = record.username
        try await RestoreProcess.run(try await engine.restoreCommand(admin, owner, ownerPassword: ownerPassword), input: dump)
    }

    /// Only between databases of one instance reached with one admin login: that
    /// login needs rights on both, and both are in the one bookkeeping table.
    public func copyInside(from source: DatabaseTarget, into target: DatabaseTarget, ownerPassword: String) async throws -> InstanceCopy {
        try checkNames(target)
        let (admin, book) = try await sessions(target)
        let (target, record) = try await owned(target, refusal: "nothing is copied into it", admin: admin, book: book)
        var why = "the source is on another instance, or reached with another admin login"
        try await namingMissingRights {
            if source.instance.host == target.instance.host, source.instance.port == target.instance.port, source.instance.user == target.instance.user {
                let (source, sourceRecord) = try await owned(source, refusal: "it is not copied", admin: admin, book: book)
                guard let refused = try await engine.copyDatabase(
                    admin, instance: target.instance, book: book, from: source.databaseName, sourceUser: sourceRecord.username, into: target.databaseName,
                    user: record.username, password: ownerPassword)
                else {
                    why = ""
                    return
                }
                why = refused
            }
            // Not copied: the database as `create` would have made it, for the streamed path.
            try await engine.ensureDatabase(admin, target.databaseName, user: record.username)
        }
        return why.isEmpty ? .copied(how: "CREATE DATABASE ... TEMPLATE \(source.databaseName) on the instance") : .notCopied(why: why)
    }

    public func empty(_ target: DatabaseTarget, ownerPassword: String) async throws {
        let (admin, target, record) = try await owned(target, refusal: "it is not emptied")
        try await empty(target.databaseName, user: record.username, password: ownerPassword, admin: admin)
    }

    /// Sessions ended, the database dropped and made again (the user's), the user's
    /// login back (ending sessions took it).
    private func empty(_ database: String, user: String, password: String, admin: Engine.Session) async throws {
        _ = try await engine.endSessions(admin, database: database, user: user)
        try await engine.dropDatabase(admin, database)
        try await engine.ensureDatabase(admin, database, user: user)
        try await engine.ensureUser(admin, user, password: password)
    }

    public func estimatedSize(_ target: DatabaseTarget) async throws -> Int64? {
        let admin = try await engine.connect(target.instance)
        return try await engine.size(admin, database: try await engine.canonicalDatabaseName(admin, target.databaseName))
    }

    /// The target with its database name as the server compares it, checked again
    /// (`DB_OPERATOR` is the bookkeeping database where names fold). Every name the
    /// driver looks up, records or acts on is this one.
    func canonical(_ target: DatabaseTarget, _ admin: Engine.Session) async throws -> DatabaseTarget {
        var canonical = target
        canonical.databaseName = try await engine.canonicalDatabaseName(admin, target.databaseName)
        if canonical.databaseName != target.databaseName { try checkNames(canonical) }
        return canonical
    }

    // MARK: Tenant isolation

    /// Records the database as the target's, or throws `NameConflict` when the name
    /// (or the user) is someone else's: recorded for another resource (see
    /// `Adoption` for the one that is taken over), or existing without a record at all.
    @discardableResult
    public func claim(_ target: DatabaseTarget, admin: Engine.Session, book: Engine.Session, asGiven: String? = nil) async throws -> CreateOutcome {
        let p = engine.placeholder
        // Each write is a compare-and-swap; a run that loses one decides again.
        for _ in 0..<5 {
            if let record = try await record(of: target.databaseName, asGiven: asGiven ?? target.databaseName, book: book) {
                switch Adoption.decide(record: record.owner, recordedUser: record.username, target: target) {
                case .conflict(let message):
                    throw DriverError.nameConflict(message)
                case .ours:
                    if record.owner.cluster.isEmpty && !target.owner.cluster.isEmpty {
                        // Made before clusters were recorded: record it now, so the row
                        // can be adopted after a Retain.
                        try await book.query(
                            "UPDATE \(engine.bookkeepingTable) SET cluster_id = \(p(1)), owner_created = \(p(2)) WHERE database_name = \(p(3)) AND owner_uid = \(p(4))",
                            [target.owner.cluster, target.owner.createdAt, record.databaseName, target.owner.uid])
                    }
                    return record.adoptedFrom.map { .adopted(from: $0) } ?? .ready
                case .adopt:
                    try await book.query(
                        """
                        UPDATE \(engine.bookkeepingTable) SET owner_uid = \(p(1)), cluster_id = \(p(2)), owner_created = \(p(3)), \
                        adopted_from_uid = \(p(4)), adopted_from_created = \(p(5)), adopted_from_cluster = \(p(6)) \
                        WHERE database_name = \(p(7)) AND owner_uid = \(p(8))
                        """,
                        [target.owner.uid, target.owner.cluster, target.owner.createdAt, record.owner.uid, record.owner.createdAt, record.owner.cluster,
                         record.databaseName, record.owner.uid])
                    continue
                }
            }
            try await refuseUserOfAnother(target, book: book)
            if try await engine.databaseExists(admin, target.databaseName) {
                throw DriverError.nameConflict("database \(target.databaseName) already exists in the instance and was not created by this operator")
            }
            if try await engine.userExists(admin, target.username) {
                throw DriverError.nameConflict("user \(target.username) already exists in the instance and was not created by this operator")
            }
            do {
                try await book.query(
                    """
                    INSERT INTO \(engine.bookkeepingTable) (database_name, username, owner_uid, owner_namespace, owner_name, cluster_id, owner_created) \
                    VALUES (\(p(1)), \(p(2)), \(p(3)), \(p(4)), \(p(5)), \(p(6)), \(p(7)))
                    """,
                    [target.databaseName, target.username, target.owner.uid, target.owner.namespace, target.owner.name, target.owner.cluster, target.owner.createdAt])
                return .ready
            } catch {
                // Another run claimed the database or the user (both are unique in the
                // table) between the reads and the insert: decide again.
                if try await record(of: target.databaseName, book: book) != nil { continue }
                try await refuseUserOfAnother(target, book: book)
                throw error
            }
        }
        throw DriverError(
            reason: .claimContended, message: "the bookkeeping row of database \(target.databaseName) kept changing while it was claimed; trying again",
            retryable: true)
    }

    /// `NameConflict` when the user is recorded for another database.
    func refuseUserOfAnother(_ target: DatabaseTarget, book: Engine.Session) async throws {
        let userRows = try await book.query(
            "SELECT database_name, owner_namespace, owner_name FROM \(engine.bookkeepingTable) WHERE username = \(engine.placeholder(1))", [target.username])
        if let row = userRows.first, row[0] != target.databaseName {
            throw DriverError.nameConflict("user \(target.username) belongs to database \(row[0] ?? "") of \(row[1] ?? "")/\(row[2] ?? "")")
        }
    }

    /// The record of `database`, else (a name recorded before names were folded, on a
    /// server that folds them) the record of the name as the resource gave it.
    func record(of database: String, asGiven: String, book: Engine.Session) async throws -> Record? {
        if let found = try await record(of: database, book: book) { return found }
        return asGiven == database ? nil : try await record(of: asGiven, book: book)
    }

    func record(of database: String, book: Engine.Session) async throws -> Record? {
        let rows: [[String?]]
        do {
            rows = try await book.query(
                """
                SELECT database_name, username, owner_uid, owner_namespace, owner_name, cluster_id, owner_created, \
                adopted_from_uid, adopted_from_created, adopted_from_cluster \
                FROM \(engine.bookkeepingTable) WHERE database_name = \(engine.placeholder(1))
                """, [database])
        } catch let error as SQLError where error.kind == .permissionDenied {
            throw DriverError(
                reason: .permissionDenied,
                message: "the admin login cannot read the bookkeeping table in database \(InstanceNames.bookkeepingDatabase) (was it made by another login? use one admin login per instance): \(error.message)",
                retryable: false)
        }
        guard let row = rows.first else { return nil }
        let column = { (index: Int) in row[index] ?? "" }
        let owner = OwnerRecord(uid: column(2), namespace: column(3), name: column(4), cluster: column(5), createdAt: column(6))
        let adoptedFrom = column(7).isEmpty
            ? nil : OwnerRecord(uid: column(7), namespace: owner.namespace, name: owner.name, cluster: column(9), createdAt: column(8))
        return Record(databaseName: column(0), username: column(1), owner: owner, adoptedFrom: adoptedFrom)
    }

    /// Names the engine would truncate or cannot hold are refused, never shortened
    /// here: a truncated name could be someone else's.
    func checkNames(_ target: DatabaseTarget) throws {
        for (kind, name, limit) in [("database", target.databaseName, nameLimits.database), ("user", target.username, nameLimits.user)] {
            guard !name.isEmpty, name.utf8.count <= limit, !name.utf8.contains(0) else {
                throw DriverError(reason: .invalidSpec, message: "the \(kind) name is empty, longer than the engine's \(limit) bytes, or holds a NUL", retryable: false)
            }
        }
        guard target.databaseName != InstanceNames.bookkeepingDatabase else {
            throw DriverError(reason: .invalidSpec, message: "the database name \(InstanceNames.bookkeepingDatabase) is reserved", retryable: false)
        }
    }
}
