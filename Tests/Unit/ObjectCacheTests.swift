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
}
