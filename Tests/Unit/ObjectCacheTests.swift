import Foundation
import KubeModel
import KubeRuntime
import Testing
@testable import Operator

/// The informer cache's indexes, and which Backup changes queue a Database.
@Suite("Indexed caches")
struct ObjectCacheTests {
    static func backup(_ name: String, database: String, namespace: String = "ns", progress: Int64? = nil, phase: BackupPhase? = nil, version: String = "1") throws -> Resource<Backup> {
        var backup = Backup(metadata: ObjectMeta(name: name, namespace: namespace), spec: BackupSpec(database: database))
        backup.metadata.resourceVersion = version
        if progress != nil || phase != nil {
            var status = BackupStatus()
            status.phase = phase
            status.progress = progress.map { BackupProgress(bytes: $0, estimatedTotalBytes: nil, percent: nil, updatedAt: nil) }
            backup.status = status
        }
        return try Resource(object: backup)
    }

    @Test("an index follows applies, moves, deletes and relists")
    func indexes() throws {
        let cache = ObjectCache<Backup>(indexes: ["db": { [$0.object.spec.database] }])
        #expect(!cache.hasSynced)
        cache.apply(.restarted([try Self.backup("a", database: "x"), try Self.backup("b", database: "x"), try Self.backup("c", database: "y")]))
        #expect(cache.hasSynced)
        #expect(Set(cache.indexed("db", "x").map(\.name)) == ["a", "b"])
        cache.apply(.applied(try Self.backup("b", database: "y")))  // moved
        #expect(cache.indexed("db", "x").map(\.name) == ["a"])
        #expect(Set(cache.indexed("db", "y").map(\.name)) == ["b", "c"])
        let changes = cache.changes(applying: .deleted(try Self.backup("c", database: "y")))
        #expect(changes.count == 1 && changes[0].old?.name == "c" && changes[0].new == nil)
        #expect(cache.indexed("db", "y").map(\.name) == ["b"])
        cache.apply(.restarted([try Self.backup("d", database: "x")]))
        #expect(cache.indexed("db", "x").map(\.name) == ["d"])
        #expect(cache.indexed("db", "y").isEmpty)
        #expect(cache.indexed("other", "x").isEmpty)
    }

    @Test("a progress write queues nothing; a phase, a new Backup or a deletion does")
    func progressOnly() throws {
        let running = try Self.backup("a", database: "x", progress: 10, phase: .backingUp, version: "1")
        #expect(DatabaseOperator.onlyProgress(running, try Self.backup("a", database: "x", progress: 20, phase: .backingUp, version: "2")))
        #expect(!DatabaseOperator.onlyProgress(running, try Self.backup("a", database: "x", progress: 20, phase: .completed, version: "2")))
        #expect(!DatabaseOperator.onlyProgress(nil, running))
        #expect(!DatabaseOperator.onlyProgress(running, nil))
    }

