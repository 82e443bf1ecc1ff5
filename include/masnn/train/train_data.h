// The data side of a run: a loader per split and what the network must know of its input. One entry point for
// every kind of dataset a config can name, so the trainer and `masnn eval` do not care whether they get event
// frames or images.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "masnn/data/batch_loader.h"
#include "masnn/data/event_dataset.h"
#include "masnn/data/image_loader.h"
#include "masnn/train/config.h"

namespace masnn::train {

/// What a network needs to know of the data it is built for.
struct InputSpec {
  int64_t in_channels = 2;   ///< planes of the input (2 polarities for events, 3 or 1 for images)
  int64_t input_size = 32;   ///< side of the square input (frames after down-sampling, image crop)
  int64_t num_classes = 11;  ///< classes of the dataset
};

/// The part of a distributed job this process loads (rank of world_size); the default is the whole data.
struct Shard {
  int rank = 0;
  int world_size = 1;
};

/// One split, ready to iterate.
struct SplitData {
  std::unique_ptr<data::BatchLoader> loader;  ///< train split: shuffled, augmented; test split: in order, clips
  InputSpec input;
  std::string name;    ///< e.g. "dvs128-gesture/test", for messages and logs
  size_t samples = 0;  ///< samples in the split (all ranks)
  /// Where sample i (a dataset index) comes from: its file, and the segment for event recordings.
  std::function<std::string(size_t)> describe;
};

/// Opens the split of the dataset [data] names and its loader (train or test mode by split). Throws
/// std::invalid_argument naming the key for a bad setting or an unknown dataset.
SplitData open_split(const TrainConfig& config, data::Split split, const Shard& shard = {});

/// The test split for a trained network with num_classes outputs (eval, analyze, prune): throws
/// std::invalid_argument naming the checkpoint when the dataset's classes differ, before any work.
SplitData open_test_split_for(const TrainConfig& config, int64_t num_classes, const std::string& checkpoint);

/// The same for an event dataset already open (tests, the demo).
SplitData event_split(const TrainConfig& config, std::shared_ptr<const data::EventDataset> dataset, data::Split split,
                      const Shard& shard = {});

/// True for the static image datasets of data.dataset (imagefolder, imagenet, fashion-mnist).
bool is_image_dataset(const std::string& dataset);

/// The split of the image dataset [data] names (data.root defaults to Debian's Fashion-MNIST folder for
/// fashion-mnist; imagefolder needs it), limited by data.limit_train / limit_test (evenly spread samples).
std::shared_ptr<const data::ImageDataset> make_image_dataset(const TrainConfig& config, data::Split split);

/// The image transforms of a config for a dataset: imagefolder uses the ImageNet recipe (RandomResizedCrop with
/// data.min_scale, flip with data.flip, AutoAugment when data.auto_augment; evaluation: resize to data.resize_size,
/// centre crop data.image_size; ImageNet mean/std); fashion-mnist a random crop padded by data.max_shift, flip
/// and AutoAugment likewise, and its own mean/std.
data::ImageTransformOptions image_transform_options(const TrainConfig& config, const data::ImageDataset& dataset);

/// Loader settings for an image split: train (shuffled, training transform) or test (in order, evaluation).
data::ImageLoaderOptions image_loader_options(const TrainConfig& config, const data::ImageDataset& dataset,
                                              data::Split split, const Shard& shard = {});

/// An image split ready to iterate (input: the dataset's channels, data.image_size, its classes).
SplitData image_split(const TrainConfig& config, std::shared_ptr<const data::ImageDataset> dataset, data::Split split,
                      const Shard& shard = {});

}  // namespace masnn::train
