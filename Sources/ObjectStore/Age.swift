import Crypto
import Foundation
import NIOCore

// The age v1 file format (https://age-encryption.org/v1), X25519 recipients only:
// what `backupTo.encryption` writes and a restore reads, compatible with the `age`
// tool both ways. The primitives are swift-crypto's (X25519, HKDF-SHA-256, HMAC,
// ChaCha20-Poly1305); the format around them — bech32 keys, the header and its
// MAC, the STREAM payload in 64 KiB chunks — is written here, as no package on
// this machine implements age.

/// An age error: a malformed key, header or payload, or no identity that opens the file.
public struct AgeError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// An X25519 recipient, `age1...`: whom a file is encrypted to.
public struct AgeRecipient: Sendable, Hashable, CustomStringConvertible {
    public let publicKey: Curve25519.KeyAgreement.PublicKey

    /// Parses `age1...` (bech32, lowercase or uppercase).
    public init(_ text: String) throws {
        // A secret key where a public one belongs: say so, and never repeat any of it.
        if text.trimmingCharacters(in: .whitespaces).uppercased().hasPrefix("AGE-SECRET-KEY-") {
            throw AgeError("an age secret key (AGE-SECRET-KEY-1...) is not a recipient: list public keys only (age1..., `age-keygen -y KEYFILE`); keep the secret key out of the cluster")
        }
        guard let (hrp, data) = Bech32.decode(text.trimmingCharacters(in: .whitespaces)), hrp == "age", data.count == 32 else {
            throw AgeError("not an age X25519 recipient (age1...): \(text.prefix(12))…")
        }
        publicKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: data)
    }

    public init(publicKey: Curve25519.KeyAgreement.PublicKey) { self.publicKey = publicKey }

    /// `age1...`, as `age-keygen` prints it.
    public var description: String { Bech32.encode(hrp: "age", data: [UInt8](publicKey.rawRepresentation)) }

    public static func == (a: AgeRecipient, b: AgeRecipient) -> Bool { a.publicKey.rawRepresentation == b.publicKey.rawRepresentation }
    public func hash(into hasher: inout Hasher) { hasher.combine(publicKey.rawRepresentation) }

    /// The recipients of a `recipients` text: one per line; blank lines and `#` comments skipped.
    public static func parseList(_ text: String) throws -> [AgeRecipient] {
        try text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }.map(AgeRecipient.init)
    }
}

/// An X25519 identity, `AGE-SECRET-KEY-1...`: what opens a file. Never logged.
public struct AgeIdentity: Sendable {
    let privateKey: Curve25519.KeyAgreement.PrivateKey

    /// Parses `AGE-SECRET-KEY-1...` (as `age-keygen` writes it; comment lines allowed
    /// around it, the first key is taken).
    public init(_ text: String) throws {
        guard let line = text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: { $0.hasPrefix("AGE-SECRET-KEY-1") }),
            let (hrp, data) = Bech32.decode(line), hrp == "age-secret-key-", data.count == 32
        else { throw AgeError("no age X25519 identity (AGE-SECRET-KEY-1...) in the text") }
        privateKey = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: data)
    }

    /// A new random identity.
    public init() { privateKey = Curve25519.KeyAgreement.PrivateKey() }

    public var recipient: AgeRecipient { AgeRecipient(publicKey: privateKey.publicKey) }

    /// `AGE-SECRET-KEY-1...`.
    public var secretKeyText: String { Bech32.encode(hrp: "age-secret-key-", data: [UInt8](privateKey.rawRepresentation)).uppercased() }
}

/// Encrypts one stream to recipients: `header` first, then `seal` each chunk of
/// exactly `chunkSize` plaintext bytes (the last one shorter, or empty, with `last`).
public struct AgeEncryptor: Sendable {
    public static let chunkSize = 64 * 1024
    /// The header and the payload nonce: the file's first bytes.
    public let header: [UInt8]
    private let payloadKey: SymmetricKey
    private var counter: UInt64 = 0
    private var finished = false

