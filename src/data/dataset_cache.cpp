// The binary dataset cache (no tensors here).
#include "data/dataset_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn::data {
namespace {

constexpr char kMagic[8] = {'M', 'A', 'S', 'N', 'N', 'E', 'V', 'C'};
constexpr size_t kHeader = 64;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t samples;
  uint64_t payload_bytes;
  uint64_t checksum;
  int32_t width;
  int32_t height;
  int32_t classes;
  uint32_t reserved0;
  uint64_t reserved1;
};
static_assert(sizeof(Header) == kHeader, "cache header is 64 bytes");

size_t pad8(size_t n) {
  return (n + 7) & ~size_t{7};
}

// Streams the payload to a file while hashing it; every piece is padded to 8 bytes so that hashing piece
// by piece equals hashing the payload in one go.
class PayloadWriter {
 public:
  PayloadWriter(std::FILE* f, std::string name) : f_(f), name_(std::move(name)) {}
  void put(const void* data, size_t n) {
    static const uint8_t zeros[8] = {};
    write(data, n);
    write(zeros, pad8(n) - n);
  }
  void put_text(const std::string& s) {
    const uint64_t n = s.size();
    put(&n, 8);
    put(s.data(), s.size());
  }
  uint64_t offset() const { return offset_; }
  uint64_t checksum() const { return hash_; }

 private:
  void write(const void* data, size_t n) {
    if (n == 0) return;
    // Pieces arrive in multiples of 8 overall; buffer partial words.
    const auto* b = static_cast<const uint8_t*>(data);
    buffer_.insert(buffer_.end(), b, b + n);
    offset_ += n;
    if (buffer_.size() >= (1u << 20)) flush(false);
  }

 public:
  void flush(bool all) {
    const size_t n = all ? buffer_.size() : buffer_.size() / 8 * 8;
    if (n == 0) return;
    hash_ = fnv1a(buffer_.data(), n, hash_);
    if (std::fwrite(buffer_.data(), 1, n, f_) != n) throw std::runtime_error(name_ + ": write failed");
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(n));
  }

 private:
  std::FILE* f_;
  std::string name_;
  std::vector<uint8_t> buffer_;
  uint64_t offset_ = 0;
  uint64_t hash_ = fnv1a_offset;
};

}  // namespace

std::string describe_sources(const std::vector<SourceFile>& files) {
  std::string s;
  for (const auto& f : files) s += std::to_string(f.size) + " " + std::to_string(f.mtime_ns) + " " + f.path + "\n";
  return s;
}

CachedDataset::CachedDataset(std::shared_ptr<const EventDataset> source, std::string path)
    : source_(std::move(source)), path_(std::move(path)) {
  if (!source_) throw std::invalid_argument("cache: no source dataset");
  const std::string sources = describe_sources(source_->source_files());
  if (std::filesystem::exists(path_)) {
    reason_ = validate(sources);
    if (reason_.empty()) {
      state_ = CacheState::Reused;
      return;
    }
    state_ = CacheState::Rebuilt;
  } else {
    state_ = CacheState::Built;
  }
  unmap();
  build(sources);
  const std::string again = validate(sources);
  if (!again.empty()) throw std::runtime_error(path_ + ": cache just written fails its check: " + again);
}

CachedDataset::~CachedDataset() {
  unmap();
}

void CachedDataset::unmap() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
  index_.clear();
}

bool CachedDataset::map_file() {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    size_ = 0;
    return st.st_size == 0;
  }
  size_ = static_cast<size_t>(st.st_size);
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    size_ = 0;
    return false;
  }
  data_ = static_cast<const uint8_t*>(p);
  return true;
}

