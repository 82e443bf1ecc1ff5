// A multi-threaded loader with prefetch: turns an EventDataset into batches of time-major frame tensors.
//
// Batch layout: x [T, B', 2, rows, cols] float (time-major, as the models take it), labels [B'] int64,
// sample [B'] int64 (dataset index) and clip [B'] int64. Train mode: B' = B samples, one random clip each
// (clip = -1). Test mode: each sample gives `test_clips` clips in a row, so B' = B * test_clips and column
// b * test_clips + j is clip j of the b-th sample (vote by reshaping outputs to [B, test_clips, ...]).
//
// Determinism: the order of samples depends on (seed, epoch) only, and the random clip and augmentation of
// the sample at position k of an epoch on (seed, epoch, k) only, so batch contents do not depend on the
// number of workers or on timing (batch_loader.h).
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "masnn/data/batch_loader.h"
#include "masnn/data/event_dataset.h"
#include "masnn/data/event_filters.h"
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
  /// Filters applied to every sample (train and test) before framing.
  TORCH_ARG(EventFilterOptions, filters) = {};
  /// Random event augmentations of training samples (ignored in test mode).
  TORCH_ARG(EventAugmentOptions, event_augment) = {};
  /// This process's shard of a distributed job (SamplerSettings in batch_loader.h).
  TORCH_ARG(int, rank) = 0;
  TORCH_ARG(int, world_size) = 1;
};

/// Builds batch tensors for the given dataset indices; `positions` are their positions in the epoch (they
/// seed the random clip). The function the workers run; exposed for tests and single-threaded use.
Batch make_batch(const EventDataset& dataset, const std::vector<size_t>& indices, const std::vector<size_t>& positions,
                 const LoaderOptions& options, uint64_t epoch);

/// Iterates over a dataset in batches, built by worker threads ahead of use. Usage:
///   EventLoader loader(dataset, options); loader.start_epoch(e); Batch b; while (loader.next(b)) { ... }
/// Destroying the loader mid-epoch stops and joins the workers.
class EventLoader : public PrefetchingLoader {
 public:
  EventLoader(std::shared_ptr<const EventDataset> dataset, LoaderOptions options);
  ~EventLoader() override;

  int columns_per_sample() const override;
  const LoaderOptions& options() const { return options_; }

 private:
  Batch build(const std::vector<size_t>& indices, const std::vector<size_t>& positions, uint64_t epoch) const override;

  std::shared_ptr<const EventDataset> dataset_;
  LoaderOptions options_;
};

}  // namespace masnn::data
