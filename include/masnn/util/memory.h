// Memory measurement for benchmarks: bytes held by LibTorch's CPU allocator (current and peak), and the
// process's peak resident set size.
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

}  // namespace masnn::memory
