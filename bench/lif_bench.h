// Benchmark of the multi-step LIF: fused vs composed, forward and forward+backward, time and peak memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn::bench {

struct LifBenchConfig {
  int64_t steps = 60, batch = 16, channels = 128, size = 16;  ///< input [T,B,C,size,size]
  int repeats = 5;                                            ///< timed runs (after one warm-up); median reported
  std::string neuron = "dvs";                                 ///< dvs (REFERENCE 1.1) or resnet (1.2)
  bool activate_pre = false;  ///< bench the LIF with CA+SA inside the time loop instead of the plain LIF
};

struct LifBenchResult {
  std::string backend;
  double forward_ms = 0;   ///< forward with autograd recording, median
  double train_ms = 0;     ///< forward + backward, median
  double peak_mib = 0;     ///< peak CPU tensor memory of forward + backward above the input, MiB
  double firing_rate = 0;  ///< fraction of neurons x steps that spiked
};

/// Runs composed then fused on the same input; throws std::invalid_argument for a bad config.
std::vector<LifBenchResult> run_lif_bench(const LifBenchConfig& config);

}  // namespace masnn::bench
