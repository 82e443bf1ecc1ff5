// LIF with channel and spatial attention inside the time loop ("Activate-PRE", the paper's placement,
// REFERENCE.md 2): at every step t
//   U_t  = H_{t-1} + X_t
//   U'_t = SA(CA(U_t) * U_t) * (CA(U_t) * U_t)      CA pooled over H,W of step t; SA over C of step t
//   S_t  = Heaviside(U'_t - V_th),  H_t = decay * reset(U'_t, S_t) + bias
// The spike/reset/leak part of each step is one fused autograd node (LIFBackend::Fused) or LibTorch ops
// (Composed, the oracle); the attention itself is LibTorch ops with ordinary autograd.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "masnn/attention/channel_attention.h"
#include "masnn/attention/spatial_attention.h"
#include "masnn/neuron/lif.h"

namespace masnn {

struct AttentiveLIFOptions {
  explicit AttentiveLIFOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(bool, channel_attention) = true;
  TORCH_ARG(bool, spatial_attention) = true;
  TORCH_ARG(int64_t, c_ratio) = 8;
  TORCH_ARG(int64_t, kernel_size) = 3;
  TORCH_ARG(LIFOptions, lif) = LIFOptions::reference_dvs();
};

/// x [T,B,C,H,W] -> spikes [T,B,C,H,W]. Attached monitors (masnn/util/monitor.h) see the spikes and, as an
/// attention event, the potential of every step before (U_t) and after (U'_t) the attention with its weights.
class AttentiveLIFImpl : public torch::nn::Cloneable<AttentiveLIFImpl> {
 public:
  explicit AttentiveLIFImpl(const AttentiveLIFOptions& options);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  torch::Tensor forward(const torch::Tensor& x);
  /// One time step for step-at-a-time inference: x_t [B,C,H,W] from membrane state h ([B,C,H,W]; undefined =
  /// rest) -> spikes [B,C,H,W] and the new state, the arithmetic of one iteration of forward (CA and SA here see
  /// only the current step, so T calls reproduce forward exactly).
  functional::LIFResult forward_step(const torch::Tensor& x_t, const torch::Tensor& h);

  AttentiveLIFOptions options;
  ChannelAttention ca{nullptr};
  SpatialAttention sa{nullptr};
  torch::Tensor decay_logit;  ///< present only with lif.learnable_decay
};
TORCH_MODULE(AttentiveLIF);

}  // namespace masnn
