#include "masnn/models/res_snn.h"

#include <torch/torch.h>

#include <sstream>
#include <stdexcept>

#include "models/block_step.h"
#include "models/time_major.h"
#include "masnn/util/monitor.h"

namespace masnn {

namespace {

// BN weights start at `weight` (V_th, or 0.2 V_th for the last BN of a branch), biases at 0.
torch::nn::BatchNorm2d make_bn(int64_t channels, double weight) {
  torch::nn::BatchNorm2d bn(channels);
  torch::NoGradGuard ng;
  bn->weight.fill_(weight);
  bn->bias.zero_();
  return bn;
}

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

void check_attention(const LayerAttention& a, const char* what) {
  if (a.type.any() && a.placement != AttentionPlacement::ConvPost)
    throw std::invalid_argument(std::string(what) +
                                ": the attention of a residual block sits on the branch output before the add "
                                "(conv-post); the activate-pre placement has no place there");
}

// Output side of a conv (or of the stride-s pool with ceil mode, which gives the same) on side `in`.
int64_t conv_side(int64_t in, int64_t kernel, int64_t stride) {
  return (in + 2 * (kernel / 2) - kernel) / stride + 1;
}

std::string shape_text(const std::vector<int64_t>& v) {
  std::ostringstream s;
  s << c10::IntArrayRef(v);
  return s.str();
}

}  // namespace

LayerAttention res_snn_reference_attention() {
  LayerAttention a;
  a.type = AttentionType::parse("CSA");
  a.placement = AttentionPlacement::ConvPost;
  a.t_ratio = 1;
  a.c_ratio = 8;
  a.kernel_size = 3;
  a.per_step = false;
  return a;
}

// ---------------------------------------------------------------------------------------------------
// Block

ResSnnBlockImpl::ResSnnBlockImpl(const ResSnnBlockOptions& options_) : options(options_) {
  reset();
}

void ResSnnBlockImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.in_channels() >= 1 && o.out_channels() >= 1, "res-snn block: channels must be >= 1, got ",
              o.in_channels(), " -> ", o.out_channels());
  TORCH_CHECK(o.stride() >= 1, "res-snn block: stride must be >= 1, got ", o.stride());
  TORCH_CHECK(o.steps() >= 1, "res-snn block: steps must be >= 1, got ", o.steps());
  check_attention(o.attention(), "res-snn block");
  o.lif().validate();
  const double vth = o.lif().threshold();
  lif1 = register_module("lif1", LIF(o.lif()));
  conv1 = register_module("conv1", make_conv(o.in_channels(), o.out_channels(), 3, o.stride()));
  bn1 = register_module("bn1", make_bn(o.out_channels(), vth));
  lif2 = register_module("lif2", LIF(o.lif()));
  conv2 = register_module("conv2", make_conv(o.out_channels(), o.out_channels(), 3, 1));
  bn2 = register_module("bn2", make_bn(o.out_channels(), 0.2 * vth));
  const LayerAttention& a = o.attention();
  if (a.type.any())
    attention =
        register_module("attention", MultiDimAttention(MultiDimAttentionOptions(a.type, o.steps(), o.out_channels())
                                                           .t_ratio(a.t_ratio)
                                                           .c_ratio(a.c_ratio)
                                                           .kernel_size(a.kernel_size)
                                                           .per_step(a.per_step)
                                                           .relu(true)));
  if (o.stride() != 1 || o.in_channels() != o.out_channels()) {
    shortcut_conv = register_module("shortcut_conv", make_conv(o.in_channels(), o.out_channels(), 1, 1));
    shortcut_bn = register_module("shortcut_bn", make_bn(o.out_channels(), vth));
  }
}

void ResSnnBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "masnn::ResSnnBlock(" << options.in_channels() << " -> " << options.out_channels()
         << ", stride=" << options.stride() << ", attention=" << options.attention().type.name()
         << ", shortcut=" << (has_projection() ? "avg-pool+conv1x1+BN" : "identity") << ")";
}

bool ResSnnBlockImpl::replace_layer(const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) {
  return replace_member(*this, conv1, "conv1", name, replacement) ||
         replace_member(*this, conv2, "conv2", name, replacement) ||
         replace_member(*this, bn1, "bn1", name, replacement) || replace_member(*this, bn2, "bn2", name, replacement) ||
         replace_member(*this, shortcut_conv, "shortcut_conv", name, replacement) ||
         replace_member(*this, shortcut_bn, "shortcut_bn", name, replacement) ||
         replace_member(*this, attention, "attention", name, replacement);
}

