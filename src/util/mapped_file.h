// A regular file mapped read-only into memory: the event readers decode multi-GB recordings through it without
// reading them whole into a buffer (the page cache holds what is touched).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace masnn {

class MappedFile {
 public:
  /// Maps the regular file at `path` (a FIFO, folder or device is refused, as open_regular_file does). An empty
  /// file maps to size() 0. Throws std::runtime_error naming the file when it cannot be opened or mapped.
  /// A file truncated by another process while mapped makes reads past its new end fault (SIGBUS): map only
  /// files that are complete (a live, growing file is read through a stream instead).
  /// `populate` maps every page at once (fastest for a file decoded whole); without it pages are read as they are
  /// touched, front to back (a file larger than memory, decoded in pieces).
  explicit MappedFile(const std::string& path, bool populate = true);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  /// The file's bytes (nullptr when empty).
  const uint8_t* data() const { return data_; }
  /// The file's size in bytes.
  size_t size() const { return size_; }
  /// The path it was opened with.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace masnn
