// Attention-guided pruning: the DvsNet forward, block by block, with the dropped steps and channels skipped.
#include "masnn/serve/pruning.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace masnn::serve {
namespace {

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

// Rows [N] and input channels [C] (bool) to compute; everything else of the output is the bias.
struct Keep {
  torch::Tensor rows, inputs;
};

// The layer's output on the kept rows and inputs: the conv/linear on a slice, scattered into a tensor of biases.
// Runs exactly the block's own call when everything is kept.
torch::Tensor synapse_on_kept(const torch::Tensor& x, const Keep& keep, const torch::Tensor& weight,
                              const torch::Tensor& bias, bool conv,
                              const std::function<torch::Tensor(const torch::Tensor&)>& module, LayerWork& work) {
  const int64_t N = x.size(0), in = x.size(1), out = weight.size(0);
  const int64_t per_row_in = conv ? out * weight.size(2) * weight.size(3) * x.size(2) * x.size(3) : out;
  work.dense_macs += static_cast<double>(N * in * per_row_in);
  work.input_nonzeros += x.ne(0).sum().item<double>();
  work.synaptic_ops = work.input_nonzeros * (conv ? out * weight.size(2) * weight.size(3) : out);
  const bool all_rows = keep.rows.all().item<bool>(), all_inputs = keep.inputs.all().item<bool>();
  if (all_rows && all_inputs) {
    work.computed_macs += static_cast<double>(N * in * per_row_in);
    return module(x);
  }
  const torch::Tensor rows = keep.rows.nonzero().flatten();
  const torch::Tensor inputs = keep.inputs.nonzero().flatten();
  work.computed_macs += static_cast<double>(rows.numel() * inputs.numel() * per_row_in);
  std::vector<int64_t> out_shape{N, out};
  torch::Tensor xs = x.index_select(0, rows), w = weight;
  torch::Tensor ys;
  if (all_inputs) {
    ys = module(xs);
  } else {
    xs = xs.index_select(1, inputs);
    w = weight.index_select(1, inputs);
    ys = conv ? torch::conv2d(xs, w, bias, 1, weight.size(2) / 2) : torch::linear(xs, w, bias);
  }
  out_shape.insert(out_shape.end(), ys.sizes().begin() + 2, ys.sizes().end());
  std::vector<int64_t> bias_view(out_shape.size(), 1);
  bias_view[1] = out;
  torch::Tensor y =
      bias.defined() ? bias.view(bias_view).expand(out_shape).contiguous() : torch::zeros(out_shape, x.options());
  return y.index_copy_(0, rows, ys);
}

struct LayerMasks {
  torch::Tensor steps;     ///< [T,B] bool kept, or undefined
  torch::Tensor channels;  ///< [B,C] bool kept, or undefined
};

// Applies the attention of a block with pruning; `a` is the attended membrane input [T,B,...].
torch::Tensor attend_and_prune(MultiDimAttentionImpl& att, const torch::Tensor& z, bool prune_steps,
                               const PruneOptions& o, LayerMasks& masks, PruneStats* stats) {
  AttentionWeights w;
  torch::Tensor a = att.forward_with_weights(z, w);
  const int64_t T = z.size(0), B = z.size(1);
  const bool ta_prune = prune_steps && o.prunes_steps() && w.temporal.defined();
  const bool ca_prune = o.prunes_channels() && w.channel.defined();
  if (ta_prune) {
    masks.steps = keep_mask(w.temporal.reshape({T, B}).to(torch::kDouble), o.ta_topk, o.ta_threshold, o.ta_keep);
    if (stats) {
      stats->steps_total += T * B;
      stats->steps_dropped += (~masks.steps).sum().item<int64_t>();
    }
    if (!masks.steps.all().item<bool>()) {
      std::vector<int64_t> view(static_cast<size_t>(a.dim()), 1);
      view[0] = T;
      view[1] = B;
      a = a * masks.steps.view(view).to(a.scalar_type());
    }
  }
  if (ca_prune) {
    if (w.channel.size(0) != 1)
      throw std::invalid_argument("prune: CA pruning needs channel attention pooled over T (not per step)");
    const int64_t C = z.size(2);
    masks.channels =
        keep_mask(w.channel.reshape({B, C}).t().to(torch::kDouble), o.ca_topk, o.ca_threshold, o.ca_keep).t();
    if (stats) {
      stats->channels_total += B * C;
      stats->channels_dropped += (~masks.channels).sum().item<int64_t>();
    }
    if (!masks.channels.all().item<bool>()) a = a * masks.channels.reshape({1, B, C, 1, 1}).to(a.scalar_type());
  }
  return a;
}

// What the next layer may skip: the kept steps/channels plus any dropped one that still spiked.
Keep next_keep(const torch::Tensor& spikes, const LayerMasks& masks, PruneStats* stats) {
  const int64_t T = spikes.size(0), B = spikes.size(1);
  const torch::Tensor active = spikes.ne(0);
  Keep k;
  if (masks.steps.defined()) {
    const torch::Tensor spiking = active.reshape({T, B, -1}).any(2);
    if (stats) stats->spikes_in_dropped += (spiking & ~masks.steps).sum().item<int64_t>();
    k.rows = (masks.steps | spiking).flatten();  // merged rows t*B + b
  } else {
    k.rows = torch::ones({T * B}, torch::kBool);
  }
  if (masks.channels.defined()) {
    const torch::Tensor per_sample = active.flatten(3).any(3).any(0);  // [B,C]: the channel fired at some step
    if (stats) stats->spikes_in_dropped += (per_sample & ~masks.channels).sum().item<int64_t>();
    k.inputs = (masks.channels | per_sample).any(0);  // a channel is skipped only when no sample needs it
  } else {
    k.inputs = torch::ones({spikes.size(2)}, torch::kBool);
  }
  return k;
}

LayerWork& work_of(PruneStats* stats, size_t index, const std::string& name, LayerWork& scratch) {
  if (!stats) return scratch;
  if (stats->layers.size() <= index) stats->layers.resize(index + 1);
  stats->layers[index].name = name;
  return stats->layers[index];
}

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

torch::Tensor pruned_forward(DvsNetImpl& net, const torch::Tensor& x, const PruneOptions& o, PruneStats* stats) {
  o.validate();
  TORCH_CHECK(!net.is_training(), "prune: the network must be in eval mode");
  TORCH_CHECK(x.dim() == 5, "prune: input must be [T,B,C,H,W], got ", x.sizes());
  const auto& att = net.options.attention();
  if (o.prunes_channels() && (!att.type.channel || att.placement != AttentionPlacement::ConvPost || att.per_step))
    throw std::invalid_argument(
        "prune: CA pruning needs channel attention at conv-post pooled over T; this model has " + att.type.name() +
        " at " + to_string(att.placement) + (att.per_step ? " per step" : ""));
  torch::NoGradGuard no_grad;
  const int64_t T = x.size(0), B = x.size(1);
  if (o.any() && o.skip && B > 1) {
    // Each sample drops its own steps and channels: skipping is per sample, so run them one by one.
    std::vector<torch::Tensor> out;
    for (int64_t b = 0; b < B; ++b) out.push_back(pruned_forward(net, x.slice(1, b, b + 1), o, stats));
    return torch::cat(out);
  }
  if (stats) stats->samples += B;
  Keep keep{torch::ones({T * B}, torch::kBool), torch::ones({x.size(2)}, torch::kBool)};
  torch::Tensor y = x;
  size_t layer = 0;
  LayerWork scratch;
  for (size_t i = 0; i < net.convs->size(); ++i, ++layer) {
    auto& b = *net.convs[i]->as<SpikingConvBlock>();
    LayerWork& work = work_of(stats, layer, "convs." + std::to_string(i) + ".conv", scratch);
    torch::Tensor z = synapse_on_kept(
        y.flatten(0, 1), keep, b.conv->weight, b.conv->bias, true,
        [&](const torch::Tensor& v) { return call_layer(b.conv, v); }, work);
    z = b.bn(z);
    if (b.options.pool() > 1) z = torch::avg_pool2d(z, b.options.pool());
    z = z.view({T, B, z.size(1), z.size(2), z.size(3)});
    LayerMasks masks;
    if (b.attention) z = attend_and_prune(*b.attention, z, true, o, masks, stats);
    y = b.attentive_lif ? b.attentive_lif(z) : b.lif(z);
    keep = next_keep(y, masks, stats);
    if (!o.skip) keep = Keep{torch::ones_like(keep.rows), torch::ones_like(keep.inputs)};
  }
  // Flattened features are channel-major: channel c owns features [c*H*W, (c+1)*H*W).
  const int64_t per_channel = y.size(3) * y.size(4);
  keep.inputs = keep.inputs.repeat_interleave(per_channel);
  y = y.flatten(2);
  for (size_t i = 0; i < net.fcs->size(); ++i, ++layer) {
    auto& b = *net.fcs[i]->as<SpikingLinearBlock>();
    LayerWork& work = work_of(stats, layer, "fcs." + std::to_string(i) + ".linear", scratch);
    torch::Tensor z = synapse_on_kept(
        y.flatten(0, 1), keep, b.linear->weight, b.linear->bias, false,
        [&](const torch::Tensor& v) { return call_layer(b.linear, v); }, work);
    z = b.bn(z).view({T, B, z.size(1)});
    LayerMasks masks;
    const bool output_layer = i + 1 == net.fcs->size();
    if (b.attention) z = attend_and_prune(*b.attention, z, !output_layer, o, masks, stats);
    y = b.lif(z);
    keep = next_keep(y.unsqueeze(-1).unsqueeze(-1), masks, stats);
    if (!o.skip) keep = Keep{torch::ones_like(keep.rows), torch::ones_like(keep.inputs)};
  }
  return y.mean(0);
}

PrunedDvsNetImpl::PrunedDvsNetImpl(DvsNet net_, const PruneOptions& options_)
    : net(std::move(net_)), options(options_) {
  options.validate();
  reset();
}

void PrunedDvsNetImpl::reset() {
  net = register_module("net", net);
}

torch::Tensor PrunedDvsNetImpl::forward(const torch::Tensor& x) {
  return pruned_forward(*net, x, options, &stats);
}

}  // namespace masnn::serve
