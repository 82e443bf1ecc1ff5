#include "masnn/attention/multi_attention.h"

#include <torch/torch.h>

namespace masnn {

MultiDimAttentionImpl::MultiDimAttentionImpl(const MultiDimAttentionOptions& options_) : options(options_) {
  reset();
}

void MultiDimAttentionImpl::reset() {
  const AttentionType& t = options.type();
  if (t.temporal)
    ta = register_module("ta", TemporalAttention(TemporalAttentionOptions(options.steps()).ratio(options.t_ratio())));
  if (t.channel)
    ca = register_module(
        "ca", ChannelAttention(
                  ChannelAttentionOptions(options.channels()).ratio(options.c_ratio()).per_step(options.per_step())));
  if (t.spatial)
    sa = register_module(
        "sa",
        SpatialAttention(SpatialAttentionOptions().kernel_size(options.kernel_size()).per_step(options.per_step())));
}

void MultiDimAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "masnn::MultiDimAttention(" << options.type().name() << ", T=" << options.steps()
         << ", C=" << options.channels() << ", t_ratio=" << options.t_ratio() << ", c_ratio=" << options.c_ratio()
         << (options.per_step() ? ", per_step" : "") << ")";
}

torch::Tensor MultiDimAttentionImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 5 || (x.dim() == 3 && !options.type().channel && !options.type().spatial), "attention ",
              options.type().name(), ": input must be [T,B,C,H,W] (or [T,B,F] for TA), got ", x.sizes());
  torch::Tensor out = x;
  AttentionWeights w;
  if (ta) out = out * (w.temporal = ta(out));
  if (ca) out = out * (w.channel = ca(out));
  if (sa) out = out * (w.spatial = sa(out));
  if (options.relu()) out = torch::relu(out);
  if (record_weights) {
    last_weights = {w.temporal.defined() ? w.temporal.detach() : w.temporal,
                    w.channel.defined() ? w.channel.detach() : w.channel,
                    w.spatial.defined() ? w.spatial.detach() : w.spatial};
  }
  return out;
}

}  // namespace masnn
