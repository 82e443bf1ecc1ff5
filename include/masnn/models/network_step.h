// Step-at-a-time inference of any network build_model makes (masnn stream): what a stepping tool needs to know of
// the network, its recurrent state, and one step. The networks' own forward_step do the work.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>

#include "masnn/models/dvs_net.h"
#include "masnn/models/res_snn.h"

namespace masnn {

/// What a network built by build_model takes and gives, step by step.
struct NetworkStepInfo {
  int64_t in_channels = 0;
  int64_t input_size = 0;  ///< side of the square frames it takes; 0 = any side (the Res-SNNs)
  int64_t num_classes = 0;
  int64_t steps = 0;                ///< the T it was built for
  bool temporal_attention = false;  ///< TA: its offline forward takes sequences of exactly `steps` steps
  bool outputs_rates = true;        ///< firing rates in [0,1] (the DVS networks), else logits (the Res-SNNs)
};

/// The step facts of `net`. Throws std::invalid_argument when it is none of build_model's networks.
NetworkStepInfo network_step_info(const torch::nn::Module& net);

/// The recurrent state of a network for step-at-a-time inference: every neuron's membrane and every causal
/// attention window. Rows are independent streams, each put at rest on its own.
struct NetworkStepState {
  DvsNetStepState dvs;
  ResSnnStepState res;
  /// Puts row `row` (every row when -1) at rest.
  void reset(int64_t row = -1);
};

/// One time step x_t [B,C,H,W] of `net` (eval mode) -> this step's output [B,num_classes], whose mean over T steps
/// from rest is the offline forward's output on those steps when no attention pools over time (TA and CA/SA over
/// T are causal: DvsNetImpl::forward_step, ResSnnImpl::forward_step).
torch::Tensor forward_step(torch::nn::Module& net, const torch::Tensor& x_t, NetworkStepState& state);

}  // namespace masnn
