// Operations and parameters of any network, layer by layer and block by block (the `masnn model` figures), from
// the layers' own reports while it runs (masnn/util/monitor.h): no tool here knows a network's wiring.
//
// Counting rule (dense equivalent, per sample, over all T time steps; one MAC = one multiply-accumulate):
//   conv    Cout * Cin/groups * kh * kw * Hout * Wout, once per time step        (x T)
//           (once per sample when its input is the same for every step: a Res-SNN's stem on a static image)
//   linear  in * out, once per time step                                          (x T; once after a mean over T)
//   attention, counted as MACs too:
//     TA shared MLP   fc1 T*(T/r) + fc2 (T/r)*T, on the avg and the max descriptor (x 2, once per sample)
//     CA shared MLP   fc1 C*(C/r) + fc2 (C/r)*C, on avg and max (x 2); once per sample when pooled over T
//                     (the reference), once per step when per_step or inside the neuron (activate-pre) (x T)
//     SA conv         2*k*k*H*W (2 maps -> 1); once per sample, or once per step (per_step, activate-pre)
// Not counted: BN, pooling, the element-wise attention scaling, the neurons' own updates, the mean/max
// reductions. Spikes make a real network cheaper (accumulates instead of MACs); this is the dense count.
#pragma once

#include <torch/nn/modules/container/any.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/util/monitor.h"

namespace masnn::analysis {

/// One layer that multiplies and accumulates.
struct LayerOperations {
  std::string name;   ///< module path inside the network, e.g. convs.0.conv or convs.0.attention.ta.mlp.fc1
  std::string block;  ///< the block holding it (block_of), e.g. convs.0, fcs.1, stages.2.0, stem_conv
  std::string kind;   ///< conv2d, linear, attention-mlp (TA/CA shared MLP layer) or attention-conv (SA)
  std::vector<int64_t> input_shape;   ///< what one application sees, per sample: [C,H,W] or [F]
  std::vector<int64_t> output_shape;  ///< what one application gives, per sample: [C,H,W] or [F]
  int64_t applications = 0;           ///< applications per sample (T for conv/linear; see the counting rule above)
  int64_t params = 0;                 ///< the layer's own parameters (weight and bias)
  int64_t macs = 0;                   ///< dense-equivalent MACs per sample over all applications
};

/// One block of the network: a unit that reports its output (a spiking conv/linear block, a residual block, a
/// Res-SNN's stem conv and head linear layer).
struct BlockSummary {
  std::string name;                   ///< convs.0, ..., fcs.0, ...; stem_conv, stages.0.0, ..., fc
  std::string kind;                   ///< the module's type, e.g. SpikingConvBlock, ResSnnBlock, Conv2d
  std::vector<int64_t> output_shape;  ///< the block's output for the example input, e.g. [T,1,C,H,W] or [T,1,F]
  int64_t params = 0;                 ///< every parameter of the block (conv/linear, BN, attention, neuron)
  int64_t macs = 0;                   ///< sum of the LayerOperations whose block it is
};

/// Counts, from the events of the network it is attached to, the operations of every layer that multiplies and
/// accumulates (synaptic layers; the TA/CA MLPs and SA conv of attention modules) and the blocks' outputs. The first
/// call of each layer or block makes its row (one forward of the network is enough).
class OperationCounter : public Monitor {
 public:
  /// `root`: the network the counter will be attached to (for the blocks' parameters).
  explicit OperationCounter(const torch::nn::Module& root) : root_(root) {}
  void on_synapse(const std::string& name, const SynapseEvent& event) override;
  void on_attention(const std::string& name, const AttentionEvent& event) override;
  void on_block(const std::string& name, const torch::nn::Module& block, const torch::Tensor& output) override;
  /// Layers in the order they first ran.
  const std::vector<LayerOperations>& layers() const { return layers_; }
  /// Blocks in the order they first reported, their MACs summed from layers().
  std::vector<BlockSummary> blocks() const;

 private:
  const torch::nn::Module& root_;
  std::vector<LayerOperations> layers_;
  std::vector<BlockSummary> blocks_;
};

/// The layers and blocks of a network.
struct ModelSummary {
  std::vector<LayerOperations> layers;
  std::vector<BlockSummary> blocks;
};

/// Runs `model` once on `input` (e.g. example_input of masnn/models/registry.h: zeros [T,1,C,H,W] or [1,C,H,W])
/// without autograd, in eval mode (its training flag is restored), with an OperationCounter attached. Counts are
/// per sample. Errors of the forward (a wrong input shape, TA built for another T) propagate.
ModelSummary summarize_model(const torch::nn::AnyModule& model, const torch::Tensor& input);

/// summarize_model(model, input).layers.
std::vector<LayerOperations> count_operations(const torch::nn::AnyModule& model, const torch::Tensor& input);

/// Sum of the MACs of `layers`.
int64_t total_macs(const std::vector<LayerOperations>& layers);

/// The block holding a layer: the path above it ("convs.0" for convs.0.conv, "stages.0.1" for
/// stages.0.1.conv2); a top-level layer (stem_conv, fc) is its own block.
std::string block_of(const std::string& layer);

/// "[T,1,64,32,32]"-style text of a shape.
std::string shape_string(const std::vector<int64_t>& shape);

/// "1.23 G"-style text of a count (k, M, G, T with three significant digits).
std::string human_count(double count);

}  // namespace masnn::analysis
