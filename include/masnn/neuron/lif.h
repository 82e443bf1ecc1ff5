// Multi-step leaky integrate-and-fire neurons with surrogate gradients (REFERENCE.md 1).
//
// Layout: input x is time-major [T, B, ...] (any trailing shape); spikes have the same shape and hold 0/1.
// Membrane state tensors have the shape of one time step, [B, ...].
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <utility>

#include "masnn/neuron/lif_params.h"

namespace masnn {

using kernels::ResetMode;
using kernels::SurrogateKind;

/// Which implementation runs the time loop. There is no silent fallback: a backend that cannot run
/// the given tensors fails with a message.
enum class LIFBackend {
  Fused,     ///< one custom autograd node: forward walks T once, backward walks T backwards once (CPU)
  Composed,  ///< LibTorch ops in a loop over T: the oracle for tests, runs on any device
};

/// Settings of one LIF layer. Defaults are the DVS networks' neuron (REFERENCE.md 1.1).
struct LIFOptions {
  /// V_th: a neuron fires when u - V_th >= 0 (or > 0, see fire_at_equal).
  TORCH_ARG(double, threshold) = 0.3;
  /// Target of a hard reset. The reference DVS neuron resets to V_th itself (then decays).
  TORCH_ARG(double, v_reset) = 0.3;
  /// alpha: the state kept for the next step is decay * reset(u) + bias.
  TORCH_ARG(double, decay) = 0.3;
  /// beta: constant added to the state each step.
  TORCH_ARG(double, bias) = 0.0;
  /// Fire at u == V_th (REFERENCE 1.1) or only strictly above (REFERENCE 1.2).
  TORCH_ARG(bool, fire_at_equal) = true;
  TORCH_ARG(ResetMode, reset) = ResetMode::Hard;
  /// Stop the gradient through the spike in the reset term (REFERENCE 1.2 detaches, 1.1 does not).
  TORCH_ARG(bool, detach_reset) = false;
  TORCH_ARG(SurrogateKind, surrogate) = SurrogateKind::Rectangular;
  /// Surrogate width a: every surrogate has peak 1/a and unit area (rectangular: |u - V_th| < a/2).
  TORCH_ARG(double, surrogate_width) = 0.5;
  /// PLIF-style per-layer learnable decay, parameterised as sigmoid(w) with sigmoid(w0) = decay.
  TORCH_ARG(bool, learnable_decay) = false;
  TORCH_ARG(LIFBackend, backend) = LIFBackend::Fused;
  /// In training, publish where the surrogate derivative is nonzero beside the spikes (src/neuron/
  /// surrogate_support.h), so that an event-driven synapse reading them computes its input gradient only there.
  /// Costs a bit per neuron-step; masnn::set_synapse_mode sets it on the LIFs whose spikes an event-driven conv reads.
  TORCH_ARG(bool, publish_support) = false;

 public:
  /// The DVS networks' neuron of the reference code (REFERENCE.md 1.1): alpha 0.3, V_th 0.3,
  /// reset to V_th then decay, fires at equality, reset not detached, rectangular surrogate a = 0.5.
  static LIFOptions reference_dvs();
  /// The Res-SNN neuron (REFERENCE.md 1.2): decay 0.25, V_th 0.5, hard reset to 0, strictly above,
  /// reset detached, rectangular surrogate of width 1.
  static LIFOptions reference_resnet();

