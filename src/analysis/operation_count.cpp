#include "masnn/analysis/operation_count.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compat/torch_variant.h"
#include "masnn/attention/attentive_lif.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/models/registry.h"

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

// The MAC row of one application pattern of a conv over per-sample input `in` [C,H,W].
LayerOperations conv_row(const std::string& name, const std::string& kind, const torch::nn::Conv2dImpl& conv,
                         const Shape& in, int64_t applications) {
  const Shape out = conv_output(conv, in);
  // weight [Cout, Cin/groups, kh, kw]: each output element takes Cin/groups*kh*kw MACs.
  const int64_t per_output = conv.weight.numel() / conv.options.out_channels();
  return {
      name, block_of(name), kind, in, out, applications, own_params(conv), per_output * numel_of(out) * applications};
}

LayerOperations linear_row(const std::string& name, const std::string& kind, const torch::nn::LinearImpl& linear,
                           int64_t applications) {
  const int64_t in = linear.options.in_features(), out = linear.options.out_features();
  return {name, block_of(name), kind, {in}, {out}, applications, own_params(linear), in * out * applications};
}

// The two layers of a shared MLP (TA, CA), named under `prefix`; their block is the attention module's.
void add_mlp(std::vector<LayerOperations>& rows, const std::string& prefix, const std::string& block,
             const SharedMLPImpl& mlp, int64_t applications) {
  for (auto* fc : {mlp.fc1.get(), mlp.fc2.get()}) {
    rows.push_back(linear_row(prefix + (fc == mlp.fc1.get() ? ".fc1" : ".fc2"), "attention-mlp", *fc, applications));
    rows.back().block = block;
  }
}

void add_spatial(std::vector<LayerOperations>& rows, const std::string& prefix, const std::string& block,
                 const SpatialAttentionImpl& sa, const Shape& x, int64_t applications) {
  rows.push_back(conv_row(prefix + ".conv", "attention-conv", *sa.conv, {2, x[1], x[2]}, applications));
  rows.back().block = block;
}

bool has_row(const std::vector<LayerOperations>& rows, const std::string& name) {
  return std::any_of(rows.begin(), rows.end(), [&](const LayerOperations& r) { return r.name == name; });
}

}  // namespace

std::string block_of(const std::string& layer) {
  const auto dot = layer.rfind('.');
  return dot == std::string::npos ? layer : layer.substr(0, dot);
}

void OperationCounter::on_synapse(const std::string& name, const SynapseEvent& event) {
  if (has_row(layers_, name)) return;
  const torch::Tensor& in = event.input;
  const int64_t lead = event.time_major ? 2 : 1;  // [T,B,...] or [B,...]
  const Shape shape(in.sizes().begin() + lead, in.sizes().end());
  const int64_t applications = event.time_major ? in.size(0) : 1;
  if (const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(event.layer)) {
    TORCH_CHECK(shape.size() == 3, "operation count: ", name, " read ", in.sizes(), ", expected [..,C,H,W]");
    layers_.push_back(conv_row(name, "conv2d", *conv, shape, applications));
  } else if (const auto* linear = dynamic_cast<const torch::nn::LinearImpl*>(event.layer)) {
    layers_.push_back(linear_row(name, "linear", *linear, applications));
  } else {
    throw std::invalid_argument("operation count: synaptic layer " + name + " is neither a Conv2d nor a Linear");
  }
}

void OperationCounter::on_attention(const std::string& name, const AttentionEvent& event) {
  const std::string block = block_of(name);
  const int64_t steps = event.before.size(0);
  const Shape x(event.before.sizes().begin() + 2, event.before.sizes().end());  // per step and sample
  if (const auto* a = dynamic_cast<const MultiDimAttentionImpl*>(event.module)) {
    if (has_row(layers_, name + (a->ta ? ".ta.mlp.fc1" : a->ca ? ".ca.mlp.fc1" : ".sa.conv"))) return;
    const bool per_step = a->options.per_step();
    if (a->ta) add_mlp(layers_, name + ".ta.mlp", block, *a->ta->mlp, 2);  // avg and max, once per sample
    if (a->ca) add_mlp(layers_, name + ".ca.mlp", block, *a->ca->mlp, per_step ? 2 * steps : 2);
    if (a->sa) add_spatial(layers_, name + ".sa", block, *a->sa, x, per_step ? steps : 1);
  } else if (const auto* n = dynamic_cast<const AttentiveLIFImpl*>(event.module)) {
    // activate-pre: CA and SA at every step inside the neuron
    if (has_row(layers_, name + (n->ca ? ".ca.mlp.fc1" : ".sa.conv"))) return;
    if (n->ca) add_mlp(layers_, name + ".ca.mlp", block, *n->ca->mlp, 2 * steps);
    if (n->sa) add_spatial(layers_, name + ".sa", block, *n->sa, x, steps);
  }
}

void OperationCounter::on_block(const std::string& name, const torch::nn::Module& block, const torch::Tensor& output) {
  for (const auto& b : blocks_)
    if (b.name == name) return;
  std::string kind = block.name();  // e.g. masnn::SpikingConvBlockImpl, torch::nn::Conv2dImpl
  if (const auto colon = kind.rfind(':'); colon != std::string::npos) kind = kind.substr(colon + 1);
  if (kind.size() > 4 && kind.compare(kind.size() - 4, 4, "Impl") == 0) kind.resize(kind.size() - 4);
  blocks_.push_back({name, kind, output.sizes().vec(), count_parameters(block), 0});
}

std::vector<BlockSummary> OperationCounter::blocks() const {
  std::vector<BlockSummary> out = blocks_;
  for (auto& b : out)
    for (const auto& l : layers_)
      if (l.block == b.name) b.macs += l.macs;
  return out;
}

ModelSummary summarize_model(const torch::nn::AnyModule& model, const torch::Tensor& input) {
  if (model.is_empty()) throw std::invalid_argument("operation count: the model is empty");
  OperationCounter counter(*model.ptr());
  observe_forward(model, input, counter);
  return {counter.layers(), counter.blocks()};
}

std::vector<LayerOperations> count_operations(const torch::nn::AnyModule& model, const torch::Tensor& input) {
  return summarize_model(model, input).layers;
}

int64_t total_macs(const std::vector<LayerOperations>& layers) {
  int64_t n = 0;
  for (const auto& l : layers) n += l.macs;
  return n;
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
