// Benchmark of one training step of a DVS network (forward, MSE loss vs a one-hot label, backward, Adam step)
// on random spike input, against the "floor": forward+backward of the network's convolutions and linear
// layers alone, with the same shapes, measured in the same process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/analysis/training_sparsity.h"

namespace masnn::bench {

struct TrainStepBenchConfig {
  std::string model = "gesture";            ///< gesture, gait, small, or a registry name (dvs-gesture, ...)
  std::string attention = "TCSA";           ///< none, TA, CA, SA, TCA, TSA, CSA, TCSA
  std::string placement = "conv-post";      ///< conv-post or activate-pre
  int64_t steps = 16;                       ///< T
  int64_t batch = 8;                        ///< B
  int64_t input_size = 0;                   ///< side of the input frames (0 = the network's default)
  int iterations = 5;                       ///< timed training steps (median reported)
  int warmup = 1;                           ///< untimed steps first
  std::string lif_backend = "fused";        ///< fused or composed
  std::string attention_backend = "fused";  ///< fused (fused_attention.h) or composed LibTorch ops
  std::string norm_backend = "fused";       ///< fused (BN + pooling as one op, lean_ops.h) or composed
  std::string scale_lif = "fused";          ///< fused (attention scale + LIF as one op, scaled_lif) or apart
  std::string linear_backend = "onednn";    ///< onednn (the linear layers as 1x1 convolutions) or blas
  std::string synapses = "dense";           ///< conv and linear layers on spikes: dense, sparse (event-driven) or auto
  uint64_t seed = 0;
  std::string device = "cpu";  ///< cpu or cuda (the floor runs there too; memory figures are the GPU's)
  /// A checkpoint: its network and weights, and the first batch (`batch` samples) of its dataset's training split
  /// instead of random input; model, attention, placement, T and the input size are then the checkpoint's.
  std::string from;
  std::string data_root;  ///< with `from`: the dataset's folder, when not where the checkpoint's config says
};

/// One convolution or linear layer of the floor.
struct FloorLayer {
  std::string name;                  ///< module path in the network, e.g. convs.1.conv
  std::vector<int64_t> input_shape;  ///< [T*B,C,H,W] or [T*B,F]
  double ms = 0;                     ///< forward+backward, median
  double onednn_ms = 0;              ///< linear layers: the same as a 1x1 convolution (oneDNN), median; else 0
};

struct TrainStepBenchResult {
  std::string model;                 ///< registry name
  std::string attention;             ///< its attention (none, TA, ..., TCSA)
  std::string input;                 ///< "random spikes (5% at 2.0)" or the dataset split the batch comes from
  std::vector<int64_t> input_shape;  ///< [T,B,C,H,W]
  int64_t params = 0;
  int threads = 0;     ///< LibTorch intra-op threads
  double step_ms = 0;  ///< training step, median
  double step_min_ms = 0, step_max_ms = 0;
  double samples_per_s = 0;          ///< batch / median step
  double ms_per_sample_step = 0;     ///< median step / (T*B)
  double loss = 0;                   ///< loss of the last step
  double peak_tensor_mib = 0;        ///< allocator peak during the steps, counting everything since the model was built
  double baseline_tensor_mib = 0;    ///< held before the timed steps: weights, Adam state, input, labels
  double peak_rss_mib = 0;           ///< process peak RSS after the training steps (before the floor)
  double peak_cuda_mib = 0;          ///< --device cuda: peak of LibTorch's CUDA allocator during the steps
  double floor_ms = 0;               ///< median over passes of the sum of the layers' times (a linear: its faster form)
  double floor_peak_tensor_mib = 0;  ///< allocator peak of one floor pass above what was held before it
  std::vector<FloorLayer> floor;
  /// Input densities and surrogate supports on the benchmark's input, measured before the steps.
  analysis::TrainingSparsity sparsity;
  double ratio() const { return floor_ms > 0 ? step_ms / floor_ms : 0.0; }
};

/// Builds the network, runs warmup + iterations training steps, then the floor (warmup + iterations passes).
/// Throws std::invalid_argument naming the setting for a bad config.
TrainStepBenchResult run_train_step_bench(const TrainStepBenchConfig& config);

/// Time of one LibTorch operator (or autograd node) in the profiled training steps, per step.
struct ProfileRow {
  std::string name;
  double calls = 0;    ///< calls per step
  double self_ms = 0;  ///< time inside the operator minus the operators it called, per step
};

struct TrainStepProfile {
  double step_ms = 0;            ///< wall time per profiled step (profiler on)
  std::vector<ProfileRow> rows;  ///< by self time, largest first
};

/// Runs warmup steps, then `iterations` steps under LibTorch's (legacy, CPU) profiler and sums the self time of
/// every operator by name. The same network and input as run_train_step_bench; no floor.
/// With `shapes`, rows are split by the operator's input shapes too ("name [shape], [shape]").
TrainStepProfile profile_train_step(const TrainStepBenchConfig& config, bool shapes = false);

}  // namespace masnn::bench
