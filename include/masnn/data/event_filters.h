// Event filters and event augmentations.
//
// Filters clean a recording the same way every time (training and test samples alike, and a live stream): a
// background-activity filter (an event is kept only when one of its 8 neighbours fired shortly before it: isolated
// events are sensor noise), a refractory period per pixel, and hot-pixel removal (pixels that fire far more than
// the others over a recording). Augmentations change training samples at random, reproducibly from the run's
// seed: random drops (a fraction of the events, a time interval, a square area) and time and spatial jitter. The
// random crop (data.max_shift) and flip (data.flip) are frames.h's SpatialTransform.
#pragma once

#include <torch/arg.h>

#include <cstdint>
#include <random>
#include <vector>

#include "masnn/data/events.h"

namespace masnn::data {

/// Settings of the deterministic filters; all off by default.
struct EventFilterOptions {
  /// Background-activity filter: keep an event when one of its 8 neighbouring pixels fired at most this many
  /// microseconds before it (0 = off).
  TORCH_ARG(int64_t, denoise_us) = 0;
  /// Drop an event when its pixel's last kept event is less than this many microseconds before it (0 = off).
  TORCH_ARG(int64_t, refractory_us) = 0;
  /// Remove the pixels that fire more than this many times the mean count of the pixels that fire at all, over a
  /// whole recording (0 = off; needs the whole recording, so a live stream does not apply it).
  TORCH_ARG(double, hot_pixel_factor) = 0;

 public:
  /// True when any filter is on.
  bool any() const { return denoise_us_ > 0 || refractory_us_ > 0 || hot_pixel_factor_ > 0; }
  /// Throws std::invalid_argument naming the field for a negative or non-finite setting.
  void validate() const;
};

/// What the filters removed.
struct EventFilterStats {
  size_t noise_dropped = 0;       ///< by the background-activity filter
  size_t refractory_dropped = 0;  ///< inside a pixel's refractory period
  size_t hot_pixels = 0;          ///< pixels found hot
  size_t hot_dropped = 0;         ///< events of hot pixels
};

/// The filters with their per-pixel state, for a whole recording or a stream fed in pieces (the state carries
/// over). Events must come in time order and lie within width x height.
class EventFilter {
 public:
  EventFilter(int width, int height, const EventFilterOptions& options);
  /// Filters `events` in place (hot pixels first, when on and `whole_recording`; then refractory, then denoise).
  void apply(Events& events, bool whole_recording = true);
  const EventFilterStats& stats() const { return stats_; }

 private:
  int width_, height_;
  EventFilterOptions options_;
  EventFilterStats stats_;
  std::vector<int64_t> last_kept_;   ///< refractory: last kept event per pixel
  std::vector<int64_t> neighbours_;  ///< denoise: latest time any neighbour of the pixel fired
};

/// Random augmentations of training samples; all off by default.
struct EventAugmentOptions {
  /// Probability of dropping each event.
  TORCH_ARG(double, drop_fraction) = 0;
  /// Drop the events of one random interval of this many microseconds (0 = off).
  TORCH_ARG(int64_t, drop_time_us) = 0;
  /// Drop the events of one random square of this side, in sensor pixels (0 = off).
  TORCH_ARG(int, drop_area) = 0;
  /// Standard deviation of a Gaussian added to each timestamp, microseconds (events re-sorted; 0 = off).
  TORCH_ARG(double, time_jitter_us) = 0;
  /// Standard deviation of a Gaussian added to x and y, pixels (rounded; events leaving the sensor dropped).
  TORCH_ARG(double, spatial_jitter) = 0;

 public:
  bool any() const {
    return drop_fraction_ > 0 || drop_time_us_ > 0 || drop_area_ > 0 || time_jitter_us_ > 0 || spatial_jitter_ > 0;
  }
  /// Throws std::invalid_argument naming the field for a setting out of range.
  void validate() const;
};

/// Applies the augmentations to `events` (sorted by t) of a width x height sensor, drawing from `rng`; events stay
/// sorted by t. Draws nothing when no augmentation is on.
void augment_events(Events& events, int width, int height, const EventAugmentOptions& options, std::mt19937_64& rng);

}  // namespace masnn::data
