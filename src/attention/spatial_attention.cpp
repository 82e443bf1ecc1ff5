#include "masnn/attention/spatial_attention.h"

#include <torch/torch.h>

namespace masnn {

SpatialAttentionImpl::SpatialAttentionImpl(const SpatialAttentionOptions& options_) : options(options_) {
  reset();
}

void SpatialAttentionImpl::reset() {
  const int64_t k = options.kernel_size();
  TORCH_CHECK(k >= 1 && k % 2 == 1, "spatial attention: kernel_size must be odd and positive, got ", k);
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 1, k).padding(k / 2).bias(false)));
}

torch::Tensor SpatialAttentionImpl::weights_from_maps(const torch::Tensor& mean, const torch::Tensor& max) {
  return torch::sigmoid(conv(torch::stack({mean, max}, 1)));  // [N,2,H,W] -> [N,1,H,W]
}

torch::Tensor SpatialAttentionImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 5, "spatial attention: input must be [T,B,C,H,W], got ", x.sizes());
  const int64_t T = x.size(0), B = x.size(1), H = x.size(3), W = x.size(4);
  if (options.per_step()) {
    const auto flat = x.flatten(0, 1);  // [T*B,C,H,W]
    return weights_from_maps(flat.mean(1), std::get<0>(flat.max(1))).view({T, B, 1, H, W});
  }
  // The maximum over (T,C) as max(dim) twice, not amax: at ties the gradient goes to the first maximum (in T, then C
  // order), as the reference's torch.max and the fused kernels route it; amax would split it.
  const auto max = std::get<0>(std::get<0>(x.max(2)).max(0));                 // [B,H,W]
  return weights_from_maps(x.mean(at::IntArrayRef{0, 2}), max).unsqueeze(0);  // [1,B,1,H,W]
}

torch::Tensor SpatialAttentionImpl::forward_step(const torch::Tensor& u) {
  TORCH_CHECK(u.dim() == 4, "spatial attention: a step must be [B,C,H,W], got ", u.sizes());
  return weights_from_maps(u.mean(1), std::get<0>(u.max(1)));
}

}  // namespace masnn
