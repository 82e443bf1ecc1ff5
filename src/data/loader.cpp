// The prefetching batch loader.
#include "masnn/data/loader.h"

#include <torch/torch.h>

#include <random>
#include <stdexcept>

namespace masnn::data {
Batch make_batch(const EventDataset& dataset, const std::vector<size_t>& indices, const std::vector<size_t>& positions,
                 const LoaderOptions& options, uint64_t epoch) {
  const FrameOptions& fo = options.frames();
  const bool test = options.mode() == ClipMode::Test;
  const int clips = test ? options.test_clips() : 1;
  const auto columns = static_cast<int64_t>(indices.size()) * clips;
  const int64_t T = fo.steps(), frame = 2 * fo.rows() * fo.cols();
  Batch batch;
  batch.x = torch::zeros({T, columns, 2, fo.rows(), fo.cols()}, torch::kFloat32);
  batch.labels = torch::empty({columns}, torch::kInt64);
  batch.sample = torch::empty({columns}, torch::kInt64);
  batch.clip = torch::empty({columns}, torch::kInt64);
  float* x = batch.x.data_ptr<float>();
  auto* labels = batch.labels.data_ptr<int64_t>();
  auto* sample = batch.sample.data_ptr<int64_t>();
  auto* clip = batch.clip.data_ptr<int64_t>();
  const int64_t time_stride = columns * frame;
  for (size_t b = 0; b < indices.size(); ++b) {
    Events events = dataset.events(indices[b]);
    std::mt19937_64 rng(mix_seed(mix_seed(options.seed(), epoch), positions[b]));
    const SpatialTransform tf = test ? SpatialTransform{} : options.augment().draw(rng);
    if (options.filters().any()) EventFilter(dataset.width(), dataset.height(), options.filters()).apply(events);
    if (!test) augment_events(events, dataset.width(), dataset.height(), options.event_augment(), rng);
    for (int j = 0; j < clips; ++j) {
      const int64_t col = static_cast<int64_t>(b) * clips + j;
      const int64_t start = clip_start(events, fo, test ? j : -1, clips, &rng);
      float* out = x + col * frame;
      accumulate_frames(events, 0, events.size(), fo, start, tf, out, time_stride);
      finish_frames(fo, out, time_stride);
      labels[col] = dataset.label(indices[b]);
      sample[col] = static_cast<int64_t>(indices[b]);
      clip[col] = test ? j : -1;
    }
  }
  return batch;
}

namespace {

// Checked before the base class starts anything.
size_t checked_size(const std::shared_ptr<const EventDataset>& dataset) {
  if (!dataset) throw std::invalid_argument("loader: no dataset");
  if (dataset->size() == 0) throw std::invalid_argument("loader: dataset " + dataset->name() + " is empty");
  return dataset->size();
}

}  // namespace

EventLoader::EventLoader(std::shared_ptr<const EventDataset> dataset, LoaderOptions options)
    : PrefetchingLoader(checked_size(dataset), SamplerSettings::of(options)),
      dataset_(std::move(dataset)),
      options_(std::move(options)) {
  if (options_.mode() == ClipMode::Test && options_.test_clips() < 1)
    throw std::invalid_argument("loader: test_clips must be >= 1");
  options_.frames().validate();
}

EventLoader::~EventLoader() {
  stop();
}

int EventLoader::columns_per_sample() const {
  return options_.mode() == ClipMode::Test ? options_.test_clips() : 1;
}

Batch EventLoader::build(const std::vector<size_t>& indices, const std::vector<size_t>& positions,
                         uint64_t epoch) const {
  return make_batch(*dataset_, indices, positions, options_, epoch);
}

}  // namespace masnn::data
