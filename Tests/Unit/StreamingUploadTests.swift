import AsyncAlgorithms
import Crypto
import Foundation
import Logging
import NIOCore
import ObjectStore
import Testing
import TestSupport

@Suite("Streaming upload")
struct StreamingUploadTests {
    let logger = Logger(label: "test")

    private func sha256<S: AsyncSequence>(_ source: S) async throws -> (String, ByteBuffer) where S.Element == ByteBuffer {
        var all = ByteBuffer()
        for try await var chunk in source { all.writeBuffer(&chunk) }
        let digest = all.withUnsafeReadableBytes { SHA256.hash(data: $0) }
        return (digest.map { String(format: "%02x", $0) }.joined(), all)
    }

    @Test("ten thousand growing parts carry more than 5 TiB, every part within S3's bounds")
    func partSizing() {
        #expect(PartSizing.capacity() >= 5 << 40)
        var previous = 0
        for part in 1...10_000 {
            let size = PartSizing.size(ofPart: part)
            #expect(size >= PartSizing.minimumPartSize && size <= PartSizing.maximumPartSize && size >= previous)
            previous = size
        }
        #expect(PartSizing.size(ofPart: 1) == 8 << 20)
        #expect(PartSizing.size(ofPart: 100, partLimit: 1_000) == 8 << 20)
        #expect(PartSizing.size(ofPart: 101, partLimit: 1_000) == 16 << 20)
    }

    @Test("0 bytes, 1 byte, exactly one part and one byte over a part are stored exactly, with their SHA-256", arguments: [0, 1, 5 << 20, (5 << 20) + 1, 12 << 20])
    func sizes(_ size: Int) async throws {
        let store = InMemoryObjectStore()
        var configuration = StreamingUpload.Configuration()
        configuration.initialPartSize = 5 << 20
        let upload = StreamingUpload(store: store, configuration: configuration, logger: logger)
        let source = GeneratedBytes(total: size, chunkSize: 100_000)
        let result = try await upload.upload(source, key: "k", metadata: ["driver": "mysql"])
        let (expectedHash, expected) = try await sha256(source)
        #expect(result.size == Int64(size))
        #expect(result.sha256 == expectedHash)
        #expect(result.parts == max(1, (size + (5 << 20) - 1) / (5 << 20)))
        let (info, body) = try await store.getObject(key: "k")
        #expect(try await body.collect(upTo: 64 << 20) == expected)
        #expect(info.metadata == ["driver": "mysql"])
        #expect(try await store.listMultipartUploads(prefix: "").isEmpty)
    }

    @Test("an object is written once with its metadata and Content-Type; its size and SHA-256 come back in the result")
    func writtenOnce() async throws {
        let store = InMemoryObjectStore()
        let upload = StreamingUpload(store: store, logger: logger)
        let result = try await upload.upload(GeneratedBytes(total: 1000), key: "k", metadata: ["driver": "postgresql"], contentType: "application/octet-stream")
        let info = try #require(try await store.headObject(key: "k"))
        #expect(info.metadata == ["driver": "postgresql"] && info.contentType == "application/octet-stream")
        var expected = ByteBuffer()
        for try await var chunk in GeneratedBytes(total: 1000) { expected.writeBuffer(&chunk) }
        let digest = expected.withUnsafeReadableBytes { SHA256.hash(data: $0) }.map { String(format: "%02x", $0) }.joined()
        #expect(result.size == 1000 && result.sha256 == digest)
    }

    @Test("a failure mid-upload aborts the multipart upload: no parts, no object")
    func failureAborts() async throws {
        let base = InMemoryObjectStore()
        let store = FailingObjectStore(base, failingPart: 3)
        var configuration = StreamingUpload.Configuration()
        configuration.initialPartSize = 5 << 20
        let upload = StreamingUpload(store: store, configuration: configuration, logger: logger)
        await #expect(throws: ObjectStoreError.self) { _ = try await upload.upload(GeneratedBytes(total: 30 << 20), key: "k") }
        #expect(try await base.listMultipartUploads(prefix: "").isEmpty)
        #expect(try await base.headObject(key: "k") == nil)
    }

    @Test("a re-run aborts the incomplete uploads an earlier attempt left under the prefix")
    func cleanup() async throws {
        let store = InMemoryObjectStore()
        _ = try await store.createMultipartUpload(key: "backups/ns/db/b1-1", metadata: [:])
        _ = try await store.createMultipartUpload(key: "backups/ns/other/b2-1", metadata: [:])
        let upload = StreamingUpload(store: store, logger: logger)
        #expect(try await upload.abortIncompleteUploads(prefix: "backups/ns/db/") == 1)
        #expect(try await store.listMultipartUploads(prefix: "").map(\.key) == ["backups/ns/other/b2-1"])
    }

    @Test("progress reports grow to the total")
    func progress() async throws {
        let store = InMemoryObjectStore()
        var configuration = StreamingUpload.Configuration()
        configuration.initialPartSize = 5 << 20
        configuration.partsInFlight = 1
        let reports = AsyncChannel<Int64>()
        let upload = StreamingUpload(store: store, configuration: configuration, logger: logger)
        async let collected: [Int64] = { var seen: [Int64] = []; for await value in reports { seen.append(value) }; return seen }()
        _ = try await upload.upload(GeneratedBytes(total: 21 << 20), key: "k") { await reports.send($0) }
        reports.finish()
        let values = try await collected
        #expect(values.last == 21 << 20)
        #expect(values == values.sorted())
        #expect(values.count >= 3)
    }

    @Test("parallel compression emits members or frames in order that gzip and zstd decompress to the input", arguments: CompressionFormat.allCases)
    func parallelCompression(format: CompressionFormat) async throws {
        var compressor = ParallelCompressor(format: format)
        compressor.blockSize = 1 << 20
        compressor.concurrency = 3
        // Chunks smaller and larger than a block, so both the copying and the slicing path run.
        for chunkSize in [70_000, (2 << 20) + 17] {
            let source = GeneratedBytes(total: (5 << 20) + 123, chunkSize: chunkSize)
            let channel = AsyncThrowingChannel<ByteBuffer, any Error>()
            async let compressed: ByteBuffer = {
                var all = ByteBuffer()
                for try await var chunk in channel { all.writeBuffer(&chunk) }
                return all
            }()
            try await compressor.compress(source, into: channel)
            channel.finish()
            let output = try await compressed
            let tool = format == .gzip ? "/bin/gzip" : "/usr/bin/zstd"
            let result = try await ChildProcess.run(tool, ["-dc"], stdin: Data(output.readableBytesView))
            #expect(result.status == 0, "\(result.stderr)")
            let (_, expected) = try await sha256(source)
            #expect(result.stdout == Data(expected.readableBytesView), "chunks of \(chunkSize)")
        }
    }

    @Test("an empty stream still becomes one valid member or frame", arguments: CompressionFormat.allCases)
    func emptyStream(format: CompressionFormat) async throws {
        let channel = AsyncThrowingChannel<ByteBuffer, any Error>()
        async let compressed: ByteBuffer = {
            var all = ByteBuffer()
            for try await var chunk in channel { all.writeBuffer(&chunk) }
            return all
        }()
        try await ParallelCompressor(format: format).compress(GeneratedBytes(total: 0, chunkSize: 1), into: channel)
        channel.finish()
        let output = try await compressed
        let result = try await ChildProcess.run(format == .gzip ? "/bin/gzip" : "/usr/bin/zstd", ["-dc"], stdin: Data(output.readableBytesView))
        #expect(result.status == 0 && result.stdout.isEmpty, "\(result.stderr)")
    }
}
