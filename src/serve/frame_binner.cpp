// Events -> frames on the fly (the arithmetic of data::accumulate_frames for time-window slicing, one frame at a
// time, so that streamed and offline frames are equal).
#include "masnn/serve/frame_binner.h"

#include <torch/torch.h>

#include <algorithm>
#include <iterator>
#include <stdexcept>

namespace masnn::serve {

StreamingFrameBinner::StreamingFrameBinner(const data::FrameOptions& options, int64_t start_us,
                                           int64_t max_silent_steps)
    : options_(options), start_us_(start_us), max_silent_steps_(max_silent_steps) {
  options_.validate();
  if (max_silent_steps < 1) throw std::invalid_argument("stream: max_silent_steps must be >= 1");
  if (options_.slicing() != data::FrameSlicing::TimeWindow)
    throw std::invalid_argument(
        "stream: data.slicing must be time-window (event-count and time-bins slicing need the whole sample)");
  if (options_.normalization() == data::FrameNormalization::MaxPerSample)
    throw std::invalid_argument(
        "stream: data.normalization max-per-sample needs the whole sample; use none or max-per-frame");
  frame_ = torch::zeros({2, options_.rows(), options_.cols()}, torch::kFloat32);
}

int64_t StreamingFrameBinner::frame_begin_us(int64_t given) const {
  // The skips before frame `given`: the last entry whose frames-given count is <= given.
  auto it = std::upper_bound(skips_.begin(), skips_.end(), given,
                             [](int64_t g, const std::pair<int64_t, int64_t>& s) { return g < s.first; });
  const int64_t skipped = it == skips_.begin() ? 0 : std::prev(it)->second;
  return start_us_ + (given + skipped) * options_.dt_us();
}

void StreamingFrameBinner::finish_frame(const FrameSink& sink) {
  // finish_frames on one frame: steps = 1, stride unused.
  data::FrameOptions one = options_;
  one.steps(1);
  data::finish_frames(one, frame_.data_ptr<float>(), 0);
  sink(frame_);
  frame_ = torch::zeros({2, options_.rows(), options_.cols()}, torch::kFloat32);
  touched_ = false;
  ++index_;
  ++stats_.frames;
}

void StreamingFrameBinner::push(const data::Events& ev, size_t begin, size_t end, const FrameSink& sink) {
  end = std::min(end, ev.size());
  const int64_t dt = options_.dt_us(), W = options_.width(), H = options_.height(), ds = options_.ds();
  const int64_t cols = options_.cols(), plane = options_.rows() * cols;
  const bool x_major = options_.x_major();
  for (size_t i = begin; i < end; ++i) {
    const int64_t t = ev.t[i];
    if (start_us_ < 0) start_us_ = t;
    if (t < start_us_) {
      ++stats_.early_dropped;
      continue;
    }
    const int64_t k = (t - start_us_) / dt;
    if (k < index_) {
      ++stats_.late_dropped;
      continue;
    }
    if (k - index_ - 1 > max_silent_steps_) {  // the frame in progress, max_silent_steps empty ones, skip to k
      const int64_t given = index_ + max_silent_steps_ + 1;
      while (index_ < given) finish_frame(sink);
      stats_.skipped_steps += k - index_;
      ++stats_.gaps;
      index_ = k;
      skips_.emplace_back(stats_.frames, stats_.skipped_steps);
    }
    while (index_ < k) finish_frame(sink);
    const int64_t x = ev.x[i], y = ev.y[i];
    if (x >= W || y >= H) {
      ++stats_.outside_dropped;
      continue;
    }
    const int64_t r = x_major ? x / ds : y / ds, c = x_major ? y / ds : x / ds;
    frame_.data_ptr<float>()[(ev.p[i] ? plane : 0) + r * cols + c] += 1.0f;
    touched_ = true;
    ++stats_.events_binned;
  }
}

void StreamingFrameBinner::flush(const FrameSink& sink) {
  if (touched_) finish_frame(sink);
}

}  // namespace masnn::serve
