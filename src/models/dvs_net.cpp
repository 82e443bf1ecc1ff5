#include "masnn/models/dvs_net.h"

#include <torch/torch.h>

#include <utility>

namespace masnn {

DvsNetOptions DvsNetOptions::gesture(int64_t steps, AttentionType attention) {
  LayerAttention a;
  a.type = attention;
  a.t_ratio = 5;
  a.c_ratio = 8;
  return DvsNetOptions().steps(steps).attention(a);
}

DvsNetOptions DvsNetOptions::gait(int64_t steps, AttentionType attention) {
  LayerAttention a;
  a.type = attention;
  a.t_ratio = 2;
  a.c_ratio = 8;
  return DvsNetOptions()
      .input_size(128)
      .channels({32, 64, 128, 256, 512})
      .pools({2, 2, 2, 2, 4})
      .num_classes(21)
      .steps(steps)
      .attention(a);
}

DvsNetImpl::DvsNetImpl(const DvsNetOptions& options_) : options(options_) {
  reset();
}

void DvsNetImpl::reset() {
  const auto& ch = options.channels();
  const auto& pools = options.pools();
  TORCH_CHECK(!ch.empty() && ch.size() == pools.size(), "dvs net: channels and pools must be non-empty lists of ",
              "the same length, got ", ch.size(), " and ", pools.size());
  options.lif().validate();
  convs = register_module("convs", torch::nn::ModuleList());
  fcs = register_module("fcs", torch::nn::ModuleList());
  int64_t in = options.in_channels(), side = options.input_size();
  for (size_t i = 0; i < ch.size(); ++i) {
    TORCH_CHECK(pools[i] >= 1 && side % pools[i] == 0, "dvs net: input side ", side, " at conv layer ", i,
                " is not divisible by its pool ", pools[i]);
    convs->push_back(SpikingConvBlock(SpikingConvBlockOptions(in, ch[i])
                                          .pool(pools[i])
                                          .steps(options.steps())
                                          .attention(options.attention())
                                          .lif(options.lif())
                                          .spike_input(i > 0)));  // the first block sees event frames (counts)
    in = ch[i];
    side /= pools[i];
  }
  int64_t features = in * side * side;
  std::vector<int64_t> sizes = options.hidden();
  sizes.push_back(options.num_classes());
  for (int64_t out : sizes) {
    fcs->push_back(SpikingLinearBlock(SpikingLinearBlockOptions(features, out)
                                          .steps(options.steps())
                                          .attention(options.attention())
                                          .lif(options.lif())
                                          .spike_input(true)));
    features = out;
  }
}

void DvsNetImpl::pretty_print(std::ostream& stream) const {
  stream << "masnn::DvsNet(T=" << options.steps() << ", attention=" << options.attention().type.name() << ", "
         << to_string(options.attention().placement) << ", classes=" << options.num_classes() << ")";
}

torch::Tensor DvsNetImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 5 && x.size(2) == options.in_channels() && x.size(3) == options.input_size() &&
                  x.size(4) == options.input_size(),
              "dvs net: input must be [T,B,", options.in_channels(), ",", options.input_size(), ",",
              options.input_size(), "], got ", x.sizes());
  torch::Tensor y = x;
  for (const auto& block : *convs) y = block->as<SpikingConvBlock>()->forward(std::move(y));  // frees y early
  y = y.flatten(2);  // [T,B,C*H*W], channel-major like the reference's reshape
  for (const auto& block : *fcs) y = block->as<SpikingLinearBlock>()->forward(y);
  return y.mean(0);
}

void DvsNetStepState::reset(int64_t row) {
  for (auto& s : convs) s.reset(row);
  for (auto& s : fcs) s.reset(row);
}

torch::Tensor DvsNetImpl::forward_step(const torch::Tensor& x_t, DvsNetStepState& state) {
  TORCH_CHECK(x_t.dim() == 4 && x_t.size(1) == options.in_channels() && x_t.size(2) == options.input_size() &&
                  x_t.size(3) == options.input_size(),
              "dvs net: a step must be [B,", options.in_channels(), ",", options.input_size(), ",",
              options.input_size(), "], got ", x_t.sizes());
  state.convs.resize(convs->size());
  state.fcs.resize(fcs->size());
  torch::Tensor y = x_t;
  for (size_t i = 0; i < convs->size(); ++i) y = convs[i]->as<SpikingConvBlock>()->forward_step(y, state.convs[i]);
  y = y.flatten(1);  // [B,C*H*W], the order of forward's flatten(2)
  for (size_t i = 0; i < fcs->size(); ++i) y = fcs[i]->as<SpikingLinearBlock>()->forward_step(y, state.fcs[i]);
  return y;
}

}  // namespace masnn
