#include "masnn/train/train_data.h"

#include <stdexcept>

#include "masnn/data/loader.h"
#include "masnn/train/factory.h"

namespace masnn::train {

SplitData event_split(const TrainConfig& config, std::shared_ptr<const data::EventDataset> dataset, data::Split split,
                      const Shard& shard) {
  const auto mode = split == data::Split::Train ? data::ClipMode::Train : data::ClipMode::Test;
  data::LoaderOptions options = loader_options(config, *dataset, mode);
  options.rank(shard.rank).world_size(shard.world_size);
  SplitData s;
  const ModelSpec spec = model_spec(config, *dataset);
  s.input.in_channels = spec.in_channels;
  s.input.input_size = spec.input_size;
  s.input.num_classes = spec.num_classes;
  s.name = dataset->name();
  s.samples = dataset->size();
  s.loader = std::make_unique<data::EventLoader>(std::move(dataset), options);
  return s;
}

SplitData open_split(const TrainConfig& config, data::Split split, const Shard& shard) {
  return event_split(config, make_dataset(config, split), split, shard);
}

}  // namespace masnn::train
