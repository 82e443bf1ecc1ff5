// The composed LIF: the equations of REFERENCE.md 1 written as LibTorch ops in a loop over T.
// Slow and memory-hungry on purpose of being obviously right: it is the oracle the fused path is tested against.
#include <torch/torch.h>

#include "masnn/neuron/lif.h"

namespace masnn::functional {

namespace {

// The loop of REFERENCE.md 1; `membranes`, when given, receives u_t of every step.
LIFResult composed_loop(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0,
                        const torch::Tensor& decay, std::vector<torch::Tensor>* membranes) {
  TORCH_CHECK(x.dim() >= 1 && x.size(0) >= 1, "lif: input must be time-major [T,B,...] with T >= 1, got ", x.sizes());
  torch::Tensor h = h0.defined() ? h0 : torch::zeros_like(x[0]);
  const torch::Tensor alpha = decay.defined() ? decay : torch::scalar_tensor(options.decay(), x.options());
  std::vector<torch::Tensor> spikes;
  spikes.reserve(x.size(0));
  for (int64_t t = 0; t < x.size(0); ++t) {
    const torch::Tensor u = h + x[t];
    if (membranes) membranes->push_back(u);
    const torch::Tensor s = spike_function(u - options.threshold(), options);
    const torch::Tensor sr = options.detach_reset() ? s.detach() : s;
    torch::Tensor r;
    switch (options.reset()) {
      case ResetMode::Hard: r = sr * options.v_reset() + (1 - sr) * u; break;
      case ResetMode::Soft: r = u - sr * options.threshold(); break;
      case ResetMode::None: r = u; break;
    }
    h = r * alpha + options.bias();
    spikes.push_back(s);
  }
  return {torch::stack(spikes), h};
}

}  // namespace

LIFResult lif_composed(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0,
                       const torch::Tensor& decay) {
  return composed_loop(x, options, h0, decay, nullptr);
}

torch::Tensor lif_membrane(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0,
                           const torch::Tensor& decay) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> membranes;
  composed_loop(x.detach(), options, h0.defined() ? h0.detach() : h0, decay.defined() ? decay.detach() : decay,
                &membranes);
  return torch::stack(membranes);
}

torch::Tensor surrogate_support(const torch::Tensor& membrane, const LIFOptions& options) {
  return surrogate_derivative(membrane - options.threshold(), options.surrogate(), options.surrogate_width()) != 0;
}

}  // namespace masnn::functional
