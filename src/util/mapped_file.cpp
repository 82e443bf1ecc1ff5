// Read-only memory mapping of a regular file.
#include "util/mapped_file.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn {

MappedFile::MappedFile(const std::string& path, bool populate) : path_(path) {
  const int fd = open_regular_file(path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(path + ": cannot stat (" + std::strerror(error) + ")");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    // MAP_POPULATE maps every page at once (one fault per page costs more than the decoding of it).
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
    if (p == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(path + ": cannot map " + std::to_string(size_) + " bytes (" + std::strerror(error) +
                               ")");
    }
    ::madvise(p, size_, MADV_SEQUENTIAL);  // decoders walk the file once, front to back
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);  // the mapping stays valid without the descriptor
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace masnn
