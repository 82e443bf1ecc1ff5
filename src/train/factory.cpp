#include "masnn/train/factory.h"

#include <torch/torch.h>

#include <filesystem>
#include <stdexcept>

#include "data/dataset_cache.h"
#include "masnn/data/dataset_factory.h"
#include "masnn/data/synth_gestures.h"

namespace masnn::train {
namespace {

// The first `limit` samples of a dataset (limit_train / limit_test), for quick runs.
class PrefixDataset : public data::EventDataset {
 public:
  PrefixDataset(std::shared_ptr<const data::EventDataset> base, size_t limit)
      : base_(std::move(base)), size_(std::min(limit, base_->size())) {}
  size_t size() const override { return size_; }
  int label(size_t i) const override { return base_->label(i); }
  data::Events events(size_t i) const override { return base_->events(i); }
  int num_classes() const override { return base_->num_classes(); }
  int width() const override { return base_->width(); }
  int height() const override { return base_->height(); }
  std::string name() const override { return base_->name() + "[:" + std::to_string(size_) + "]"; }
  std::string describe(size_t i) const override { return base_->describe(i); }
  std::vector<data::SourceFile> source_files() const override { return base_->source_files(); }

 private:
  std::shared_ptr<const data::EventDataset> base_;
  size_t size_;
};

// Runs f, prefixing the message of an std::invalid_argument with the config key it concerns.
template <typename F>
auto with_key(const std::string& key, const F& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(key + ": " + e.what());
  }
}

}  // namespace

LIFOptions lif_options(const ModelConfig& m) {
  LIFOptions o =
      m.neuron == NeuronPreset::ReferenceResnet ? LIFOptions::reference_resnet() : LIFOptions::reference_dvs();
  if (m.threshold) o.threshold(*m.threshold);
  if (m.v_reset) o.v_reset(*m.v_reset);
  if (m.decay) o.decay(*m.decay);
  if (m.bias) o.bias(*m.bias);
  if (m.surrogate_width) o.surrogate_width(*m.surrogate_width);
  if (m.reset) o.reset(*m.reset);
  if (m.surrogate) o.surrogate(*m.surrogate);
  if (m.backend) o.backend(*m.backend);
  if (m.fire_at_equal) o.fire_at_equal(*m.fire_at_equal);
  if (m.detach_reset) o.detach_reset(*m.detach_reset);
  if (m.learnable_decay) o.learnable_decay(*m.learnable_decay);
  with_key("model.lif", [&] { o.validate(); });
  return o;
}

void check_model_config(const ModelConfig& m) {
  lif_options(m);
}

data::FrameOptions frame_options(const DataConfig& d, int width, int height) {
  data::FrameOptions f;
  f.steps(d.steps).dt_us(static_cast<int64_t>(d.dt_ms * 1000.0 + 0.5)).ds(d.ds).width(width).height(height);
  f.binary(d.binary);
  f.slicing(d.slicing).normalization(d.normalization);
  with_key("data", [&] { f.validate(); });
  return f;
}

data::EventFilterOptions event_filter_options(const DataConfig& d) {
  return data::EventFilterOptions()
      .denoise_us(static_cast<int64_t>(d.denoise_us))
      .refractory_us(static_cast<int64_t>(d.refractory_us))
      .hot_pixel_factor(d.hot_pixel_factor);
}

data::LoaderOptions loader_options(const TrainConfig& c, const data::EventDataset& ds, data::ClipMode mode) {
  data::LoaderOptions o;
  o.batch_size(c.train.batch_size)
      .shuffle(mode == data::ClipMode::Train)
      .workers(static_cast<int>(c.data.workers))
      .seed(c.train.seed)
      .mode(mode)
      .test_clips(static_cast<int>(c.data.clips))
      .frames(frame_options(c.data, ds.width(), ds.height()))
      .augment(data::AugmentOptions().max_shift(static_cast<int>(c.data.max_shift)).flip_probability(c.data.flip))
      .filters(event_filter_options(c.data))
      .event_augment(data::EventAugmentOptions()
                         .drop_fraction(c.data.drop_fraction)
                         .drop_time_us(static_cast<int64_t>(c.data.drop_time_us))
                         .drop_area(static_cast<int>(c.data.drop_area))
                         .time_jitter_us(c.data.time_jitter_us)
                         .spatial_jitter(c.data.spatial_jitter));
  return o;
}

std::shared_ptr<const data::EventDataset> make_dataset(const TrainConfig& c, data::Split split) {
  const DataConfig& d = c.data;
  std::string root = d.root;
  data::DatasetKind kind;
  if (d.dataset == "synthetic-gesture") {
    if (root.empty()) root = (std::filesystem::path(c.train.out_dir) / "synthetic-gesture").string();
    if (!std::filesystem::exists(std::filesystem::path(root) / "DvsGesture" / "trials_to_test.txt")) {
      data::SynthOptions s;
      s.users = static_cast<int>(d.synth_users);
      s.seed = c.train.seed + 1;
      data::write_synthetic_gestures(root, s);
    }
    kind = data::DatasetKind::Gesture;
  } else {
    kind = data::parse_dataset_kind(d.dataset);
    if (root.empty() && kind != data::DatasetKind::SimFashionMnist)  // that one defaults to Debian's Fashion-MNIST
      throw std::invalid_argument("data.root: give the folder of the " + d.dataset + " dataset");
  }
  // The cache lives beside the data, so every run on the same data shares it (a per-user folder when it is read-only).
  const bool cached = d.cache && kind != data::DatasetKind::SimFashionMnist;  // made when read, never cached
  const std::string cache_dir = cached ? data::dataset_cache_folder(root) : "";
  std::shared_ptr<const data::EventDataset> ds = data::open_event_dataset(kind, root, split, cache_dir);
  const int64_t limit = split == data::Split::Train ? d.limit_train : d.limit_test;
  if (limit > 0) ds = std::make_shared<PrefixDataset>(ds, static_cast<size_t>(limit));
  if (ds->size() == 0) throw std::invalid_argument(ds->name() + ": the dataset split holds no samples");
  return ds;
}

InputSpec event_input(const TrainConfig& c, int width, int height, int num_classes) {
  const auto f = frame_options(c.data, width, height);
  if (f.rows() != f.cols())
    throw std::invalid_argument("data: frames must be square for the DVS networks, got " + std::to_string(f.rows()) +
                                "x" + std::to_string(f.cols()));
  InputSpec input;
  input.in_channels = 2;
  input.input_size = f.rows();
  input.num_classes = num_classes;
  return input;
}

InputSpec event_input(const TrainConfig& c, const data::EventDataset& dataset) {
  return event_input(c, dataset.width(), dataset.height(), dataset.num_classes());
}

ModelSpec model_spec(const TrainConfig& c, const data::EventDataset& dataset) {
  return model_spec(c, event_input(c, dataset));
}

ModelSpec model_spec(const TrainConfig& c, int width, int height, int num_classes) {
  return model_spec(c, event_input(c, width, height, num_classes));
}

ModelSpec model_spec(const TrainConfig& c, const InputSpec& input) {
  const ModelConfig& m = c.model;
  ModelSpec s;
  s.name = m.name;
  s.attention = m.attention;
  s.placement = m.placement;
  s.t_ratio = m.t_ratio;
  s.c_ratio = m.c_ratio;
  s.kernel_size = m.kernel_size;
  s.per_step = m.per_step;
  s.lif = lif_options(m);
  s.steps = c.data.steps;
  s.input_size = input.input_size;
  s.in_channels = input.in_channels;
  s.num_classes = input.num_classes;
  return s;
}

}  // namespace masnn::train
