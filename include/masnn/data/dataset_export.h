// Writing the samples of an event dataset to files, one per sample, in the folder layout of N-MNIST
// (`<folder>/<label>/<sample number>.<ext>`), so that a made dataset (`masnn simulate --dataset`) reads back as
// a dataset of files.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "masnn/data/event_dataset.h"
#include "masnn/data/event_writer.h"

namespace masnn::data {

/// What an export wrote.
struct ExportReport {
  size_t files = 0;    ///< files written
  size_t events = 0;   ///< events in them
  uint64_t bytes = 0;  ///< their size
  /// Counts a file of `file_events` events and `file_bytes` bytes.
  void add(size_t file_events, uint64_t file_bytes) {
    files += 1;
    events += file_events;
    bytes += file_bytes;
  }
};

/// Settings of an export.
struct ExportOptions {
  EventOutputFormat format = EventOutputFormat::NmnistBin;
  size_t limit = 0;  ///< the first `limit` samples only (0 = all)
  int workers = 1;   ///< threads making and writing samples (the files do not depend on it)
  /// Called after each file (from the worker that wrote it, one call at a time) with files done and in all.
  std::function<void(size_t done, size_t total)> progress;
};

/// Writes sample i of `dataset` to `folder`/<label>/<i + 1, 5 digits>.<ext> (N-MNIST numbers its files from 1),
/// each file atomically. Throws std::runtime_error naming the file that cannot be written, std::invalid_argument
/// naming the event a format cannot hold (the N-MNIST format: t < 2^23 us, x < 256, y < 240).
ExportReport export_event_dataset(const EventDataset& dataset, const std::string& folder,
                                  const ExportOptions& options = {});

}  // namespace masnn::data
