// A multi-threaded loader with prefetch: turns an EventDataset into batches of time-major frame tensors.
//
// Batch layout: x [T, B', 2, rows, cols] float (time-major, as the models take it), labels [B'] int64,
// sample [B'] int64 (dataset index) and clip [B'] int64. Train mode: B' = B samples, one random clip each
// (clip = -1). Test mode: each sample gives `test_clips` clips in a row, so B' = B * test_clips and column
// b * test_clips + j is clip j of the b-th sample (vote by reshaping outputs to [B, test_clips, ...]).
//
// Determinism: the order of samples depends on (seed, epoch) only, and the random clip and augmentation of
// the sample at position k of an epoch on (seed, epoch, k) only, so batch contents do not depend on the
// number of workers or on timing.
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "masnn/data/event_dataset.h"
#include "masnn/data/frames.h"

namespace masnn::data {

/// Which clips the loader cuts.
enum class ClipMode {
  Train,  ///< one random clip per sample, with augmentation
  Test,   ///< test_clips clips spread over each sample (REFERENCE.md 4.1), no augmentation
};

/// Settings of the loader.
struct LoaderOptions {
  TORCH_ARG(int64_t, batch_size) = 16;
  /// Shuffle the samples each epoch (seeded by seed and epoch).
  TORCH_ARG(bool, shuffle) = true;
  /// Drop the last batch when it is smaller than batch_size.
  TORCH_ARG(bool, drop_last) = false;
  /// Worker threads building batches (0 = build in the calling thread).
  TORCH_ARG(int, workers) = 2;
  /// Batches built ahead of the consumer (at least 1).
  TORCH_ARG(int, prefetch) = 4;
  TORCH_ARG(uint64_t, seed) = 0;
  TORCH_ARG(ClipMode, mode) = ClipMode::Train;
  /// Clips per sample in test mode.
  TORCH_ARG(int, test_clips) = 10;
  TORCH_ARG(FrameOptions, frames) = {};
  /// Training augmentation (ignored in test mode).
  TORCH_ARG(AugmentOptions, augment) = {};
};

/// One batch (see the layout at the top of this file).
struct Batch {
  torch::Tensor x;       ///< [T, B', 2, rows, cols] float32
  torch::Tensor labels;  ///< [B'] int64, 0-based
  torch::Tensor sample;  ///< [B'] int64, dataset index
  torch::Tensor clip;    ///< [B'] int64, clip number (-1 in train mode)
};

/// Builds batch tensors for the given dataset indices; `positions` are their positions in the epoch (they
/// seed the random clip). The function the workers run; exposed for tests and single-threaded use.
Batch make_batch(const EventDataset& dataset, const std::vector<size_t>& indices, const std::vector<size_t>& positions,
                 const LoaderOptions& options, uint64_t epoch);

/// Iterates over a dataset in batches, built by worker threads ahead of use. Usage:
///   EventLoader loader(dataset, options); loader.start_epoch(e); Batch b; while (loader.next(b)) { ... }
/// Destroying the loader mid-epoch stops and joins the workers.
class EventLoader {
 public:
  EventLoader(std::shared_ptr<const EventDataset> dataset, LoaderOptions options);
  ~EventLoader();
  EventLoader(const EventLoader&) = delete;
  EventLoader& operator=(const EventLoader&) = delete;

  /// Starts epoch `epoch` (stopping any epoch in progress).
  void start_epoch(uint64_t epoch);
  /// The next batch of the epoch in order; false at the end of the epoch. Rethrows a worker's error.
  bool next(Batch& batch);
  /// Batches in one epoch.
  size_t batches_per_epoch() const;
  /// Dataset indices of the epoch's samples in order (the shuffle of `epoch`).
  std::vector<size_t> epoch_order(uint64_t epoch) const;
  const LoaderOptions& options() const { return options_; }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  void stop();
  void worker();
  std::vector<size_t> batch_positions(size_t b) const;
  Batch build_batch(size_t b) const;  // batch b of the current epoch

  std::shared_ptr<const EventDataset> dataset_;
  LoaderOptions options_;
  uint64_t epoch_ = 0;
  std::vector<size_t> order_;
  size_t n_batches_ = 0;
  size_t next_claim_ = 0;    // next batch index a worker takes
  size_t next_deliver_ = 0;  // next batch index next() returns
  bool stopping_ = false;
  bool started_ = false;
  std::map<size_t, Slot> ready_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
};

}  // namespace masnn::data
