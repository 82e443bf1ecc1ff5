#include "masnn/attention/channel_attention.h"

#include <torch/torch.h>

namespace masnn {

ChannelAttentionImpl::ChannelAttentionImpl(const ChannelAttentionOptions& options_) : options(options_) {
  reset();
}

void ChannelAttentionImpl::reset() {
  mlp = register_module("mlp", SharedMLP(options.channels(), options.ratio(), "channel attention"));
}

torch::Tensor ChannelAttentionImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 5, "channel attention: input must be [T,B,C,H,W], got ", x.sizes());
  TORCH_CHECK(x.size(2) == options.channels(), "channel attention: built for C = ", options.channels(), ", got ",
              x.size(2));
  if (options.per_step()) {
    const auto flat = x.flatten(3);                                                  // [T,B,C,HW]
    return mlp(flat.mean(3), std::get<0>(flat.max(3))).unsqueeze(-1).unsqueeze(-1);  // [T,B,C,1,1]
  }
  const auto avg = x.mean(at::IntArrayRef{0, 3, 4});  // [B,C]
  // The maximum over (T,H,W) as max(dim) twice, not amax: at ties the gradient goes to the first maximum (in T, then
  // H*W order), as the reference's max pooling and the fused kernels route it; amax would split it.
  const auto max = std::get<0>(std::get<0>(x.flatten(3).max(3)).max(0));  // [B,C]
  return mlp(avg, max).unsqueeze(0).unsqueeze(-1).unsqueeze(-1);          // [1,B,C,1,1]
}

torch::Tensor ChannelAttentionImpl::forward_step(const torch::Tensor& u) {
  TORCH_CHECK(u.dim() == 4 && u.size(1) == options.channels(), "channel attention: a step must be [B,",
              options.channels(), ",H,W], got ", u.sizes());
  const auto flat = u.flatten(2);                                                  // [B,C,HW]
  return mlp(flat.mean(2), std::get<0>(flat.max(2))).unsqueeze(-1).unsqueeze(-1);  // [B,C,1,1]
}

}  // namespace masnn
