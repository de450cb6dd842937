import NIOCore

/// Collects bytes into a buffer of exactly a given size, so a full buffer handed on
/// (a part in flight, a block being compressed) holds its own bytes and no more; a
/// slice of a larger, doubled buffer would keep the whole of it alive.
struct ExactBuffer {
    /// What has been collected towards the next full buffer.
    private(set) var bytes = ByteBuffer()

    /// Moves bytes from `chunk` until either `chunk` is empty or `size` bytes are
    /// collected; returns the full buffer then, and starts a new one.
    mutating func fill(from chunk: inout ByteBuffer, size: Int) -> ByteBuffer? {
        if bytes.capacity < size { bytes.reserveCapacity(size) }
        var piece = chunk.readSlice(length: min(chunk.readableBytes, size - bytes.readableBytes))!
        bytes.writeBuffer(&piece)
        guard bytes.readableBytes == size else { return nil }
        let full = bytes
        bytes = ByteBuffer()
        return full
    }
}