torch::Tensor ResSnnBlockImpl::branch(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 5 && x.size(2) == options.in_channels(), "res-snn block: input must be [T,B,",
              options.in_channels(), ",H,W], got ", x.sizes());
  const int64_t T = x.size(0);
  torch::Tensor y;
  {
    const torch::Tensor spikes = lif1(x);
    if (monitoring::active())
      monitoring::synapse({conv1.get(), spikes, /*time_major=*/true, SynapseEvent::Kind::Spikes});
    y = call_layer(bn1, call_layer(conv1, merge_time(spikes)));
  }
  {
    const torch::Tensor spikes = lif2(split_time(y, T));
    if (monitoring::active())
      monitoring::synapse({conv2.get(), spikes, /*time_major=*/true, SynapseEvent::Kind::Spikes});
    y = split_time(call_layer(bn2, call_layer(conv2, merge_time(spikes))), T);
  }
  if (attention) y = call_layer(attention, y);
  return y;
}

torch::Tensor ResSnnBlockImpl::shortcut(const torch::Tensor& x) {
  if (!has_projection()) return x;
  torch::Tensor y = merge_time(x);
  const int64_t s = options.stride();
  // ceil_mode: an odd side keeps its last row/column (averaged over what is there), matching the conv's output
  // side; on even sides it is the reference's plain 2x2 average pool.
  if (s > 1) y = torch::avg_pool2d(y, {s, s}, {s, s}, {0, 0}, /*ceil_mode=*/true);
  if (monitoring::active())  // the membrane input, real-valued
    monitoring::synapse(
        {shortcut_conv.get(), split_time(y, x.size(0)), /*time_major=*/true, SynapseEvent::Kind::Values});
  return split_time(call_layer(shortcut_bn, call_layer(shortcut_conv, y)), x.size(0));
}

torch::Tensor ResSnnBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = branch(x) + shortcut(x);
  monitoring::block(*this, y);
  return y;
}

void ResSnnBlockStepState::reset(int64_t row) {
  first.reset(row);
  second.reset(row);
}

torch::Tensor ResSnnBlockImpl::forward_step(const torch::Tensor& x_t, ResSnnBlockStepState& state) {
  TORCH_CHECK(!is_training(), "res-snn block: step-at-a-time inference needs eval mode (BN on running statistics)");
  TORCH_CHECK(x_t.dim() == 4 && x_t.size(1) == options.in_channels(), "res-snn block: a step must be [B,",
              options.in_channels(), ",H,W], got ", x_t.sizes());
  begin_step(state.first, x_t.size(0), "res-snn block");
  begin_step(state.second, x_t.size(0), "res-snn block");
  const torch::Tensor x = x_t.unsqueeze(0);
  functional::LIFResult r = lif1->forward_with_state(x, state.first.membrane);
  state.first.membrane = r.state;
  if (monitoring::active())
    monitoring::synapse({conv1.get(), r.spikes, /*time_major=*/true, SynapseEvent::Kind::Spikes});
  torch::Tensor y = call_layer(bn1, call_layer(conv1, r.spikes[0]));
  r = lif2->forward_with_state(y.unsqueeze(0), state.second.membrane);
  state.second.membrane = r.state;
  if (monitoring::active())
    monitoring::synapse({conv2.get(), r.spikes, /*time_major=*/true, SynapseEvent::Kind::Spikes});
  y = call_layer(bn2, call_layer(conv2, r.spikes[0]));
  if (attention) {
    if (attention->pools_over_time())
      y = attend_causal(*attention, state.second, y, options.steps());
    else
      y = call_layer(attention, y.unsqueeze(0))[0];  // per-step CA/SA: one step is all they see
  }
  y = y + shortcut(x)[0];
  monitoring::block(*this, y.unsqueeze(0));
  return y;
}

// ---------------------------------------------------------------------------------------------------
// Network options

ResSnnOptions ResSnnOptions::depth(int64_t depth) {
  std::vector<int64_t> blocks;
  if (depth == 18)
    blocks = {2, 2, 2, 2};
  else if (depth == 34)
    blocks = {3, 4, 6, 3};
  else if (depth == 104)
    blocks = {3, 8, 32, 8};
  else
    throw std::invalid_argument("res-snn: depth must be 18, 34 or 104, got " + std::to_string(depth));
  return ResSnnOptions().blocks(blocks);
}

