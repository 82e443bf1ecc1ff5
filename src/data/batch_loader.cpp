// The order, sharding and prefetching shared by every loader.
#include "masnn/data/batch_loader.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace masnn::data {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void SamplerSettings::validate() const {
  if (batch_size < 1) throw std::invalid_argument("loader: batch_size must be >= 1");
  if (workers < 0) throw std::invalid_argument("loader: workers must be >= 0");
  if (prefetch < 1) throw std::invalid_argument("loader: prefetch must be >= 1");
  if (world_size < 1) throw std::invalid_argument("loader: world_size must be >= 1");
  if (rank < 0 || rank >= world_size)
    throw std::invalid_argument("loader: rank must be in [0, world_size), got " + std::to_string(rank) + " of " +
                                std::to_string(world_size));
}

PrefetchingLoader::PrefetchingLoader(size_t dataset_size, SamplerSettings settings)
    : dataset_size_(dataset_size), settings_(settings) {
  settings_.validate();
  if (dataset_size_ == 0) throw std::invalid_argument("loader: the dataset is empty");
}

PrefetchingLoader::~PrefetchingLoader() {
  stop();
}

size_t PrefetchingLoader::samples_per_rank() const {
  const auto w = static_cast<size_t>(settings_.world_size);
  return (dataset_size_ + w - 1) / w;
}

size_t PrefetchingLoader::batches_per_epoch() const {
  const size_t n = samples_per_rank(), b = static_cast<size_t>(settings_.batch_size);
  return settings_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<size_t> PrefetchingLoader::epoch_order(uint64_t epoch) const {
  std::vector<size_t> all(dataset_size_);
  std::iota(all.begin(), all.end(), size_t{0});
  if (settings_.shuffle) {
    std::mt19937_64 rng(mix_seed(settings_.seed, 0xE90C0000ULL + epoch));
    for (size_t i = all.size(); i > 1; --i) std::swap(all[i - 1], all[rng() % i]);
  }
  const auto w = static_cast<size_t>(settings_.world_size), r = static_cast<size_t>(settings_.rank);
  std::vector<size_t> mine;
  for (size_t k = 0; k < samples_per_rank(); ++k) mine.push_back(all[(k * w + r) % dataset_size_]);
  return mine;
}

std::vector<size_t> PrefetchingLoader::epoch_positions() const {
  const auto w = static_cast<size_t>(settings_.world_size), r = static_cast<size_t>(settings_.rank);
  std::vector<size_t> pos;
  for (size_t k = 0; k < samples_per_rank(); ++k) pos.push_back(k * w + r);
  return pos;
}

Batch PrefetchingLoader::build_batch(size_t b) const {
  const size_t bs = static_cast<size_t>(settings_.batch_size);
  std::vector<size_t> idx, pos;
  for (size_t k = b * bs; k < std::min(order_.size(), (b + 1) * bs); ++k) {
    idx.push_back(order_[k]);
    pos.push_back(positions_[k]);
  }
  return build(idx, pos, epoch_);
}

void PrefetchingLoader::stop() {
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

void PrefetchingLoader::start_epoch(uint64_t epoch) {
  stop();
  epoch_ = epoch;
  order_ = epoch_order(epoch);
  positions_ = epoch_positions();
  n_batches_ = batches_per_epoch();
  next_claim_ = 0;
  next_deliver_ = 0;
  started_ = true;
  for (int i = 0; i < settings_.workers; ++i) threads_.emplace_back([this] { worker(); });
}

void PrefetchingLoader::worker() {
  const auto ahead = static_cast<size_t>(settings_.prefetch);
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

bool PrefetchingLoader::next(Batch& batch) {
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
