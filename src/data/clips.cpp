// Clip placement (no tensors here).
#include "data/clips.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace masnn::data {

std::vector<int64_t> test_clip_starts(int64_t t_first, int64_t t_last, int64_t window_us, int clips) {
  if (clips < 1) throw std::invalid_argument("test_clip_starts: clips must be >= 1, got " + std::to_string(clips));
  if (window_us < 1) throw std::invalid_argument("test_clip_starts: window_us must be >= 1");
  const int64_t duration = std::max<int64_t>(0, t_last - t_first);
  const int64_t total = window_us * clips;
  std::vector<int64_t> starts;
  starts.reserve(static_cast<size_t>(clips));
  // Integer division equals floor here: both numerators are non-negative.
  const int64_t step =
      total > duration ? window_us - (total - duration) / clips : window_us + (duration - total) / clips;
  for (int j = 0; j < clips; ++j) {
    int64_t s = j * step;
    if (s + window_us > duration) s = duration - window_us;
    starts.push_back(t_first + s);
  }
  return starts;
}

int64_t random_clip_start(int64_t t_first, int64_t t_last, int64_t window_us, uint64_t random_bits) {
  const int64_t last = std::max(t_first, t_last - window_us);
  const auto range = static_cast<uint64_t>(last - t_first) + 1;
  return t_first + static_cast<int64_t>(random_bits % range);
}

}  // namespace masnn::data
