// Attention-guided pruning (src/serve/pruning): nothing pruned = the plain forward bit for bit; dropped steps and
// channels are really skipped downstream, and skipping gives the same outputs as only zeroing them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "masnn/models/dvs_net.h"
#include "masnn/serve/pruning.h"
#include "serve_test_support.h"
#include "test_support.h"

using namespace masnn;
using masnn::testing::expect_error;

namespace {

DvsNet pruning_net(const std::string& attention, torch::ScalarType dtype = torch::kFloat32) {
  return masnn::testing::small_spiking_net(attention, 8, 7, dtype);
}

torch::Tensor frames(int64_t batch, torch::ScalarType dtype = torch::kFloat32) {
  torch::manual_seed(8);
  return ((torch::rand({8, batch, 2, 16, 16}) < 0.3).to(dtype) * torch::randint(1, 4, {8, batch, 2, 16, 16})).to(dtype);
}

}  // namespace

TEST(Pruning, ThresholdZeroOrKeepingEverythingEqualsNoPruningBitForBit) {
  for (const char* attention : {"none", "CA", "TCA", "TCSA"}) {
    SCOPED_TRACE(attention);
    DvsNet net = pruning_net(attention);
    const torch::Tensor x = frames(3);
    torch::NoGradGuard ng;
    const torch::Tensor plain = net->forward(x);
    EXPECT_GT(plain.sum().item<double>(), 0.0);
    serve::PruneOptions none;
    serve::PruneOptions zero_threshold;
    zero_threshold.ta_threshold = 0;
    zero_threshold.ca_threshold = 0;
    zero_threshold.ta_topk = 0;
    for (const auto& o : {none, zero_threshold}) {
      serve::PruneStats st;
      EXPECT_TRUE(torch::equal(serve::pruned_forward(*net, x, o, &st), plain)) << o.describe();
      EXPECT_EQ(st.steps_dropped, 0);
      EXPECT_EQ(st.skipped_fraction(), 0.0);
    }
    // The module form (what `masnn prune` evaluates).
    serve::PrunedDvsNet module(net, none);
    EXPECT_TRUE(torch::equal(module->forward(x), plain));
    EXPECT_EQ(module->stats.samples, 3);
    ASSERT_EQ(module->stats.layers.size(), 4u);
    EXPECT_EQ(module->stats.layers[0].name, "convs.0.conv");
    EXPECT_EQ(module->stats.layers[0].dense_macs, 8.0 * 3 * 8 * 2 * 9 * 16 * 16);
  }
}

TEST(Pruning, SettingsThatKeepEverythingGiveTheSameOutputs) {
  // A top-k of T, a keep fraction of 1 or a tiny threshold prune nothing; the samples then run one by one
  // (float64, so the smaller convolution batches give the same values).
  DvsNet net = pruning_net("TCSA", torch::kFloat64);
  const torch::Tensor x = frames(3, torch::kFloat64);
  torch::NoGradGuard ng;
  const torch::Tensor plain = net->forward(x);
  for (const char* setting : {"ta-topk=8", "ta-keep=1,ca-keep=1", "ta-threshold=1e-9,ca-threshold=1e-9"}) {
    serve::PruneStats st;
    EXPECT_TRUE(torch::equal(serve::pruned_forward(*net, x, serve::PruneOptions::parse(setting), &st), plain))
        << setting;
    EXPECT_EQ(st.steps_dropped + st.channels_dropped, 0);
    EXPECT_EQ(st.samples, 3);
    EXPECT_EQ(st.skipped_fraction(), 0.0);
  }
}

TEST(Pruning, DroppedStepsAreSkippedDownstreamWithTheSameOutputsAsZeroingThem) {
  DvsNet net = pruning_net("TCSA", torch::kFloat64);  // float64: skipping changes batch sizes, not the values
  const torch::Tensor x = frames(1, torch::kFloat64);
  serve::PruneOptions o;
  o.ta_topk = 4;  // half of T = 8
  serve::PruneStats skipped, zeroed;
  const torch::Tensor a = serve::pruned_forward(*net, x, o, &skipped);
  o.skip = false;
  const torch::Tensor b = serve::pruned_forward(*net, x, o, &zeroed);
  EXPECT_TRUE(torch::allclose(a, b, 1e-12, 1e-12));
  EXPECT_EQ(skipped.spikes_in_dropped, 0);  // dropped steps do not fire: the reference neuron has no bias
  // TA prunes conv 0, conv 1 and fc 0 (not the output layer): 3 layers x 8 steps, half dropped.
  EXPECT_EQ(skipped.steps_total, 24);
  EXPECT_EQ(skipped.steps_dropped, 12);
  ASSERT_EQ(skipped.layers.size(), 4u);
  // conv 0 sees the frames: all computed. conv 1, fc 0 and fc 1 follow a pruned layer: half their rows.
  EXPECT_EQ(skipped.layers[0].computed_macs, skipped.layers[0].dense_macs);
  for (size_t l = 1; l < 4; ++l) EXPECT_EQ(skipped.layers[l].computed_macs, skipped.layers[l].dense_macs / 2) << l;
  EXPECT_EQ(zeroed.computed_macs(), zeroed.dense_macs());
  EXPECT_NEAR(skipped.skipped_fraction(), 1.0 - skipped.computed_macs() / skipped.dense_macs(), 1e-12);
  EXPECT_GT(skipped.skipped_fraction(), 0.0);
  EXPECT_LT(skipped.synaptic_ops(), zeroed.synaptic_ops() + 1);  // the same spikes, counted the same way
}

