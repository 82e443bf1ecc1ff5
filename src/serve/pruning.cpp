// Attention-guided pruning installed by replacing layers: attention modules that drop steps and channels, conv and
// linear layers that skip the silent rows and input channels of their input.
#include "masnn/serve/pruning.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <unordered_set>

#include "compat/torch_module_base.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/models/layer_replacement.h"
#include "masnn/util/monitor.h"

namespace masnn::serve {

namespace detail {
struct PruningState {
  PruneOptions options;
  PruneStats stats;
  bool can_prune_steps = false, can_prune_channels = false;
};
}  // namespace detail

namespace {

using detail::PruningState;

// Keep mask of weights w [N,B] (N candidates per sample b): top-k (or the top fraction `keep`) over N per b, and
// w >= threshold.
torch::Tensor keep_mask(const torch::Tensor& w, int64_t topk, double threshold, double keep_fraction) {
  torch::Tensor keep = torch::ones(w.sizes(), torch::kBool);
  if (threshold > 0) keep = keep & (w >= threshold);
  if (keep_fraction > 0) {
    const auto k = static_cast<int64_t>(std::ceil(keep_fraction * static_cast<double>(w.size(0)) - 1e-9));
    topk = topk > 0 ? std::min(topk, k) : k;
  }
  if (topk > 0 && topk < w.size(0)) {
    const torch::Tensor top = std::get<1>(w.topk(topk, 0));
    keep = keep & torch::zeros(w.sizes(), torch::kBool).scatter_(0, top, true);
  }
  return keep;
}

// A conv-post attention module that drops the steps and channels its weights rank lowest: the attended membrane
// input is zero there.
class PruningAttentionImpl : public MultiDimAttentionImpl, public LayerReplacement {
 public:
  PruningAttentionImpl(const MultiDimAttentionImpl& attention, std::shared_ptr<PruningState> state, bool drop_steps)
      : MASNN_COPY_MODULE_BASE(attention) MultiDimAttentionImpl(attention),
        state_(std::move(state)),
        drop_steps_(drop_steps && options.type().temporal),
        drop_channels_(options.type().channel && !options.per_step()) {}

  torch::Tensor replaced_forward(const torch::Tensor& z) override {
    AttentionWeights w;
    torch::Tensor a = forward_with_weights(z, w);
    const PruneOptions& o = state_->options;
    PruneStats& stats = state_->stats;
    const int64_t T = z.size(0), B = z.size(1);
    if (drop_steps_ && o.prunes_steps()) {
      const torch::Tensor kept =
          keep_mask(w.temporal.reshape({T, B}).to(torch::kDouble), o.ta_topk, o.ta_threshold, o.ta_keep);
      stats.steps_total += T * B;
      stats.steps_dropped += (~kept).sum().item<int64_t>();
      std::vector<int64_t> view(static_cast<size_t>(a.dim()), 1);
      view[0] = T;
      view[1] = B;
      a = a * kept.view(view).to(a.scalar_type());
    }
    if (drop_channels_ && o.prunes_channels()) {
      const int64_t C = z.size(2);
      const torch::Tensor kept =
          keep_mask(w.channel.reshape({B, C}).t().to(torch::kDouble), o.ca_topk, o.ca_threshold, o.ca_keep).t();
      stats.channels_total += B * C;
      stats.channels_dropped += (~kept).sum().item<int64_t>();
      std::vector<int64_t> view(static_cast<size_t>(a.dim()), 1);
      view[1] = B;
      view[2] = C;
      a = a * kept.view(view).to(a.scalar_type());
    }
    return a;
  }

  void pretty_print(std::ostream& stream) const override {
    stream << "masnn::serve::PruningAttention(" << options.type().name() << ", drops "
           << (drop_steps_ ? (drop_channels_ ? "steps and channels" : "steps") : (drop_channels_ ? "channels" : "none"))
           << ")";
  }

  /// What it may drop: steps where TA runs before the network's last synaptic layer, channels where CA is pooled
  /// over T.
  bool drops_steps() const { return drop_steps_; }
  bool drops_channels() const { return drop_channels_; }