ResSnnOptions ResSnnOptions::mini() {
  return ResSnnOptions()
      .blocks({1, 1, 1})
      .widths({16, 32, 64})
      .strides({1, 2, 2})
      .stem_width(16)
      .stem_kernel(3)
      .stem_stride(1)
      .in_channels(1)
      .num_classes(10);
}

void ResSnnOptions::validate() const {
  auto fail = [](const std::string& what) { throw std::invalid_argument("res-snn: " + what); };
  if (blocks().empty()) fail("blocks must name at least one stage");
  if (widths().size() != blocks().size() || strides().size() != blocks().size())
    fail("blocks, widths and strides must have one entry per stage, got " + std::to_string(blocks().size()) + ", " +
         std::to_string(widths().size()) + " and " + std::to_string(strides().size()));
  for (size_t i = 0; i < blocks().size(); ++i) {
    if (blocks()[i] < 1) fail("blocks of stage " + std::to_string(i + 1) + " must be >= 1");
    if (widths()[i] < 1) fail("width of stage " + std::to_string(i + 1) + " must be >= 1");
    if (strides()[i] < 1) fail("stride of stage " + std::to_string(i + 1) + " must be >= 1");
  }
  if (stem_width() < 1) fail("stem_width must be >= 1, got " + std::to_string(stem_width()));
  if (stem_kernel() < 1 || stem_kernel() % 2 == 0)
    fail("stem_kernel must be odd and positive, got " + std::to_string(stem_kernel()));
  if (stem_stride() < 1) fail("stem_stride must be >= 1, got " + std::to_string(stem_stride()));
  if (in_channels() < 1) fail("in_channels must be >= 1, got " + std::to_string(in_channels()));
  if (num_classes() < 1) fail("num_classes must be >= 1, got " + std::to_string(num_classes()));
  if (steps() < 1) fail("steps (T) must be >= 1, got " + std::to_string(steps()));
  if (!(dropout() >= 0 && dropout() < 1)) fail("dropout must be in [0, 1), got " + std::to_string(dropout()));
  check_attention(attention(), "res-snn");
  lif().validate();
}

// ---------------------------------------------------------------------------------------------------
// Network

ResSnnImpl::ResSnnImpl(const ResSnnOptions& options_) : options(options_) {
  reset();
}

void ResSnnImpl::reset() {
  const auto& o = options;
  o.validate();
  stem_conv =
      register_module("stem_conv", make_conv(o.in_channels(), o.stem_width(), o.stem_kernel(), o.stem_stride()));
  stem_bn = register_module("stem_bn", make_bn(o.stem_width(), o.lif().threshold()));
  stages = register_module("stages", torch::nn::ModuleList());
  int64_t in = o.stem_width();
  for (size_t s = 0; s < o.blocks().size(); ++s) {
    torch::nn::ModuleList stage;
    for (int64_t b = 0; b < o.blocks()[s]; ++b) {
      stage->push_back(ResSnnBlock(ResSnnBlockOptions(in, o.widths()[s])
                                       .stride(b == 0 ? o.strides()[s] : 1)
                                       .steps(o.steps())
                                       .attention(o.attention())
                                       .lif(o.lif())));
      in = o.widths()[s];
    }
    stages->push_back(stage);
  }
  head_lif = register_module("head_lif", LIF(o.lif()));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  fc = register_module("fc", torch::nn::Linear(in, o.num_classes()));
}

void ResSnnImpl::pretty_print(std::ostream& stream) const {
  stream << describe_res_snn(options);
}

std::string describe_res_snn(const ResSnnOptions& options) {
  return "masnn::ResSnn(blocks=" + shape_text(options.blocks()) + ", widths=" + shape_text(options.widths()) +
         ", T=" + std::to_string(options.steps()) + ", attention=" + options.attention().type.name() +
         ", classes=" + std::to_string(options.num_classes()) + ")";
}

bool ResSnnImpl::replace_layer(const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) {
  return replace_member(*this, stem_conv, "stem_conv", name, replacement) ||
         replace_member(*this, stem_bn, "stem_bn", name, replacement) ||
         replace_member(*this, fc, "fc", name, replacement);
}

