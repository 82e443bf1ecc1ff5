// Shared MLP and temporal attention.
#include "masnn/attention/temporal_attention.h"

#include <torch/torch.h>

namespace masnn {

SharedMLPImpl::SharedMLPImpl(int64_t features_, int64_t ratio, const std::string& what) : features(features_) {
  TORCH_CHECK(features > 0 && ratio > 0, what, ": size and ratio must be positive, got ", features, " and ", ratio);
  hidden = features / ratio;
  TORCH_CHECK(hidden >= 1, what, ": size / ratio must be at least 1 (size ", features, ", ratio ", ratio,
              "); lower the ratio");
  reset();
}

void SharedMLPImpl::reset() {
  fc1 = register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(features, hidden).bias(false)));
  fc2 = register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(hidden, features).bias(false)));
}

torch::Tensor SharedMLPImpl::forward(const torch::Tensor& avg, const torch::Tensor& max) {
  // Both descriptors go through the MLP as one batch.
  const torch::Tensor y = fc2(torch::relu(fc1(torch::stack({avg, max}))));
  return torch::sigmoid(y[0] + y[1]);
}

TemporalAttentionImpl::TemporalAttentionImpl(const TemporalAttentionOptions& options_) : options(options_) {
  reset();
}

void TemporalAttentionImpl::reset() {
  mlp = register_module("mlp", SharedMLP(options.steps(), options.ratio(), "temporal attention"));
}

torch::Tensor TemporalAttentionImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 3, "temporal attention: input must be [T,B,...] with features, got ", x.sizes());
  TORCH_CHECK(x.size(0) == options.steps(), "temporal attention: built for T = ", options.steps(),
              " time steps, got input with T = ", x.size(0));
  const auto flat = x.flatten(2);                 // [T,B,F]
  const auto avg = flat.mean(2).t();              // [B,T]
  const auto max = std::get<0>(flat.max(2)).t();  // [B,T]
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  shape[1] = x.size(1);
  return mlp(avg, max).t().reshape(shape);  // [T,B,1,...]
}

torch::Tensor TemporalAttentionImpl::forward_prefix(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 3, "temporal attention: input must be [n,B,...] with features, got ", x.sizes());
  const int64_t n = x.size(0), T = options.steps();
  TORCH_CHECK(n >= 1 && n <= T, "temporal attention: a causal window holds 1..", T, " steps, got ", n);
  if (n == T) return forward(x);
  const auto flat = x.flatten(2);                                     // [n,B,F]
  const auto pad = torch::zeros({T - n, x.size(1)}, flat.options());  // steps not seen yet
  const auto avg = torch::cat({flat.mean(2), pad}).t();               // [B,T]
  const auto max = torch::cat({std::get<0>(flat.max(2)), pad}).t();   // [B,T]
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = n;
  shape[1] = x.size(1);
  return mlp(avg, max).t().slice(0, 0, n).reshape(shape);  // [n,B,1,...]
}

}  // namespace masnn
