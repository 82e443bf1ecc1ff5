// What event-driven training can exploit in a network, measured on one batch as a training step sees it (training
// mode: BN on the batch's statistics). Per synaptic layer (conv, linear): the density of its input, i.e. the work
// of an event-driven forward and weight gradient against the dense layer's. Per neuron layer: its firing rate and
// the fraction of neuron-steps inside the surrogate gradient's support, the only places where the input gradient
// of the synaptic layer reading its spikes is needed (elsewhere dL/ds is multiplied by zero). Found by a monitor,
// for any network; no wiring is known here.
#pragma once

#include <torch/nn/modules/container/any.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/util/monitor.h"

namespace masnn::analysis {

struct SynapseSparsity {
  std::string name;                  ///< module path, e.g. convs.1.conv
  std::string kind;                  ///< conv2d or linear
  std::vector<int64_t> input_shape;  ///< [T,B,...] (or [B,...] for a static stem)
  SynapseEvent::Kind input = SynapseEvent::Kind::Values;
  double input_density = 0;    ///< fraction of nonzero inputs
  std::string source;          ///< the neuron layer whose spikes it reads ("" when none or not found)
  double source_support = -1;  ///< that neuron's surrogate-support fraction (-1: unknown)
};

struct NeuronSparsity {
  std::string name;               ///< module path, e.g. convs.1.lif
  double firing_rate = 0;         ///< spikes per neuron-step
  double surrogate_support = -1;  ///< fraction of neuron-steps with a nonzero surrogate derivative (-1: unknown,
                                  ///< e.g. a neuron that is not a masnn::LIF)
};

struct TrainingSparsity {
  std::vector<SynapseSparsity> synapses;  ///< in call order
  std::vector<NeuronSparsity> neurons;    ///< in call order
};

/// Runs a copy of `model` in training mode, without gradients, on `x` (the model's and its BN statistics are left
/// as they were), and measures the above. Attention fused into a neuron is computed apart for the measurement.
TrainingSparsity measure_training_sparsity(const torch::nn::AnyModule& model, const torch::Tensor& x);

}  // namespace masnn::analysis
