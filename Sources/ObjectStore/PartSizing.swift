/// Part sizes of a streamed multipart upload: the size is unknown up front, so parts
/// grow. The limit is split in ten tiers; each tier doubles the part size, so with the
/// defaults (8 MiB, 10,000 parts) the parts reach 4 GiB and the total 7.99 TiB, past
/// S3's 5 TiB object limit, while small dumps still upload in small parts.
public enum PartSizing {
    /// S3's smallest part (all parts but the last) and largest part.
    public static let minimumPartSize = 5 << 20
    public static let maximumPartSize = 5 << 30

    /// The size of part `number` (1-based).
    public static func size(ofPart number: Int, initial: Int = 8 << 20, partLimit: Int = 10_000) -> Int {
        let tierLength = max(1, partLimit / 10)
        let tier = min(9, (number - 1) / tierLength)
        return min(maximumPartSize, max(minimumPartSize, initial) << tier)
    }

    /// The largest object the sizing can carry.
    public static func capacity(initial: Int = 8 << 20, partLimit: Int = 10_000) -> Int64 {
        (1...partLimit).reduce(Int64(0)) { $0 + Int64(size(ofPart: $1, initial: initial, partLimit: partLimit)) }
    }
}
