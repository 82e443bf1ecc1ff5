// Benchmark of sparse spike inference. (1) Every conv/linear layer of a network, dense LibTorch against the
// event-driven kernel, over input densities (firing rates), at batch 1 (a streaming step) and T (an offline clip):
// time per call and the crossover density. (2) A trained network (the demo's MA-SNN) on test clips of its data:
// the measured firing rate at each layer's input, and the whole inference dense, auto (per layer by density) and
// all-sparse, offline (one clip of T steps) and step by step, with the outputs compared. (3) Training: each
// convolution on spikes forward + backward, dense against event-driven, over densities (the training crossover),
// and its input gradient alone, dense against computed at a surrogate support of each density.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/serve/sparse.h"

namespace masnn::bench {

struct SparseBenchConfig {
  std::string model = "gesture";  ///< layer shapes of this network (registry name or gesture, gait, small)
  int64_t steps = 60;             ///< its T (the offline batch)
  std::vector<double> densities = {0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5};
  int repeats = 5;  ///< timed calls per point (the fastest is kept)
  int threads = 1;
  std::string checkpoint;  ///< whole-network part (empty = skip)
  std::string data;        ///< overrides the checkpoint's data.root
  int64_t samples = 8;     ///< test samples (first clip of each) for the whole network
  bool layers = true;      ///< run part (1)
  /// > 0: part (3), training: forward + backward of every convolution on spikes at batch T x train_batch, dense
  /// (oneDNN, functional::conv2d_binary_input) against event-driven (functional::conv2d_event_driven).
  int64_t train_batch = 0;
};

struct LayerSweep {
  std::string layer;  ///< e.g. convs.1.conv: conv 64->128 k3 at 32x32
  int64_t batch = 1;
  std::vector<serve::PathTiming> timings;
  double crossover = 0;
};

struct NetworkLayer {
  std::string name, shape;
  double input_density = 0;   ///< nonzero inputs / inputs over the clips (firing rate; event density for conv 0)
  double crossover_clip = 0;  ///< calibrated crossover at batch T
  double crossover_step = 0;  ///< at batch 1
  double auto_sparse_share_clip = 0;  ///< share of auto's calls that took the sparse path (offline)
  double auto_sparse_share_step = 0;  ///< (step by step)
};

struct NetworkRun {
  std::string synapses;     ///< dense, auto, sparse
  double clip_ms = 0;       ///< one offline clip forward [T,1,...]: median over clips of the fastest of repeats
  double step_ms = 0;       ///< median time of one streaming step at batch 1
  double max_abs_diff = 0;  ///< of the outputs against dense (offline)
  int64_t same_prediction = 0;
};

struct SparseBenchResult {
  std::vector<LayerSweep> sweeps;
  std::vector<LayerSweep> train_sweeps;  ///< part (3): ms per forward + backward
  /// part (3): ms per input gradient, oneDNN's backward-data against kernels::sparse_conv2d_input_grad at a random
  /// support of each density (the output gradient already channels-last: the event-driven path has it anyway)
  std::vector<LayerSweep> input_grad_sweeps;
  std::string network;                      ///< the checkpoint, described
  int64_t clips = 0;
  std::vector<NetworkLayer> layers;
  std::vector<NetworkRun> runs;
  int threads = 1;
};

SparseBenchResult run_sparse_bench(const SparseBenchConfig& config);

}  // namespace masnn::bench
