import ArgumentParser
import DriverProtocol
import Foundation
import Logging
import NIOCore
import NIOPosix
import ObjectStore
import Synchronization
import TestSupport

/// `db-operator-bench`: measures the backup pipeline, restores and the control plane on this machine.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db-operator-bench", abstract: "Benchmarks of db-operator: the backup pipeline, the control plane.",
        subcommands: [UploadBench.self, ControlPlaneBench.self, CodecBench.self, RestoreBench.self, CloneBench.self])
}

/// Streams N GiB into the store through the pipeline, and the same bytes through
/// `aws s3 cp -`, and prints throughput and peak memory side by side.
struct UploadBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Stream N GiB into S3 with the pipeline and with `aws s3 cp -`; print throughput and peak memory.",
        discussion: "Reads the store from the DBOP_S3_* variables (ci/services.sh writes them). Run one size per process: peak memory is the process's high-water mark.")

    @Option(help: "GiB to stream (fractions allowed).")
    var gib: Double = 1

    @Option(help: "Where the bytes come from: generator (poorly compressible pseudo-random bytes), stdin, or command (the arguments after --, run as a driver runs its dump tool).")
    var source: String = "generator"

    @Argument(parsing: .postTerminator, help: "With --source command: the dump command and its arguments.")
    var command: [String] = []

    @Option(help: "Compress in parallel on the way, as MySQL backups are: gzip or zstd (default: none).")
    var compression: String?

    @Flag(help: "Skip the aws CLI comparison.")
    var skipAWS = false

    @Option(help: "Parts uploading at once.")
    var partsInFlight = 3

    @Option(help: "Store the object under this key and keep it (to check a restore); default: a random key, deleted after.")
    var key: String?

    @Flag(help: "Encrypt on the way (age, to a fresh X25519 key), as backupTo.encryption does.")
    var encrypt = false

    @Flag(help: "Run the generated stream twice, without and with age encryption, and print the overhead (each run's peak memory is its own).")
    var compareEncryption = false

    func validate() throws {
        guard ["generator", "stdin", "command"].contains(source) else { throw ValidationError("--source: generator, stdin or command") }
        if (source == "command") != !command.isEmpty { throw ValidationError("give a command after -- exactly when --source is command") }
        if compareEncryption && source != "generator" { throw ValidationError("--compare-encryption streams the generator twice: no --source") }
        if let compression, CompressionFormat(rawValue: compression) == nil {
            throw ValidationError("--compression: \(compression) is not one of \(CompressionFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        MemoryTuning.returnLargeBuffersToTheSystem()
        if compareEncryption { return try await compare() }
        let format = compression.flatMap(CompressionFormat.init(rawValue:))
        let services = TestServices()
        let s3 = try services.s3()
        let (store, upload) = try pipeline(s3)
        var bytes = Int(gib * Double(1 << 30))
        let key = self.key ?? "bench/\(UUID().uuidString)"

        let recipients = encrypt ? [AgeIdentity().recipient] : []
        let start = ContinuousClock.now
        let result: StreamingUpload.Result
        do {
            if source == "stdin" {
                result = try await upload.upload(StandardInput(), compressing: format, encryptingTo: recipients, key: key)
            } else if source == "command" {
                let dump = try DumpStream.running(DumpCommand(executable: command[0], arguments: Array(command.dropFirst()), fileExtension: "sql", wantsCompression: format != nil))
                result = try await upload.upload(dump.counted(into: readFromCommand), compressing: format, encryptingTo: recipients, key: key)
            } else {
                result = try await upload.upload(GeneratedBytes(total: bytes, chunkSize: 256 << 10), compressing: format, encryptingTo: recipients, key: key)
            }
        } catch {
            try? await store.shutdown()
            throw error
        }
        let seconds = (ContinuousClock.now - start).seconds
        let peak = Self.peakResidentMiB()
        if source == "stdin" { bytes = Int(readFromStdin.load(ordering: .relaxed)) }
        if source == "command" { bytes = Int(readFromCommand.count) }
        if self.key == nil { try await store.deleteObject(key: key) }
        try await store.shutdown()

        print("backup pipeline benchmark: \(String(format: "%.2f", Double(bytes) / Double(1 << 30))) GiB in from \(source)\(format.map { ", parallel \($0.rawValue) -1" } ?? "")\(encrypt ? ", age-encrypted" : ""), \(partsInFlight) parts in flight")
        print(String(format: "db-operator pipeline: %7.1f MiB/s  (%.2f s, %d parts, %.1f MiB stored, peak memory %.0f MiB)",
                     Double(bytes) / Double(1 << 20) / seconds, seconds, result.parts, Double(result.size) / Double(1 << 20), peak))
        if !skipAWS && source == "generator" {
            let aws = try services.awsCLI()
            let awsSeconds = try await awsCopy(aws, s3: s3, bytes: bytes)
            print(String(format: "aws s3 cp -:          %7.1f MiB/s  (%.2f s%@)", Double(bytes) / Double(1 << 20) / awsSeconds, awsSeconds, format != nil ? ", after gzip -1 in a pipe" : ""))
        }
    }

    /// The store of the DBOP_S3_* variables, and the streaming upload into it.
    private func pipeline(_ s3: S3Settings) throws -> (S3ObjectStore, StreamingUpload) {
        var configuration = S3ObjectStore.Configuration(
            endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket,
            credentials: S3Credentials(accessKeyID: s3.accessKeyID, secretAccessKey: s3.secretAccessKey))
        configuration.forcePathStyle = true
        let store = try S3ObjectStore(configuration: configuration, logger: Logger(label: "bench"))
        var uploadConfiguration = StreamingUpload.Configuration()
        uploadConfiguration.partsInFlight = partsInFlight
        return (store, StreamingUpload(store: store, configuration: uploadConfiguration, logger: Logger(label: "bench")))
    }

    /// The generated stream through the pipeline without and then with age, in one
    /// process; the peak RSS is reset between the runs (`/proc/self/clear_refs`).
    private func compare() async throws {
        let format = compression.flatMap(CompressionFormat.init(rawValue:))
        let (store, upload) = try pipeline(try TestServices().s3())
        let bytes = Int(gib * Double(1 << 30))
        print("age overhead on the backup pipeline: \(String(format: "%.2f", gib)) GiB generated\(format.map { ", parallel \($0.rawValue) -1" } ?? ""), \(partsInFlight) parts in flight")
        var plainSeconds = 0.0
        do {
            for encrypted in [false, true] {
                try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
                let key = "bench/\(UUID().uuidString)"
                let start = ContinuousClock.now
                let result = try await upload.upload(
                    GeneratedBytes(total: bytes, chunkSize: 256 << 10), compressing: format, encryptingTo: encrypted ? [AgeIdentity().recipient] : [], key: key)
                let seconds = (ContinuousClock.now - start).seconds
                let peak = Self.peakResidentMiB()
                try await store.deleteObject(key: key)
                if !encrypted { plainSeconds = seconds }
                print(String(format: "%@ %7.1f MiB/s  (%.2f s, %.1f MiB stored, peak memory %.0f MiB)%@",
                             encrypted ? "with age:   " : "without age:", Double(bytes) / Double(1 << 20) / seconds, seconds, Double(result.size) / Double(1 << 20), peak,
                             encrypted ? String(format: "  wall time +%.1f%%", (seconds / plainSeconds - 1) * 100) : ""))
            }
        } catch {
            try? await store.shutdown()
            throw error
        }
        try await store.shutdown()
    }

    /// The same generated bytes piped into `aws s3 cp -` (through `gzip -1`, the usual
    /// way, when the pipeline compresses).
    private func awsCopy(_ aws: String, s3: S3Settings, bytes: Int) async throws -> Double {
        let key = "bench/aws-\(UUID().uuidString)"
        let script = compression != nil
            ? "gzip -1 | \(aws) --endpoint-url \(s3.endpoint) --region \(s3.region) s3 cp --only-show-errors - s3://\(s3.bucket)/\(key)"
            : "\(aws) --endpoint-url \(s3.endpoint) --region \(s3.region) s3 cp --only-show-errors - s3://\(s3.bucket)/\(key)"
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = s3.accessKeyID
        environment["AWS_SECRET_ACCESS_KEY"] = s3.secretAccessKey
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.environment = environment
        let pipe = Pipe()
        process.standardInput = pipe
        let start = ContinuousClock.now
        try process.run()
        for try await chunk in GeneratedBytes(total: bytes, chunkSize: 1 << 20) {
            try pipe.fileHandleForWriting.write(contentsOf: Data(chunk.readableBytesView))
        }
        try pipe.fileHandleForWriting.close()
        process.waitUntilExit()
        let seconds = (ContinuousClock.now - start).seconds
        guard process.terminationStatus == 0 else { throw ValidationError("aws s3 cp failed with status \(process.terminationStatus)") }
        let remove = Process()
        remove.executableURL = URL(fileURLWithPath: aws)
        remove.arguments = ["--endpoint-url", s3.endpoint, "--region", s3.region, "s3", "rm", "--only-show-errors", "s3://\(s3.bucket)/\(key)"]
        remove.environment = environment
        try remove.run()
        remove.waitUntilExit()
        return seconds
    }

    static func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kib / 1024
    }
}

