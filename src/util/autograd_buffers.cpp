#include "util/autograd_buffers.h"

#include <torch/csrc/autograd/graph_task.h>

namespace masnn::autograd_buffers {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The references an exclusively held incoming gradient and saved tensor have inside a backward, as this LibTorch
// counts them (3 and 2 in LibTorch 1.13: the engine's buffer, CppNode's copy and the by-value argument; the saved
// variable and the unpacked copy).
struct Counts {
  size_t gradient = 0;
  size_t saved = 0;
};

struct Probe : public torch::autograd::Function<Probe> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, Counts* counts) {
    ctx->saved_data["counts"] = reinterpret_cast<int64_t>(counts);
    ctx->save_for_backward({x * 1});  // a tensor nothing else holds
    return x * 1;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* counts = reinterpret_cast<Counts*>(ctx->saved_data["counts"].toInt());
    const auto saved = ctx->get_saved_variables();
    counts->saved = saved[0].use_count();
    counts->gradient = grads[0].use_count();
    return {grads[0], torch::Tensor()};
  }
};

Counts measure() {
  Counts counts;
  torch::AutoGradMode grad_mode(true);
  const torch::Tensor x = torch::ones({2}, torch::requires_grad());
  // The gradient reaching Probe is MulBackward's fresh result: held by the engine alone.
  const torch::Tensor y = Probe::apply(x, &counts) * 2;
  torch::autograd::grad({y.sum()}, {x});
  return counts;
}

const Counts& counts() {
  static const Counts c = measure();
  return c;
}

bool alone(const torch::Tensor& t, size_t references) {
  return t.defined() && t.is_contiguous() && t.use_count() == references && t.storage().use_count() == 1;
}

}  // namespace

bool incoming_gradient_is_exclusive(const torch::Tensor& g) {
  return alone(g, counts().gradient);
}

bool saved_tensor_is_exclusive(const torch::Tensor& t) {
  return !torch::autograd::get_current_graph_task_keep_graph() && alone(t, counts().saved);
}

}  // namespace masnn::autograd_buffers
