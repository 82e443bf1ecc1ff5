#include "masnn/models/spiking_blocks.h"

#include <torch/torch.h>

#include <algorithm>

#include "masnn/util/monitor.h"
#include "models/block_step.h"
#include "models/conv_norm_pool_fixed_input.h"
#include "models/lean_ops.h"
#include "models/time_major.h"
#include "util/autograd_buffers.h"

namespace masnn {
namespace {

// The samples of a time-major [T,B,...] tensor from a function of rows of its merged [T*B,...] form: the rows of
// those samples in every step.
autograd_buffers::SampleRecompute samples_from_rows(functional::RowRecompute rows, int64_t steps) {
  return [rows = std::move(rows), steps](int64_t first, int64_t count) {
    return split_time(rows(steps, first, count), steps);
  };
}

}  // namespace

SpikingConvBlockImpl::SpikingConvBlockImpl(const SpikingConvBlockOptions& options_) : options(options_) {
  reset();
}

void SpikingConvBlockImpl::reset() {
  const LayerAttention& att = options.attention();
  const int64_t in_channels = options.in_channels(), out_channels = options.out_channels();
  const int64_t pool = options.pool(), steps = options.steps();
  const LIFOptions& lif_options = options.lif();
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

void SpikingConvBlockImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << std::boolalpha << "masnn::SpikingConvBlock(" << o.in_channels() << "->" << o.out_channels()
         << ", pool=" << o.pool() << ", spike_input=" << o.spike_input() << ", fused_norm=" << o.fused_norm()
         << ", fused_scale_lif=" << o.fused_scale_lif() << ", synapses=" << to_string(o.synapses()) << ")";
}

bool SpikingConvBlockImpl::replace_layer(const std::string& name,
                                         const std::shared_ptr<torch::nn::Module>& replacement) {
  return replace_member(*this, conv, "conv", name, replacement) || replace_member(*this, bn, "bn", name, replacement) ||
         replace_member(*this, attention, "attention", name, replacement);
}

torch::Tensor SpikingConvBlockImpl::forward(torch::Tensor x) {
  const int64_t steps = x.size(0);
  if (monitoring::active()) monitoring::synapse({conv.get(), x, /*time_major=*/true, input_kind()});
  torch::Tensor merged = merge_time(x);
  x = torch::Tensor();
  const int64_t pool = options.pool();
  const bool fuse_norm = !replacement_of(bn) && options.fused_norm() && is_training();
  const double support_crossover = options.synapses() == SynapseMode::Auto ? options.support_crossover() : 1.0;
  torch::Tensor y;
  bool normed = false;
  functional::RowRecompute recompute_normed;  // rows of BN's output again, where its input is cheap to compute again
  if (replacement_of(conv) || !(options.spike_input() && torch::GradMode::is_enabled())) {
    // A convolution cheap to run again (the first layer, on event frames) keeps no output for BN's backward (32 MiB
    // at T 16 in the Gesture network): on an input without gradient, convolution, BN and pooling are one node whose
    // backward needs no output at all (conv_norm_pool_fixed_input.h); otherwise BN computes it again there, and the
    // weight gradient runs in chunks of rows.
    const bool cheap = fuse_norm && torch::GradMode::is_enabled() && !replacement_of(conv) &&
                       functional::conv2d_cheap_to_recompute(*conv);
    if (cheap && functional::conv2d_norm_pool_fixed_input_supports(merged, *conv, *bn, pool)) {
      y = functional::conv2d_norm_pool_fixed_input(merged, *conv, *bn, pool, &recompute_normed);
      normed = true;
    } else {
      y = cheap ? functional::conv2d_in_chunks(merged, *conv) : call_layer(conv, merged);
      normed = cheap && functional::batch_norm_avg_pool2d_supports(y, *bn, pool);
      if (normed)
        y = functional::batch_norm_avg_pool2d(y, *bn, pool, functional::conv2d_recompute(merged, *conv),
                                              &recompute_normed);
    }
  } else if (functional::use_event_driven_conv(options.synapses(), merged, *conv, options.synapse_crossover())) {
    // In chunks of 4 MiB: the backward holds two of them (the chunk's gradient, and a channels-last copy) beside the
    // input's gradient, at the step's memory peak in the Gesture network's second layer.
    normed = fuse_norm && functional::conv2d_event_driven_norm_pool_supports(merged, *conv, *bn, pool);
    y = normed ? functional::conv2d_event_driven_norm_pool(merged, *conv, *bn, pool, support_crossover,
                                                           functional::kChunkBytes / 2, &recompute_normed)
               : functional::conv2d_event_driven(merged, *conv, support_crossover);
  } else {
    y = functional::conv2d_binary_input(merged, *conv);
  }
  merged = torch::Tensor();  // the input's last reference here (the spike convolution keeps it as bits)
  if (normed) {
    // BN and pooling done, with the convolution's output computed again in their backward rather than kept
  } else if (fuse_norm && functional::batch_norm_avg_pool2d_supports(y, *bn, pool)) {
    y = functional::batch_norm_avg_pool2d(y, *bn, pool);
  } else {
    y = call_layer(bn, y);
    if (pool > 1) y = functional::avg_pool2d_lean(y, pool);
  }
  y = split_time(y, steps);
  torch::Tensor spikes;
  if (attention && lif && options.fused_scale_lif() && !replacement_of(attention) && attention->can_defer_scale(y) &&
      functional::scaled_lif_supports(y, lif->options)) {
    const functional::AttentionScale s = attention->forward_scale(y);
    spikes = lif->forward_scaled(s.x, s.a, s.w, attention->options.relu());
    // The LIF and the spatial attention keep BN's output only for their backward: where it is cheap, they compute
    // it again there, a chunk of samples at a time (options.recompute_norm_output). Not under a monitor, which may
    // read it.
    if (options.recompute_norm_output() && recompute_normed && spikes.grad_fn() && !monitoring::active() &&
        s.x.data_ptr() == y.data_ptr())
      autograd_buffers::drop_for_sample_reads(y, samples_from_rows(std::move(recompute_normed), steps));
  } else {
    if (attention) y = call_layer(attention, y);
    spikes = attentive_lif ? attentive_lif(y) : lif(y);
  }
  monitoring::block(*this, spikes);
  return spikes;
}

torch::Tensor SpikingConvBlockImpl::forward_step(const torch::Tensor& x_t, BlockStepState& state) {
  TORCH_CHECK(!is_training(), "conv block: step-at-a-time inference needs eval mode (BN on running statistics)");
  const int64_t in_channels = options.in_channels(), pool = options.pool();
  TORCH_CHECK(x_t.dim() == 4 && x_t.size(1) == in_channels, "conv block: a step must be [B,", in_channels,
              ",H,W], got ", x_t.sizes());
  begin_step(state, x_t.size(0), "conv block");
  if (monitoring::active()) monitoring::synapse({conv.get(), x_t.unsqueeze(0), /*time_major=*/true, input_kind()});
  torch::Tensor y = call_layer(bn, call_layer(conv, x_t));
  if (pool > 1) y = torch::avg_pool2d(y, pool);
  if (attention) {
    if (attention->pools_over_time())
      y = attend_causal(*attention, state, y, options.steps());
    else
      y = attention(y.unsqueeze(0))[0];  // per-step CA/SA: one step is all they see
  }
  functional::LIFResult r = attentive_lif ? attentive_lif->forward_step(y, state.membrane)
                                          : lif->forward_with_state(y.unsqueeze(0), state.membrane);
  state.membrane = r.state;
  torch::Tensor spikes = attentive_lif ? r.spikes : r.spikes[0];
  if (monitoring::active()) monitoring::block(*this, spikes.unsqueeze(0));
  return spikes;
}

SpikingLinearBlockImpl::SpikingLinearBlockImpl(const SpikingLinearBlockOptions& options_) : options(options_) {
  reset();
}

void SpikingLinearBlockImpl::reset() {
  const LayerAttention& att = options.attention();
  const int64_t in_features = options.in_features(), out_features = options.out_features();
  const int64_t steps = options.steps();
  const LIFOptions& lif_options = options.lif();
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

void SpikingLinearBlockImpl::pretty_print(std::ostream& stream) const {
  const auto& o = options;
  stream << std::boolalpha << "masnn::SpikingLinearBlock(" << o.in_features() << "->" << o.out_features()
         << ", spike_input=" << o.spike_input() << ", linear_as_conv=" << o.linear_as_conv()
         << ", synapses=" << to_string(o.synapses()) << ")";
}

bool SpikingLinearBlockImpl::replace_layer(const std::string& name,
                                           const std::shared_ptr<torch::nn::Module>& replacement) {
  return replace_member(*this, linear, "linear", name, replacement) ||
         replace_member(*this, bn, "bn", name, replacement) ||
         replace_member(*this, attention, "attention", name, replacement);
}

torch::Tensor SpikingLinearBlockImpl::forward(const torch::Tensor& x) {
  if (monitoring::active()) monitoring::synapse({linear.get(), x, /*time_major=*/true, input_kind()});
  const torch::Tensor merged = merge_time(x);
  torch::Tensor y;
  if (replacement_of(linear) || !(options.spike_input() && torch::GradMode::is_enabled()))
    y = call_layer(linear, merged);
  else if (functional::use_event_driven_linear(options.synapses(), merged, *linear, options.synapse_crossover()))
    y = functional::linear_event_driven(merged, *linear,
                                        options.synapses() == SynapseMode::Auto ? options.support_crossover() : 1.0);
  else
    y = functional::linear_binary_input(merged, *linear, options.linear_as_conv());
  y = split_time(call_layer(bn, y), x.size(0));
  if (attention) y = call_layer(attention, y);
  torch::Tensor spikes = lif(y);
  monitoring::block(*this, spikes);
  return spikes;
}

torch::Tensor SpikingLinearBlockImpl::forward_step(const torch::Tensor& x_t, BlockStepState& state) {
  TORCH_CHECK(!is_training(), "linear block: step-at-a-time inference needs eval mode (BN on running statistics)");
  const int64_t in_features = options.in_features();
  TORCH_CHECK(x_t.dim() == 2 && x_t.size(1) == in_features, "linear block: a step must be [B,", in_features, "], got ",
              x_t.sizes());
  begin_step(state, x_t.size(0), "linear block");
  if (monitoring::active()) monitoring::synapse({linear.get(), x_t.unsqueeze(0), /*time_major=*/true, input_kind()});
  torch::Tensor y = call_layer(bn, call_layer(linear, x_t));
  if (attention) y = attend_causal(*attention, state, y, options.steps());
  functional::LIFResult r = lif->forward_with_state(y.unsqueeze(0), state.membrane);
  state.membrane = r.state;
  if (monitoring::active()) monitoring::block(*this, r.spikes);
  return r.spikes[0];
}

void set_synapse_mode(torch::nn::Module& net, SynapseMode mode) {
  // Blocks are registered in their order in the network, each reading the spikes of the one before (the last conv
  // block's, flattened, feed the first linear one); only the neurons whose spikes a spike-input block reads publish.
  LIFImpl* previous = nullptr;  // the neuron of the block before, when it is a plain LIF
  const auto mark = [&](auto& options, LIF& lif) {
    options.synapses(mode);
    if (previous && options.spike_input()) previous->options.publish_support(mode != SynapseMode::Dense);
    previous = lif ? lif.get() : nullptr;
  };
  for (const auto& m : net.modules()) {
    if (auto* lif = m->as<LIFImpl>()) lif->options.publish_support(false);
    if (auto* block = m->as<SpikingConvBlockImpl>())
      mark(block->options, block->lif);
    else if (auto* block = m->as<SpikingLinearBlockImpl>())
      mark(block->options, block->lif);
  }
}

}  // namespace masnn