std::string CachedDataset::validate(const std::string& expected_sources) {
  unmap();
  if (!map_file()) return "cannot be opened";
  if (size_ < kHeader) return "shorter than its header (" + std::to_string(size_) + " bytes)";
  Header h;
  std::memcpy(&h, data_, kHeader);
  if (std::memcmp(h.magic, kMagic, 8) != 0) return "not a masnn event cache (bad magic)";
  if (h.version != kCacheVersion)
    return "cache version " + std::to_string(h.version) + " (this build writes " + std::to_string(kCacheVersion) + ")";
  if (h.header_size != kHeader || h.payload_bytes != size_ - kHeader)
    return "size does not match its header (truncated?)";
  const uint8_t* payload = data_ + kHeader;
  if (fnv1a(payload, h.payload_bytes, fnv1a_offset) != h.checksum) return "payload checksum mismatch (corrupt)";
  size_t pos = 0;
  auto read_text = [&](std::string& out) {
    if (pos + 8 > h.payload_bytes) return false;
    uint64_t n;
    std::memcpy(&n, payload + pos, 8);
    pos += 8;
    if (n > h.payload_bytes - pos) return false;
    out.assign(reinterpret_cast<const char*>(payload + pos), n);
    pos += pad8(n);
    return true;
  };
  std::string sources, name;
  if (!read_text(sources) || !read_text(name)) return "malformed payload";
  if (name != source_->name()) return "built for dataset " + name + ", not " + source_->name();
  if (sources != expected_sources) return "source files changed since the cache was built";
  if (h.samples != source_->size()) return "sample count differs from the source";
  if (h.samples > (h.payload_bytes - pos) / 32) return "index overruns the payload";
  std::vector<Entry> index(h.samples);
  uint64_t total = 0;
  for (auto& e : index) {
    std::memcpy(&e.t0, payload + pos, 8);
    std::memcpy(&e.count, payload + pos + 8, 8);
    std::memcpy(&e.offset, payload + pos + 16, 8);
    std::memcpy(&e.label, payload + pos + 24, 4);
    std::memcpy(&e.time_width, payload + pos + 28, 4);
    pos += 32;
    if (e.time_width != 4 && e.time_width != 8) return "bad time width in the index";
    const uint64_t bytes_per_event = e.time_width + 5;
    if (e.count > h.payload_bytes / bytes_per_event || e.offset > h.payload_bytes ||
        e.count * bytes_per_event > h.payload_bytes - e.offset)
      return "sample data overruns the payload";
    if (e.label < 0 || e.label >= source_->num_classes()) return "label out of range";
    total += e.count;
  }
  index_ = std::move(index);
  total_events_ = total;
  return {};
}

namespace {

// Whether a file can be created in `dir` (made when missing): tried, not inferred from permission bits, which
// say nothing of a read-only mount and everything is allowed to root.
bool can_write_into(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir, ec)) return false;
  const std::string probe = (dir / (".write-probe." + std::to_string(::getpid()))).string();
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  ::close(fd);
  ::unlink(probe.c_str());
  return true;
}

}  // namespace

std::string dataset_cache_folder(const std::string& root) {
  namespace fs = std::filesystem;
  const fs::path beside = fs::path(root) / ".masnn-cache";
  if (can_write_into(beside)) return beside.string();
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = xdg && *xdg ? fs::path(xdg) : home && *home ? fs::path(home) / ".cache" : fs::path();
  std::error_code ec;
  const std::string absolute = fs::weakly_canonical(fs::absolute(root), ec).string();
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx",
                static_cast<unsigned long long>(fnv1a(absolute.data(), absolute.size(), fnv1a_offset)));
  const std::string name = fs::path(absolute).filename().string();
  const fs::path user = base / "masnn" / "datasets" / ((name.empty() ? std::string("dataset") : name) + "-" + hash);
  if (base.empty() || !can_write_into(user))
    throw std::runtime_error(root + ": the dataset cache can be written neither in " + beside.string() + " nor in " +
                             (base.empty() ? std::string("a per-user folder (XDG_CACHE_HOME and HOME are unset)")
                                           : user.string()) +
                             "; set data.cache = false, or XDG_CACHE_HOME to a writable folder");
  std::fprintf(stderr, "masnn: note: %s cannot be written; the dataset cache is in %s\n", beside.c_str(),
               user.c_str());
  return user.string();
}

