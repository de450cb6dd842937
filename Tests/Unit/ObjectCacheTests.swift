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

    @Test("withoutManagedFields drops only metadata.managedFields")
    func managedFields() {
        let raw: JSONValue = ["metadata": ["name": "a", "managedFields": [["manager": "kubectl"]], "labels": ["k": "v"]], "spec": ["managedFields": 1]]
        #expect(Watcher<Backup>.Configuration.withoutManagedFields(raw) == ["metadata": ["name": "a", "labels": ["k": "v"]], "spec": ["managedFields": 1]])
        let plain: JSONValue = ["metadata": ["name": "a"]]
        #expect(Watcher<Backup>.Configuration.withoutManagedFields(plain) == plain)
        // A Job's summary drops its spec too.
        #expect(DatabaseOperator.jobSummary(["metadata": ["managedFields": [], "name": "j"], "spec": ["template": [:]], "status": ["active": 1]])
            == ["metadata": ["name": "j"], "status": ["active": 1]])
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
