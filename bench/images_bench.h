// Benchmark of the image loader: images/s of decode + RandomResizedCrop + flip + AutoAugment + normalise (the
// ImageNet training transform) on JPEGs it writes first (500x375 by default, about ImageNet's mean size), for each
// number of worker threads asked for; plus the time per image of each stage in one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn::bench {

struct ImagesBenchConfig {
  int images = 256;                ///< JPEGs generated (one epoch reads each once)
  int width = 500, height = 375;   ///< their size
  int quality = 90;                ///< JPEG quality
  int64_t image_size = 224;        ///< crop side
  int64_t batch = 32;              ///< loader batch size
  std::vector<int> workers{1, 2};  ///< worker thread counts to measure
  int epochs = 2;                  ///< timed epochs per worker count (the best is reported)
  bool auto_augment = true;        ///< AutoAugment in the training transform
  std::string dir;                 ///< where to write the JPEGs ("" = a temporary folder, removed afterwards)
  uint64_t seed = 0;
};

/// Loader throughput for one number of workers.
struct ImagesBenchLoaderResult {
  int workers = 0;
  double images_per_s = 0;  ///< best epoch
  double images_per_s_per_worker = 0;
  double epoch_s = 0;  ///< best epoch's seconds
};

/// Single-thread time of each stage per image, milliseconds (medians over the images).
struct ImagesBenchStages {
  double decode_ms = 0;        ///< JPEG file -> RGB image
  double crop_flip_ms = 0;     ///< RandomResizedCrop(224) + flip
  double auto_augment_ms = 0;  ///< AutoAugment (ImageNet policy)
  double normalize_ms = 0;     ///< ToTensor + Normalize
  double eval_ms = 0;          ///< evaluation transform: Resize(256) + CenterCrop(224)
  double mean_file_kib = 0;    ///< mean JPEG size
};

struct ImagesBenchResult {
  ImagesBenchStages stages;
  std::vector<ImagesBenchLoaderResult> loaders;
};

/// Writes the JPEGs, measures the stages, then a train-mode loader epoch per worker count. Throws
/// std::invalid_argument naming the setting for a bad config.
ImagesBenchResult run_images_bench(const ImagesBenchConfig& config);

}  // namespace masnn::bench
