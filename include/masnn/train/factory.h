// From settings to objects: the neuron, the frames, the datasets and the network a config describes.
#pragma once

#include <memory>

#include "masnn/data/event_dataset.h"
#include "masnn/data/event_filters.h"
#include "masnn/data/loader.h"
#include "masnn/models/registry.h"
#include "masnn/train/config.h"
#include "masnn/train/train_data.h"

namespace masnn::train {

/// The neuron of [model.lif]: the preset with the given fields overridden. Throws naming the key.
LIFOptions lif_options(const ModelConfig& model);

/// Checks the [model] settings that need no data (the neuron's fields), so that a bad key fails
/// before any dataset is read or generated. Throws std::invalid_argument naming the key.
void check_model_config(const ModelConfig& model);

/// The event -> frame settings of [data] for a sensor of the given size.
data::FrameOptions frame_options(const DataConfig& data, int width, int height);

/// Loader settings of a config for a dataset: train mode (shuffled, random clips, augmentation) or test mode
/// (in order, data.clips clips per sample).
data::LoaderOptions loader_options(const TrainConfig& config, const data::EventDataset& dataset, data::ClipMode mode);

/// The event filters of the config's data.denoise_us, data.refractory_us and data.hot_pixel_factor (training,
/// evaluation and streaming apply the same ones).
data::EventFilterOptions event_filter_options(const DataConfig& data);

/// The split of the dataset [data] names. For synthetic-gesture, the recordings are generated into
/// data.root first when it holds none (data.root defaults to <out_dir>/synthetic-gesture).
std::shared_ptr<const data::EventDataset> make_dataset(const TrainConfig& config, data::Split split);

/// What a DVS network sees of a sensor of width x height with these classes: 2 polarity planes of the frames
/// [data] makes (down-sampled by data.ds; they must be square).
InputSpec event_input(const TrainConfig& config, int width, int height, int num_classes);
/// The same for an event dataset.
InputSpec event_input(const TrainConfig& config, const data::EventDataset& dataset);

/// The network spec for a config and the dataset it trains on (input size and classes from the data).
ModelSpec model_spec(const TrainConfig& config, const data::EventDataset& dataset);
/// The same for a sensor of width x height and a number of classes.
ModelSpec model_spec(const TrainConfig& config, int width, int height, int num_classes);
/// The network spec of [model] for an input (data.steps gives T).
ModelSpec model_spec(const TrainConfig& config, const InputSpec& input);

}  // namespace masnn::train
