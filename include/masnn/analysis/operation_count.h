// Operations and parameters of a DVS network, layer by layer (the `masnn model` figures).
//
// Counting rule (dense equivalent, per sample, over all T time steps; one MAC = one multiply-accumulate):
//   conv    Cout * Cin/groups * kh * kw * Hout * Wout, once per time step        (x T)
//   linear  in * out, once per time step                                          (x T)
//   attention, counted as MACs too:
//     TA shared MLP   fc1 T*(T/r) + fc2 (T/r)*T, on the avg and the max descriptor (x 2, once per sample)
//     CA shared MLP   fc1 C*(C/r) + fc2 (C/r)*C, on avg and max (x 2); once per sample when pooled over T
//                     (the reference), once per step when per_step or inside the neuron (activate-pre) (x T)
//     SA conv         2*k*k*H*W (2 maps -> 1); once per sample, or once per step (per_step, activate-pre)
// Not counted: BN, pooling, the element-wise attention scaling, the neurons' own updates, the mean/max
// reductions. Spikes make a real network cheaper (accumulates instead of MACs); this is the dense count.
#pragma once

#include <torch/nn/modules/container/any.h>

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/models/dvs_net.h"

namespace masnn::analysis {

/// One layer that multiplies and accumulates.
struct LayerOperations {
  std::string name;   ///< module path inside the network, e.g. convs.0.conv or convs.0.attention.ta.mlp.fc1
  std::string block;  ///< the spiking block holding it, e.g. convs.0 or fcs.1
  std::string kind;   ///< conv2d, linear, attention-mlp (TA/CA shared MLP layer) or attention-conv (SA)
  std::vector<int64_t> input_shape;   ///< what one application sees, per sample: [C,H,W] or [F]
  std::vector<int64_t> output_shape;  ///< what one application gives, per sample: [C,H,W] or [F]
  int64_t applications = 0;           ///< applications per sample (T for conv/linear; see the counting rule above)
  int64_t params = 0;                 ///< the layer's own parameters (weight and bias)
  int64_t macs = 0;                   ///< dense-equivalent MACs per sample over all applications
};

/// One spiking block of the network (convs.i or fcs.i).
struct BlockSummary {
  std::string name;                   ///< convs.0, ..., fcs.0, ...
  std::string kind;                   ///< SpikingConvBlock or SpikingLinearBlock
  std::vector<int64_t> output_shape;  ///< the block's output for a [T,1,C_in,H,W] input: [T,1,C,H,W] or [T,1,F]
  int64_t params = 0;                 ///< every parameter of the block (conv/linear, BN, attention, neuron)
  int64_t macs = 0;                   ///< sum of the block's LayerOperations
};

/// The layers of `net` that multiply and accumulate, in forward order, for inputs of T = `steps` time steps
/// (shapes follow from the network's input size). Throws std::invalid_argument when steps < 1, or when the
/// network has temporal attention built for a different T.
std::vector<LayerOperations> count_operations(const DvsNetImpl& net, int64_t steps);

/// Same for a module from build_model; throws std::invalid_argument when it does not hold a DvsNet.
std::vector<LayerOperations> count_operations(const torch::nn::AnyModule& model, int64_t steps);

/// Sum of the MACs of `layers`.
int64_t total_macs(const std::vector<LayerOperations>& layers);

/// Per block: output shape (from one forward of zeros [T,1,C_in,H,W] through the blocks one by one, without
/// autograd, in eval mode; the training flag is restored after), parameters and MACs. The blocks' parameters
/// add up to count_parameters(net). Throws std::invalid_argument like count_operations.
std::vector<BlockSummary> summarize_blocks(DvsNetImpl& net, int64_t steps);

/// The DvsNet inside a module from build_model; throws std::invalid_argument when it holds something else.
DvsNetImpl& as_dvs_net(const torch::nn::AnyModule& model);

/// "[T,1,64,32,32]"-style text of a shape.
std::string shape_string(const std::vector<int64_t>& shape);

/// "1.23 G"-style text of a count (k, M, G, T with three significant digits).
std::string human_count(double count);

}  // namespace masnn::analysis
