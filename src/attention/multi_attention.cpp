#include "masnn/attention/multi_attention.h"

#include <torch/torch.h>

#include <limits>

#include "attention/fused_attention.h"
#include "masnn/util/monitor.h"

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

bool MultiDimAttentionImpl::runs_fused(const torch::Tensor& x) const {
  return options.fused() && !options.per_step() && (ta || ca || sa) && functional::fused_attention_supports(x);
}

bool MultiDimAttentionImpl::can_defer_scale(const torch::Tensor& x) const {
  return runs_fused(x) && !monitoring::wants_attention_values();
}

namespace {

AttentionWeights detached(const AttentionWeights& w) {
  auto d = [](const torch::Tensor& t) { return t.defined() ? t.detach() : t; };
  return {d(w.temporal), d(w.channel), d(w.spatial)};
}

// Tells the attached monitors what `module` did (after undefined: fused into the neuron).
void notify(const torch::nn::Module& module, const torch::Tensor& x, const torch::Tensor& out,
            const AttentionWeights& w) {
  AttentionEvent e;
  e.module = &module;
  e.before = x.detach();
  if (out.defined()) e.after = out.detach();
  e.temporal = w.temporal;
  e.channel = w.channel;
  e.spatial = w.spatial;
  monitoring::attention(e);
}

}  // namespace

functional::AttentionScale MultiDimAttentionImpl::forward_scale(const torch::Tensor& x) {
  TORCH_CHECK(can_defer_scale(x), "attention ", options.type().name(),
              ": forward_scale needs the fused path (a CPU float/double [T,B,C,H,W] input, not per step) and no "
              "monitor wanting the attended values, got ",
              x.sizes());
  AttentionWeights w;
  auto scale = functional::multi_attention_scale_fused(x, ta ? ta.get() : nullptr, ca ? ca.get() : nullptr,
                                                       sa ? sa.get() : nullptr, &w);
  if (monitoring::active()) notify(*this, x, torch::Tensor(), w);  // the fused weights are already detached
  return scale;
}

torch::Tensor MultiDimAttentionImpl::forward(const torch::Tensor& x) {
  AttentionWeights w;
  return forward_with_weights(x, w);
}

torch::Tensor MultiDimAttentionImpl::forward_with_weights(const torch::Tensor& x, AttentionWeights& weights) {
  TORCH_CHECK(x.dim() == 5 || (x.dim() == 3 && !options.type().channel && !options.type().spatial), "attention ",
              options.type().name(), ": input must be [T,B,C,H,W] (or [T,B,F] for TA), got ", x.sizes());
  torch::Tensor out = x;
  AttentionWeights w;
  if (runs_fused(x)) {
    out = functional::multi_attention_fused(x, ta ? ta.get() : nullptr, ca ? ca.get() : nullptr,
                                            sa ? sa.get() : nullptr, options.relu(), &w);
  } else {
    if (ta) out = out * (w.temporal = ta(out));
    if (ca) out = out * (w.channel = ca(out));
    if (sa) out = out * (w.spatial = sa(out));
    if (options.relu()) out = torch::relu(out);
  }
  weights = detached(w);
  if (monitoring::active()) notify(*this, x, out, weights);
  return out;
}

torch::Tensor MultiDimAttentionImpl::forward_causal(const torch::Tensor& window) {
  TORCH_CHECK(window.dim() == 5 || (window.dim() == 3 && !options.type().channel && !options.type().spatial),
              "attention ", options.type().name(), ": a causal window must be [n,B,C,H,W] (or [n,B,F] for TA), got ",
              window.sizes());
  torch::Tensor out = window;
  if (ta) out = out * ta->forward_prefix(out);
  if (ca) out = out * ca(out);
  if (sa) out = out * sa(out);
  if (options.relu()) out = torch::relu(out);
  return out[out.size(0) - 1];
}

bool MultiDimAttentionImpl::pools_over_time() const {
  return static_cast<bool>(ta) || ((ca || sa) && !options.per_step());
}

