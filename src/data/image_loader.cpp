// The image loader: decode, transform and normalise in worker threads.
#include "masnn/data/image_loader.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdio>
#include <random>
#include <stdexcept>

#include "image_ops.h"

namespace masnn::data {

bool DecodeFailures::known(size_t i) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bad_.count(i) > 0;
}

void DecodeFailures::record(size_t i, const std::string& what, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!bad_.insert(i).second) return;
  files_.push_back(what);
  // Each file once; past a hundred (a broken copy of the dataset?) they are only counted.
  constexpr size_t kPrinted = 100;
  if (files_.size() <= kPrinted)
    fmt::print(stderr, "masnn: warning: {}; skipped (the next decodable sample is used in its place)\n", message);
  if (files_.size() == kPrinted)
    fmt::print(stderr, "masnn: warning: {} files failed to decode; further failures are counted, not printed\n",
               kPrinted);
}

size_t DecodeFailures::count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bad_.size();
}

std::vector<std::string> DecodeFailures::files() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return files_;
}

Image load_image_or_next(const ImageDataset& dataset, size_t index, DecodeFailures& failures, size_t& used) {
  const size_t n = dataset.size();
  for (size_t step = 0; step < n; ++step) {
    const size_t i = (index + step) % n;
    if (failures.known(i)) continue;
    try {
      Image image = dataset.image(i);
      used = i;
      return image;
    } catch (const std::runtime_error& e) {
      failures.record(i, dataset.describe(i), e.what());
    }
  }
  throw std::runtime_error(dataset.name() + ": no sample decodes (every file failed; see the warnings above)");
}

Batch make_image_batch(const ImageDataset& dataset, const std::vector<size_t>& indices,
                       const std::vector<size_t>& positions, const ImageLoaderOptions& options, uint64_t epoch,
                       DecodeFailures& failures) {
  const ImageTransformOptions& t = options.transform();
  const int64_t B = static_cast<int64_t>(indices.size()), C = dataset.channels(), S = t.image_size();
  Batch batch;
  batch.x = torch::empty({B, C, S, S}, torch::kFloat32);
  batch.labels = torch::empty({B}, torch::kInt64);
  batch.sample = torch::empty({B}, torch::kInt64);
  batch.clip = torch::full({B}, -1, torch::kInt64);
  float* x = batch.x.data_ptr<float>();
  auto* labels = batch.labels.data_ptr<int64_t>();
  auto* sample = batch.sample.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    size_t used = indices[static_cast<size_t>(b)];
    const Image decoded = load_image_or_next(dataset, used, failures, used);
    if (decoded.channels != C)
      throw std::runtime_error(
          fmt::format("{}: {} channels, the dataset's images have {}", dataset.describe(used), decoded.channels, C));
    Image image;
    if (options.train()) {
      std::mt19937_64 rng(mix_seed(mix_seed(options.seed(), epoch), positions[static_cast<size_t>(b)]));
      image = train_transform(decoded, t, rng);
    } else {
      image = eval_transform(decoded, t);
    }
    normalize_into(image, t.mean(), t.std(), x + b * C * S * S);
    labels[b] = dataset.label(used);
    sample[b] = static_cast<int64_t>(used);
  }
  return batch;
}

namespace {

// Checked before the base class starts anything.
size_t checked_size(const std::shared_ptr<const ImageDataset>& dataset) {
  if (!dataset) throw std::invalid_argument("image loader: no dataset");
  if (dataset->size() == 0) throw std::invalid_argument("image loader: dataset " + dataset->name() + " is empty");
  return dataset->size();
}

}  // namespace

ImageLoader::ImageLoader(std::shared_ptr<const ImageDataset> dataset, ImageLoaderOptions options)
    : PrefetchingLoader(checked_size(dataset), SamplerSettings::of(options)),
      dataset_(std::move(dataset)),
      options_(std::move(options)) {
  const ImageTransformOptions& t = options_.transform();
  t.validate();
  if (t.mean().size() != static_cast<size_t>(dataset_->channels()))
    throw std::invalid_argument(fmt::format("image loader: {} has {}-channel images, but mean/std have {} values",
                                            dataset_->name(), dataset_->channels(), t.mean().size()));
  // The loader's threads are the parallelism; OpenCV's own pool inside each resize would oversubscribe the cores.
  image_ops::use_caller_threads();
}

ImageLoader::~ImageLoader() {
  stop();
}

Batch ImageLoader::build(const std::vector<size_t>& indices, const std::vector<size_t>& positions,
                         uint64_t epoch) const {
  return make_image_batch(*dataset_, indices, positions, options_, epoch, failures_);
}

}  // namespace masnn::data
