// Whole-file reading and atomic writing, shared by the event readers, the writers and the dataset cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace masnn {

/// The bytes of the file at `path`, read in one go (at most `max_bytes` of them: the first). Throws
/// std::runtime_error naming the file when it cannot be opened or read, or is not a regular file (a FIFO is refused
/// at once, never waited on).
std::vector<uint8_t> read_file_bytes(const std::string& path, size_t max_bytes = SIZE_MAX);

/// The extension of a file name in lower case, with its dot (".aedat4"); empty when the name has none.
std::string lower_extension(const std::string& path);

/// A descriptor of the regular file at `path`, opened for reading (the caller closes it); a folder, FIFO, socket
/// or device is refused at once with an error naming the file and what it is (opening a FIFO would wait forever).
int open_regular_file(const std::string& path);
/// Throws, as open_regular_file, unless `path` is a regular file that can be opened for reading.
void require_regular_file(const std::string& path);

/// Writes `bytes` to `path` atomically: to `path` + ".tmp.<pid>" first, then renamed over `path`, so a
/// reader never sees a half-written file. Throws std::runtime_error naming the file on failure.
void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes);

/// A file written piece by piece and put in place atomically: bytes go to `path` + ".tmp.<pid>", commit() flushes,
/// syncs and renames it over `path`; destroyed without commit() (an error, an exception) it removes the temporary,
/// leaving any previous `path` unchanged. For outputs too large to hold in memory (converted event files).
class AtomicFileWriter {
 public:
  /// Opens the temporary. Throws std::runtime_error naming it when it cannot be created.
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  /// Appends `size` bytes. Throws std::runtime_error naming `path` and the cause (a full disk) on failure.
  void write(const void* data, size_t size);
  /// Overwrites `size` bytes at `offset` (< bytes written), for a header whose counts are known only at the end.
  void write_at(uint64_t offset, const void* data, size_t size);
  /// Bytes appended so far.
  uint64_t size() const { return size_; }
  /// Flushes, syncs and renames the temporary over `path`. Throws std::runtime_error naming `path` on failure.
  void commit();

 private:
  [[noreturn]] void fail(const std::string& what);
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0;
};

/// Removes `path` + ".tmp.<pid>" files left by writers that died (no process <pid> runs any more); those of live
/// processes stay. Errors are ignored: this is tidying, not a write.
void remove_stale_temporaries(const std::string& path);

/// 64-bit FNV-1a hash of `size` bytes taken as little-endian 64-bit words (the tail byte by byte), continuing
/// from `hash` (start with fnv1a_offset). Word-wise, so checking a cache of gigabytes costs well under a second.
uint64_t fnv1a(const void* data, size_t size, uint64_t hash);
/// The FNV-1a 64-bit offset basis.
constexpr uint64_t fnv1a_offset = 1469598103934665603ULL;

}  // namespace masnn
