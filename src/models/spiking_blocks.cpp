#include "masnn/models/spiking_blocks.h"

#include <torch/torch.h>

namespace masnn {

namespace {

// Time-major [T,B,...] -> [T*B,...] and back: BN and conv see T*B samples, as in the reference.
torch::Tensor merge_time(const torch::Tensor& x) {
  return x.flatten(0, 1);
}
torch::Tensor split_time(const torch::Tensor& x, int64_t steps) {
  std::vector<int64_t> shape{steps, x.size(0) / steps};
  shape.insert(shape.end(), x.sizes().begin() + 1, x.sizes().end());
  return x.view(shape);
}

}  // namespace

SpikingConvBlockImpl::SpikingConvBlockImpl(int64_t in_channels_, int64_t out_channels_, int64_t pool_, int64_t steps_,
                                           const LayerAttention& attention_, const LIFOptions& lif_)
    : in_channels(in_channels_),
      out_channels(out_channels_),
      pool(pool_),
      steps(steps_),
      attention_options(attention_),
      lif_options(lif_) {
  reset();
}

void SpikingConvBlockImpl::reset() {
  const LayerAttention& att = attention_options;
  TORCH_CHECK(pool >= 1, "conv block: pool must be >= 1, got ", pool);
  conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels, out_channels, 3).padding(1)));
  bn = register_module("bn", torch::nn::BatchNorm2d(out_channels));
  const bool pre = att.placement == AttentionPlacement::ActivatePre;
  AttentionType post_type = att.type;
  if (pre) post_type.channel = post_type.spatial = false;  // CA and SA move into the neuron
  if (post_type.any())
    attention = register_module("attention", MultiDimAttention(MultiDimAttentionOptions(post_type, steps, out_channels)
                                                                   .t_ratio(att.t_ratio)
                                                                   .c_ratio(att.c_ratio)
                                                                   .kernel_size(att.kernel_size)
                                                                   .per_step(att.per_step)
                                                                   .relu(!pre)));
  if (pre && (att.type.channel || att.type.spatial))
    attentive_lif = register_module("lif", AttentiveLIF(AttentiveLIFOptions(out_channels)
                                                            .channel_attention(att.type.channel)
                                                            .spatial_attention(att.type.spatial)
                                                            .c_ratio(att.c_ratio)
                                                            .kernel_size(att.kernel_size)
                                                            .lif(lif_options)));
  else
    lif = register_module("lif", LIF(lif_options));
}

torch::Tensor SpikingConvBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = bn(conv(merge_time(x)));
  if (pool > 1) y = torch::avg_pool2d(y, pool);
  y = split_time(y, x.size(0));
  if (attention) y = attention(y);
  return attentive_lif ? attentive_lif(y) : lif(y);
}

SpikingLinearBlockImpl::SpikingLinearBlockImpl(int64_t in_features_, int64_t out_features_, int64_t steps_,
                                               const LayerAttention& attention_, const LIFOptions& lif_)
    : in_features(in_features_),
      out_features(out_features_),
      steps(steps_),
      attention_options(attention_),
      lif_options(lif_) {
  reset();
}

void SpikingLinearBlockImpl::reset() {
  const LayerAttention& att = attention_options;
  linear = register_module("linear", torch::nn::Linear(in_features, out_features));
  bn = register_module("bn", torch::nn::BatchNorm1d(out_features));
  if (att.type.temporal) {
    AttentionType ta;
    ta.temporal = true;
    attention =
        register_module("attention", MultiDimAttention(MultiDimAttentionOptions(ta, steps, out_features)
                                                           .t_ratio(att.t_ratio)
                                                           .relu(att.placement == AttentionPlacement::ConvPost)));
  }
  lif = register_module("lif", LIF(lif_options));
}

torch::Tensor SpikingLinearBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = split_time(bn(linear(merge_time(x))), x.size(0));
  if (attention) y = attention(y);
  return lif(y);
}

}  // namespace masnn
