// Chunked reading of a regular file.
#include "masnn/util/chunked_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn {

ChunkedFile::ChunkedFile(const std::string& path, size_t chunk_bytes) : path_(path) {
  if (chunk_bytes == 0) throw std::invalid_argument("ChunkedFile: chunk_bytes must be > 0");
  fd_ = open_regular_file(path);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::runtime_error(path + ": cannot stat (" + std::strerror(error) + ")");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  // No larger than the file: reading many small files allocates little.
  buffer_.resize(static_cast<size_t>(std::min<uint64_t>(chunk_bytes, std::max<uint64_t>(size_, 1))));
}

ChunkedFile::~ChunkedFile() { ::close(fd_); }

size_t ChunkedFile::read_at(uint64_t offset, uint8_t* dst, size_t n) const {
  if (offset >= size_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error(path_ + ": read error at byte " + std::to_string(offset + done) + " (" +
                                          std::strerror(errno) + ")");
    if (got == 0)
      throw std::runtime_error(path_ + ": the file shrank while it was read (it ends at byte " +
                               std::to_string(offset + done) + ", " + std::to_string(size_) + " bytes when opened)");
    done += static_cast<size_t>(got);
  }
  return n;
}

std::pair<const uint8_t*, size_t> ChunkedFile::next() {
  const size_t n = read_at(position_, buffer_.data(), buffer_.size());
  position_ += n;
  return {n > 0 ? buffer_.data() : nullptr, n};
}

}  // namespace masnn
