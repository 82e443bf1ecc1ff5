// Synthetic DVS gestures: the embedded default data. Writes recordings in the exact DVS128 Gesture layout
// (`DvsGesture/userNN_<lighting>.aedat` in AEDAT 3.1, `userNN_<lighting>_labels.csv`, `trials_to_train.txt`,
// `trials_to_test.txt`), so the real reader path is exercised.
//
// Scene: a dim body and bright limbs (soft discs) moving with class-specific motion over a 128x128 sensor
// (clap: two limbs converging; waves: a limb oscillating sideways on one side; arm rotations clockwise /
// counter-clockwise per side; roll: two limbs circling each other; drums: two limbs alternating up-down;
// guitar: fast strumming with a slow fretting limb; other: random smooth trajectories). The scene's log
// intensity is simulated in steps; a pixel emits an ON/OFF event each time its log intensity moves by its
// contrast threshold (per-pixel mismatch) from the level at its last event, with a refractory period, as
// event-camera simulators do. Background noise events are added. Users vary position, size and speed;
// each gesture varies frequency, amplitude, phase, size and contrast. Clockwise and counter-clockwise differ
// only in the direction of time, so a model that ignores time cannot solve the task.
// Deterministic for a seed (independent of the number of threads).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "masnn/data/events.h"
#include "masnn/data/gesture_labels.h"

namespace masnn::data {

/// Settings of the synthetic gesture generator, with documented defaults.
struct SynthOptions {
  /// Users (recording subjects), numbered 1..users. The last `test_users` users form the test split.
  int users = 6;
  /// Users in the test split (0 = max(1, users / 3)).
  int test_users = 0;
  /// Lighting conditions; one recording per user and lighting.
  std::vector<std::string> lightings = {"fluorescent", "lab", "natural"};
  /// Seed of everything random.
  uint64_t seed = 1;
  /// Mean gesture duration (seconds); each gesture varies by +-20%.
  double gesture_seconds = 1.5;
  /// Pause between gestures (seconds).
  double pause_seconds = 0.4;
  /// Repetitions of each class per recording (the real recordings hold each class about once).
  int repeats = 1;
  /// Sensor size.
  int width = 128;
  int height = 128;
  /// Simulation step (microseconds).
  int64_t step_us = 2000;
  /// Mean contrast threshold (log intensity) and its per-pixel standard deviation.
  double threshold = 0.3;
  double threshold_sigma = 0.03;
  /// Refractory period of a pixel (microseconds).
  int64_t refractory_us = 1000;
  /// Background noise events per pixel per second (scaled per lighting).
  double noise_hz = 0.1;
  /// Worker threads (results do not depend on it). 0 = hardware concurrency.
  int threads = 0;
};

/// What write_synthetic_gestures wrote.
struct SynthReport {
  std::string folder;        ///< the `DvsGesture` folder
  size_t recordings = 0;     ///< AEDAT files written
  size_t train_samples = 0;  ///< labelled segments of train recordings
  size_t test_samples = 0;   ///< labelled segments of test recordings
  size_t events = 0;         ///< events in all files
  size_t bytes = 0;          ///< bytes of all AEDAT files
};

/// One recording rendered in memory: its events (sorted by t) and its labelled segments.
struct SynthRecording {
  Events events;
  std::vector<GestureSegment> segments;
};

/// Renders the recording of `user` (1-based) under lighting number `lighting` (index into options.lightings).
SynthRecording synthesize_recording(const SynthOptions& options, int user, int lighting);

/// Writes the whole synthetic dataset under `out_dir`/DvsGesture (created if needed). Throws on bad settings
/// (std::invalid_argument) or I/O errors (std::runtime_error naming the file).
SynthReport write_synthetic_gestures(const std::string& out_dir, const SynthOptions& options = {});

}  // namespace masnn::data
