// What training and evaluation consume: batches of network inputs with labels, for any kind of data (event
// frames, images). PrefetchingLoader holds what every loader shares — the epoch's order (shuffled by seed and
// epoch, sharded across the ranks of a distributed job) and the worker threads building batches ahead of use —
// and leaves how a batch is built to the concrete loader (EventLoader in loader.h, the image loaders).
//
// Determinism: the order of an epoch depends on (seed, epoch) only, and a loader passes each sample's position in
// the whole epoch (the same on every rank and for any number of workers) to build(), which seeds its random
// choices (clips, augmentation) with it; so batch contents depend on neither the workers nor timing.
#pragma once

#include <torch/types.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace masnn::data {

/// One batch. The layout of x is the loader's: event frames [T, B', 2, rows, cols] (time-major), images
/// [B, C, H, W]. Column k of every tensor belongs to the same network input.
struct Batch {
  torch::Tensor x;       ///< network input, float32
  torch::Tensor labels;  ///< [B'] int64, 0-based
  torch::Tensor sample;  ///< [B'] int64, dataset index
  torch::Tensor clip;    ///< [B'] int64, clip number (-1 when a sample gives one column)
};

/// A source of batches, epoch by epoch.
class BatchLoader {
 public:
  virtual ~BatchLoader() = default;
  /// Starts epoch `epoch` (stopping any epoch in progress).
  virtual void start_epoch(uint64_t epoch) = 0;
  /// The next batch of the epoch in order; false at the end of the epoch.
  virtual bool next(Batch& batch) = 0;
  /// Batches in one epoch.
  virtual size_t batches_per_epoch() const = 0;
  /// Consecutive columns of a batch that belong to one sample and are voted over (test clips); 1 otherwise.
  virtual int columns_per_sample() const = 0;
};

/// How a PrefetchingLoader walks its dataset.
struct SamplerSettings {
  int64_t batch_size = 16;
  bool shuffle = true;     ///< shuffle the samples each epoch (seeded by seed and epoch)
  bool drop_last = false;  ///< drop the last batch of this rank when it is smaller than batch_size
  int workers = 2;         ///< worker threads (0 = build in the calling thread)
  int prefetch = 4;        ///< batches built ahead of the consumer (at least 1)
  uint64_t seed = 0;
  /// Distributed sharding (as torch.utils.data.DistributedSampler): the epoch's order is padded by wrapping
  /// around to a multiple of world_size, and rank r takes positions r, r + world_size, ... — every sample at
  /// least once per epoch across the ranks, each rank the same number of samples.
  int rank = 0;
  int world_size = 1;

  /// Throws std::invalid_argument naming the bad field.
  void validate() const;

  /// The sampling fields of a loader's options (any options type with the accessors of the same names).
  template <class LoaderOptionsT>
  static SamplerSettings of(const LoaderOptionsT& o) {
    SamplerSettings s;
    s.batch_size = o.batch_size();
    s.shuffle = o.shuffle();
    s.drop_last = o.drop_last();
    s.workers = o.workers();
    s.prefetch = o.prefetch();
    s.seed = o.seed();
    s.rank = o.rank();
    s.world_size = o.world_size();
    return s;
  }
};

/// Order, sharding and prefetching threads for loaders over a dataset of a fixed size. Concrete loaders
/// implement build() and MUST call stop() in their destructor (workers call build()).
class PrefetchingLoader : public BatchLoader {
 public:
  PrefetchingLoader(size_t dataset_size, SamplerSettings settings);
  ~PrefetchingLoader() override;
  PrefetchingLoader(const PrefetchingLoader&) = delete;
  PrefetchingLoader& operator=(const PrefetchingLoader&) = delete;

  void start_epoch(uint64_t epoch) override;
  /// Rethrows a worker's error.
  bool next(Batch& batch) override;
  size_t batches_per_epoch() const override;
  /// Dataset indices of this rank's samples of the epoch, in order.
  std::vector<size_t> epoch_order(uint64_t epoch) const;
  /// Positions of this rank's samples in the whole epoch's order (what seeds their random choices).
  std::vector<size_t> epoch_positions() const;
  const SamplerSettings& sampler() const { return settings_; }

 protected:
  /// Builds the batch of the given dataset indices; `positions` are their positions in the epoch.
  virtual Batch build(const std::vector<size_t>& indices, const std::vector<size_t>& positions,
                      uint64_t epoch) const = 0;
  /// Stops and joins the workers.
  void stop();

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  void worker();
  Batch build_batch(size_t b) const;  // batch b of the current epoch
  size_t samples_per_rank() const;

  size_t dataset_size_;
  SamplerSettings settings_;
  uint64_t epoch_ = 0;
  std::vector<size_t> order_, positions_;
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

/// A 64-bit mix of two values (splitmix64 finaliser), for seeding per-sample random generators.
uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace masnn::data