void CachedDataset::build(const std::string& sources) {
  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  const auto parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw std::runtime_error(tmp + ": cannot open for writing (" + std::strerror(errno) + ")");
  try {
    Header h{};
    std::memcpy(h.magic, kMagic, 8);
    h.version = kCacheVersion;
    h.header_size = kHeader;
    h.samples = source_->size();
    h.width = source_->width();
    h.height = source_->height();
    h.classes = source_->num_classes();
    if (std::fwrite(&h, 1, kHeader, f) != kHeader) throw std::runtime_error(tmp + ": write failed");
    PayloadWriter w(f, tmp);
    w.put_text(sources);
    w.put_text(source_->name());
    // Sample data offsets need the counts first: read each sample once, keep only the index, then write
    // the data in a second pass (the Gesture dataset parses each recording once per pass).
    const size_t n = source_->size();
    std::vector<Entry> index(n);
    std::vector<Events> pending;
    const uint64_t index_start = w.offset();
    uint64_t offset = index_start + 32 * n;
    for (size_t i = 0; i < n; ++i) {
      const Events ev = source_->events(i);
      Entry& e = index[i];
      e.t0 = ev.empty() ? 0 : ev.t.front();
      e.count = ev.size();
      e.label = source_->label(i);
      e.time_width = 4;
      for (size_t k = 0; k < ev.size(); ++k)
        if (ev.t[k] - e.t0 > 0xFFFFFFFFLL || ev.t[k] < e.t0) {
          e.time_width = 8;
          break;
        }
      e.offset = offset;
      offset += pad8(e.count * e.time_width) + pad8(e.count * 2) * 2 + pad8(e.count);
    }
    for (const Entry& e : index) {
      uint8_t raw[32];
      std::memcpy(raw, &e.t0, 8);
      std::memcpy(raw + 8, &e.count, 8);
      std::memcpy(raw + 16, &e.offset, 8);
      std::memcpy(raw + 24, &e.label, 4);
      std::memcpy(raw + 28, &e.time_width, 4);
      w.put(raw, 32);
    }
    std::vector<uint32_t> t32;
    std::vector<int64_t> t64;
    for (size_t i = 0; i < n; ++i) {
      const Events ev = source_->events(i);
      const Entry& e = index[i];
      if (ev.size() != e.count)
        throw std::runtime_error(source_->describe(i) + ": sample changed while building the cache");
      if (w.offset() != e.offset) throw std::logic_error("cache: offset bookkeeping error");
      if (e.time_width == 4) {
        t32.resize(ev.size());
        for (size_t k = 0; k < ev.size(); ++k) t32[k] = static_cast<uint32_t>(ev.t[k] - e.t0);
        w.put(t32.data(), t32.size() * 4);
      } else {
        t64.resize(ev.size());
        for (size_t k = 0; k < ev.size(); ++k) t64[k] = ev.t[k] - e.t0;
        w.put(t64.data(), t64.size() * 8);
      }
      w.put(ev.x.data(), ev.size() * 2);
      w.put(ev.y.data(), ev.size() * 2);
      w.put(ev.p.data(), ev.size());
    }
    w.flush(true);
    h.payload_bytes = w.offset();
    h.checksum = w.checksum();
    if (std::fseek(f, 0, SEEK_SET) != 0 || std::fwrite(&h, 1, kHeader, f) != kHeader || std::fflush(f) != 0 ||
        ::fsync(::fileno(f)) != 0)
      throw std::runtime_error(tmp + ": write failed");
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(tmp + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path_ + ": cannot rename the new cache into place (" + ec.message() + ")");
  }
}

Events CachedDataset::events(size_t i) const {
  const Entry& e = index_.at(i);
  const uint8_t* base = data_ + kHeader + e.offset;
  const size_t n = e.count;
  Events ev;
  ev.t.resize(n);
  ev.x.resize(n);
  ev.y.resize(n);
  ev.p.resize(n);
  if (e.time_width == 4) {
    for (size_t k = 0; k < n; ++k) {
      uint32_t d;
      std::memcpy(&d, base + 4 * k, 4);
      ev.t[k] = e.t0 + d;
    }
  } else {
    std::memcpy(ev.t.data(), base, n * 8);
    for (auto& t : ev.t) t += e.t0;
  }
  base += pad8(n * e.time_width);
  if (n) {
    std::memcpy(ev.x.data(), base, n * 2);
    std::memcpy(ev.y.data(), base + pad8(n * 2), n * 2);
    std::memcpy(ev.p.data(), base + 2 * pad8(n * 2), n);
  }
  return ev;
}

}  // namespace masnn::data
