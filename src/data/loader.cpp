// The prefetching batch loader.
#include "masnn/data/loader.h"

#include <torch/torch.h>

#include <numeric>
#include <random>
#include <stdexcept>

namespace masnn::data {
namespace {

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

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
    const Events events = dataset.events(indices[b]);
    std::mt19937_64 rng(mix(mix(options.seed(), epoch), positions[b]));
    const SpatialTransform tf = test ? SpatialTransform{} : options.augment().draw(rng);
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

EventLoader::EventLoader(std::shared_ptr<const EventDataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  if (!dataset_) throw std::invalid_argument("loader: no dataset");
  if (dataset_->size() == 0) throw std::invalid_argument("loader: dataset " + dataset_->name() + " is empty");
  if (options_.batch_size() < 1) throw std::invalid_argument("loader: batch_size must be >= 1");
  if (options_.workers() < 0) throw std::invalid_argument("loader: workers must be >= 0");
  if (options_.prefetch() < 1) throw std::invalid_argument("loader: prefetch must be >= 1");
  if (options_.mode() == ClipMode::Test && options_.test_clips() < 1)
    throw std::invalid_argument("loader: test_clips must be >= 1");
  options_.frames().validate();
}

EventLoader::~EventLoader() {
  stop();
}

size_t EventLoader::batches_per_epoch() const {
  const size_t n = dataset_->size(), b = static_cast<size_t>(options_.batch_size());
  return options_.drop_last() ? n / b : (n + b - 1) / b;
}

std::vector<size_t> EventLoader::epoch_order(uint64_t epoch) const {
  std::vector<size_t> order(dataset_->size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (options_.shuffle()) {
    std::mt19937_64 rng(mix(options_.seed(), 0xE90C0000ULL + epoch));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  return order;
}

std::vector<size_t> EventLoader::batch_positions(size_t b) const {
  const size_t bs = static_cast<size_t>(options_.batch_size());
  std::vector<size_t> pos;
  for (size_t k = b * bs; k < std::min(order_.size(), (b + 1) * bs); ++k) pos.push_back(k);
  return pos;
}

Batch EventLoader::build_batch(size_t b) const {
  const auto pos = batch_positions(b);
  std::vector<size_t> idx;
  for (size_t k : pos) idx.push_back(order_[k]);
  return make_batch(*dataset_, idx, pos, options_, epoch_);
}

void EventLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  ready_.clear();
  stopping_ = false;
  started_ = false;
}

void EventLoader::start_epoch(uint64_t epoch) {
  stop();
  epoch_ = epoch;
  order_ = epoch_order(epoch);
  n_batches_ = batches_per_epoch();
  next_claim_ = 0;
  next_deliver_ = 0;
  started_ = true;
  for (int i = 0; i < options_.workers(); ++i) threads_.emplace_back([this] { worker(); });
}

void EventLoader::worker() {
  const auto ahead = static_cast<size_t>(options_.prefetch());
  for (;;) {
    size_t b;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || next_claim_ >= n_batches_ || next_claim_ < next_deliver_ + ahead; });
      if (stopping_ || next_claim_ >= n_batches_) return;
      b = next_claim_++;
    }
    Slot slot;
    try {
      slot.batch = build_batch(b);
    } catch (...) {
      slot.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_[b] = std::move(slot);
    }
    cv_.notify_all();
  }
}

bool EventLoader::next(Batch& batch) {
  if (!started_) throw std::logic_error("loader: call start_epoch before next");
  if (next_deliver_ >= n_batches_) return false;
  const size_t b = next_deliver_;
  if (threads_.empty()) {
    ++next_deliver_;
    batch = build_batch(b);
    return true;
  }
  Slot slot;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return ready_.count(b) > 0; });
    slot = std::move(ready_[b]);
    ready_.erase(b);
    ++next_deliver_;
  }
  cv_.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  batch = std::move(slot.batch);
  return true;
}

}  // namespace masnn::data
