//! How the process asks the kernel for memory.

/// Asks the kernel not to back this process with transparent huge pages.
///
/// mimalloc marks the arenas it reserves `MADV_HUGEPAGE`, so wherever THP is `madvise` (most
/// distributions' default) or `always`, each 2 MiB region the allocator touches at all becomes
/// resident whole. The service's heap is many small objects spread over those regions: at
/// 1,000 databases 58 MiB of its 97 MiB RSS were huge pages over a 49 MB heap (BENCHMARKS.md,
/// "Fleet", "Where it stands"). A control-plane service gains nothing measurable from fewer TLB
/// misses, and a pod's memory limit counts every resident byte. Best effort: a kernel or
/// sandbox that refuses the call leaves the process as it was.
pub fn prefer_small_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}