  /// The scalar settings as the kernels see them, with decay taken from `decay`.
  kernels::LifParams kernel_params(double decay) const;
  /// Throws std::invalid_argument naming the field when a setting is out of range.
  void validate() const;
};

/// Parses "hard" / "soft" / "none"; throws std::invalid_argument naming the accepted values.
ResetMode parse_reset_mode(const std::string& name);
/// Parses "rectangular" / "sigmoid" / "arctan".
SurrogateKind parse_surrogate(const std::string& name);
/// Parses "fused" / "composed".
LIFBackend parse_lif_backend(const std::string& name);
std::string to_string(ResetMode mode);
std::string to_string(SurrogateKind kind);
std::string to_string(LIFBackend backend);

namespace functional {

/// Spikes [T,B,...] and the membrane state after the last step [B,...].
struct LIFResult {
  torch::Tensor spikes;
  torch::Tensor state;
};

/// Multi-step LIF over time-major x [T,B,...] starting from state h0 ([B,...]; undefined = zeros).
/// `decay`, when defined, is a 0-d tensor that replaces options.decay() and receives a gradient.
/// The returned state is differentiable too, so chunks of a sequence can be chained.
LIFResult lif(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0 = {},
              const torch::Tensor& decay = {});

/// The fused CPU implementation (one autograd node). Same contract as `lif`.
LIFResult lif_fused(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0 = {},
                    const torch::Tensor& decay = {});

/// True when scaled_lif handles these arguments: CPU float/double x [T,B,C,H,W], the fused backend, a fixed decay.
bool scaled_lif_supports(const torch::Tensor& x, const LIFOptions& options);

/// The LIF over relu?(x * a * w) from rest, spikes only: x [T,B,C,H,W], a [T,B,C], w [B,H,W] or undefined (the
/// Conv-POST attention's last pass, functional::AttentionScale, and the neuron after it) as one autograd node. The
/// scaled input is never stored and neither is the membrane: the backward recomputes both from x, a and w, which
/// the attention keeps anyway. Spikes equal lif(scale_tbc(x, a, w, relu)) bit for bit; gradients (x, a, w) equal
/// up to the order of floating-point sums. Needs scaled_lif_supports.
torch::Tensor scaled_lif(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& w, bool relu,
                         const LIFOptions& options);

/// The composed implementation: LibTorch ops in a loop over T, one autograd node per op.
LIFResult lif_composed(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0 = {},
                       const torch::Tensor& decay = {});

/// The membrane potential u_t of every step [T,B,...] (before firing and reset), without gradient: what the
/// surrogate gradient is evaluated at.
torch::Tensor lif_membrane(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0 = {},
                           const torch::Tensor& decay = {});

/// Where the surrogate derivative at `membrane` (u_t) is nonzero, as a bool tensor: the neuron-steps through which a
/// gradient reaches the layer below (the rectangular surrogate's window |u - V_th| < width/2; the sigmoid and
/// arctan surrogates are nonzero everywhere). The rest of dL/ds is multiplied by zero.
torch::Tensor surrogate_support(const torch::Tensor& membrane, const LIFOptions& options);

/// Heaviside(v) (at v == 0 by fire_at_equal) with the options' surrogate gradient, as one autograd node.
torch::Tensor spike_function(const torch::Tensor& v, const LIFOptions& options);

/// The surrogate derivative ds/dv at v = u - V_th, as LibTorch ops (used by the composed path).
torch::Tensor surrogate_derivative(const torch::Tensor& v, SurrogateKind kind, double width);

}  // namespace functional

/// A multi-step LIF layer: x [T,B,...] -> spikes [T,B,...], starting from a zero state each call. Attached
/// monitors (masnn/util/monitor.h) see the spikes of every call.
class LIFImpl : public torch::nn::Cloneable<LIFImpl> {
 public:
  explicit LIFImpl(const LIFOptions& options = {});
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor forward(const torch::Tensor& x);
  /// Runs from state h0 ([B,...]; undefined = zeros) and returns the spikes and the final state.
  functional::LIFResult forward_with_state(const torch::Tensor& x, const torch::Tensor& h0);
  /// forward(relu?(x * a * w)) as one fused pass (functional::scaled_lif; needs scaled_lif_supports(x, options)).
  torch::Tensor forward_scaled(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& w, bool relu);
  /// The decay in use: the learnable one (sigmoid of its parameter) or the fixed option, as a 0-d tensor.
  torch::Tensor decay() const;

  LIFOptions options;
  /// Present only with learnable_decay: decay = sigmoid(decay_logit).
  torch::Tensor decay_logit;
};
TORCH_MODULE(LIF);

}  // namespace masnn