TEST(Pruning, DroppedChannelsAreSkippedInTheNextConvAndTheFirstFc) {
  DvsNet net = pruning_net("CA", torch::kFloat64);
  const torch::Tensor x = frames(1, torch::kFloat64);
  serve::PruneOptions o;
  o.ca_topk = 4;  // of 8 channels in conv 0, of 16 in conv 1
  serve::PruneStats skipped, zeroed;
  const torch::Tensor a = serve::pruned_forward(*net, x, o, &skipped);
  o.skip = false;
  EXPECT_TRUE(torch::allclose(a, serve::pruned_forward(*net, x, o, &zeroed), 1e-12, 1e-12));
  EXPECT_EQ(skipped.spikes_in_dropped, 0);
  EXPECT_EQ(skipped.channels_total, 8 + 16);
  EXPECT_EQ(skipped.channels_dropped, 4 + 12);
  EXPECT_EQ(skipped.layers[1].computed_macs, skipped.layers[1].dense_macs * 4 / 8);   // 4 of 8 input channels
  EXPECT_EQ(skipped.layers[2].computed_macs, skipped.layers[2].dense_macs * 4 / 16);  // 4 of 16 channels' features
  EXPECT_EQ(skipped.layers[3].computed_macs, skipped.layers[3].dense_macs);
  // A threshold drops the channels whose weight is below it.
  serve::PruneOptions t;
  t.ca_threshold = 0.5;
  serve::PruneStats st;
  serve::pruned_forward(*net, x, t, &st);
  EXPECT_GT(st.channels_dropped, 0);
  EXPECT_LT(st.channels_dropped, st.channels_total);
}

TEST(Pruning, RejectsWhatTheModelCannotPrune) {
  DvsNet ta = pruning_net("TA");
  const torch::Tensor x = frames(1);
  serve::PruneOptions o;
  o.ca_topk = 2;
  EXPECT_NE(expect_error([&] { serve::pruned_forward(*ta, x, o); }).find("CA pruning needs channel attention"),
            std::string::npos);
  o = serve::PruneOptions();
  o.ta_threshold = 1.5;
  EXPECT_NE(expect_error([&] { serve::pruned_forward(*ta, x, o); }).find("thresholds must be in [0, 1)"),
            std::string::npos);
  o = serve::PruneOptions();
  o.ta_topk = 3;
  o.ca_threshold = 0.25;
  EXPECT_EQ(o.describe(), "ta-topk=3 ca-threshold=0.25");
  const serve::PruneOptions p = serve::PruneOptions::parse("ta-keep=0.5,ca-topk=4");
  EXPECT_EQ(p.ta_keep, 0.5);
  EXPECT_EQ(p.ca_topk, 4);
  EXPECT_FALSE(serve::PruneOptions::parse("none").any());
  EXPECT_NE(expect_error([] { serve::PruneOptions::parse("ta-kep=1"); }).find("unknown key 'ta-kep'"),
            std::string::npos);
  EXPECT_NE(expect_error([] { serve::PruneOptions::parse("ta-keep=x"); }).find("is not key=number"), std::string::npos);
  EXPECT_NE(expect_error([] { serve::PruneOptions::parse("ca-keep=2"); }).find("keep fractions"), std::string::npos);
}

TEST(Pruning, KeepFractionIsTheReferenceSparsityRatio) {
  DvsNet net = pruning_net("TCSA", torch::kFloat64);
  const torch::Tensor x = frames(2, torch::kFloat64);
  serve::PruneOptions keep, topk;
  keep.ta_keep = 0.3;  // ceil(0.3 * 8) = 3 steps
  topk.ta_topk = 3;
  serve::PruneStats a, b;
  EXPECT_TRUE(torch::equal(serve::pruned_forward(*net, x, keep, &a), serve::pruned_forward(*net, x, topk, &b)));
  EXPECT_EQ(a.steps_dropped, 3 * 2 * 5);  // 3 layers x 2 samples x 5 dropped steps
}
