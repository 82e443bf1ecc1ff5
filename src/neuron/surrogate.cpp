// The spike nonlinearity with surrogate gradients, as LibTorch ops (the composed path and the oracle).
#include <torch/autograd.h>
#include <torch/torch.h>

#include <cmath>

#include "masnn/neuron/lif.h"

namespace masnn::functional {

torch::Tensor surrogate_derivative(const torch::Tensor& v, SurrogateKind kind, double width) {
  switch (kind) {
    case SurrogateKind::Rectangular: return (v.abs() < width / 2).to(v.scalar_type()) * (1.0 / width);
    case SurrogateKind::Sigmoid: {
      const double k = 4.0 / width;
      const torch::Tensor sg = torch::sigmoid(v * k);
      return sg * (1 - sg) * k;
    }
    case SurrogateKind::Arctan: {
      const double a = 2.0 / width;
      const torch::Tensor z = v * (M_PI / 2 * a);
      return (a / 2) / (1 + z * z);
    }
  }
  TORCH_CHECK(false, "surrogate_derivative: unknown surrogate kind");
}

namespace {

class SpikeFunction : public torch::autograd::Function<SpikeFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& v, bool at_equal,
                               int64_t kind, double width) {
    ctx->save_for_backward({v});
    ctx->saved_data["kind"] = kind;
    ctx->saved_data["width"] = width;
    return (at_equal ? v.ge(0) : v.gt(0)).to(v.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const torch::Tensor v = ctx->get_saved_variables()[0];
    const auto kind = static_cast<SurrogateKind>(ctx->saved_data["kind"].toInt());
    const double width = ctx->saved_data["width"].toDouble();
    return {grad[0] * surrogate_derivative(v, kind, width), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor spike_function(const torch::Tensor& v, const LIFOptions& options) {
  return SpikeFunction::apply(v, options.fire_at_equal(), static_cast<int64_t>(options.surrogate()),
                              options.surrogate_width());
}

}  // namespace masnn::functional
