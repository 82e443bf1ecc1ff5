// Event -> frame integration. Output layout: float frames [T, 2, H/ds, W/ds] (channel 0 = OFF, 1 = ON;
// row = y / ds, column = x / ds), or, with x_major, [T, 2, W/ds, H/ds] as the reference code indexes
// (p, x, y). Batches of them are time-major [T, B, 2, H', W'] (see loader.h).
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "masnn/data/events.h"

namespace masnn::data {

/// How the events of a sample are cut into T frames.
enum class FrameSlicing {
  TimeWindow,  ///< T windows of dt_us from a start time (the reference; REFERENCE.md 4.1)
  EventCount,  ///< the sample's events from the start split into T runs of equal event count
  TimeBins,    ///< T equal time bins over [first event, last event] of the sample (DVS128 Gait)
};

/// time-window, event-count or time-bins, as data.slicing names them.
std::string to_string(FrameSlicing slicing);
/// The slicing a name gives (to_string's names). Throws std::invalid_argument naming the accepted names.
FrameSlicing parse_frame_slicing(const std::string& name);

/// How frame values are scaled after counting.
enum class FrameNormalization {
  None,          ///< event counts (or 0/1 with binary)
  MaxPerFrame,   ///< each [2, H', W'] frame divided by its maximum (frames of zeros stay zero)
  MaxPerSample,  ///< the whole [T, 2, H', W'] divided by its maximum
};
/// none, max-per-frame or max-per-sample, as data.normalization names them.
std::string to_string(FrameNormalization normalization);

/// Settings of the event -> frame integration. Defaults: the reference DVS128 Gesture code (T 60, dt 25 ms,
/// 128x128 sensor, ds 4, counts).
struct FrameOptions {
  /// T, the number of frames.
  TORCH_ARG(int64_t, steps) = 60;
  /// Window length for FrameSlicing::TimeWindow (microseconds).
  TORCH_ARG(int64_t, dt_us) = 25000;
  TORCH_ARG(FrameSlicing, slicing) = FrameSlicing::TimeWindow;
  /// Sensor size (events outside are dropped).
  TORCH_ARG(int64_t, width) = 128;
  TORCH_ARG(int64_t, height) = 128;
  /// Spatial down-sampling: pixel (x, y) counts into cell (x / ds, y / ds). Must divide width and height.
  TORCH_ARG(int64_t, ds) = 4;
  /// 1 where a cell has any event, instead of counts.
  TORCH_ARG(bool, binary) = false;
  TORCH_ARG(FrameNormalization, normalization) = FrameNormalization::None;
  /// Index frames (p, x, y) as the reference code does, instead of (p, y, x).
  TORCH_ARG(bool, x_major) = false;

 public:
  /// Frame height H' (rows; W/ds when x_major).
  int64_t rows() const { return (x_major_ ? width_ : height_) / ds_; }
  /// Frame width W' (columns; H/ds when x_major).
  int64_t cols() const { return (x_major_ ? height_ : width_) / ds_; }
  /// Clip length T * dt_us (TimeWindow).
  int64_t window_us() const { return steps_ * dt_us_; }
  /// Throws std::invalid_argument naming the field for a bad setting.
  void validate() const;
};

/// A spatial augmentation applied to event coordinates before integration: shift by (dx, dy) sensor
/// pixels (events leaving the sensor are dropped; the same as padding + random crop), then mirror x.
struct SpatialTransform {
  int dx = 0;
  int dy = 0;
  bool flip_x = false;
};

/// Random spatial augmentation settings for training. Defaults: none. Note that flipping swaps left and
/// right, which changes the meaning of the left/right gesture classes; keep it off for DVS128 Gesture.
struct AugmentOptions {
  /// Largest |dx|, |dy| of a random shift (sensor pixels); 0 = no shift.
  TORCH_ARG(int, max_shift) = 0;
  /// Probability of mirroring x.
  TORCH_ARG(double, flip_probability) = 0.0;

 public:
  /// Draws a transform from `rng`.
  SpatialTransform draw(std::mt19937_64& rng) const;
};

/// Integrates events [begin, end) of `events` (sorted by t) into frames starting at `start_us` and adds
/// them to `out`: frame k of the sample is at out + k * time_stride (floats), laid out [2, rows, cols].
/// No normalisation here. Returns the number of events that landed in a frame.
size_t accumulate_frames(const Events& events, size_t begin, size_t end, const FrameOptions& options, int64_t start_us,
                         const SpatialTransform& transform, float* out, int64_t time_stride);

/// Applies options.binary and options.normalization in place to T frames at out + k * time_stride.
void finish_frames(const FrameOptions& options, float* out, int64_t time_stride);

/// Frames [T, 2, rows, cols] of `events` (sorted by t). TimeWindow: windows of dt from `start_us`;
/// EventCount: the events at or after `start_us` in T equal runs; TimeBins: T equal bins over all events.
torch::Tensor events_to_frames(const Events& events, const FrameOptions& options, int64_t start_us,
                               const SpatialTransform& transform = {});

/// The training clip of a sample: TimeWindow starts at a random time (random_clip_start, then the first
/// event at or after it, as the reference re-anchors its windows); other slicings use the whole sample.
torch::Tensor train_clip(const Events& events, const FrameOptions& options, std::mt19937_64& rng,
                         const AugmentOptions& augment = {});

/// The test clips of a sample stacked as [clips, T, 2, rows, cols]: TimeWindow at test_clip_starts (each
/// anchored at its first event); other slicings give the whole sample `clips` times.
torch::Tensor test_clips(const Events& events, const FrameOptions& options, int clips);

/// Start time of clip `clip` of a sample for the loader: train (clip < 0) draws from rng; test uses
/// test_clip_starts(...)[clip]. The result is anchored to the first event at or after the start.
int64_t clip_start(const Events& events, const FrameOptions& options, int clip, int clips, std::mt19937_64* rng);

}  // namespace masnn::data