    public init(recipients: [AgeRecipient]) throws {
        guard !recipients.isEmpty else { throw AgeError("no recipients to encrypt to") }
        let fileKey = SymmetricKey(size: .bits128)
        var text = "age-encryption.org/v1\n"
        for recipient in recipients {
            let ephemeral = Curve25519.KeyAgreement.PrivateKey()
            let share = ephemeral.publicKey.rawRepresentation
            let shared = try ephemeral.sharedSecretFromKeyAgreement(with: recipient.publicKey)
            let wrapKey = shared.hkdfDerivedSymmetricKey(
                using: SHA256.self, salt: share + recipient.publicKey.rawRepresentation, sharedInfo: Data("age-encryption.org/v1/X25519".utf8), outputByteCount: 32)
            let body = try ChaChaPoly.seal(fileKey.withUnsafeBytes { Data($0) }, using: wrapKey, nonce: ChaChaPoly.Nonce(data: Data(count: 12)))
            text += "-> X25519 \(Age.base64(share))\n" + Age.wrapped(Age.base64(body.ciphertext + body.tag))
        }
        text += "---"
        let macKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: fileKey, salt: Data(), info: Data("header".utf8), outputByteCount: 32)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: macKey)
        text += " \(Age.base64(Data(mac)))\n"
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }
        header = Array(text.utf8) + nonce
        payloadKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: fileKey, salt: Data(nonce), info: Data("payload".utf8), outputByteCount: 32)
    }

    /// The ciphertext of one chunk: `chunkSize` bytes unless `last` (then at most that;
    /// empty only when the whole payload is).
    public mutating func seal(_ plaintext: ByteBuffer, last: Bool) throws -> ByteBuffer {
        precondition(!finished, "a sealed age stream takes no more chunks")
        precondition(last ? plaintext.readableBytes <= Self.chunkSize : plaintext.readableBytes == Self.chunkSize)
        let nonce = try Age.chunkNonce(counter, last: last)
        let key = payloadKey
        // Sealed straight from the buffer's bytes; one copy into the output.
        let box = try plaintext.withUnsafeReadableBytes { try ChaChaPoly.seal($0, using: key, nonce: nonce) }
        counter += 1
        finished = last
        var output = ByteBuffer()
        output.reserveCapacity(plaintext.readableBytes + 16)
        box.ciphertext.withUnsafeBytes { _ = output.writeBytes($0) }
        box.tag.withUnsafeBytes { _ = output.writeBytes($0) }
        return output
    }
}

/// Decrypts an age stream with an identity: feed bytes in any pieces, take the plaintext.
public struct AgeDecryptor: Sendable {
    private let identities: [AgeIdentity]
    private var buffered = ByteBuffer()
    private var payloadKey: SymmetricKey?
    private var counter: UInt64 = 0
    private var done = false
    static let sealedChunk = AgeEncryptor.chunkSize + 16

    public init(identities: [AgeIdentity]) { self.identities = identities }

    /// Takes more of the file; returns the plaintext it completes (a chunk is held
    /// back until the next bytes or `finish` tell whether it is the last).
    public mutating func feed(_ bytes: ByteBuffer) throws -> ByteBuffer {
        guard !done else { throw AgeError("data after the last chunk of the age payload") }
        var bytes = bytes
        buffered.writeBuffer(&bytes)
        if payloadKey == nil {
            guard try readHeader() else { return ByteBuffer() }
        }
        var output = ByteBuffer()
        // More than one sealed chunk buffered: the first is not the last one.
        while buffered.readableBytes > Self.sealedChunk {
            output.writeImmutableBuffer(try open(buffered.readSlice(length: Self.sealedChunk)!, last: false))
        }
        buffered.discardReadBytes()
        return output
    }

    /// The file ended: opens the last chunk.
    public mutating func finish() throws -> ByteBuffer {
        guard payloadKey != nil, !done else { throw AgeError(done ? "the age payload was already finished" : "the file ends inside the age header") }
        guard buffered.readableBytes >= 16 else { throw AgeError("the age payload is truncated") }
        let last = try open(buffered, last: true)
        if last.readableBytes == 0 && counter > 1 { throw AgeError("the age payload ends with an empty chunk after others") }
        done = true
        buffered = ByteBuffer()
        return last
    }

