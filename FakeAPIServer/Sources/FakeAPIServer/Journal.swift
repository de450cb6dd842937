// Persistence of the fake API server's objects (`--data-dir`), so that
// `db-operator dev` keeps its Databases, Secrets and kubeconfigs across restarts.
//
// Layout of the data directory:
//   lock                   flock'd while a server uses the directory
//   identity.json          the CA, the serving certificate and key, the tokens (0600)
//   snapshot-<N>.records   every object as of the start of segment N
//   wal-<N>.log            the committed changes after it, in order
//
// Both kinds of file are a sequence of records framed as
// [UInt32 length, little endian][UInt32 CRC-32 of the payload][payload: JSON].
// A payload is {"op":"put","group","plural","key","object"}, {"op":"delete",...}
// or {"op":"reserve","revision"}.
//
// Rules:
// - Every committed change is appended under the storage lock, so the log has the
//   order of the resourceVersions. A thread of its own writes and fsyncs the log
//   in batches (group commit); a request is answered only once its change is on
//   disk, so nothing acknowledged is lost.
// - resourceVersions are handed out from reserved blocks: a `reserve` record is on
//   disk before any version in its block is seen. A restart continues after the
//   last reservation, so a version is never given twice, even when a change that
//   a watcher saw was lost with the process; watchers from before get 410 Gone.
// - After enough changes the log is rotated: a new segment starts and a snapshot
//   of every object is written next to it (temporary file, fsync, rename), then
//   the older files are removed. A restart reads the newest snapshot and the
//   segments from its number on; a torn record at the end of a segment (a kill
//   during a write) and everything after it in that segment are discarded.

import Foundation
import KubeModel
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The append-only log of committed changes, with its snapshots and its flusher.
///
/// `@unchecked Sendable`: every mutable field is guarded by `condition`.
final class Journal: @unchecked Sendable {
    /// What a data directory held when it was opened.
    struct Restored: Sendable {
        var objects: [(StoreKey, String, JSONValue)] = []
        /// The last reserved resourceVersion (0 for a new directory).
        var revision: UInt64 = 0
        /// Whether a torn or corrupt record was discarded.
        var discardedTornRecord = false
    }

    /// A data directory that another server holds.
    struct DirectoryInUse: Error, CustomStringConvertible {
        let path: String
        var description: String { "data directory \(path) is in use by another fake API server (its lock file is held)" }
    }

    /// A write to the data directory failed; the change it carried may not be on disk.
    struct WriteFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// How many resourceVersions a `reserve` record covers.
    static let reservationBlock: UInt64 = 1000

    let directory: String
    private let logger: Logger
    /// Records in a segment after which the log is rotated and a snapshot written.
    private let recordsPerSegment: Int
    /// Waited before each batch is written: a slow disk, for tests.
    private let flushDelay: Duration
    private let lockDescriptor: Int32

    private let condition = NSCondition()
    private var pending: [Entry] = []
    private var appended: UInt64 = 0
    private var durable: UInt64 = 0
    private var waiters: [(UInt64, CheckedContinuation<Void, any Error>)] = []
    private var failure: WriteFailed?
    private var closed = false
    private var finished = false
    private var recordsInSegment = 0
    private var segment: Int

    private enum Entry {
        case record([UInt8])
        /// Starts segment `number`, with a snapshot of these objects.
        case rotate(number: Int, objects: [StoreKey: [String: JSONValue]], revision: UInt64)
    }

