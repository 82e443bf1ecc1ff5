// LIF options, the backend switch and the LIF module.
#include "masnn/neuron/lif.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "masnn/util/monitor.h"
#include "util/parse_named.h"

namespace masnn {

LIFOptions LIFOptions::reference_dvs() {
  return LIFOptions()
      .threshold(0.3)
      .v_reset(0.3)
      .decay(0.3)
      .bias(0.0)
      .fire_at_equal(true)
      .reset(ResetMode::Hard)
      .detach_reset(false)
      .surrogate(SurrogateKind::Rectangular)
      .surrogate_width(0.5);
}

LIFOptions LIFOptions::reference_resnet() {
  return LIFOptions()
      .threshold(0.5)
      .v_reset(0.0)
      .decay(0.25)
      .bias(0.0)
      .fire_at_equal(false)
      .reset(ResetMode::Hard)
      .detach_reset(true)
      .surrogate(SurrogateKind::Rectangular)
      .surrogate_width(1.0);
}

kernels::LifParams LIFOptions::kernel_params(double decay_value) const {
  kernels::LifParams p;
  p.threshold = threshold();
  p.v_reset = v_reset();
  p.decay = decay_value;
  p.bias = bias();
  p.fire_at_equal = fire_at_equal();
  p.reset = reset();
  p.detach_reset = detach_reset();
  p.surrogate = surrogate();
  p.width = surrogate_width();
  return p;
}

void LIFOptions::validate() const {
  if (!(surrogate_width() > 0) || !std::isfinite(surrogate_width()))
    throw std::invalid_argument("lif.surrogate_width: expected a finite value > 0, got " +
                                std::to_string(surrogate_width()));
  if (!std::isfinite(threshold())) throw std::invalid_argument("lif.threshold: expected a finite value");
  if (!(decay() >= 0 && decay() <= 1))
    throw std::invalid_argument("lif.decay: expected a value in [0, 1], got " + std::to_string(decay()));
  if (learnable_decay() && !(decay() > 0 && decay() < 1))
    throw std::invalid_argument("lif.decay: a learnable decay starts strictly inside (0, 1), got " +
                                std::to_string(decay()));
}

ResetMode parse_reset_mode(const std::string& name) {
  return parse_named(name, {ResetMode::Hard, ResetMode::Soft, ResetMode::None}, "reset");
}

SurrogateKind parse_surrogate(const std::string& name) {
  return parse_named(name, {SurrogateKind::Rectangular, SurrogateKind::Sigmoid, SurrogateKind::Arctan}, "surrogate");
}

LIFBackend parse_lif_backend(const std::string& name) {
  return parse_named(name, {LIFBackend::Fused, LIFBackend::Composed}, "backend");
}

std::string to_string(ResetMode mode) {
  switch (mode) {
    case ResetMode::Hard: return "hard";
    case ResetMode::Soft: return "soft";
    case ResetMode::None: return "none";
  }
  return "?";
}

std::string to_string(SurrogateKind kind) {
  switch (kind) {
    case SurrogateKind::Rectangular: return "rectangular";
    case SurrogateKind::Sigmoid: return "sigmoid";
    case SurrogateKind::Arctan: return "arctan";
  }
  return "?";
}

std::string to_string(LIFBackend backend) {
  return backend == LIFBackend::Fused ? "fused" : "composed";
}

namespace functional {

LIFResult lif(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0, const torch::Tensor& decay) {
  return options.backend() == LIFBackend::Fused ? lif_fused(x, options, h0, decay)
                                                : lif_composed(x, options, h0, decay);
}

}  // namespace functional

LIFImpl::LIFImpl(const LIFOptions& options_) : options(options_) {
  options.validate();
  reset();
}

void LIFImpl::reset() {
  if (options.learnable_decay()) {
    const double d = options.decay();
    decay_logit = register_parameter("decay_logit", torch::scalar_tensor(std::log(d / (1 - d))));
  }
}

void LIFImpl::pretty_print(std::ostream& stream) const {
  stream << "masnn::LIF(threshold=" << options.threshold() << ", decay=" << options.decay()
         << (options.learnable_decay() ? " (learnable)" : "") << ", reset=" << to_string(options.reset());
  if (options.reset() == ResetMode::Hard) stream << ", v_reset=" << options.v_reset();
  stream << ", detach_reset=" << options.detach_reset() << ", surrogate=" << to_string(options.surrogate()) << "("
         << options.surrogate_width() << "), backend=" << to_string(options.backend())
         << (options.publish_support() ? ", publish_support=true" : "") << ")";
}

torch::Tensor LIFImpl::decay() const {
  return decay_logit.defined() ? torch::sigmoid(decay_logit) : torch::scalar_tensor(options.decay());
}

torch::Tensor LIFImpl::forward(const torch::Tensor& x) {
  return forward_with_state(x, {}).spikes;
}

functional::LIFResult LIFImpl::forward_with_state(const torch::Tensor& x, const torch::Tensor& h0) {
  const torch::Tensor d = decay_logit.defined() ? torch::sigmoid(decay_logit).to(x.scalar_type()) : torch::Tensor();
  monitoring::neuron_input(*this, x, h0);
  auto result = functional::lif(x, options, h0, d);
  monitoring::spikes(*this, result.spikes);
  return result;
}

torch::Tensor LIFImpl::forward_scaled(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& w,
                                      bool relu) {
  torch::Tensor spikes = functional::scaled_lif(x, a, w, relu, options);
  monitoring::spikes(*this, spikes);
  return spikes;
}

}  // namespace masnn
