// A regular file read front to back in chunks through one reused buffer (pread). The event readers decode from it:
// a chunk the caches hold decodes faster than a memory mapping, whose 4 KB pages each cost a page-table entry and a
// TLB miss (up to 2x slower, measured in docs/data.md), and a file that another process truncates meanwhile gives
// an error naming it, where a mapping would fault (SIGBUS).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace masnn {

class ChunkedFile {
 public:
  /// 1 MiB: fits the L2 cache beside the decoder's output (256 KB chunks decoded slower, 4 MB ones no faster).
  static constexpr size_t kDefaultChunkBytes = size_t{1} << 20;

  /// Opens the regular file at `path` (a FIFO, folder or device is refused, as open_regular_file does). Throws
  /// std::runtime_error naming the file when it cannot be opened.
  explicit ChunkedFile(const std::string& path, size_t chunk_bytes = kDefaultChunkBytes);
  ~ChunkedFile();
  ChunkedFile(const ChunkedFile&) = delete;
  ChunkedFile& operator=(const ChunkedFile&) = delete;

  /// The file's size when it was opened.
  uint64_t size() const { return size_; }
  /// The path it was opened with.
  const std::string& path() const { return path_; }

  /// Reads min(n, size() - offset) bytes at `offset` into `dst` and returns how many. Throws std::runtime_error
  /// naming the file on a read error or when the file has become shorter than size().
  size_t read_at(uint64_t offset, uint8_t* dst, size_t n) const;
  /// The next chunk of the file (at most the chunk size; {nullptr, 0} after the last), valid until the next call.
  std::pair<const uint8_t*, size_t> next();
  /// The offset of the next chunk.
  uint64_t position() const { return position_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t position_ = 0;
  std::vector<uint8_t> buffer_;
};

}  // namespace masnn
