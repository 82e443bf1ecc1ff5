// Memory measurement for benchmarks: bytes held by LibTorch's CPU allocator (current and peak), and the
// process's peak resident set size. And transparent huge pages for large tensors.
#pragma once

#include <cstdint>

namespace masnn::memory {

/// Routes LibTorch's CPU allocations through a counting wrapper (idempotent). Tensors allocated before
/// the call are not counted.
void track_cpu_allocations();
/// Bytes currently held by tensors allocated since tracking started.
std::int64_t cpu_bytes_in_use();
/// Highest cpu_bytes_in_use() since tracking started or the last reset_cpu_peak().
std::int64_t cpu_peak_bytes();
/// Sets the peak to the current value, to measure the peak of the next piece of work.
void reset_cpu_peak();
/// Peak resident set size of this process (getrusage), in bytes.
std::int64_t peak_rss_bytes();

/// Large CPU tensors (32 MiB and more, those glibc's malloc maps afresh for every allocation) get their own
/// mapping with transparent huge pages asked for (madvise MADV_HUGEPAGE), so that first touching them takes one
/// page fault per 2 MiB instead of one per 4 KiB: at T = 60 a training step maps gigabytes anew each time, and the
/// faults were about a third of its time. Freed mappings go back to the system at once, as before. Call before
/// track_cpu_allocations() for both to apply (idempotent); `enabled = false` makes later allocations take the
/// default path again. Where the kernel has THP off, it only costs a madvise call per large tensor.
void use_huge_pages(bool enabled = true);
/// Whether use_huge_pages is on.
bool huge_pages_enabled();

}  // namespace masnn::memory