    @Test("a Resource gives back the JSON it was read from, fields the type does not know included; a change of the typed object does not touch it; a write on text that does not parse is refused")
    func compactRaw() throws {
        let raw: JSONValue = [
            "apiVersion": "dboperator.io/v1alpha1", "kind": "Backup",
            "metadata": ["name": "a", "namespace": "ns", "resourceVersion": "7", "labels": ["x": "y/z"]],
            "spec": ["database": "shop", "futureField": ["nested": [1, 2.5, true, "ü\u{1}"]]],
        ]
        var resource = try Resource<Backup>(raw: raw)
        #expect(resource.raw == raw)
        #expect(resource.object.spec.database == "shop" && resource.metadata.resourceVersion == "7")
        var copy = resource
        copy.object.spec.database = "other"
        #expect(resource.object.spec.database == "shop", "a copy's change is its own")
        resource.object.metadata.name = "b"
        #expect(resource.name == "b" && resource.raw == raw, "raw stays as read; writes merge the typed change into it")
        #expect(try resource.merging(resource.object)[path: ["spec", "futureField", "nested"]] == [1, 2.5, true, "ü\u{1}"])
        // Text a server sent is kept as it is; text our parser refuses in a field the type
        // does not decode (JSONDecoder skips `[1,]` there) reads as null, and a write
        // built on it is refused rather than dropping that field.
        let sent = Array(#"{"apiVersion":"dboperator.io/v1alpha1","kind":"Backup","metadata":{"name":"a"},"spec":{"database":"shop"}}"#.utf8)
        #expect(try Resource<Backup>(text: sent).raw == JSONValue.decode(sent))
        let odd = Array(#"{"apiVersion":"dboperator.io/v1alpha1","kind":"Backup","metadata":{"name":"a"},"spec":{"database":"shop","futureField":[1,]}}"#.utf8)
        let unparsed = try Resource<Backup>(text: odd)
        #expect(unparsed.raw == .null)
        #expect(throws: (any Error).self) { _ = try unparsed.merging(unparsed.object) }
    }

    @Test("the dropped fields: managedFields only from metadata; a Job's spec too")
    func managedFields() throws {
        let raw: JSONValue = ["metadata": ["name": "a", "managedFields": [["manager": "kubectl"]], "labels": ["k": "v"]], "spec": ["managedFields": 1]]
        let managed = [Watcher<Backup>.Configuration.managedFields]
        #expect(raw.removingMembers(managed) == ["metadata": ["name": "a", "labels": ["k": "v"]], "spec": ["managedFields": 1]])
        #expect(try JSONValue.decode(JSONValue.removingMembers(managed, fromText: Array(raw.encoded()))) == raw.removingMembers(managed))
        let plain: JSONValue = ["metadata": ["name": "a"]]
        #expect(plain.removingMembers(managed) == plain)
        // A Job's record drops its spec too.
        let job: JSONValue = ["metadata": ["managedFields": [], "name": "j"], "spec": ["template": [:]], "status": ["active": 1]]
        #expect(job.removingMembers(DatabaseOperator.jobDroppedFields) == ["metadata": ["name": "j"], "status": ["active": 1]])
    }

    @Test("a cached Job is a JobRecord: the facts and the Database it works for, read from a Job's JSON; no JSON is kept, so no write can start from it")
    func jobRecords() throws {
        var database = Database(metadata: ObjectMeta(name: "orders", namespace: "shop"), spec: DatabaseSpec(driver: "postgresql", connect: ConnectSpec(host: "db")))
        database.metadata.uid = "db-uid"
        database.metadata.generation = 3
        var job = JobTemplate().job(for: database, request: JobRequest(operation: .backup, backup: "nightly", attempt: 1), operatorNamespace: "db-operator")
        job.metadata.resourceVersion = "7"
        let now = Date(timeIntervalSince1970: 1_000_000)
        // Running: as a full Job (the pod template too) arrives from a watch.
        let running = try Resource<JobRecord>(
            text: JSONValue.removingMembers(DatabaseOperator.jobDroppedFields, fromText: Array(JSONEncoder().encode(job))), keepingJSON: false)
        #expect(running.object.facts(now: now) == JobFacts(name: job.metadata.name ?? "", operation: .backup, backup: "nightly", generation: 3, state: .running, finishedAt: nil))
        #expect(running.object.databaseUID == "db-uid" && running.metadata.resourceVersion == "7" && running.namespace == "shop")
        #expect(DatabaseOperator.databaseKey(of: running.object) == ObjectKey(namespace: "shop", name: "orders"))
        #expect(running.raw == .null)
        #expect(throws: ResourceError.self) { try running.merging(running.object) }
        // From a tree (read from it, not written out and parsed again): the same record;
        // kept, its JSON is the tree.
        let tree = try JSONValue.decode(JSONEncoder().encode(job))
        #expect(try Resource<JobRecord>(raw: tree, keepingJSON: false).object == running.object)
        let kept = try Resource<JobRecord>(raw: tree)
        let record0 = try JobRecord(job)
        #expect(kept.raw == tree && kept.object == record0)
        #expect(throws: (any Error).self) { try Resource<JobRecord>(raw: .object(["metadata": .string("x")])) }
        // Finished: the condition's time; without one the completionTime; failed.
        job.status = JobStatus(completionTime: "2026-01-02T03:04:05Z", conditions: [
            JobCondition(type: "Complete", status: "True", lastTransitionTime: "2026-01-02T03:04:06Z"),
        ])
        #expect(try JobRecord(job).facts(now: now)?.finishedAt == KubeTime.parse("2026-01-02T03:04:06Z"))
        #expect(try JobRecord(job).facts(now: now)?.state == .succeeded)
        job.status?.conditions = [JobCondition(type: "Failed", status: "True")]
        #expect(try JobRecord(job).facts(now: now) == JobFacts(
            name: job.metadata.name ?? "", operation: .backup, backup: "nightly", generation: 3, state: .failed, finishedAt: KubeTime.parse("2026-01-02T03:04:05Z")))
        job.status = JobStatus(conditions: [JobCondition(type: "Complete", status: "False"), JobCondition(type: "Failed", status: "True")])
        #expect(try JobRecord(job).facts(now: now)?.finishedAt == now, "a finished Job that says no time counts as finished now")
        // Its own encoding reads back the same; a Job without a known operation gives no facts.
        let record = try JobRecord(job)
        #expect(try JSONDecoder().decode(JobRecord.self, from: JSONEncoder().encode(record)) == record)
        job.metadata.labels?[LabelKey.operation] = "defragment"
        #expect(try JobRecord(job).facts(now: now) == nil)
        job.metadata.labels = nil
        job.metadata.annotations = nil
        job.status = nil
        #expect(try JobRecord(job).databaseUID == nil && JobRecord(job).generation == 0)
        #expect(DatabaseOperator.databaseKey(of: try JobRecord(job)) == ObjectKey(namespace: "shop", name: "orders"), "its owner names the Database")
        // Read from the parsed tree (no Decoder): what is not a Job's object is an error.
        for bad in [#"{"kind":"Job"}"#, #"{"metadata":"x"}"#, #"[]"#, #"{"metadata":{}"#] {
            #expect(throws: (any Error).self, "\(bad)") { try Resource<JobRecord>(text: Array(bad.utf8), keepingJSON: false) }
        }
    }

