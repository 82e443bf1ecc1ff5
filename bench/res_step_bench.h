// Benchmark of one training step of a Res-SNN (forward, cross-entropy with label smoothing, backward, SGD with
// momentum and weight decay: the paper's ImageNet recipe) on random images, for each T asked for.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn::bench {

struct ResStepBenchConfig {
  std::string model = "res-snn-18";  ///< a Res-SNN registry name
  std::string attention = "CSA";     ///< none, TA, CA, SA, TCA, TSA, CSA, TCSA
  std::vector<int64_t> steps{1, 4};  ///< the T values to measure
  int64_t batch = 8;                 ///< B
  int64_t size = 0;                  ///< image side (0: the model's preset, 224 or 28)
  int iterations = 3;                ///< timed training steps per T (median reported)
  int warmup = 1;                    ///< untimed steps first
  std::string device = "cpu";        ///< cpu or cuda
  std::string lif_backend;           ///< fused or composed ("": fused, but composed on CUDA in a CPU-only build)
  uint64_t seed = 0;
  std::string profile;  ///< when set: the last timed step of each T is profiled into PROFILE.T<T>.json (chrome trace)
};

/// The figures for one T.
struct ResStepBenchResult {
  int64_t steps = 0;                 ///< T
  std::vector<int64_t> input_shape;  ///< [B,C,H,W]
  int64_t params = 0;
  double step_ms = 0;  ///< training step, median
  double step_min_ms = 0, step_max_ms = 0;
  double forward_ms = 0;    ///< forward + loss, median
  double backward_ms = 0;   ///< backward, median
  double optimizer_ms = 0;  ///< SGD step, median
  double images_per_s = 0;  ///< batch / median step
  double loss = 0;          ///< loss of the last step
  double peak_rss_mib = 0;  ///< process peak RSS after the steps (grows over the runs: the peak so far)
};

/// Builds the network once per T and runs warmup + iterations training steps on it. Throws
/// std::invalid_argument naming the setting for a bad config, std::runtime_error when CUDA is asked for but absent.
std::vector<ResStepBenchResult> run_res_step_bench(const ResStepBenchConfig& config);

}  // namespace masnn::bench