 private:
  std::shared_ptr<PruningState> state_;
  bool drop_steps_, drop_channels_;
};

// A synaptic layer's output for x [N,C,...] computed on the rows (N) and input channels (C) that carry a nonzero
// only (when `skip`); a silent row's output is the bias. `compute(x, channels)` runs the layer on x, whose
// channels are those listed (undefined: all). `weight` [Cout,C/groups,...] and the output size give the MACs.
template <typename Compute>
torch::Tensor skip_silence(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                           int64_t groups, bool skip, LayerWork& work, const Compute& compute) {
  const int64_t N = x.size(0), C = x.size(1);
  if (x.numel() == 0) return compute(x, torch::Tensor());
  const torch::Tensor active = x.ne(0);
  const double nonzeros = active.sum().item<double>();
  torch::Tensor rows = torch::ones({N}, torch::kBool), channels = torch::ones({C}, torch::kBool);
  if (skip) {
    rows = active.flatten(1).any(1);
    if (groups == 1) channels = active.transpose(0, 1).flatten(1).any(1);
    if (!rows.any().item<bool>()) {  // all silent: one row computed gives the output's shape (its bias)
      rows[0] = true;
      channels.fill_(true);
    }
  }
  const int64_t kept_rows = rows.sum().item<int64_t>(), kept_channels = channels.sum().item<int64_t>();
  torch::Tensor y;
  if (kept_rows == N && kept_channels == C) {
    y = compute(x, torch::Tensor());
  } else {
    const torch::Tensor row_index = rows.nonzero().flatten();
    torch::Tensor xs = x.index_select(0, row_index), channel_index;
    if (kept_channels < C) {
      channel_index = channels.nonzero().flatten();
      xs = xs.index_select(1, channel_index);
    }
    const torch::Tensor ys = compute(xs, channel_index);
    std::vector<int64_t> shape(ys.sizes().begin(), ys.sizes().end()), bias_view(shape.size(), 1);
    shape[0] = N;
    bias_view[1] = shape[1];
    y = bias.defined() ? bias.view(bias_view).expand(shape).contiguous() : torch::zeros(shape, ys.options());
    y.index_copy_(0, row_index, ys);
  }
  // MACs of one (row, input channel): its fan-out to Cout / groups output channels over the output's positions.
  const double per_row_channel =
      static_cast<double>(weight.size(0) / groups * weight[0][0].numel() * (y.numel() / (N * y.size(1))));
  work.dense_macs += static_cast<double>(N * C) * per_row_channel;
  work.computed_macs += static_cast<double>(kept_rows * kept_channels) * per_row_channel;
  work.input_nonzeros += nonzeros;
  work.synaptic_ops += nonzeros * per_row_channel / static_cast<double>(x.numel() / (N * C));
  return y;
}

// A conv layer that skips the silent rows and input channels of its input.
class SilenceSkippingConv2dImpl : public torch::nn::Conv2dImpl, public LayerReplacement {
 public:
  SilenceSkippingConv2dImpl(const torch::nn::Conv2dImpl& conv, std::shared_ptr<PruningState> state, size_t index)
      : MASNN_COPY_MODULE_BASE(conv) torch::nn::Conv2dImpl(conv), state_(std::move(state)), index_(index) {}

  torch::Tensor replaced_forward(const torch::Tensor& x) override {
    return skip_silence(x, weight, bias, options.groups(), state_->options.skip, state_->stats.layers.at(index_),
                        [&](const torch::Tensor& xs, const torch::Tensor& channels) {
                          return channels.defined() ? _conv_forward(xs, weight.index_select(1, channels))
                                                    : torch::nn::Conv2dImpl::forward(xs);
                        });
  }
  void pretty_print(std::ostream& stream) const override {
    stream << "masnn::serve::SilenceSkippingConv2d(" << options.in_channels() << "->" << options.out_channels() << ")";
  }

 private:
  std::shared_ptr<PruningState> state_;
  size_t index_;
};

// A linear layer that skips the silent rows and input features of its input [N,In].
class SilenceSkippingLinearImpl : public torch::nn::LinearImpl, public LayerReplacement {
 public:
  SilenceSkippingLinearImpl(const torch::nn::LinearImpl& linear, std::shared_ptr<PruningState> state, size_t index)
      : MASNN_COPY_MODULE_BASE(linear) torch::nn::LinearImpl(linear), state_(std::move(state)), index_(index) {}

