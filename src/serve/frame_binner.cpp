// Events -> frames on the fly (the arithmetic of data::accumulate_frames for time-window slicing, one frame at a
// time, so that streamed and offline frames are equal).
#include "masnn/serve/frame_binner.h"

#include <torch/torch.h>

#include <stdexcept>

namespace masnn::serve {

StreamingFrameBinner::StreamingFrameBinner(const data::FrameOptions& options, int64_t start_us)
    : options_(options), start_us_(start_us) {
  options_.validate();
  if (options_.slicing() != data::FrameSlicing::TimeWindow)
    throw std::invalid_argument(
        "stream: data.slicing must be time-window (event-count and time-bins slicing need the whole sample)");
  if (options_.normalization() == data::FrameNormalization::MaxPerSample)
    throw std::invalid_argument(
        "stream: data.normalization max-per-sample needs the whole sample; use none or max-per-frame");
  frame_ = torch::zeros({2, options_.rows(), options_.cols()}, torch::kFloat32);
}

void StreamingFrameBinner::finish_frame(std::vector<torch::Tensor>& ready) {
  // finish_frames on one frame: steps = 1, stride unused.
  data::FrameOptions one = options_;
  one.steps(1);
  data::finish_frames(one, frame_.data_ptr<float>(), 0);
  ready.push_back(frame_);
  frame_ = torch::zeros({2, options_.rows(), options_.cols()}, torch::kFloat32);
  touched_ = false;
  ++index_;
  ++stats_.frames;
}

void StreamingFrameBinner::push(const data::Events& ev, size_t begin, size_t end, std::vector<torch::Tensor>& ready) {
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
    while (index_ < k) finish_frame(ready);
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

void StreamingFrameBinner::flush(std::vector<torch::Tensor>& ready) {
  if (touched_) finish_frame(ready);
}

}  // namespace masnn::serve