    private mutating func open(_ sealed: ByteBuffer, last: Bool) throws -> ByteBuffer {
        guard let payloadKey else { throw AgeError("no payload key") }
        let bytes = Array(sealed.readableBytesView)
        guard bytes.count >= 16 else { throw AgeError("an age chunk shorter than its tag") }
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: Age.chunkNonce(counter, last: last), ciphertext: bytes.prefix(bytes.count - 16), tag: bytes.suffix(16))
            let plaintext = try ChaChaPoly.open(box, using: payloadKey)
            counter += 1
            return ByteBuffer(bytes: plaintext)
        } catch {
            throw AgeError(last ? "the age payload is truncated or altered (its last chunk does not open)" : "an age payload chunk is altered")
        }
    }

    /// Parses the header once it is all buffered; false while more is needed.
    private mutating func readHeader() throws -> Bool {
        let view = buffered.readableBytesView
        guard view.count >= 21 else { return false }
        guard view.starts(with: Array("age-encryption.org/v1\n".utf8)) else { throw AgeError("not an age v1 file") }
        // The MAC line: "--- " + 43 base64 characters + "\n", then the 16-byte nonce.
        guard let macLine = Age.find(Array("\n--- ".utf8), in: view) else {
            if view.count > 1 << 20 { throw AgeError("the age header is too long") }
            return false
        }
        let macStart = macLine + 5
        guard let newline = view[(view.startIndex + macStart)...].firstIndex(of: UInt8(ascii: "\n")) else { return false }
        let headerEnd = newline - view.startIndex + 1
        guard view.count >= headerEnd + 16 else { return false }
        let headerText = String(decoding: view.prefix(macLine + 4), as: UTF8.self)  // up to and including "---"
        guard let mac = Age.unbase64(String(decoding: view[(view.startIndex + macStart)..<newline], as: UTF8.self)), mac.count == 32 else {
            throw AgeError("the age header's MAC is malformed")
        }
        let lines = headerText.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().dropLast()
        var stanzas: [(share: Data, body: Data)] = []
        var index = lines.startIndex
        while index < lines.endIndex {
            let arguments = lines[index].split(separator: " ")
            guard arguments.first == "->" else { throw AgeError("the age header is malformed") }
            index += 1
            var body = ""
            while index < lines.endIndex {
                let line = lines[index]
                index += 1
                body += line
                if line.count < 64 { break }
            }
            if arguments.count == 3, arguments[1] == "X25519", let share = Age.unbase64(String(arguments[2])), share.count == 32, let wrapped = Age.unbase64(body), wrapped.count == 32 {
                stanzas.append((share, wrapped))
            }
        }
        for identity in identities {
            for stanza in stanzas {
                guard let fileKey = try? Self.unwrap(stanza, identity: identity) else { continue }
                let macKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: fileKey, salt: Data(), info: Data("header".utf8), outputByteCount: 32)
                guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(headerText.utf8), using: macKey) else {
                    throw AgeError("the age header's MAC does not match: the file was altered")
                }
                let nonce = Data(view[(view.startIndex + headerEnd)..<(view.startIndex + headerEnd + 16)])
                payloadKey = HKDF<SHA256>.deriveKey(inputKeyMaterial: fileKey, salt: nonce, info: Data("payload".utf8), outputByteCount: 32)
                buffered.moveReaderIndex(forwardBy: headerEnd + 16)
                return true
            }
        }
        throw AgeError("no identity given opens this file (it was encrypted to \(stanzas.count) other X25519 recipient(s))")
    }

    private static func unwrap(_ stanza: (share: Data, body: Data), identity: AgeIdentity) throws -> SymmetricKey {
        let shared = try identity.privateKey.sharedSecretFromKeyAgreement(with: Curve25519.KeyAgreement.PublicKey(rawRepresentation: stanza.share))
        guard shared.withUnsafeBytes({ $0.contains { $0 != 0 } }) else { throw AgeError("an all-zero X25519 share") }
        let wrapKey = shared.hkdfDerivedSymmetricKey(
            using: SHA256.self, salt: stanza.share + identity.privateKey.publicKey.rawRepresentation, sharedInfo: Data("age-encryption.org/v1/X25519".utf8),
            outputByteCount: 32)
        let box = try ChaChaPoly.SealedBox(nonce: ChaChaPoly.Nonce(data: Data(count: 12)), ciphertext: stanza.body.prefix(16), tag: stanza.body.suffix(16))
        return SymmetricKey(data: try ChaChaPoly.open(box, using: wrapKey))
    }
}

/// A byte stream encrypted in the age format as it is read: the header, then each
/// 64 KiB chunk sealed once the next bytes show it is not the last. Pull-based, so
/// the consumer's pace is the producer's; memory is two chunks.
public struct AgeEncryptedSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    public typealias Element = ByteBuffer
    let base: Base
    let encryptor: AgeEncryptor

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var encryptor: AgeEncryptor
        var headerSent = false
        var ended = false
        var pending = ExactBuffer()
        /// A full chunk not yet known to be the last.
        var full: ByteBuffer?
        /// What is left of the input chunk being cut.
        var input = ByteBuffer()

        public mutating func next() async throws -> ByteBuffer? {
            if !headerSent {
                headerSent = true
                return ByteBuffer(bytes: encryptor.header)
            }
            if ended { return nil }
            while true {
                while input.readableBytes > 0 {
                    guard let chunk = pending.fill(from: &input, size: AgeEncryptor.chunkSize) else { continue }
                    let previous = full
                    full = chunk
                    if let previous { return try encryptor.seal(previous, last: false) }
                }
                guard let next = try await base.next() else { break }
                input = next
            }
            // The end: a source cut short by cancellation is never sealed as complete.
            try Task.checkCancellation()
            ended = true
            guard pending.bytes.readableBytes > 0 else { return try encryptor.seal(full ?? ByteBuffer(), last: true) }
            var output = ByteBuffer()
            if let previous = full {
                var sealed = try encryptor.seal(previous, last: false)
                output.writeBuffer(&sealed)
            }
            var last = try encryptor.seal(pending.bytes, last: true)
            output.writeBuffer(&last)
            return output
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), encryptor: encryptor) }
}