  torch::Tensor replaced_forward(const torch::Tensor& x) override {
    TORCH_CHECK(x.dim() == 2, "prune: a linear layer's input must be [N,features], got ", x.sizes());
    return skip_silence(x, weight, bias, 1, state_->options.skip, state_->stats.layers.at(index_),
                        [&](const torch::Tensor& xs, const torch::Tensor& features) {
                          return torch::linear(xs, features.defined() ? weight.index_select(1, features) : weight,
                                               bias);
                        });
  }
  void pretty_print(std::ostream& stream) const override {
    stream << "masnn::serve::SilenceSkippingLinear(" << options.in_features() << "->" << options.out_features()
           << ")";
  }

 private:
  std::shared_ptr<PruningState> state_;
  size_t index_;
};

// The synaptic layers and attention modules of one forward, in call order (each once).
class CallOrder : public Monitor {
 public:
  struct Call {
    std::string name;
    const torch::nn::Module* module;
    bool synapse;
  };
  void on_synapse(const std::string& name, const SynapseEvent& e) override { add(name, e.layer, true); }
  void on_attention(const std::string& name, const AttentionEvent& e) override {
    if (dynamic_cast<const MultiDimAttentionImpl*>(e.module)) add(name, e.module, false);
  }
  std::vector<Call> calls;

 private:
  void add(const std::string& name, const torch::nn::Module* module, bool synapse) {
    if (seen_.insert(module).second) calls.push_back({name, module, synapse});
  }
  std::unordered_set<const torch::nn::Module*> seen_;
};

}  // namespace

std::string PruneOptions::describe() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : " ") + part; };
  if (ta_topk > 0) add(fmt::format("ta-topk={}", ta_topk));
  if (ta_threshold > 0) add(fmt::format("ta-threshold={:g}", ta_threshold));
  if (ca_topk > 0) add(fmt::format("ca-topk={}", ca_topk));
  if (ca_threshold > 0) add(fmt::format("ca-threshold={:g}", ca_threshold));
  if (ta_keep > 0) add(fmt::format("ta-keep={:g}", ta_keep));
  if (ca_keep > 0) add(fmt::format("ca-keep={:g}", ca_keep));
  return s.empty() ? "none" : s;
}

PruneOptions PruneOptions::parse(const std::string& text) {
  PruneOptions o;
  if (text == "none" || text.empty()) return o;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(',', pos), text.size());
    const std::string part = text.substr(pos, end - pos);
    const size_t eq = part.find('=');
    const std::string key = part.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(value, &used);
      if (used != value.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      throw std::invalid_argument("prune setting '" + text + "': '" + part + "' is not key=number");
    }
    if (key == "ta-topk")
      o.ta_topk = static_cast<int64_t>(v);
    else if (key == "ta-threshold")
      o.ta_threshold = v;
    else if (key == "ta-keep")
      o.ta_keep = v;
    else if (key == "ca-topk")
      o.ca_topk = static_cast<int64_t>(v);
    else if (key == "ca-threshold")
      o.ca_threshold = v;
    else if (key == "ca-keep")
      o.ca_keep = v;
    else
      throw std::invalid_argument("prune setting '" + text + "': unknown key '" + key +
                                  "' (expected ta-topk, ta-threshold, ta-keep, ca-topk, ca-threshold, ca-keep)");
    pos = end + 1;
  }
  o.validate();
  return o;
}

void PruneOptions::validate() const {
  if (ta_topk < 0 || ca_topk < 0) throw std::invalid_argument("prune: top-k must be >= 0 (0 = keep all)");
  if (!(ta_threshold >= 0 && ta_threshold < 1) || !(ca_threshold >= 0 && ca_threshold < 1))
    throw std::invalid_argument("prune: thresholds must be in [0, 1) (attention weights are sigmoids)");
  if (!(ta_keep >= 0 && ta_keep <= 1) || !(ca_keep >= 0 && ca_keep <= 1))
    throw std::invalid_argument("prune: keep fractions must be in [0, 1] (0 = keep all)");
}

