// The interface every event dataset offers the loader and the cache: labelled samples of events.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "masnn/data/events.h"

namespace masnn::data {

/// Which part of a dataset.
enum class Split { Train, Test };

/// "train" or "test".
std::string split_name(Split split);

/// A source file a dataset reads, with what identifies its version (for cache invalidation).
struct SourceFile {
  std::string path;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

/// Size and modification time of `path` (throws std::runtime_error naming the file when missing).
SourceFile stat_source(const std::string& path);

/// Labelled samples of events. Implementations are immutable after construction, and `events` may be
/// called from several threads at once.
class EventDataset {
 public:
  virtual ~EventDataset() = default;
  /// Number of samples.
  virtual size_t size() const = 0;
  /// 0-based class of sample i.
  virtual int label(size_t i) const = 0;
  /// The events of sample i, sorted by t (thread-safe). Errors name the source file.
  virtual Events events(size_t i) const = 0;
  /// Number of classes.
  virtual int num_classes() const = 0;
  /// Sensor width and height.
  virtual int width() const = 0;
  virtual int height() const = 0;
  /// A short name of the dataset and split, e.g. "dvs128-gesture/train".
  virtual std::string name() const = 0;
  /// Where sample i comes from, for messages (file, and segment when a file holds several samples).
  virtual std::string describe(size_t i) const = 0;
  /// Every file the samples are read from, with size and mtime, in a fixed order.
  virtual std::vector<SourceFile> source_files() const = 0;
};

}  // namespace masnn::data