extension AsyncSequence where Self: Sendable, Element == ByteBuffer {
    /// This stream encrypted to `recipients` in the age format.
    public func ageEncrypted(to recipients: [AgeRecipient]) throws -> AgeEncryptedSequence<Self> {
        AgeEncryptedSequence(base: self, encryptor: try AgeEncryptor(recipients: recipients))
    }
}

/// age's encodings: base64 without padding, header lines of 64 columns, STREAM nonces.
enum Age {
    static func base64(_ data: Data) -> String { data.base64EncodedString().replacingOccurrences(of: "=", with: "") }

    /// Strict: age's canonical unpadded base64 only.
    static func unbase64(_ text: String) -> Data? {
        guard !text.contains("="), !text.contains(where: \.isWhitespace) else { return nil }
        let padded = text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: padded), base64(data) == text else { return nil }
        return data
    }

    /// A stanza body in lines of 64 columns; the last line is always shorter (maybe empty).
    static func wrapped(_ text: String) -> String {
        var lines: [Substring] = []
        var rest = Substring(text)
        while rest.count >= 64 {
            lines.append(rest.prefix(64))
            rest = rest.dropFirst(64)
        }
        lines.append(rest)
        return lines.joined(separator: "\n") + "\n"
    }

    /// 11 bytes of big-endian counter, then 1 for the last chunk, else 0.
    static func chunkNonce(_ counter: UInt64, last: Bool) throws -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        for index in 0..<8 { bytes[10 - index] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(index))) }
        bytes[11] = last ? 1 : 0
        return try ChaChaPoly.Nonce(data: bytes)
    }

    static func find(_ needle: [UInt8], in haystack: ByteBufferView) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var offset = 0
        while offset + needle.count <= haystack.count {
            let start = haystack.startIndex + offset
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return offset }
            offset += 1
        }
        return nil
    }
}

/// Bech32 (BIP 173) for age's keys.
enum Bech32 {
    static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)

    static func polymod(_ values: [UInt8]) -> UInt32 {
        let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]
        var checksum: UInt32 = 1
        for value in values {
            let top = checksum >> 25
            checksum = (checksum & 0x1ff_ffff) << 5 ^ UInt32(value)
            for index in 0..<5 where (top >> index) & 1 == 1 { checksum ^= generator[index] }
        }
        return checksum
    }

    static func expand(_ hrp: String) -> [UInt8] {
        let bytes = Array(hrp.utf8)
        return bytes.map { $0 >> 5 } + [0] + bytes.map { $0 & 31 }
    }

    static func convert(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var accumulator = 0, bits = 0
        var result: [UInt8] = []
        let maxValue = (1 << to) - 1
        for value in data {
            guard Int(value) >> from == 0 else { return nil }
            accumulator = (accumulator << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                result.append(UInt8((accumulator >> bits) & maxValue))
            }
        }
        if pad {
            if bits > 0 { result.append(UInt8((accumulator << (to - bits)) & maxValue)) }
        } else if bits >= from || ((accumulator << (to - bits)) & maxValue) != 0 {
            return nil
        }
        return result
    }

    static func encode(hrp: String, data: [UInt8]) -> String {
        let values = convert(data, from: 8, to: 5, pad: true)!
        let checksum = polymod(expand(hrp) + values + [0, 0, 0, 0, 0, 0]) ^ 1
        let check = (0..<6).map { UInt8((checksum >> (5 * (5 - UInt32($0)))) & 31) }
        return hrp + "1" + String(decoding: (values + check).map { alphabet[Int($0)] }, as: UTF8.self)
    }

    /// The human-readable part and the data of a bech32 string (all lower or all upper case).
    static func decode(_ text: String) -> (String, [UInt8])? {
        guard text == text.lowercased() || text == text.uppercased() else { return nil }
        let lower = text.lowercased()
        guard let separator = lower.lastIndex(of: "1") else { return nil }
        let hrp = String(lower[..<separator])
        let rest = lower[lower.index(after: separator)...]
        guard !hrp.isEmpty, rest.count >= 6 else { return nil }
        var values: [UInt8] = []
        for character in rest.utf8 {
            guard let index = alphabet.firstIndex(of: character) else { return nil }
            values.append(UInt8(index))
        }
        guard polymod(expand(hrp) + values) == 1, let data = convert(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else { return nil }
        return (hrp, data)
    }
}