double PruneStats::dense_macs() const {
  double s = 0;
  for (const auto& l : layers) s += l.dense_macs;
  return s;
}
double PruneStats::computed_macs() const {
  double s = 0;
  for (const auto& l : layers) s += l.computed_macs;
  return s;
}
double PruneStats::skipped_fraction() const {
  const double d = dense_macs();
  return d > 0 ? 1.0 - computed_macs() / d : 0.0;
}
double PruneStats::synaptic_ops() const {
  double s = 0;
  for (const auto& l : layers) s += l.synaptic_ops;
  return s;
}

PrunedModelImpl::PrunedModelImpl(torch::nn::AnyModule model_, const torch::Tensor& example,
                                 const PruneOptions& options)
    : model(std::move(model_)), state_(std::make_shared<detail::PruningState>()) {
  torch::nn::Module& root = *model.ptr();
  CallOrder order;
  observe_forward(model, example, order);
  // Attention after the last synaptic layer (the output layer's) keeps its steps.
  size_t last_synapse = 0;
  for (size_t i = 0; i < order.calls.size(); ++i)
    if (order.calls[i].synapse) last_synapse = i;
  for (size_t i = 0; i < order.calls.size(); ++i) {
    const CallOrder::Call& c = order.calls[i];
    std::shared_ptr<torch::nn::Module> replacement;
    if (const auto* att = dynamic_cast<const MultiDimAttentionImpl*>(c.module)) {
      auto pruning = std::make_shared<PruningAttentionImpl>(*att, state_, i < last_synapse);
      state_->can_prune_steps |= pruning->drops_steps();
      state_->can_prune_channels |= pruning->drops_channels();
      replacement = pruning;
    } else if (const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(c.module)) {
      replacement = std::make_shared<SilenceSkippingConv2dImpl>(*conv, state_, state_->stats.layers.size());
    } else if (const auto* linear = dynamic_cast<const torch::nn::LinearImpl*>(c.module)) {
      replacement = std::make_shared<SilenceSkippingLinearImpl>(*linear, state_, state_->stats.layers.size());
    } else {
      continue;
    }
    if (c.synapse) state_->stats.layers.push_back(LayerWork{c.name});
    replace_layer(root, c.name, replacement);
  }
  register_module("model", model.ptr());
  train(root.is_training());
  set_options(options);
}

void PrunedModelImpl::set_options(const PruneOptions& options) {
  options.validate();
  if (options.prunes_steps() && !state_->can_prune_steps)
    throw std::invalid_argument("prune: " + options.describe() +
                                " needs temporal attention (TA) before the output layer; this network has none");
  if (options.prunes_channels() && !state_->can_prune_channels)
    throw std::invalid_argument("prune: " + options.describe() +
                                " needs channel attention at conv-post pooled over T; this network has none");
  state_->options = options;
  PruneStats& stats = state_->stats;
  for (LayerWork& l : stats.layers) l = LayerWork{l.name};
  stats.samples = stats.steps_total = stats.steps_dropped = stats.channels_total = stats.channels_dropped = 0;
}

const PruneOptions& PrunedModelImpl::options() const { return state_->options; }
const PruneStats& PrunedModelImpl::stats() const { return state_->stats; }
bool PrunedModelImpl::can_prune_steps() const { return state_->can_prune_steps; }
bool PrunedModelImpl::can_prune_channels() const { return state_->can_prune_channels; }

torch::Tensor PrunedModelImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(!model.ptr()->is_training(), "prune: the network must be in eval mode");
  torch::NoGradGuard no_grad;
  const int64_t batch_dim = x.dim() == 5 ? 1 : 0;  // [T,B,...] time-major, else [B,...]
  const int64_t B = x.size(batch_dim);
  state_->stats.samples += B;
  if (!state_->options.skip || B == 1) return model.forward(x);
  // Each sample skips its own silence (a channel is silent only when it is in every row of the call).
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < B; ++b) out.push_back(model.forward(x.slice(batch_dim, b, b + 1)));
  return torch::cat(out);
}

}  // namespace masnn::serve
