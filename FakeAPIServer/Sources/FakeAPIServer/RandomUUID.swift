#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Synchronization

/// Random (version 4) UUIDs in the lowercase form the API server writes, from the
/// system's random bytes read 4 KiB at a time. Foundation's `UUID()` on Linux
/// opens, reads and closes /dev/urandom for each one: three system calls for every
/// object created (a few percent of the server's CPU when 10,000 Jobs are made at
/// once, by perf).
enum RandomUUID {
    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096
    }

    private static let pool = Mutex(Pool())

    /// A new UUID, e.g. `3f2b8c1e-7a4d-4e0f-9b6a-2c5d8e1f0a37`.
    static func make() -> String {
        var uuid = pool.withLock { pool -> [UInt8] in
            if pool.used + 16 > pool.bytes.count {
                fill(&pool.bytes)
                pool.used = 0
            }
            defer { pool.used += 16 }
            return Array(pool.bytes[pool.used..<pool.used + 16])
        }
        uuid[6] = uuid[6] & 0x0F | 0x40  // version 4
        uuid[8] = uuid[8] & 0x3F | 0x80  // RFC 4122 variant
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, byte) in uuid.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The kernel's random bytes, one read of /dev/urandom per 256 UUIDs; the
    /// standard library's generator if that cannot be read.
    private static func fill(_ bytes: inout [UInt8]) {
        var filled = 0
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if descriptor >= 0 {
            bytes.withUnsafeMutableBytes { buffer in
                while filled < buffer.count {
                    let got = read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
                    if got <= 0 { break }
                    filled += got
                }
            }
            close(descriptor)
        }
        if filled < bytes.count {
            var generator = SystemRandomNumberGenerator()
            for index in filled..<bytes.count { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        }
    }
}