ResSnnBlock ResSnnImpl::block(size_t stage, size_t index) const {
  TORCH_CHECK(stage < stages->size(), "res-snn: no stage ", stage);
  const auto list = std::dynamic_pointer_cast<torch::nn::ModuleListImpl>(stages->ptr(stage));
  TORCH_CHECK(list && index < list->size(), "res-snn: stage ", stage, " has no block ", index);
  return ResSnnBlock(std::dynamic_pointer_cast<ResSnnBlockImpl>(list->ptr(index)));
}

torch::Tensor ResSnnImpl::stem(const torch::Tensor& x) {
  const int64_t C = options.in_channels();
  TORCH_CHECK((x.dim() == 4 && x.size(1) == C) || (x.dim() == 5 && x.size(2) == C), "res-snn: input must be [B,", C,
              ",H,W] (a static image) or [T,B,", C, ",H,W] (time-major), got ", x.sizes());
  if (monitoring::active())
    monitoring::synapse({stem_conv.get(), x, /*time_major=*/x.dim() == 5, SynapseEvent::Kind::Frames});
  torch::Tensor out;
  if (x.dim() == 5) {
    out = split_time(call_layer(stem_bn, call_layer(stem_conv, merge_time(x))), x.size(0));
  } else {
    // A static image: the conv runs once. BN normalises over the T identical copies; in training mode it runs on
    // them, so that its running statistics see T*B*H*W values as the reference's do; in eval mode it is
    // per-element and runs once too.
    const int64_t T = options.steps();
    const torch::Tensor y = call_layer(stem_conv, x);  // [B,C',H',W']
    std::vector<int64_t> expanded{T};
    expanded.insert(expanded.end(), y.sizes().begin(), y.sizes().end());
    out = is_training()
              ? split_time(call_layer(stem_bn, merge_time(y.unsqueeze(0).expand(expanded))), T)
              : call_layer(stem_bn, y).unsqueeze(0).expand(expanded);
  }
  monitoring::block(*stem_conv, out);  // the stem's summary row, named after its conv
  return out;
}

torch::Tensor ResSnnImpl::head(const torch::Tensor& features) {
  TORCH_CHECK(features.dim() == 5, "res-snn head: input must be [T,B,C,H,W], got ", features.sizes());
  const torch::Tensor pooled = head_lif(features).mean(at::IntArrayRef{3, 4});  // [T,B,C]
  const torch::Tensor in = dropout(pooled.mean(0));                             // firing rates: real values
  if (monitoring::active()) monitoring::synapse({fc.get(), in, /*time_major=*/false, SynapseEvent::Kind::Values});
  torch::Tensor logits = call_layer(fc, in);
  monitoring::block(*fc, logits);  // the head's summary row, named after its linear layer
  return logits;
}

void ResSnnStepState::reset(int64_t row) {
  if (row < 0) blocks.clear();
  for (auto& b : blocks) b.reset(row);
  head.reset(row);
}

torch::Tensor ResSnnImpl::forward_step(const torch::Tensor& x_t, ResSnnStepState& state) {
  TORCH_CHECK(!is_training(), "res-snn: step-at-a-time inference needs eval mode (BN on running statistics)");
  const int64_t C = options.in_channels();
  TORCH_CHECK(x_t.dim() == 4 && x_t.size(1) == C, "res-snn: a step must be [B,", C, ",H,W], got ", x_t.sizes());
  if (monitoring::active())
    monitoring::synapse({stem_conv.get(), x_t.unsqueeze(0), /*time_major=*/true, SynapseEvent::Kind::Frames});
  torch::Tensor y = call_layer(stem_bn, call_layer(stem_conv, x_t));
  monitoring::block(*stem_conv, y.unsqueeze(0));
  size_t i = 0;
  for (const auto& stage : *stages)
    for (const auto& b : *stage->as<torch::nn::ModuleList>()) {
      if (state.blocks.size() <= i) state.blocks.resize(i + 1);
      y = b->as<ResSnnBlock>()->forward_step(y, state.blocks[i++]);
    }
  begin_step(state.head, y.size(0), "res-snn head");
  const functional::LIFResult r = head_lif->forward_with_state(y.unsqueeze(0), state.head.membrane);
  state.head.membrane = r.state;
  const torch::Tensor pooled = r.spikes[0].mean(at::IntArrayRef{2, 3});  // [B,C]; dropout: identity in eval
  if (monitoring::active())
    monitoring::synapse({fc.get(), pooled, /*time_major=*/false, SynapseEvent::Kind::Values});
  torch::Tensor out = call_layer(fc, pooled);
  monitoring::block(*fc, out);
  return out;
}

