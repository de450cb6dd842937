import Foundation
import NIOCore
import ObjectStore
import Testing
import TestSupport

/// The age format against the `age` tool (Debian's 1.1), both ways, at the sizes where
/// the STREAM chunking has its edges: empty, one byte, one chunk exactly, one chunk
/// and one byte, several chunks.
@Suite("age encryption, compatible with the age tool both ways", .enabled(if: TestServices.current.shouldRun(.age)))
struct AgeTests {
    static let sizes = [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 200_000]

    static func bytes(_ count: Int) -> [UInt8] {
        var generator = SplitMix(seed: UInt64(count) &+ 7)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    /// The stream in pieces of awkward sizes, as a dump arrives.
    static func stream(_ bytes: [UInt8]) -> AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            var offset = 0, step = 1
            while offset < bytes.count {
                let end = min(bytes.count, offset + step)
                continuation.yield(ByteBuffer(bytes: bytes[offset..<end]))
                offset = end
                step = step * 3 + 1
            }
            continuation.finish()
        }
    }

    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("age-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("what the encryptor writes, `age -d -i` decrypts byte for byte (two recipients; either identity)", arguments: sizes)
    func toolDecrypts(size: Int) async throws {
        let age = try TestServices.current.age()
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = AgeIdentity(), second = AgeIdentity()
        let plaintext = Self.bytes(size)
        var encrypted = ByteBuffer()
        for try await var piece in try Self.stream(plaintext).ageEncrypted(to: [first.recipient, second.recipient]) { encrypted.writeBuffer(&piece) }
        #expect(encrypted.readableBytes == Self.expectedSize(plaintext: size, recipients: 2, header: encrypted))
        try Data(encrypted.readableBytesView).write(to: URL(fileURLWithPath: "\(directory)/file.age"))
        for identity in [first, second] {
            try identity.secretKeyText.write(toFile: "\(directory)/key.txt", atomically: true, encoding: .utf8)
            let result = try await ChildProcess.run(age, ["-d", "-i", "\(directory)/key.txt", "-o", "\(directory)/out", "\(directory)/file.age"])
            #expect(result.status == 0, "\(result.stderr)")
            // age writes its -o file lazily: nothing decrypted, no file.
            let out = (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/out"))).map { [UInt8]($0) } ?? []
            #expect(out == plaintext)
            try? FileManager.default.removeItem(atPath: "\(directory)/out")
        }
        // Another identity opens nothing.
        try AgeIdentity().secretKeyText.write(toFile: "\(directory)/key.txt", atomically: true, encoding: .utf8)
        #expect(try await ChildProcess.run(age, ["-d", "-i", "\(directory)/key.txt", "\(directory)/file.age"]).status != 0)
    }

    @Test("what `age -r` encrypts (to a key age-keygen made), the decryptor opens, fed in any pieces", arguments: sizes)
    func decryptsTool(size: Int) async throws {
        let age = try TestServices.current.age()
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keygen = URL(fileURLWithPath: age).deletingLastPathComponent().appendingPathComponent("age-keygen").path
        let generated = try await ChildProcess.run(keygen, ["-o", "\(directory)/key.txt"])
        try #require(generated.status == 0, "\(generated.stderr)")
        let keyFile = try String(contentsOfFile: "\(directory)/key.txt", encoding: .utf8)
        let identity = try AgeIdentity(keyFile)
        // age-keygen's "# public key: age1..." is the recipient this parser derives.
        #expect(keyFile.contains("# public key: \(identity.recipient)"))
        let plaintext = Self.bytes(size)
        try Data(plaintext).write(to: URL(fileURLWithPath: "\(directory)/plain"))
        let result = try await ChildProcess.run(age, ["-r", identity.recipient.description, "-o", "\(directory)/file.age", "\(directory)/plain"])
        try #require(result.status == 0, "\(result.stderr)")
        let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(directory)/file.age")))

        var decryptor = AgeDecryptor(identities: [identity])
        var output: [UInt8] = []
        var offset = 0, step = 5
        while offset < file.count {
            let end = min(file.count, offset + step)
            output += Array(try decryptor.feed(ByteBuffer(bytes: file[offset..<end])).readableBytesView)
            offset = end
            step = step * 2 + 3
        }
        output += Array(try decryptor.finish().readableBytesView)
        #expect(output == plaintext)
    }

    @Test("a wrong identity, an altered header or payload, and a truncated file are errors, never plaintext")
    func refusals() async throws {
        let identity = AgeIdentity()
        var encrypted: [UInt8] = []
        for try await piece in try Self.stream(Self.bytes(150_000)).ageEncrypted(to: [identity.recipient]) { encrypted += Array(piece.readableBytesView) }

        func open(_ file: [UInt8], with identities: [AgeIdentity]) throws -> [UInt8] {
            var decryptor = AgeDecryptor(identities: identities)
            var output = Array(try decryptor.feed(ByteBuffer(bytes: file)).readableBytesView)
            output += Array(try decryptor.finish().readableBytesView)
            return output
        }
        #expect(try open(encrypted, with: [identity]) == Self.bytes(150_000))
        #expect(throws: AgeError.self) { try open(encrypted, with: [AgeIdentity()]) }
        var header = encrypted
        header[40] ^= 1  // inside the stanza
        #expect(throws: AgeError.self) { try open(header, with: [identity]) }
        var payload = encrypted
        payload[payload.count - 100] ^= 1
        #expect(throws: AgeError.self) { try open(payload, with: [identity]) }
        #expect(throws: AgeError.self) { try open(Array(encrypted.dropLast(65_536 + 16)), with: [identity]) }
        #expect(throws: AgeError.self) { try open(Array(encrypted.dropLast(1)), with: [identity]) }
        #expect(throws: AgeError.self) { try AgeRecipient("age1notakey") }
        // A secret key pasted where public keys belong is named as such, and not repeated.
        let pasted = identity.secretKeyText
        #expect { try AgeRecipient.parseList("\(identity.recipient)\n\(pasted)\n") } throws: { error in
            "\(error)".contains("secret key") && !"\(error)".contains(pasted.dropFirst("AGE-SECRET-KEY-1".count).prefix(8))
        }
        #expect(throws: AgeError.self) { try AgeIdentity("AGE-SECRET-KEY-1QQQQ") }
        #expect(try AgeRecipient.parseList("# team\n\(identity.recipient)\n\n  \(AgeIdentity().recipient)  \n").count == 2)
    }

    /// Header, then per 64 KiB (or less, last) chunk 16 bytes of tag.
    static func expectedSize(plaintext: Int, recipients: Int, header encrypted: ByteBuffer) -> Int {
        let view = Array(encrypted.readableBytesView)
        let headerEnd = (view.indices.first { index in
            index + 4 < view.count && view[index] == UInt8(ascii: "\n") && view[index + 1] == UInt8(ascii: "-") && view[index + 2] == UInt8(ascii: "-")
                && view[index + 3] == UInt8(ascii: "-") && view[index + 4] == UInt8(ascii: " ")
        }.map { start in view[(start + 1)...].firstIndex(of: UInt8(ascii: "\n"))! + 1 } ?? 0) + 16
        let chunks = max(1, (plaintext + 65_535) / 65_536)
        return headerEnd + plaintext + 16 * chunks
    }
}

/// A small deterministic generator for test bytes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
