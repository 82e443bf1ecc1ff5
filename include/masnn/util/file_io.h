// Whole-file reading and atomic writing, shared by the event readers, the writers and the dataset cache.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn {

/// The bytes of the file at `path`, read in one go. Throws std::runtime_error naming the file when it
/// cannot be opened or read, or is not a regular file (a FIFO is refused at once, never waited on).
std::vector<uint8_t> read_file_bytes(const std::string& path);

/// A descriptor of the regular file at `path`, opened for reading (the caller closes it); a folder, FIFO, socket
/// or device is refused at once with an error naming the file and what it is (opening a FIFO would wait forever).
int open_regular_file(const std::string& path);
/// Throws, as open_regular_file, unless `path` is a regular file that can be opened for reading.
void require_regular_file(const std::string& path);

/// Writes `bytes` to `path` atomically: to `path` + ".tmp.<pid>" first, then renamed over `path`, so a
/// reader never sees a half-written file. Throws std::runtime_error naming the file on failure.
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes);

/// Removes `path` + ".tmp.<pid>" files left by writers that died (no process <pid> runs any more); those of live
/// processes stay. Errors are ignored: this is tidying, not a write.
void remove_stale_temporaries(const std::string& path);

/// 64-bit FNV-1a hash of `size` bytes taken as little-endian 64-bit words (the tail byte by byte), continuing
/// from `hash` (start with fnv1a_offset). Word-wise, so checking a cache of gigabytes costs well under a second.
uint64_t fnv1a(const void* data, size_t size, uint64_t hash);
/// The FNV-1a 64-bit offset basis.
constexpr uint64_t fnv1a_offset = 1469598103934665603ULL;

}  // namespace masnn
