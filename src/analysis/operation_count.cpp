#include "masnn/analysis/operation_count.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

#include "compat/torch_variant.h"

namespace masnn::analysis {
namespace {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

int64_t own_params(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters(/*recurse=*/false)) n += p.numel();
  return n;
}

// Output side of one spatial dimension of a convolution.
int64_t conv_side(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return (in + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
}

// [Cin,H,W] -> [Cout,Hout,Wout] for a Conv2d with its own options.
Shape conv_output(const torch::nn::Conv2dImpl& conv, const Shape& in) {
  const auto& o = conv.options;
  Shape out{o.out_channels(), 0, 0};
  for (size_t d = 0; d < 2; ++d) {
    const int64_t side = in[1 + d];
    if (compat::get_if<torch::enumtype::kSame>(&o.padding())) {
      out[1 + d] = side;
    } else {
      int64_t pad = 0;
      if (const auto* p = compat::get_if<torch::ExpandingArray<2>>(&o.padding())) pad = (*p)->at(d);
      out[1 + d] = conv_side(side, o.kernel_size()->at(d), o.stride()->at(d), pad, o.dilation()->at(d));
    }
  }
  return out;
}

class Counter {
 public:
  explicit Counter(int64_t steps) : steps_(steps) {}

  void conv(const std::string& block, const std::string& name, const torch::nn::Conv2dImpl& conv, const Shape& in,
            int64_t applications, const std::string& kind) {
    const Shape out = conv_output(conv, in);
    // weight [Cout, Cin/groups, kh, kw]: each output element takes Cin/groups*kh*kw MACs.
    const int64_t per_output = conv.weight.numel() / conv.options.out_channels();
    rows_.push_back(
        {name, block, kind, in, out, applications, own_params(conv), per_output * numel_of(out) * applications});
  }

  void linear(const std::string& block, const std::string& name, const torch::nn::LinearImpl& linear,
              int64_t applications, const std::string& kind) {
    const int64_t in = linear.options.in_features(), out = linear.options.out_features();
    rows_.push_back({name, block, kind, {in}, {out}, applications, own_params(linear), in * out * applications});
  }

  void mlp(const std::string& block, const std::string& prefix, const SharedMLPImpl& mlp, int64_t applications) {
    linear(block, prefix + ".fc1", *mlp.fc1, applications, "attention-mlp");
    linear(block, prefix + ".fc2", *mlp.fc2, applications, "attention-mlp");
  }

  void temporal(const std::string& block, const std::string& prefix, const TemporalAttentionImpl& ta) {
    if (ta.options.steps() != steps_)
      throw std::invalid_argument(fmt::format(
          "steps: the temporal attention of {} is built for T = {}, got T = {}; build the network with this T", block,
          ta.options.steps(), steps_));
    mlp(block, prefix + ".mlp", *ta.mlp, 2);  // avg and max descriptors, once per sample
  }

  void channel(const std::string& block, const std::string& prefix, const ChannelAttentionImpl& ca, bool per_step) {
    mlp(block, prefix + ".mlp", *ca.mlp, per_step ? 2 * steps_ : 2);
  }

  void spatial(const std::string& block, const std::string& prefix, const SpatialAttentionImpl& sa, const Shape& x,
               bool per_step) {
    conv(block, prefix + ".conv", *sa.conv, {2, x[1], x[2]}, per_step ? steps_ : 1, "attention-conv");
  }

  std::vector<LayerOperations> take() { return std::move(rows_); }

 private:
  int64_t steps_;
  std::vector<LayerOperations> rows_;
};

// Restores a module's training flag when it goes out of scope.
class TrainingFlagGuard {
 public:
  explicit TrainingFlagGuard(torch::nn::Module& module) : module_(module), training_(module.is_training()) {}
  ~TrainingFlagGuard() { module_.train(training_); }
  TrainingFlagGuard(const TrainingFlagGuard&) = delete;
  TrainingFlagGuard& operator=(const TrainingFlagGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool training_;
};

}  // namespace

std::vector<LayerOperations> count_operations(const DvsNetImpl& net, int64_t steps) {
  if (steps < 1) throw std::invalid_argument(fmt::format("steps: T must be >= 1, got {}", steps));
  Counter counter(steps);
  const int64_t side = net.options.input_size();
  Shape x{net.options.in_channels(), side, side};  // per sample, per step
  for (size_t i = 0; i < net.convs->size(); ++i) {
    const auto& b = net.convs->at<SpikingConvBlockImpl>(i);
    const std::string block = fmt::format("convs.{}", i);
    counter.conv(block, block + ".conv", *b.conv, x, steps, "conv2d");
    x = conv_output(*b.conv, x);
    if (b.pool > 1) x = {x[0], x[1] / b.pool, x[2] / b.pool};  // avg_pool2d(kernel = stride = pool)
    if (!b.attention.is_empty()) {
      const auto& a = *b.attention;
      const bool per_step = a.options.per_step();
      if (!a.ta.is_empty()) counter.temporal(block, block + ".attention.ta", *a.ta);
      if (!a.ca.is_empty()) counter.channel(block, block + ".attention.ca", *a.ca, per_step);
      if (!a.sa.is_empty()) counter.spatial(block, block + ".attention.sa", *a.sa, x, per_step);
    }
    if (!b.attentive_lif.is_empty()) {  // activate-pre: CA and SA at every step inside the neuron
      const auto& n = *b.attentive_lif;
      if (!n.ca.is_empty()) counter.channel(block, block + ".lif.ca", *n.ca, true);
      if (!n.sa.is_empty()) counter.spatial(block, block + ".lif.sa", *n.sa, x, true);
    }
  }
  for (size_t i = 0; i < net.fcs->size(); ++i) {
    const auto& b = net.fcs->at<SpikingLinearBlockImpl>(i);
    const std::string block = fmt::format("fcs.{}", i);
    counter.linear(block, block + ".linear", *b.linear, steps, "linear");
    if (!b.attention.is_empty() && !b.attention->ta.is_empty())
      counter.temporal(block, block + ".attention.ta", *b.attention->ta);
  }
  return counter.take();
}

DvsNetImpl& as_dvs_net(const torch::nn::AnyModule& model) {
  if (model.is_empty()) throw std::invalid_argument("model: expected a DvsNet, got an empty module");
  auto* net = dynamic_cast<DvsNetImpl*>(model.ptr().get());
  if (net == nullptr)
    throw std::invalid_argument("model: expected a DvsNet (from build_model), got " + model.ptr()->name());
  return *net;
}

std::vector<LayerOperations> count_operations(const torch::nn::AnyModule& model, int64_t steps) {
  return count_operations(as_dvs_net(model), steps);
}

int64_t total_macs(const std::vector<LayerOperations>& layers) {
  int64_t n = 0;
  for (const auto& l : layers) n += l.macs;
  return n;
}

std::vector<BlockSummary> summarize_blocks(DvsNetImpl& net, int64_t steps) {
  const auto layers = count_operations(net, steps);  // also checks steps
  auto macs_of = [&](const std::string& block) {
    int64_t n = 0;
    for (const auto& l : layers)
      if (l.block == block) n += l.macs;
    return n;
  };
  std::vector<BlockSummary> blocks;
  torch::NoGradGuard no_grad;
  TrainingFlagGuard restore(net);
  net.eval();
  const int64_t side = net.options.input_size();
  torch::Tensor y = torch::zeros({steps, 1, net.options.in_channels(), side, side});
  for (size_t i = 0; i < net.convs->size(); ++i) {
    auto& b = net.convs->at<SpikingConvBlockImpl>(i);
    y = b.forward(y);
    const std::string name = fmt::format("convs.{}", i);
    blocks.push_back({name, "SpikingConvBlock", y.sizes().vec(), count_parameters(b), macs_of(name)});
  }
  y = y.flatten(2);  // [T,B,C*H*W], as DvsNet's forward does
  for (size_t i = 0; i < net.fcs->size(); ++i) {
    auto& b = net.fcs->at<SpikingLinearBlockImpl>(i);
    y = b.forward(y);
    const std::string name = fmt::format("fcs.{}", i);
    blocks.push_back({name, "SpikingLinearBlock", y.sizes().vec(), count_parameters(b), macs_of(name)});
  }
  return blocks;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ","));
}

std::string human_count(double count) {
  static const char* const suffixes[] = {"", " k", " M", " G", " T"};
  int i = 0;
  while (std::abs(count) >= 1000 && i < 4) {
    count /= 1000;
    ++i;
  }
  return i == 0 ? fmt::format("{:.0f}", count) : fmt::format("{:.3g}{}", count, suffixes[i]);
}

}  // namespace masnn::analysis
