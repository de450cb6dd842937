import Crypto

/// Short, stable hashes that keep generated names unique when a name is cut or
/// suffixed. Stable across runs, machines and versions: they are part of names that
/// already exist in clusters and instances (Job names, shortened database and user
/// names, object names of long Backups), so neither function may ever change.
public enum ShortHash {
    /// 8 lowercase hex characters: the first 4 bytes of SHA-256 of `seed`. Job names
    /// (`JobTemplate`) and names shortened to fit an instance (`InstanceNames`).
    public static func sha256Hex8(_ seed: String) -> String {
        SHA256.hash(data: Array(seed.utf8)).prefix(4).map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }

    /// 16 lowercase hex characters: FNV-1a (64 bits) of `text`'s UTF-8. A long Backup
    /// name's part of its object names (`S3Location.objectNamePart`).
    public static func fnv1a64Hex(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