torch::Tensor ResSnnImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = stem(x);
  for (const auto& stage : *stages)
    for (const auto& b : *stage->as<torch::nn::ModuleList>()) y = b->as<ResSnnBlock>()->forward(y);
  return head(y);
}

// ---------------------------------------------------------------------------------------------------
// Counting without building

namespace {

int64_t attention_params(const LayerAttention& a, int64_t steps, int64_t channels) {
  int64_t n = 0;
  if (a.type.temporal) n += 2 * steps * (steps / a.t_ratio);
  if (a.type.channel) n += 2 * channels * (channels / a.c_ratio);
  if (a.type.spatial) n += 2 * a.kernel_size * a.kernel_size;
  return n;
}

// MLP on two descriptors, both layers; SA conv over the map (once over all T at conv-post, per step otherwise).
int64_t attention_macs(const LayerAttention& a, int64_t steps, int64_t channels, int64_t side) {
  const int64_t reps = a.per_step ? steps : 1;
  int64_t n = 0;
  if (a.type.temporal) n += 2 * 2 * steps * (steps / a.t_ratio);
  if (a.type.channel) n += reps * 2 * 2 * channels * (channels / a.c_ratio);
  if (a.type.spatial) n += reps * side * side * 2 * a.kernel_size * a.kernel_size;
  return n;
}

}  // namespace

std::vector<ResSnnStageSummary> summarize_res_snn(const ResSnnOptions& o, int64_t input_size) {
  o.validate();
  if (input_size < 1)
    throw std::invalid_argument("res-snn: input size must be >= 1, got " + std::to_string(input_size));
  const int64_t T = o.steps();
  const int64_t lif_params = o.lif().learnable_decay() ? 1 : 0;
  std::vector<ResSnnStageSummary> rows;
  int64_t side = conv_side(input_size, o.stem_kernel(), o.stem_stride());
  ResSnnStageSummary stem;
  stem.name = "stem";
  stem.layout = "conv " + std::to_string(o.stem_kernel()) + "x" + std::to_string(o.stem_kernel()) + " stride " +
                std::to_string(o.stem_stride()) + " + BN";
  stem.output_shape = {o.stem_width(), side, side};
  stem.params = o.in_channels() * o.stem_width() * o.stem_kernel() * o.stem_kernel() + 2 * o.stem_width();
  stem.macs = side * side * o.stem_width() * o.in_channels() * o.stem_kernel() * o.stem_kernel();
  rows.push_back(stem);
  int64_t in = o.stem_width();
  for (size_t s = 0; s < o.blocks().size(); ++s) {
    const int64_t out = o.widths()[s];
    ResSnnStageSummary row;
    row.name = "stage" + std::to_string(s + 1);
    row.layout = std::to_string(o.blocks()[s]) + " x basic block " + std::to_string(out) + ", stride " +
                 std::to_string(o.strides()[s]);
    for (int64_t b = 0; b < o.blocks()[s]; ++b) {
      const int64_t stride = b == 0 ? o.strides()[s] : 1;
      side = conv_side(side, 3, stride);
      row.params += 9 * in * out + 9 * out * out + 4 * out + 2 * lif_params;
      row.params += attention_params(o.attention(), T, out);
      row.macs += T * side * side * 9 * out * (in + out);
      row.macs += attention_macs(o.attention(), T, out, side);
      if (stride != 1 || in != out) {
        row.params += in * out + 2 * out;
        row.macs += T * side * side * in * out;
      }
      in = out;
    }
    row.output_shape = {out, side, side};
    rows.push_back(row);
  }
  ResSnnStageSummary head;
  head.name = "head";
  std::ostringstream layout;
  layout << "LIF, avg-pool, mean over T, dropout " << o.dropout() << ", fc " << in << "->" << o.num_classes();
  head.layout = layout.str();
  head.output_shape = {o.num_classes()};
  head.params = in * o.num_classes() + o.num_classes() + lif_params;
  head.macs = in * o.num_classes();
  rows.push_back(head);
  return rows;
}

int64_t res_snn_parameter_count(const ResSnnOptions& options) {
  int64_t n = 0;
  for (const auto& row : summarize_res_snn(options, 1)) n += row.params;
  return n;
}

}  // namespace masnn
