// Operation and parameter counting (masnn/analysis/operation_count.h) against hand-computed numbers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>

#include "masnn/analysis/operation_count.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/registry.h"
#include "masnn/models/res_snn.h"

namespace masnn {
namespace {

// 2x8x8 input -> conv 4 (pool 1) -> conv 6 (pool 2) -> fc 5 -> fc 3, T = 4, ratios 2.
DvsNet tiny_net(const std::string& attention, AttentionPlacement placement = AttentionPlacement::ConvPost,
                bool per_step = false) {
  LayerAttention a;
  a.type = AttentionType::parse(attention);
  a.placement = placement;
  a.t_ratio = 2;
  a.c_ratio = 2;
  a.kernel_size = 3;
  a.per_step = per_step;
  return DvsNet(DvsNetOptions()
                    .in_channels(2)
                    .input_size(8)
                    .channels({4, 6})
                    .pools({1, 2})
                    .hidden({5})
                    .num_classes(3)
                    .steps(4)
                    .attention(a));
}

// The operation count of a tiny net from one forward of zeros [T,1,2,8,8].
std::vector<analysis::LayerOperations> count(const DvsNet& net, int64_t steps = 4) {
  return analysis::count_operations(torch::nn::AnyModule(net), torch::zeros({steps, 1, 2, 8, 8}));
}

std::vector<analysis::BlockSummary> blocks_of(const DvsNet& net) {
  return analysis::summarize_model(torch::nn::AnyModule(net), torch::zeros({4, 1, 2, 8, 8})).blocks;
}

std::map<std::string, int64_t> macs_by_name(const std::vector<analysis::LayerOperations>& layers) {
  std::map<std::string, int64_t> m;
  for (const auto& l : layers) m[l.name] = l.macs;
  return m;
}

TEST(OperationCount, PlainNetworkMatchesHandCount) {
  auto net = tiny_net("none");
  const auto layers = count(net);
  ASSERT_EQ(layers.size(), 4u);
  const auto m = macs_by_name(layers);
  EXPECT_EQ(m.at("convs.0.conv"), 4 * 2 * 9 * (8 * 8) * 4);  // Cout*Cin*k*k*Hout*Wout*T
  EXPECT_EQ(m.at("convs.1.conv"), 6 * 4 * 9 * (8 * 8) * 4);  // pooled after the conv, so 8x8 here
  EXPECT_EQ(m.at("fcs.0.linear"), (6 * 4 * 4) * 5 * 4);      // in*out*T
  EXPECT_EQ(m.at("fcs.1.linear"), 5 * 3 * 4);
  EXPECT_EQ(analysis::total_macs(layers), 18432 + 55296 + 1920 + 60);
  EXPECT_EQ(layers[1].input_shape, (std::vector<int64_t>{4, 8, 8}));
  EXPECT_EQ(layers[1].output_shape, (std::vector<int64_t>{6, 8, 8}));
  EXPECT_EQ(layers[2].input_shape, (std::vector<int64_t>{96}));
  EXPECT_EQ(layers[0].params, 4 * 2 * 9 + 4);
}

TEST(OperationCount, ConvPostAttentionMatchesHandCount) {
  auto net = tiny_net("TCSA");
  const auto layers = count(net);
  const auto m = macs_by_name(layers);
  // TA: MLP 4 -> 2 -> 4 on avg and max: 2 * 4*2 per layer of the MLP.
  EXPECT_EQ(m.at("convs.0.attention.ta.mlp.fc1"), 2 * 4 * 2);
  EXPECT_EQ(m.at("convs.0.attention.ta.mlp.fc2"), 2 * 2 * 4);
  // CA pooled over T: MLP C -> C/2 -> C on avg and max, once per sample.
  EXPECT_EQ(m.at("convs.0.attention.ca.mlp.fc1"), 2 * 4 * 2);
  EXPECT_EQ(m.at("convs.1.attention.ca.mlp.fc2"), 2 * 3 * 6);
  // SA: 2 -> 1 conv 3x3 on the pooled map, once per sample.
  EXPECT_EQ(m.at("convs.0.attention.sa.conv"), 2 * 9 * 8 * 8);
  EXPECT_EQ(m.at("convs.1.attention.sa.conv"), 2 * 9 * 4 * 4);
  EXPECT_EQ(m.at("fcs.0.attention.ta.mlp.fc1"), 2 * 4 * 2);
  EXPECT_EQ(m.at("fcs.1.attention.ta.mlp.fc2"), 2 * 2 * 4);
  const int64_t ta = 16 + 16, plain = 18432 + 55296 + 1920 + 60;
  const int64_t expected = plain + 4 * ta + (16 + 16 + 1152) + (36 + 36 + 288);
  EXPECT_EQ(analysis::total_macs(layers), expected);
  // Every row names a module of the network.
  const auto modules = net->named_modules();
  for (const auto& l : layers) EXPECT_TRUE(modules.contains(l.name)) << l.name;
}

TEST(OperationCount, ActivatePreAndPerStepCountEveryStep) {
  auto pre = tiny_net("TCSA", AttentionPlacement::ActivatePre);
  auto m = macs_by_name(count(pre));
  EXPECT_EQ(m.at("convs.0.attention.ta.mlp.fc1"), 2 * 4 * 2);  // TA stays at conv-post
  EXPECT_EQ(m.at("convs.0.lif.ca.mlp.fc1"), 2 * 4 * 2 * 4);    // inside the neuron: every step
  EXPECT_EQ(m.at("convs.0.lif.sa.conv"), 2 * 9 * 8 * 8 * 4);
  EXPECT_EQ(m.count("convs.0.attention.ca.mlp.fc1"), 0u);

  auto per_step = tiny_net("CSA", AttentionPlacement::ConvPost, true);
  m = macs_by_name(count(per_step));
  EXPECT_EQ(m.at("convs.1.attention.ca.mlp.fc1"), 2 * 6 * 3 * 4);
  EXPECT_EQ(m.at("convs.1.attention.sa.conv"), 2 * 9 * 4 * 4 * 4);
  EXPECT_EQ(m.count("fcs.0.attention.ta.mlp.fc1"), 0u);
}

TEST(OperationCount, BlockParametersSumToTheNetworkAndShapesFollowTheForward) {
  for (const std::string attention : {"none", "TCSA"}) {
    for (auto placement : {AttentionPlacement::ConvPost, AttentionPlacement::ActivatePre}) {
      auto net = tiny_net(attention, placement);
      net->train();
      const auto blocks = blocks_of(net);
      ASSERT_EQ(blocks.size(), 4u);
      int64_t params = 0, macs = 0;
      for (const auto& b : blocks) {
        params += b.params;
        macs += b.macs;
      }
      EXPECT_EQ(params, count_parameters(*net)) << attention;
      EXPECT_EQ(macs, analysis::total_macs(count(net)));
      EXPECT_EQ(blocks[0].output_shape, (std::vector<int64_t>{4, 1, 4, 8, 8}));
      EXPECT_EQ(blocks[1].output_shape, (std::vector<int64_t>{4, 1, 6, 4, 4}));
      EXPECT_EQ(blocks[2].output_shape, (std::vector<int64_t>{4, 1, 5}));
      EXPECT_EQ(blocks[3].output_shape, (std::vector<int64_t>{4, 1, 3}));
      EXPECT_TRUE(net->is_training());  // the training flag is restored
    }
  }
  // conv 2->4 (72+4) + BN (8) + TA (8+8) + CA (8+8) + SA (18): the first block by hand.
  auto net = tiny_net("TCSA");
  EXPECT_EQ(blocks_of(net)[0].params, 76 + 8 + 16 + 16 + 18);
}

TEST(OperationCount, RegistryGestureNetworkByHand) {
  ModelSpec spec;
  spec.name = "dvs-gesture";
  spec.steps = 1;
  const auto model = build_model(spec);
  const int64_t expected =
      64 * 2 * 9 * 32 * 32 + 128 * 64 * 9 * 32 * 32 + 128 * 128 * 9 * 16 * 16 + (128 * 8 * 8) * 256 + 256 * 11;
  EXPECT_EQ(analysis::total_macs(analysis::count_operations(model, example_input(spec))), expected);
}

TEST(OperationCount, ResSnnLayersMatchItsStageTable) {
  // The counter sees the Res-SNN's own layers (stem once on a static image, blocks x T, the head once) and
  // agrees with the stage table computed from the options alone.
  for (const int64_t steps : {1, 3}) {
    ModelSpec spec = default_model_spec("res-snn-mini");
    spec.steps = steps;
    spec.attention = AttentionType::parse("TCSA");
    torch::manual_seed(0);
    const auto model = build_model(spec);
    const auto summary = analysis::summarize_model(model, example_input(spec));
    const auto& m = summary.layers;
    int64_t table = 0;
    for (const auto& row : summarize_res_snn(res_snn_options(spec), spec.input_size)) table += row.macs;
    EXPECT_EQ(analysis::total_macs(m), table) << "T " << steps;
    const auto by = macs_by_name(m);
    EXPECT_EQ(by.at("stem_conv"), 16 * 1 * 9 * 28 * 28);  // once: every step sees the same image
    EXPECT_EQ(by.at("stages.0.0.conv1"), 16 * 16 * 9 * 28 * 28 * steps);
    EXPECT_EQ(by.at("stages.1.0.shortcut_conv"), 32 * 16 * 14 * 14 * steps);
    EXPECT_EQ(by.at("fc"), 64 * 10);
    EXPECT_EQ(by.count("stages.2.0.attention.ta.mlp.fc1"), 1u);
    // Blocks: the stem, one per residual block, the head; their MACs add up to the layers'.
    std::vector<std::string> names;
    int64_t block_macs = 0;
    for (const auto& b : summary.blocks) {
      names.push_back(b.name);
      block_macs += b.macs;
    }
    EXPECT_EQ(names, (std::vector<std::string>{"stem_conv", "stages.0.0", "stages.1.0", "stages.2.0", "fc"}));
    EXPECT_EQ(summary.blocks[1].kind, "ResSnnBlock");
    EXPECT_EQ(summary.blocks[3].output_shape, (std::vector<int64_t>{steps, 1, 64, 7, 7}));
    EXPECT_EQ(block_macs, analysis::total_macs(m));
  }
}

TEST(OperationCount, BadArgumentsThrow) {
  auto net = tiny_net("TA");
  EXPECT_ANY_THROW(count(net, 5));             // TA built for T = 4
  EXPECT_NO_THROW(count(tiny_net("CSA"), 7));  // no TA: any T
  EXPECT_THROW(analysis::count_operations(torch::nn::AnyModule(), torch::zeros({1})), std::invalid_argument);
}

TEST(OperationCount, HumanReadableText) {
  EXPECT_EQ(analysis::shape_string({16, 1, 64, 32, 32}), "[16,1,64,32,32]");
  EXPECT_EQ(analysis::human_count(999), "999");
  EXPECT_EQ(analysis::human_count(1234567), "1.23 M");
  EXPECT_EQ(analysis::human_count(2.5e9), "2.5 G");
}

}  // namespace
}  // namespace masnn