    @Test("a Database keeps its optional sections out of line: its JSON is the same, nil sections absent, null read as nil")
    func indirectSections() throws {
        var database = Database(metadata: ObjectMeta(name: "orders", namespace: "shop"), spec: DatabaseSpec(driver: "postgresql", connect: ConnectSpec(host: "db")))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let plain = String(decoding: try encoder.encode(database), as: UTF8.self)
        #expect(plain == #"{"apiVersion":"dboperator.io\/v1alpha1","kind":"Database","metadata":{"name":"orders","namespace":"shop"},"spec":{"connect":{"host":"db"},"driver":"postgresql"}}"#)
        let read = try JSONDecoder().decode(Database.self, from: Data(#"{"metadata":{"name":"orders"},"spec":{"driver":"mysql","backupTo":null},"status":null}"#.utf8))
        #expect(read.spec.backupTo == nil && read.status == nil && read.spec.connect == nil && read.spec.driver == "mysql")
        database.status = DatabaseStatus(phase: .created)
        database.status?.conditions = [Condition(type: "Ready", status: "True", reason: .created, message: "m", lastTransitionTime: "t")]
        var copy = database
        copy.spec.connect?.host = "other"
        #expect(database.spec.connect?.host == "db" && copy.spec.connect?.host == "other", "a write to a copy leaves the original as it was")
        #expect(try JSONDecoder().decode(Database.self, from: JSONEncoder().encode(database)) == database)
        #expect(database != copy && Set([database, copy]).count == 2)
        // The point of it: a cached Database's inline size does not carry every section.
        #expect(MemoryLayout<Database>.size <= 512, "Database is \(MemoryLayout<Database>.size) bytes inline")
    }

    @Test("a Database event queues the servers its Databases name, recorded or asked for, once each")
    func serversOfDatabases() throws {
        func database(_ name: String, server: String?, recorded: String? = nil) throws -> Resource<Database> {
            var database = Database(metadata: ObjectMeta(name: name, namespace: "ns"), spec: DatabaseSpec(driver: nil, connect: nil, server: server))
            if let recorded {
                var status = DatabaseStatus()
                status.driver = "postgresql"
                status.server = recorded
                database.status = status
            }
            return try Resource(object: database)
        }
        let event = WatcherEvent<Database>.restarted([
            try database("a", server: "one"), try database("b", server: "one"), try database("c", server: nil),
            try database("d", server: "asked", recorded: "kept"),
        ])
        #expect(DatabaseOperator.serverNames(in: event) == ["one", "kept"])
        #expect(DatabaseOperator.serverNames(in: .deleted(try database("e", server: "gone"))) == ["gone"])
        #expect(DatabaseOperator.serverNames(in: .applied(try database("f", server: nil))).isEmpty)
    }
}