    /// Opens (creating it if needed) and locks a data directory, and reads it.
    /// - Parameter lockWait: how long to try for the lock. A process spawned in this
    ///   one between its fork and exec briefly shares (and holds) the lock of a
    ///   server that just stopped here, so a free directory may look taken for a moment.
    static func open(
        directory: String, recordsPerSegment: Int = 20_000, flushDelay: Duration = .zero, lockWait: Duration = .seconds(5), logger: Logger
    ) throws -> (Journal, Restored) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lock = Glibc.open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw WriteFailed(description: "cannot open \(directory)/lock: \(String(cString: strerror(errno)))") }
        let giveUp = ContinuousClock.now + lockWait
        while flock(lock, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < giveUp else {
                Glibc.close(lock)
                throw DirectoryInUse(path: directory)
            }
            usleep(50_000)
        }
        do {
            let (restored, lastSegment) = try read(directory: directory, logger: logger)
            let journal = Journal(
                directory: directory, lockDescriptor: lock, segment: lastSegment, recordsPerSegment: recordsPerSegment, flushDelay: flushDelay, logger: logger)
            return (journal, restored)
        } catch {
            Glibc.close(lock)
            throw error
        }
    }

    private init(directory: String, lockDescriptor: Int32, segment: Int, recordsPerSegment: Int, flushDelay: Duration, logger: Logger) {
        self.flushDelay = flushDelay
        self.directory = directory
        self.lockDescriptor = lockDescriptor
        self.segment = segment
        self.recordsPerSegment = recordsPerSegment
        self.logger = logger
        let thread = Thread { [self] in flushLoop() }
        thread.name = "fake-apiserver-journal"
        thread.start()
    }

    // MARK: Writing (called under the storage lock)

    /// Starts a new segment with a snapshot of `objects`: done once after a restore,
    /// so the files read are replaced by one snapshot.
    func start(objects: [StoreKey: [String: JSONValue]], revision: UInt64) {
        condition.lock()
        segment += 1
        pending.append(.rotate(number: segment, objects: objects, revision: revision))
        recordsInSegment = 0
        condition.signal()
        condition.unlock()
    }

    func put(_ storeKey: StoreKey, _ key: String, _ object: JSONValue) {
        append(["op": "put", "group": .string(storeKey.group), "plural": .string(storeKey.plural), "key": .string(key), "object": object])
    }

    func delete(_ storeKey: StoreKey, _ key: String) {
        append(["op": "delete", "group": .string(storeKey.group), "plural": .string(storeKey.plural), "key": .string(key)])
    }

    /// Reserves resourceVersions up to `revision`, and returns once that is on disk.
    func reserve(through revision: UInt64) throws {
        let sequence = append(["op": "reserve", "revision": .int(Int64(revision))])
        condition.lock()
        defer { condition.unlock() }
        while durable < sequence && failure == nil { condition.wait() }
        if let failure { throw failure }
    }

    /// Rotates when the segment is full: call at a point where `objects` holds
    /// exactly the changes appended so far.
    func rotateIfDue(objects: [StoreKey: [String: JSONValue]], revision: UInt64) {
        condition.lock()
        defer { condition.unlock() }
        guard recordsInSegment >= recordsPerSegment else { return }
        segment += 1
        pending.append(.rotate(number: segment, objects: objects, revision: revision))
        recordsInSegment = 0
        condition.signal()
    }

    @discardableResult
    private func append(_ record: JSONValue) -> UInt64 {
        let framed = Self.frame(record)
        condition.lock()
        defer { condition.unlock() }
        appended += 1
        recordsInSegment += 1
        pending.append(.record(framed))
        condition.signal()
        return appended
    }

    // MARK: Waiting

    /// Returns once everything appended before the call is on disk; throws if a
    /// write failed.
    func waitUntilDurable() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            if let failure {
                condition.unlock()
                continuation.resume(throwing: failure)
            } else if durable >= appended {
                condition.unlock()
                continuation.resume()
            } else if closed {
                condition.unlock()
                continuation.resume(throwing: WriteFailed(description: "the data directory was closed before the change was saved"))
            } else {
                waiters.append((appended, continuation))
                condition.unlock()
            }
        }
    }

    /// Writes what is pending, stops the flusher and releases the directory.
    func close() {
        condition.lock()
        closed = true
        condition.signal()
        while !finished { condition.wait() }
        condition.unlock()
        Glibc.close(lockDescriptor)
    }

    // MARK: The flusher

    private func flushLoop() {
        var descriptor: Int32 = -1
        var current = 0
        condition.lock()
        while true {
            while pending.isEmpty && !closed { condition.wait() }
            if pending.isEmpty && closed { break }
            if flushDelay > .zero && !closed {
                condition.unlock()
                Thread.sleep(forTimeInterval: Double(flushDelay.components.seconds) + Double(flushDelay.components.attoseconds) / 1e18)
                condition.lock()
            }
            let batch = pending
            let target = appended
            pending.removeAll(keepingCapacity: true)
            condition.unlock()

            var writeError: WriteFailed?
            do {
                try write(batch, to: &descriptor, segment: &current)
            } catch let failed as WriteFailed {
                writeError = failed
            } catch {
                writeError = WriteFailed(description: "\(error)")
            }

            condition.lock()
            var ready: [CheckedContinuation<Void, any Error>] = []
            if let writeError {
                if failure == nil { logger.error("cannot write the data directory; changes are no longer saved", metadata: ["error": "\(writeError)"]) }
                failure = writeError
                ready = waiters.map(\.1)
                waiters.removeAll()
            } else {
                durable = target
                ready = waiters.filter { $0.0 <= target }.map(\.1)
                waiters.removeAll { $0.0 <= target }
            }
            condition.broadcast()
            let failed = failure
            condition.unlock()
            for continuation in ready {
                if let failed { continuation.resume(throwing: failed) } else { continuation.resume() }
            }
            condition.lock()
        }
        if descriptor >= 0 { Glibc.close(descriptor) }
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// Writes one batch in order, rotating where asked, and fsyncs the segment.
    private func write(_ batch: [Entry], to descriptor: inout Int32, segment current: inout Int) throws {
        var buffer: [UInt8] = []
        for entry in batch {
            switch entry {
            case .record(let bytes):
                buffer.append(contentsOf: bytes)
            case .rotate(let number, let objects, let revision):
                if descriptor >= 0 {
                    try Self.writeAll(buffer, to: descriptor, path: segmentPath(current))
                    buffer.removeAll(keepingCapacity: true)
                    try Self.sync(descriptor, path: segmentPath(current))
                    Glibc.close(descriptor)
                    descriptor = -1
                }
                precondition(buffer.isEmpty, "records before the first segment")
                try writeSnapshot(number: number, objects: objects, revision: revision)
                descriptor = Glibc.open(segmentPath(number), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
                guard descriptor >= 0 else { throw WriteFailed(description: "cannot open \(segmentPath(number)): \(String(cString: strerror(errno)))") }
                current = number
                try Self.syncDirectory(directory)
                removeFiles(before: number)
            }
        }
        guard descriptor >= 0 else { return }
        try Self.writeAll(buffer, to: descriptor, path: segmentPath(current))
        try Self.sync(descriptor, path: segmentPath(current))
    }

    private func writeSnapshot(number: Int, objects: [StoreKey: [String: JSONValue]], revision: UInt64) throws {
        let path = snapshotPath(number)
        let temporary = path + ".tmp"
        let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw WriteFailed(description: "cannot open \(temporary): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(descriptor) }
        var buffer = Self.frame(["op": "reserve", "revision": .int(Int64(revision))])
        for storeKey in objects.keys.sorted(by: { ($0.group, $0.plural) < ($1.group, $1.plural) }) {
            for (key, object) in objects[storeKey]!.sorted(by: { $0.key < $1.key }) {
                buffer.append(contentsOf: Self.frame([
                    "op": "put", "group": .string(storeKey.group), "plural": .string(storeKey.plural), "key": .string(key), "object": object,
                ]))
                if buffer.count > 1 << 20 {
                    try Self.writeAll(buffer, to: descriptor, path: temporary)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        try Self.writeAll(buffer, to: descriptor, path: temporary)
        try Self.sync(descriptor, path: temporary)
        guard rename(temporary, path) == 0 else { throw WriteFailed(description: "cannot rename \(temporary): \(String(cString: strerror(errno)))") }
    }

    /// Removes the snapshots and segments that snapshot `number` replaces.
    private func removeFiles(before number: Int) {
        for (kind, file) in Self.files(in: directory) {
            switch kind {
            case .snapshot(let n) where n < number, .segment(let n) where n < number: unlink(directory + "/" + file)
            case .temporary: unlink(directory + "/" + file)
            default: break
            }
        }
    }

    private func segmentPath(_ number: Int) -> String { directory + "/" + String(format: "wal-%016d.log", number) }
    private func snapshotPath(_ number: Int) -> String { directory + "/" + String(format: "snapshot-%016d.records", number) }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteFailed(description: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private static func sync(_ descriptor: Int32, path: String) throws {
        guard fsync(descriptor) == 0 else { throw WriteFailed(description: "cannot fsync \(path): \(String(cString: strerror(errno)))") }
    }

    private static func syncDirectory(_ directory: String) throws {
        let descriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw WriteFailed(description: "cannot open \(directory): \(String(cString: strerror(errno)))") }
        defer { Glibc.close(descriptor) }
        try sync(descriptor, path: directory)
    }

    // MARK: Reading

    private enum FileKind { case snapshot(Int), segment(Int), temporary, other }

    private static func files(in directory: String) -> [(FileKind, String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.map { name in
            if name.hasSuffix(".tmp") { return (.temporary, name) }
            if name.hasPrefix("snapshot-"), name.hasSuffix(".records"), let n = Int(name.dropFirst(9).dropLast(8)) { return (.snapshot(n), name) }
            if name.hasPrefix("wal-"), name.hasSuffix(".log"), let n = Int(name.dropFirst(4).dropLast(4)) { return (.segment(n), name) }
            return (.other, name)
        }
    }

    /// The objects and last reservation in a data directory, and its highest segment number.
    static func read(directory: String, logger: Logger) throws -> (Restored, Int) {
        var snapshots: [Int] = []
        var segments: [Int] = []
        for (kind, _) in files(in: directory) {
            switch kind {
            case .snapshot(let n): snapshots.append(n)
            case .segment(let n): segments.append(n)
            default: break
            }
        }
        var restored = Restored()
        var objects: [StoreKey: [String: JSONValue]] = [:]
        let base = snapshots.max() ?? 0
        func apply(_ record: JSONValue) throws {
            switch record["op"]?.stringValue {
            case "reserve":
                restored.revision = max(restored.revision, UInt64(record["revision"]?.intValue ?? 0))
            case "put":
                guard let group = record["group"]?.stringValue, let plural = record["plural"]?.stringValue, let key = record["key"]?.stringValue,
                    let object = record["object"]
                else { throw WriteFailed(description: "a put record without its object") }
                objects[StoreKey(group: group, plural: plural), default: [:]][key] = object
            case "delete":
                guard let group = record["group"]?.stringValue, let plural = record["plural"]?.stringValue, let key = record["key"]?.stringValue
                else { throw WriteFailed(description: "a delete record without its key") }
                objects[StoreKey(group: group, plural: plural)]?.removeValue(forKey: key)
            default:
                throw WriteFailed(description: "a record of unknown kind")
            }
        }
        if snapshots.contains(base) {
            let path = directory + "/" + String(format: "snapshot-%016d.records", base)
            let (records, torn) = try readRecords(path)
            // Snapshots are renamed into place only once complete.
            if torn { throw WriteFailed(description: "snapshot \(path) is damaged; the data directory cannot be read") }
            for record in records { try apply(record) }
        }
        for number in segments.sorted() where number >= base {
            let path = directory + "/" + String(format: "wal-%016d.log", number)
            let (records, torn) = try readRecords(path)
            for record in records { try apply(record) }
            if torn {
                restored.discardedTornRecord = true
                logger.warning("discarded a torn record at the end of the journal (the server was killed while writing it; it was never acknowledged)", metadata: ["file": "\(path)"])
            }
        }
        for (storeKey, byKey) in objects {
            for (key, object) in byKey { restored.objects.append((storeKey, key, object)) }
        }
        return (restored, max(segments.max() ?? 0, base))
    }

    /// The records of a file up to its first torn or corrupt one; `torn` says one was found.
    static func readRecords(_ path: String) throws -> (records: [JSONValue], torn: Bool) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WriteFailed(description: "cannot read \(path)")
        }
        let bytes = [UInt8](data)
        var records: [JSONValue] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else { return (records, true) }
            let length = Int(UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }))
            let checksum = UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) })
            guard bytes.count - offset - 8 >= length else { return (records, true) }
            let payload = bytes[(offset + 8)..<(offset + 8 + length)]
            guard CRC32.checksum(payload) == checksum, let record = try? JSONValue.decode(Data(payload)) else { return (records, true) }
            records.append(record)
            offset += 8 + length
        }
        return (records, false)
    }

    static func frame(_ record: JSONValue) -> [UInt8] {
        var payload: [UInt8] = []
        record.write(to: &payload)
        var framed: [UInt8] = []
        framed.reserveCapacity(payload.count + 8)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { framed.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(payload[...]).littleEndian) { framed.append(contentsOf: $0) }
        framed.append(contentsOf: payload)
        return framed
    }
}

/// CRC-32 (IEEE 802.3, as zlib computes it) of the journal's records.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
