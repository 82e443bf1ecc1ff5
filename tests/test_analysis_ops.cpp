// Operation and parameter counting (masnn/analysis/operation_count.h) against hand-computed numbers.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>

#include "masnn/analysis/operation_count.h"
#include "masnn/models/registry.h"

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

std::map<std::string, int64_t> macs_by_name(const std::vector<analysis::LayerOperations>& layers) {
  std::map<std::string, int64_t> m;
  for (const auto& l : layers) m[l.name] = l.macs;
  return m;
}

TEST(OperationCount, PlainNetworkMatchesHandCount) {
  auto net = tiny_net("none");
  const auto layers = analysis::count_operations(*net, 4);
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
  const auto layers = analysis::count_operations(*net, 4);
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
  auto m = macs_by_name(analysis::count_operations(*pre, 4));
  EXPECT_EQ(m.at("convs.0.attention.ta.mlp.fc1"), 2 * 4 * 2);  // TA stays at conv-post
  EXPECT_EQ(m.at("convs.0.lif.ca.mlp.fc1"), 2 * 4 * 2 * 4);    // inside the neuron: every step
  EXPECT_EQ(m.at("convs.0.lif.sa.conv"), 2 * 9 * 8 * 8 * 4);
  EXPECT_EQ(m.count("convs.0.attention.ca.mlp.fc1"), 0u);

  auto per_step = tiny_net("CSA", AttentionPlacement::ConvPost, true);
  m = macs_by_name(analysis::count_operations(*per_step, 4));
  EXPECT_EQ(m.at("convs.1.attention.ca.mlp.fc1"), 2 * 6 * 3 * 4);
  EXPECT_EQ(m.at("convs.1.attention.sa.conv"), 2 * 9 * 4 * 4 * 4);
  EXPECT_EQ(m.count("fcs.0.attention.ta.mlp.fc1"), 0u);
}

TEST(OperationCount, BlockParametersSumToTheNetworkAndShapesFollowTheForward) {
  for (const std::string attention : {"none", "TCSA"}) {
    for (auto placement : {AttentionPlacement::ConvPost, AttentionPlacement::ActivatePre}) {
      auto net = tiny_net(attention, placement);
      net->train();
      const auto blocks = analysis::summarize_blocks(*net, 4);
      ASSERT_EQ(blocks.size(), 4u);
      int64_t params = 0, macs = 0;
      for (const auto& b : blocks) {
        params += b.params;
        macs += b.macs;
      }
      EXPECT_EQ(params, count_parameters(*net)) << attention;
      EXPECT_EQ(macs, analysis::total_macs(analysis::count_operations(*net, 4)));
      EXPECT_EQ(blocks[0].output_shape, (std::vector<int64_t>{4, 1, 4, 8, 8}));
      EXPECT_EQ(blocks[1].output_shape, (std::vector<int64_t>{4, 1, 6, 4, 4}));
      EXPECT_EQ(blocks[2].output_shape, (std::vector<int64_t>{4, 1, 5}));
      EXPECT_EQ(blocks[3].output_shape, (std::vector<int64_t>{4, 1, 3}));
      EXPECT_TRUE(net->is_training());  // the training flag is restored
    }
  }
  // conv 2->4 (72+4) + BN (8) + TA (8+8) + CA (8+8) + SA (18): the first block by hand.
  auto net = tiny_net("TCSA");
  EXPECT_EQ(analysis::summarize_blocks(*net, 4)[0].params, 76 + 8 + 16 + 16 + 18);
}

TEST(OperationCount, RegistryGestureNetworkByHand) {
  ModelSpec spec;
  spec.name = "dvs-gesture";
  spec.steps = 1;
  const auto model = build_model(spec);
  const int64_t expected =
      64 * 2 * 9 * 32 * 32 + 128 * 64 * 9 * 32 * 32 + 128 * 128 * 9 * 16 * 16 + (128 * 8 * 8) * 256 + 256 * 11;
  EXPECT_EQ(analysis::total_macs(analysis::count_operations(model, 1)), expected);
}

TEST(OperationCount, BadArgumentsThrow) {
  auto net = tiny_net("TA");
  EXPECT_THROW(analysis::count_operations(*net, 5), std::invalid_argument);  // TA built for T = 4
  EXPECT_THROW(analysis::count_operations(*net, 0), std::invalid_argument);
  EXPECT_NO_THROW(analysis::count_operations(*tiny_net("CSA"), 7));  // no TA: any T
  EXPECT_THROW(analysis::as_dvs_net(torch::nn::AnyModule(torch::nn::Linear(2, 2))), std::invalid_argument);
}

TEST(OperationCount, HumanReadableText) {
  EXPECT_EQ(analysis::shape_string({16, 1, 64, 32, 32}), "[16,1,64,32,32]");
  EXPECT_EQ(analysis::human_count(999), "999");
  EXPECT_EQ(analysis::human_count(1234567), "1.23 M");
  EXPECT_EQ(analysis::human_count(2.5e9), "2.5 G");
}

}  // namespace
}  // namespace masnn