/// Bytes read from standard input so far.
let readFromStdin = Atomic<Int64>(0)
/// Bytes read from the dump command so far.
let readFromCommand = ByteCounter()

/// Standard input read without blocking a thread: NIO watches the pipe and hands
/// over what arrives, so the cooperative pool keeps hashing and uploading.
struct StandardInput: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    struct AsyncIterator: AsyncIteratorProtocol {
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator?
        var channel: NIOAsyncChannel<ByteBuffer, Never>?

        mutating func next() async throws -> ByteBuffer? {
            if StandardInput.isRegularFile {
                // epoll cannot watch a file; reading one does not wait on a producer.
                let data = FileHandle.standardInput.readData(ofLength: 1 << 20)
                readFromStdin.add(Int64(data.count), ordering: .relaxed)
                return data.isEmpty ? nil : ByteBuffer(bytes: data)
            }
            if inbound == nil {
                let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelOption(.allowRemoteHalfClosure, value: true)
                    .takingOwnershipOfDescriptor(input: dup(0)) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel)
                        }
                    }
                self.channel = channel
                inbound = channel.inbound.makeAsyncIterator()
            }
            guard let chunk = try await inbound!.next() else { return nil }
            readFromStdin.add(Int64(chunk.readableBytes), ordering: .relaxed)
            return chunk
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator() }

    static let isRegularFile: Bool = {
        var info = stat()
        return fstat(0, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }()
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
