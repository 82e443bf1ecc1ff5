#include "masnn/attention/attentive_lif.h"

#include <torch/torch.h>

#include <cmath>

#include "masnn/util/monitor.h"

namespace masnn {

AttentiveLIFImpl::AttentiveLIFImpl(const AttentiveLIFOptions& options_) : options(options_) {
  options.lif().validate();
  reset();
}

void AttentiveLIFImpl::reset() {
  if (options.channel_attention())
    ca = register_module("ca", ChannelAttention(ChannelAttentionOptions(options.channels()).ratio(options.c_ratio())));
  if (options.spatial_attention())
    sa = register_module("sa", SpatialAttention(SpatialAttentionOptions().kernel_size(options.kernel_size())));
  if (options.lif().learnable_decay()) {
    const double d = options.lif().decay();
    decay_logit = register_parameter("decay_logit", torch::scalar_tensor(std::log(d / (1 - d))));
  }
}

void AttentiveLIFImpl::pretty_print(std::ostream& stream) const {
  stream << "masnn::AttentiveLIF(C=" << options.channels() << (ca ? ", CA" : "") << (sa ? ", SA" : "")
         << ", activate-pre, backend=" << to_string(options.lif().backend()) << ")";
}

torch::Tensor AttentiveLIFImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 5 && x.size(2) == options.channels(), "attentive LIF: input must be [T,B,", options.channels(),
              ",H,W], got ", x.sizes());
  const torch::Tensor decay = decay_logit.defined() ? torch::sigmoid(decay_logit).to(x.scalar_type()) : torch::Tensor();
  const bool monitored = monitoring::active();  // keep U, U' and the weights of every step for the monitors
  std::vector<torch::Tensor> spikes, wc, ws, before, after;
  spikes.reserve(x.size(0));
  torch::Tensor h = torch::zeros_like(x[0]);
  for (int64_t t = 0; t < x.size(0); ++t) {
    torch::Tensor u = h + x[t];
    if (monitored) before.push_back(u.detach());
    if (ca) {
      const torch::Tensor w = ca->forward_step(u);
      u = u * w;
      if (monitored) wc.push_back(w.detach());
    }
    if (sa) {
      const torch::Tensor w = sa->forward_step(u);
      u = u * w;
      if (monitored) ws.push_back(w.detach());
    }
    if (monitored) after.push_back(u.detach());
    // u already holds the charge, so one step from a zero state fires and resets on exactly u.
    auto step = functional::lif(u.unsqueeze(0), options.lif(), {}, decay);
    spikes.push_back(step.spikes[0]);
    h = step.state;
  }
  torch::Tensor out = torch::stack(spikes);
  if (monitored) {
    AttentionEvent e;
    e.module = this;
    e.potential = true;
    e.before = torch::stack(before);
    e.after = torch::stack(after);
    if (!wc.empty()) e.channel = torch::stack(wc);
    if (!ws.empty()) e.spatial = torch::stack(ws);
    monitoring::attention(e);
    monitoring::spikes(*this, out);
  }
  return out;
}

functional::LIFResult AttentiveLIFImpl::forward_step(const torch::Tensor& x_t, const torch::Tensor& h) {
  TORCH_CHECK(x_t.dim() == 4 && x_t.size(1) == options.channels(), "attentive LIF: a step must be [B,",
              options.channels(), ",H,W], got ", x_t.sizes());
  const torch::Tensor decay =
      decay_logit.defined() ? torch::sigmoid(decay_logit).to(x_t.scalar_type()) : torch::Tensor();
  torch::Tensor u = (h.defined() ? h : torch::zeros_like(x_t)) + x_t;
  if (ca) u = u * ca->forward_step(u);
  if (sa) u = u * sa->forward_step(u);
  auto step = functional::lif(u.unsqueeze(0), options.lif(), {}, decay);
  monitoring::spikes(*this, step.spikes);
  return {step.spikes[0], step.state};
}

}  // namespace masnn
