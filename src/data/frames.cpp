// Event -> frame integration and clip selection.
#include "masnn/data/frames.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "data/clips.h"
#include "util/parse_named.h"

namespace masnn::data {

std::string to_string(FrameSlicing slicing) {
  switch (slicing) {
    case FrameSlicing::TimeWindow: return "time-window";
    case FrameSlicing::EventCount: return "event-count";
    case FrameSlicing::TimeBins: return "time-bins";
  }
  return "?";
}

FrameSlicing parse_frame_slicing(const std::string& name) {
  return parse_named(name, {FrameSlicing::TimeWindow, FrameSlicing::EventCount, FrameSlicing::TimeBins}, "slicing");
}

std::string to_string(FrameNormalization normalization) {
  switch (normalization) {
    case FrameNormalization::None: return "none";
    case FrameNormalization::MaxPerFrame: return "max-per-frame";
    case FrameNormalization::MaxPerSample: return "max-per-sample";
  }
  return "?";
}

void FrameOptions::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("frames: " + what); };
  if (steps_ < 1) bad("steps must be >= 1, got " + std::to_string(steps_));
  if (slicing_ == FrameSlicing::TimeWindow && dt_us_ < 1) bad("dt_us must be >= 1, got " + std::to_string(dt_us_));
  if (width_ < 1 || height_ < 1 || width_ > 65536 || height_ > 65536) bad("width and height must be within 1..65536");
  if (ds_ < 1 || width_ % ds_ != 0 || height_ % ds_ != 0)
    bad("ds must divide width and height (ds " + std::to_string(ds_) + ", sensor " + std::to_string(width_) + "x" +
        std::to_string(height_) + ")");
}

SpatialTransform AugmentOptions::draw(std::mt19937_64& rng) const {
  SpatialTransform t;
  if (max_shift_ > 0) {
    const auto span = static_cast<uint64_t>(2 * max_shift_ + 1);
    t.dx = static_cast<int>(rng() % span) - max_shift_;
    t.dy = static_cast<int>(rng() % span) - max_shift_;
  }
  if (flip_probability_ > 0)
    t.flip_x = static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0) < flip_probability_;
  return t;
}

size_t accumulate_frames(const Events& events, size_t begin, size_t end, const FrameOptions& o, int64_t start_us,
                         const SpatialTransform& tf, float* out, int64_t time_stride) {
  end = std::min(end, events.size());
  if (begin >= end) return 0;
  const int64_t T = o.steps(), W = o.width(), H = o.height(), ds = o.ds();
  const int64_t rows = o.rows(), cols = o.cols(), plane = rows * cols;
  // Frame index of each event by the slicing rule.
  int64_t bin_start = start_us, bin_len = o.dt_us();
  size_t first = begin;
  if (o.slicing() == FrameSlicing::TimeWindow) {
    first = std::max(begin, events.lower_bound(start_us));
    end = std::min(end, events.lower_bound(start_us + T * o.dt_us()));
  } else if (o.slicing() == FrameSlicing::TimeBins) {
    bin_start = events.t[begin];
    bin_len = events.t[end - 1] - events.t[begin] + 1;  // T bins over [first, last] via k = T * (t - t0) / span
  } else {
    first = std::max(begin, events.lower_bound(start_us));
  }
  size_t used = 0;
  const size_t count = end > first ? end - first : 0;
  for (size_t i = first; i < end; ++i) {
    int64_t k;
    if (o.slicing() == FrameSlicing::TimeWindow) {
      k = (events.t[i] - bin_start) / bin_len;
    } else if (o.slicing() == FrameSlicing::TimeBins) {
      k = (events.t[i] - bin_start) * T / bin_len;
    } else {
      k = static_cast<int64_t>((i - first) * static_cast<size_t>(T) / count);
    }
    if (k < 0 || k >= T) continue;
    int64_t x = static_cast<int64_t>(events.x[i]) + tf.dx, y = static_cast<int64_t>(events.y[i]) + tf.dy;
    if (x < 0 || y < 0 || x >= W || y >= H) continue;
    if (tf.flip_x) x = W - 1 - x;
    const int64_t r = o.x_major() ? x / ds : y / ds, c = o.x_major() ? y / ds : x / ds;
    out[k * time_stride + (events.p[i] ? plane : 0) + r * cols + c] += 1.0f;
    ++used;
  }
  return used;
}

void finish_frames(const FrameOptions& o, float* out, int64_t time_stride) {
  const int64_t T = o.steps(), n = 2 * o.rows() * o.cols();
  if (o.binary())
    for (int64_t k = 0; k < T; ++k)
      for (int64_t i = 0; i < n; ++i) out[k * time_stride + i] = out[k * time_stride + i] > 0 ? 1.0f : 0.0f;
  if (o.normalization() == FrameNormalization::MaxPerFrame) {
    for (int64_t k = 0; k < T; ++k) {
      float* f = out + k * time_stride;
      const float m = *std::max_element(f, f + n);
      if (m > 0)
        for (int64_t i = 0; i < n; ++i) f[i] /= m;
    }
  } else if (o.normalization() == FrameNormalization::MaxPerSample) {
    float m = 0;
    for (int64_t k = 0; k < T; ++k)
      m = std::max(m, *std::max_element(out + k * time_stride, out + k * time_stride + n));
    if (m > 0)
      for (int64_t k = 0; k < T; ++k)
        for (int64_t i = 0; i < n; ++i) out[k * time_stride + i] /= m;
  }
}

torch::Tensor events_to_frames(const Events& events, const FrameOptions& options, int64_t start_us,
                               const SpatialTransform& transform) {
  options.validate();
  torch::Tensor frames = torch::zeros({options.steps(), 2, options.rows(), options.cols()}, torch::kFloat32);
  float* out = frames.data_ptr<float>();
  const int64_t stride = 2 * options.rows() * options.cols();
  accumulate_frames(events, 0, events.size(), options, start_us, transform, out, stride);
  finish_frames(options, out, stride);
  return frames;
}

int64_t clip_start(const Events& events, const FrameOptions& options, int clip, int clips, std::mt19937_64* rng) {
  if (events.empty()) return 0;
  const int64_t t_first = events.t.front(), t_last = events.t.back();
  if (options.slicing() != FrameSlicing::TimeWindow) return t_first;
  int64_t start;
  if (clip < 0) {
    if (!rng) throw std::invalid_argument("clip_start: a training clip needs a generator");
    start = random_clip_start(t_first, t_last, options.window_us(), (*rng)());
  } else {
    start = test_clip_starts(t_first, t_last, options.window_us(), clips).at(static_cast<size_t>(clip));
  }
  const size_t i = events.lower_bound(start);
  return i < events.size() ? events.t[i] : start;
}

torch::Tensor train_clip(const Events& events, const FrameOptions& options, std::mt19937_64& rng,
                         const AugmentOptions& augment) {
  const int64_t start = clip_start(events, options, -1, 1, &rng);
  return events_to_frames(events, options, start, augment.draw(rng));
}

torch::Tensor test_clips(const Events& events, const FrameOptions& options, int clips) {
  if (clips < 1) throw std::invalid_argument("test_clips: clips must be >= 1");
  std::vector<torch::Tensor> out;
  for (int j = 0; j < clips; ++j)
    out.push_back(events_to_frames(events, options, clip_start(events, options, j, clips, nullptr)));
  return torch::stack(out);
}

}  // namespace masnn::data
