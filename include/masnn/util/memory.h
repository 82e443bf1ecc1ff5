// Memory measurement for benchmarks: bytes held by LibTorch's CPU allocator (current and peak), and the
// process's peak resident set size. And transparent huge pages for large tensors.
#pragma once

#include <cstdint>

namespace masnn::memory {

/// Routes LibTorch's CPU allocations through masnn's allocator, which counts them (idempotent; use_huge_pages
/// installs the same allocator). Tensors allocated before it was installed are not counted.
void track_cpu_allocations();
/// Bytes currently held by tensors allocated since the allocator was installed.
std::int64_t cpu_bytes_in_use();
/// Highest cpu_bytes_in_use() since the allocator was installed or the last reset_cpu_peak().
std::int64_t cpu_peak_bytes();
/// Sets the peak to the current value, to measure the peak of the next piece of work.
void reset_cpu_peak();
/// Peak resident set size of this process (getrusage), in bytes.
std::int64_t peak_rss_bytes();

/// Peak bytes of tensors LibTorch's CUDA caching allocator handed out on CUDA device `device` since the last
/// reset_cuda_peak(device). Needs a build with -DMASNN_CUDA=ON (otherwise throws std::runtime_error saying so).
std::int64_t cuda_peak_bytes(int device);
/// Sets that peak to the bytes in use now.
void reset_cuda_peak(int device);

/// CPU tensors of 1 MiB and more get a mapping of their own, starting on a 2 MiB boundary with transparent huge
/// pages asked for (madvise MADV_HUGEPAGE), so that first touching them takes one page fault per 2 MiB instead of
/// one per 4 KiB: glibc's malloc maps tensors of 32 MiB and more afresh for every allocation (at T = 60 a training
/// step maps gigabytes anew each time, and the faults were about a third of its time), and keeps smaller ones in
/// its heap, which a training step's mix of sizes fragments (at T = 16 the heap held 90 MiB for 25 MiB of live
/// tensors). The data starts the mapping, with no header in front, so a tensor of whole 2 MiB pages takes no more.
/// Freed mappings are kept for reuse (set_large_block_cache). Idempotent; `enabled = false` makes later
/// allocations take the default path again. Where the kernel has THP off, it only costs a madvise call per mapping.
void use_huge_pages(bool enabled = true);
/// Whether use_huge_pages is on.
bool huge_pages_enabled();
/// With use_huge_pages on, freed mappings are kept for reuse, as PyTorch's CUDA caching allocator does on GPUs: a
/// tensor takes the start of the smallest cached range that holds it, and a freed one rejoins the cached ranges of
/// its mapping beside it. A training step allocates the same sizes every step, and reused memory costs neither page
/// faults nor zeroing. The cache never raises the peak: the large blocks handed out and cached together stay within
/// the most ever handed out at once (a miss unmaps cached ranges, oldest first, to make room), so memory held after a
/// peak is at most that peak. `bytes` caps the cache further (default: no cap beyond
/// the peak; 0 turns it off; a lower cap releases what is over it at once).
void set_large_block_cache(std::int64_t bytes);
/// Bytes held by that cache now.
std::int64_t large_block_cache_bytes();

}  // namespace masnn::memory
