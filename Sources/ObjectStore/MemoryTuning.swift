#if os(Linux)
import CMalloc
#endif

/// Process-wide allocator settings for a process that streams backups.
public enum MemoryTuning {
    /// Makes buffers of 1 MiB and more come straight from the system and go back to it
    /// when freed. glibc's default raises that threshold after the first large free,
    /// after which parts and blocks are carved from heap arenas that only grow: peak
    /// memory then creeps up with the bytes streamed instead of staying flat.
    public static func returnLargeBuffersToTheSystem() {
        #if os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 1 << 20)
        #endif
    }
}