namespace {

// SA maps of the causal window in one pass, without the scaled copy of the window: over the steps s and channels c
// of x [n,B,C,P] (contiguous) scaled by coef [n,B,C]: sum and max of coef * x per (b, p) -> [B,P] each.
void scaled_sum_max(const torch::Tensor& x, const torch::Tensor& coef, torch::Tensor& sum, torch::Tensor& max) {
  const int64_t n = x.size(0), B = x.size(1), C = x.size(2), P = x.size(3);
  sum = torch::zeros({B, P}, x.options());
  max = torch::full({B, P}, -std::numeric_limits<double>::infinity(), x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "causal_sa_maps", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* kp = coef.data_ptr<scalar_t>();
    for (int64_t b = 0; b < B; ++b) {
      scalar_t* __restrict sp = sum.data_ptr<scalar_t>() + b * P;
      scalar_t* __restrict mp = max.data_ptr<scalar_t>() + b * P;
      for (int64_t s = 0; s < n; ++s)
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t k = kp[(s * B + b) * C + c];
          const scalar_t* __restrict row = xp + ((s * B + b) * C + c) * P;
          for (int64_t p = 0; p < P; ++p) {
            const scalar_t v = k * row[p];
            sp[p] += v;
            mp[p] = v > mp[p] ? v : mp[p];
          }
        }
    }
  });
}

}  // namespace

CausalStepStatistics MultiDimAttentionImpl::causal_statistics(const torch::Tensor& x_t) {
  CausalStepStatistics st;
  if (ta) {
    const torch::Tensor flat = x_t.flatten(1);  // [B,F], F = everything but B
    st.mean = flat.mean(1);
    st.max = std::get<0>(flat.max(1));
  }
  if (ca && !options.per_step()) {
    const torch::Tensor flat = x_t.flatten(2);  // [B,C,HW]
    st.channel_sum = flat.sum(2);
    st.channel_max = flat.amax(2);
  }
  return st;
}

torch::Tensor MultiDimAttentionImpl::forward_causal_cached(const torch::Tensor& window, const torch::Tensor& mean,
                                                           const torch::Tensor& max, const torch::Tensor& channel_sum,
                                                           const torch::Tensor& channel_max) {
  const int64_t n = window.size(0), B = window.size(1);
  const torch::Tensor x = window[n - 1];
  torch::Tensor wt;  // [n,B], TA weights of the window's steps
  if (ta) {
    const int64_t T = options.steps();
    TORCH_CHECK(n <= T, "attention: a causal window holds 1..", T, " steps, got ", n);
    const auto pad = torch::zeros({T - n, B}, mean.options());  // steps not seen yet
    wt = ta->mlp(torch::cat({mean, pad}).t(), torch::cat({max, pad}).t()).t().slice(0, 0, n);
  }
  std::vector<int64_t> step_view(static_cast<size_t>(x.dim()), 1);  // [B,1,...]
  step_view[0] = B;
  torch::Tensor out = wt.defined() ? x * wt[n - 1].view(step_view) : x;
  if (options.per_step()) {  // CA and SA of the current step alone
    if (ca) out = out * ca->forward_step(out);
    if (sa) out = out * sa->forward_step(out);
    return options.relu() ? torch::relu(out) : out;
  }
  const int64_t C = ca || sa ? x.size(1) : 0;
  torch::Tensor wc;  // [B,C]
  if (ca) {
    // Pooled over the window's steps and H,W of x * w_t: w_t > 0 per (step, sample) scales both statistics.
    const torch::Tensor w = wt.defined() ? wt.unsqueeze(-1) : torch::ones({n, B, 1}, channel_sum.options());
    const double hw = static_cast<double>(x.size(2) * x.size(3));
    wc = ca->mlp((channel_sum * w).sum(0) / (static_cast<double>(n) * hw), (channel_max * w).amax(0));
    out = out * wc.view({B, C, 1, 1});
  }
  if (sa) {
    // Maps over the window's steps and C of window * w_t * w_c, with the current weights.
    torch::Tensor coef = torch::ones({n, B, C}, window.options());
    if (wt.defined()) coef = coef * wt.unsqueeze(-1);
    if (wc.defined()) coef = coef * wc.unsqueeze(0);
    torch::Tensor sum_map, max_map;
    scaled_sum_max(window.contiguous().view({n, B, C, -1}), coef.contiguous(), sum_map, max_map);
    const auto map_shape = std::vector<int64_t>{B, x.size(2), x.size(3)};
    out = out * sa->weights_from_maps(sum_map.view(map_shape) / static_cast<double>(n * C), max_map.view(map_shape));
  }
  return options.relu() ? torch::relu(out) : out;
}

}  // namespace masnn
