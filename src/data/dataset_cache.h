// A one-time conversion of a dataset's samples into one compact binary file, so that epochs do not re-parse
// AEDAT. The cache is memory-mapped; it is rebuilt when the source files change (size or mtime), and a
// cache that fails any check (magic, version, sizes, bounds, FNV-1a checksum of the payload) is rebuilt,
// never trusted.
//
// File (little-endian): a 64-byte header {magic "MASNNEVC", u32 version, u32 header size, u64 samples,
// u64 payload bytes, u64 payload checksum (fnv1a of file_io.h), i32 width, i32 height, i32 classes,
// u32 reserved, u64 reserved}, then the payload: the source list as text ("size mtime_ns path" lines) and the
// dataset name, each as u64 length + bytes padded to 8; an index of 32 bytes per sample {i64 t0, u64 count,
// u64 offset, i32 label, u32 time width}; then per sample u32 (or i64) time offsets from t0, u16 x, u16 y,
// u8 p, padded to 8 bytes. Written to a temporary file and renamed into place.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "masnn/data/event_dataset.h"

namespace masnn::data {

/// Where the cache of the dataset in `root` lives: `root`/.masnn-cache, shared by every run on that data, when a
/// file can be written there; otherwise (a read-only dataset) a per-user folder,
/// $XDG_CACHE_HOME/masnn/datasets/<folder name>-<hash of its path> ($HOME/.cache when XDG_CACHE_HOME is unset),
/// said on stderr. Throws naming both folders when neither can be written.
std::string dataset_cache_folder(const std::string& root);

/// Version of the cache layout written by this build.
constexpr uint32_t kCacheVersion = 1;

/// What opening a cache did.
enum class CacheState {
  Reused,   ///< the existing cache was valid and current
  Built,    ///< no cache existed; it was built
  Rebuilt,  ///< the cache was stale or corrupt; it was rebuilt (see CachedDataset::reason)
};

/// A dataset served from its cache file. Labels, names and sizes are the source's.
class CachedDataset : public EventDataset {
 public:
  /// Opens the cache at `path` for `source`, building or rebuilding it when needed. Throws
  /// std::runtime_error naming the file on I/O errors, or a source error while converting.
  CachedDataset(std::shared_ptr<const EventDataset> source, std::string path);
  ~CachedDataset() override;
  CachedDataset(const CachedDataset&) = delete;
  CachedDataset& operator=(const CachedDataset&) = delete;

  size_t size() const override { return index_.size(); }
  int label(size_t i) const override { return index_.at(i).label; }
  /// The sample's events, decoded from the mapped file (thread-safe).
  Events events(size_t i) const override;
  int num_classes() const override { return source_->num_classes(); }
  int width() const override { return source_->width(); }
  int height() const override { return source_->height(); }
  std::string name() const override { return source_->name(); }
  std::string describe(size_t i) const override { return source_->describe(i); }
  std::vector<SourceFile> source_files() const override { return source_->source_files(); }

  /// Reused, Built or Rebuilt.
  CacheState state() const { return state_; }
  /// Why the cache was rebuilt (empty when reused or built fresh).
  const std::string& reason() const { return reason_; }
  /// Events stored in the cache.
  uint64_t total_events() const { return total_events_; }
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    int64_t t0;
    uint64_t count;
    uint64_t offset;
    int32_t label;
    uint32_t time_width;
  };
  std::string validate(const std::string& expected_sources);  // empty when usable
  void build(const std::string& sources);
  bool map_file();
  void unmap();

  std::shared_ptr<const EventDataset> source_;
  std::string path_;
  CacheState state_ = CacheState::Built;
  std::string reason_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::vector<Entry> index_;
  uint64_t total_events_ = 0;
};

/// The source list text recorded in a cache ("size mtime_ns path" per line).
std::string describe_sources(const std::vector<SourceFile>& files);

}  // namespace masnn::data
