// The loader of static image datasets: decodes and transforms images in worker threads ahead of use and
// stacks them into batches.
//
// Batch layout: x [B, C, image_size, image_size] float32 (normalised; the Res-SNNs repeat it over T
// themselves), labels [B] int64, sample [B] int64 (the dataset index whose image is in the column), clip [B] = -1.
// One column per sample (columns_per_sample() == 1).
//
// Determinism: the random crop, flip and AutoAugment of the sample at position k of an epoch are drawn from a
// generator seeded by (seed, epoch, k) (batch_loader.h), so a batch depends on neither the number of workers nor
// timing. A file that does not decode is reported once on stderr (with its path) and replaced by the next
// decodable sample of the dataset (index + 1, + 2, ... wrapping around), the same on every run; skipped() counts
// such files.
#pragma once

#include <torch/arg.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "masnn/data/batch_loader.h"
#include "masnn/data/image_folder.h"
#include "masnn/data/image_transforms.h"

namespace masnn::data {

/// Settings of an image loader.
struct ImageLoaderOptions {
  TORCH_ARG(int64_t, batch_size) = 64;
  /// Shuffle the samples each epoch (seeded by seed and epoch).
  TORCH_ARG(bool, shuffle) = true;
  /// Drop the last batch when it is smaller than batch_size.
  TORCH_ARG(bool, drop_last) = false;
  /// Worker threads decoding and transforming (0 = in the calling thread).
  TORCH_ARG(int, workers) = 2;
  /// Batches built ahead of the consumer (at least 1).
  TORCH_ARG(int, prefetch) = 4;
  TORCH_ARG(uint64_t, seed) = 0;
  /// Training transform (random crop, flip, AutoAugment) or evaluation transform (resize, centre crop).
  TORCH_ARG(bool, train) = true;
  TORCH_ARG(ImageTransformOptions, transform) = {};
  /// This process's shard of a distributed job (SamplerSettings in batch_loader.h).
  TORCH_ARG(int, rank) = 0;
  TORCH_ARG(int, world_size) = 1;
};

/// Files that failed to decode, shared by a loader's workers: each is reported once and skipped.
class DecodeFailures {
 public:
  /// True when sample i is known not to decode.
  bool known(size_t i) const;
  /// Records that sample i (file `what`) failed with `message`; prints the warning the first time.
  void record(size_t i, const std::string& what, const std::string& message);
  /// Number of distinct samples that failed.
  size_t count() const;
  /// Their descriptions (files), in the order found.
  std::vector<std::string> files() const;

 private:
  mutable std::mutex mutex_;
  std::set<size_t> bad_;
  std::vector<std::string> files_;
};

/// The decoded image of sample `index`, or of the next decodable sample (index + 1, ...) when it does not decode;
/// `used` receives the index whose image is returned. Throws std::runtime_error when no sample decodes.
Image load_image_or_next(const ImageDataset& dataset, size_t index, DecodeFailures& failures, size_t& used);

/// Builds the batch of the given dataset indices (`positions`: their positions in the epoch, which seed the random
/// transforms). The function the workers run; exposed for tests and single-threaded use.
Batch make_image_batch(const ImageDataset& dataset, const std::vector<size_t>& indices,
                       const std::vector<size_t>& positions, const ImageLoaderOptions& options, uint64_t epoch,
                       DecodeFailures& failures);

/// Iterates over an image dataset in batches built by worker threads. Usage as EventLoader (loader.h):
///   ImageLoader loader(dataset, options); loader.start_epoch(e); Batch b; while (loader.next(b)) { ... }
class ImageLoader : public PrefetchingLoader {
 public:
  /// Throws std::invalid_argument for bad options (transform settings, mean/std not matching the channels).
  ImageLoader(std::shared_ptr<const ImageDataset> dataset, ImageLoaderOptions options);
  ~ImageLoader() override;

  int columns_per_sample() const override { return 1; }
  const ImageLoaderOptions& options() const { return options_; }
  const ImageDataset& dataset() const { return *dataset_; }
  /// Files found so far that do not decode (each replaced by the next decodable sample).
  size_t skipped() const { return failures_.count(); }
  std::vector<std::string> skipped_files() const { return failures_.files(); }

 private:
  Batch build(const std::vector<size_t>& indices, const std::vector<size_t>& positions, uint64_t epoch) const override;

  std::shared_ptr<const ImageDataset> dataset_;
  ImageLoaderOptions options_;
  mutable DecodeFailures failures_;
};

}  // namespace masnn::data
