// Whole-file reading (regular files only), atomic writing, FNV-1a.
#include "masnn/util/file_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace masnn {
namespace {

const char* file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

int open_regular_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would wait for a writer forever; it is refused below instead.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw std::runtime_error(path + ": cannot open for reading (" + std::strerror(errno) + ")");
  struct stat st {};
  const int stat_rc = ::fstat(fd, &st), stat_errno = errno;
  if (stat_rc != 0 || !S_ISREG(st.st_mode)) {
    const std::string what = stat_rc != 0 ? std::strerror(stat_errno) : file_type_name(st.st_mode);
    ::close(fd);
    throw std::runtime_error(path + ": expected a regular file, found " + what);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

void require_regular_file(const std::string& path) { ::close(open_regular_file(path)); }

std::vector<uint8_t> read_file_bytes(const std::string& path, size_t max_bytes) {
  const int fd = open_regular_file(path);
  struct stat st {};
  ::fstat(fd, &st);
  std::vector<uint8_t> bytes;
  try {
    // Appended chunk by chunk: no zero-filling pass over the file.
    bytes.reserve(std::min(static_cast<size_t>(st.st_size), max_bytes));
  } catch (const std::exception&) {  // std::bad_alloc, std::length_error
    ::close(fd);
    throw std::runtime_error(path + ": " + std::to_string(st.st_size) + " bytes do not fit in this machine's memory");
  }
  uint8_t chunk[1 << 16];
  while (bytes.size() < max_bytes) {
    const ssize_t n = ::read(fd, chunk, std::min(sizeof chunk, max_bytes - bytes.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(path + ": read error (" + std::strerror(error) + ")");
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + n);
  }
  ::close(fd);
  return bytes;
}

AtomicFileWriter::AtomicFileWriter(std::string path)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())) {
  file_ = std::fopen(tmp_.c_str(), "wb");
  if (!file_) throw std::runtime_error(tmp_ + ": cannot open for writing (" + std::strerror(errno) + ")");
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_) {
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

void AtomicFileWriter::fail(const std::string& what) {
  const int error = errno != 0 ? errno : EIO;  // the first failure's errno names the cause ("No space left")
  std::fclose(file_);
  file_ = nullptr;
  std::remove(tmp_.c_str());
  throw std::runtime_error(path_ + ": cannot " + what + " (" + std::strerror(error) +
                           "); the previous file, if any, is unchanged");
}

void AtomicFileWriter::write(const void* data, size_t size) {
  if (!file_) throw std::logic_error(path_ + ": write after commit or failure");
  errno = 0;
  if (size > 0 && std::fwrite(data, 1, size, file_) != size) fail("write it");
  size_ += size;
}

void AtomicFileWriter::write_at(uint64_t offset, const void* data, size_t size) {
  if (!file_) throw std::logic_error(path_ + ": write after commit or failure");
  if (offset + size > size_) throw std::logic_error(path_ + ": write_at past the bytes written");
  errno = 0;
  if (::fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0 ||
      (size > 0 && std::fwrite(data, 1, size, file_) != size) || ::fseeko(file_, 0, SEEK_END) != 0)
    fail("write it");
}

void AtomicFileWriter::commit() {
  if (!file_) throw std::logic_error(path_ + ": commit after commit or failure");
  errno = 0;
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) fail("write it");
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) {
    const int error = errno != 0 ? errno : EIO;
    std::remove(tmp_.c_str());
    throw std::runtime_error(path_ + ": cannot write it (" + std::strerror(error) +
                             "); the previous file, if any, is unchanged");
  }
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) {
    std::remove(tmp_.c_str());
    throw std::runtime_error(path_ + ": cannot rename temporary file into place (" + ec.message() + ")");
  }
}

void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  AtomicFileWriter out(path);
  out.write(bytes.data(), bytes.size());
  out.commit();
}

void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos || pid_text.size() > 9)
      continue;
    const auto pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
      std::error_code remove_ec;
      fs::remove(it->path(), remove_ec);
    }
  }
}

uint64_t fnv1a(const void* data, size_t size, uint64_t hash) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  constexpr uint64_t prime = 1099511628211ULL;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word = 0;
    for (int b = 7; b >= 0; --b) word = (word << 8) | bytes[i + static_cast<size_t>(b)];
    hash ^= word;
    hash *= prime;
  }
  for (; i < size; ++i) {
    hash ^= bytes[i];
    hash *= prime;
  }
  return hash;
}

}  // namespace masnn
