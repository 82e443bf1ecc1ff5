// Benchmark of the event simulator: recordings/s and events/s of sim-fashion-mnist (N-MNIST's saccades over
// Fashion-MNIST images, v2e's pixel defaults) on one thread, against what training on a recording costs on one
// thread (frames + a training step of the preset's network, per sample), and the recordings' event statistics.
#pragma once

#include <cstdint>
#include <string>

#include "bench/train_step_bench.h"

namespace masnn::bench {

struct SimulateBenchConfig {
  std::string root;           ///< Fashion-MNIST folder ("" = Debian's dataset-fashion-mnist)
  int64_t recordings = 1000;  ///< training images simulated (the first ones)
  std::string model = "dvs-small";  ///< the network of the preset (configs/sim-fashion-mnist.toml)
  int64_t steps = 10;         ///< T of the preset
  int64_t batch = 32;         ///< batch of the training step
  int iterations = 5;         ///< timed training steps (median)
};

struct SimulateBenchResult {
  int64_t recordings = 0;
  double simulate_s = 0;          ///< making all of them, one thread
  double events_mean = 0, events_sd = 0;
  int64_t events_min = 0, events_max = 0;
  double on_fraction = 0;         ///< ON events / all
  double saccade_share[3] = {0, 0, 0};  ///< share of the events in each 105 ms saccade
  double frames_s = 0;            ///< events -> [T,2,36,36] frames of all of them
  TrainStepBenchResult train;     ///< one thread
  double recordings_per_s() const { return recordings / simulate_s; }
  double events_per_s() const { return events_mean * recordings / simulate_s; }
  /// Training cost per sample: its frames and its share of a training step.
  double train_ms_per_sample() const { return 1e3 * frames_s / recordings + train.step_ms / train.input_shape[1]; }
  double simulate_ms_per_sample() const { return 1e3 * simulate_s / recordings; }
};

/// Throws std::invalid_argument for bad settings, std::runtime_error naming the files when Fashion-MNIST is missing.
SimulateBenchResult run_simulate_bench(const SimulateBenchConfig& config);

}  // namespace masnn::bench
