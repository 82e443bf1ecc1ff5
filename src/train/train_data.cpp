#include "masnn/train/train_data.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "masnn/data/fashion_mnist.h"
#include "masnn/data/image_folder.h"
#include "masnn/data/loader.h"
#include "masnn/train/factory.h"

namespace masnn::train {
namespace {

// Prefixes the message of an std::invalid_argument with "data: ".
template <typename F>
void with_data_key(const F& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("data: ") + e.what());
  }
}

}  // namespace

SplitData event_split(const TrainConfig& config, std::shared_ptr<const data::EventDataset> dataset, data::Split split,
                      const Shard& shard) {
  const auto mode = split == data::Split::Train ? data::ClipMode::Train : data::ClipMode::Test;
  data::LoaderOptions options = loader_options(config, *dataset, mode);
  options.rank(shard.rank).world_size(shard.world_size);
  SplitData s;
  s.input = event_input(config, *dataset);
  s.name = dataset->name();
  s.samples = dataset->size();
  s.describe = [dataset](size_t i) { return dataset->describe(i); };
  s.loader = std::make_unique<data::EventLoader>(dataset, options);
  return s;
}

bool is_image_dataset(const std::string& dataset) {
  return dataset == "imagefolder" || dataset == "imagenet" || dataset == "fashion-mnist";
}

std::shared_ptr<const data::ImageDataset> make_image_dataset(const TrainConfig& config, data::Split split) {
  const DataConfig& d = config.data;
  std::shared_ptr<const data::ImageDataset> ds;
  if (d.dataset == "fashion-mnist") {
    ds = std::make_shared<data::FashionMnist>(d.root.empty() ? data::kFashionMnistDebianRoot : d.root, split);
  } else if (d.dataset == "imagefolder" || d.dataset == "imagenet") {
    if (d.root.empty())
      throw std::invalid_argument("data.root: give the folder holding train/<class>/* and val/<class>/* (" + d.dataset +
                                  ")");
    ds = std::make_shared<data::ImageFolder>(d.root, split);
  } else {
    throw std::invalid_argument("data.dataset: '" + d.dataset + "' is not an image dataset");
  }
  const int64_t limit = split == data::Split::Train ? d.limit_train : d.limit_test;
  if (limit > 0 && static_cast<size_t>(limit) < ds->size())
    ds = data::ImageSubset::evenly_spaced(ds, static_cast<size_t>(limit));
  return ds;
}

data::ImageTransformOptions image_transform_options(const TrainConfig& config, const data::ImageDataset& dataset) {
  const DataConfig& d = config.data;
  const bool fmnist = d.dataset == "fashion-mnist";
  data::ImageTransformOptions t;
  const int64_t size = d.image_size > 0 ? d.image_size : (fmnist ? 28 : 224);
  t.image_size(size).flip(d.flip).auto_augment(d.auto_augment);
  if (fmnist) {
    t.train_crop(data::TrainCrop::Padded).padding(d.max_shift).resize_size(0);
  } else {
    // torchvision's evaluation resize is 256 for a 224 crop: the same ratio for other sizes.
    t.train_crop(data::TrainCrop::RandomResized)
        .scale_min(d.min_scale)
        .resize_size(d.resize_size > 0 ? d.resize_size : std::llround(static_cast<double>(size) * 8.0 / 7.0));
  }
  if (dataset.channels() == 1) {
    t.mean({fmnist ? data::kFashionMnistMean : 0.5}).std({fmnist ? data::kFashionMnistStd : 0.5});
  }
  with_data_key([&] { t.validate(); });
  return t;
}

data::ImageLoaderOptions image_loader_options(const TrainConfig& config, const data::ImageDataset& dataset,
                                              data::Split split, const Shard& shard) {
  const bool train = split == data::Split::Train;
  data::ImageLoaderOptions o;
  o.batch_size(config.train.batch_size)
      .shuffle(train)
      .workers(static_cast<int>(config.data.workers))
      .seed(config.train.seed)
      .train(train)
      .transform(image_transform_options(config, dataset))
      .rank(shard.rank)
      .world_size(shard.world_size);
  return o;
}

SplitData image_split(const TrainConfig& config, std::shared_ptr<const data::ImageDataset> dataset, data::Split split,
                      const Shard& shard) {
  if (!dataset) throw std::invalid_argument("image_split: no dataset");
  const data::ImageLoaderOptions options = image_loader_options(config, *dataset, split, shard);
  SplitData s;
  s.input.in_channels = dataset->channels();
  s.input.input_size = options.transform().image_size();
  s.input.num_classes = dataset->num_classes();
  s.name = dataset->name();
  s.samples = dataset->size();
  s.describe = [dataset](size_t i) { return dataset->describe(i); };
  s.loader = std::make_unique<data::ImageLoader>(dataset, options);
  return s;
}

SplitData open_split(const TrainConfig& config, data::Split split, const Shard& shard) {
  if (is_image_dataset(config.data.dataset))
    return image_split(config, make_image_dataset(config, split), split, shard);
  return event_split(config, make_dataset(config, split), split, shard);
}

SplitData open_test_split_for(const TrainConfig& config, int64_t num_classes, const std::string& checkpoint) {
  SplitData test = open_split(config, data::Split::Test);
  if (test.input.num_classes != num_classes)
    throw std::invalid_argument(fmt::format("{}: the network has {} classes but {} has {}", checkpoint, num_classes,
                                            test.name, test.input.num_classes));
  return test;
}

}  // namespace masnn::train
