// An event-camera (DVS) pixel model that turns frames into events, as the published video-to-event simulators do
// (ESIM, Rebecq et al. 2018; v2e, Hu, Liu and Delbruck 2021):
//   - each pixel sees the lin-log intensity of the frames: linear below `linear_below` (in 0..255 units, so
//     that dark pixels do not fire on noise), ln(I) above it (v2e's lin_log);
//   - between two frames the log intensity moves linearly, and an ON (OFF) event is emitted each time it has
//     risen (fallen) by the pixel's contrast threshold from the pixel's reference level, at the interpolated
//     time of the crossing; the reference then moves by one threshold;
//   - thresholds differ per pixel: N(on_threshold, threshold_sigma), at least min_threshold (fixed-pattern
//     mismatch);
//   - after an emitted event a pixel is blind for `refractory_us`: crossings inside it are lost (the reference
//     still follows the input, as a pixel held in reset does);
//   - leak events: the reference of every pixel drifts down by leak_rate_hz ON thresholds per second (a DVS's
//     junction leakage), so a still scene gives ON events at about that rate; each pixel starts at a random phase;
//   - shot noise: ON and OFF events at random pixels and times, shot_noise_rate_hz per pixel (both polarities
//     together); they leave the pixel's reference alone (a noise spike that resets the pixel would be followed by
//     an event of the other polarity when the input returns, which real sensors do not show).
// The defaults are v2e's (its DVS model arguments: thresholds 0.2, sigma 0.03, leak 0.01 Hz, shot noise 0.001 Hz,
// refractory period 0.5 ms). Not modelled: the photoreceptor's bandwidth (v2e's cutoff_hz, an intensity-dependent
// low-pass filter; frames are taken as the photoreceptor's output), v2e's brightness scaling of shot noise, and
// frame interpolation (give frames fast enough that an edge moves well under a pixel between two of them).
// Deterministic for a seed.
#pragma once
#include <cstdint>
#include <vector>

#include "masnn/data/events.h"
#include "masnn/util/random.h"

namespace masnn::data {

/// Settings of the pixel model (defaults: v2e's).
struct DvsSimulatorOptions {
  double on_threshold = 0.2;         ///< log-intensity rise of an ON event (> 0)
  double off_threshold = 0.2;        ///< log-intensity fall of an OFF event (> 0)
  double threshold_sigma = 0.03;     ///< per-pixel standard deviation of both thresholds (>= 0)
  double min_threshold = 0.01;       ///< thresholds drawn below this are raised to it (> 0)
  int64_t refractory_us = 500;       ///< blind time after an event (>= 0)
  double leak_rate_hz = 0.01;        ///< leak (ON) events per pixel per second (>= 0)
  double shot_noise_rate_hz = 0.001; ///< shot-noise events (ON + OFF) per pixel per second (>= 0)
  double linear_below = 20;          ///< intensity (0..255 scale) under which the response is linear (> 0)
  uint64_t seed = 0;                 ///< seed of the thresholds, leak phases and noise
  /// Throws std::invalid_argument naming the setting when one is out of range (or NaN).
  void validate() const;
};

/// v2e's lin-log response to intensity `i` (0..255 scale): i * ln(b) / b below b = linear_below, ln(i) above.
float lin_log(float i, float linear_below);

/// The pixel array of one camera. Feed it frames in time order; it appends the events between each frame and the
/// one before to an Events container, sorted by time.
class DvsSimulator {
 public:
  /// A sensor of width x height pixels (each in 1..65535). Throws std::invalid_argument naming what is wrong.
  DvsSimulator(int width, int height, const DvsSimulatorOptions& options = {});

  /// Takes the frame `intensity` (width * height values, rows top to bottom, in 0..255 units) seen at time t_us.
  /// The first frame sets every pixel's reference and emits nothing; each later one appends the events of
  /// (previous time, t_us] to `out`, sorted by time (ties: in pixel order, noise events last). Throws std::invalid_argument when t_us
  /// is not after the previous frame's time.
  void add_frame(const float* intensity, int64_t t_us, Events& out);

  int width() const { return width_; }
  int height() const { return height_; }
  /// Frames taken so far.
  size_t frames() const { return frames_; }
  /// The ON threshold of pixel (x, y), after mismatch.
  float on_threshold(int x, int y) const { return on_thr_[index(x, y)]; }
  /// The OFF threshold of pixel (x, y), after mismatch.
  float off_threshold(int x, int y) const { return off_thr_[index(x, y)]; }

 private:
  size_t index(int x, int y) const { return static_cast<size_t>(y) * static_cast<size_t>(width_) + static_cast<size_t>(x); }
  void add_shot_noise(int64_t t0, int64_t dt);

  int width_, height_;
  DvsSimulatorOptions options_;
  SplitMix64 rng_;
  std::vector<float> on_thr_, off_thr_;
  float linear_below_ = 0, log_linear_below_ = 0;
  std::vector<float> log_;        // lin-log intensity at the last frame
  std::vector<float> next_log_;   // ... at the frame being added
  std::vector<uint8_t> crossing_; // 1 where the frame being added crosses a threshold
  std::vector<float> reference_;  // level of each pixel's last reset
  std::vector<int64_t> last_event_;
  int64_t time_ = 0;
  size_t frames_ = 0;
  // The events of one frame interval before sorting: time, then pixel index << 1 | polarity.
  std::vector<std::pair<int64_t, size_t>> pending_;
  std::vector<std::pair<int64_t, size_t>> sorted_;  // pending_ sorted by time
  std::vector<size_t> slot_;                          // its time buckets
};

}  // namespace masnn::data
