// Attention-guided pruning (src/serve/pruning): nothing pruned = the plain forward; dropped steps and channels and
// silent inputs are really skipped, and skipping gives the same outputs as computing everything; every network.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "masnn/data/synth_gestures.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/registry.h"
#include "masnn/serve/pruning.h"
#include "serve_test_support.h"
#include "test_support.h"

using namespace masnn;
using masnn::testing::expect_error;
using masnn::testing::run_command;

namespace {

DvsNet pruning_net(const std::string& attention, torch::ScalarType dtype = torch::kFloat32) {
  return masnn::testing::small_spiking_net(attention, 8, 7, dtype);
}

torch::Tensor frames(int64_t batch, torch::ScalarType dtype = torch::kFloat32) {
  torch::manual_seed(8);
  return ((torch::rand({8, batch, 2, 16, 16}) < 0.3).to(dtype) * torch::randint(1, 4, {8, batch, 2, 16, 16})).to(dtype);
}

// The network with pruning installed into a copy of it (the original keeps its layers).
serve::PrunedModel pruned(const DvsNet& net, const serve::PruneOptions& o = {}) {
  auto copy = std::dynamic_pointer_cast<DvsNetImpl>(net->clone());
  return serve::PrunedModel(torch::nn::AnyModule(DvsNet(copy)), frames(1, net->parameters()[0].scalar_type()), o);
}

serve::PruneOptions options(const std::string& setting, bool skip = true) {
  serve::PruneOptions o = serve::PruneOptions::parse(setting);
  o.skip = skip;
  return o;
}

}  // namespace

TEST(Pruning, NothingPrunedEqualsThePlainForward) {
  for (const char* attention : {"none", "CA", "TCA", "TCSA"}) {
    SCOPED_TRACE(attention);
    for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
      DvsNet net = pruning_net(attention, dtype);
      const torch::Tensor x = frames(3, dtype);
      torch::NoGradGuard ng;
      const torch::Tensor plain = net->forward(x);
      EXPECT_GT(plain.sum().item<double>(), 0.0);
      // Nothing skipped either: the same calls, bit for bit.
      serve::PrunedModel computed = pruned(net, options("none", false));
      EXPECT_TRUE(torch::equal(computed->forward(x), plain));
      EXPECT_EQ(computed->stats().samples, 3);
      EXPECT_EQ(computed->stats().skipped_fraction(), 0.0);
      ASSERT_EQ(computed->stats().layers.size(), 4u);
      EXPECT_EQ(computed->stats().layers[0].name, "convs.0.conv");
      EXPECT_EQ(computed->stats().layers[3].name, "fcs.1.linear");
      EXPECT_EQ(computed->stats().layers[0].dense_macs, 8.0 * 3 * 8 * 2 * 9 * 16 * 16);
      if (dtype != torch::kFloat64) continue;
      // Silence skipped, sample by sample (float64: the smaller calls give the same values up to rounding).
      for (const char* setting : {"none", "ta-threshold=0,ca-threshold=0,ta-topk=0"}) {
        serve::PrunedModel skipping = pruned(net, options(setting));
        EXPECT_TRUE(torch::allclose(skipping->forward(x), plain, 1e-12, 1e-12)) << setting;
        EXPECT_EQ(skipping->stats().steps_dropped, 0);
        EXPECT_EQ(skipping->stats().dense_macs(), computed->stats().dense_macs());
      }
    }
  }
}

TEST(Pruning, SettingsThatKeepEverythingGiveTheSameOutputs) {
  // A top-k of T, a keep fraction of 1 or a tiny threshold prune nothing; the samples then run one by one.
  DvsNet net = pruning_net("TCSA", torch::kFloat64);
  const torch::Tensor x = frames(3, torch::kFloat64);
  torch::NoGradGuard ng;
  const torch::Tensor plain = net->forward(x);
  serve::PrunedModel model = pruned(net);
  for (const char* setting : {"ta-topk=8", "ta-keep=1,ca-keep=1", "ta-threshold=1e-9,ca-threshold=1e-9"}) {
    model->set_options(options(setting));
    EXPECT_TRUE(torch::allclose(model->forward(x), plain, 1e-12, 1e-12)) << setting;
    EXPECT_EQ(model->stats().steps_dropped + model->stats().channels_dropped, 0);
    EXPECT_EQ(model->stats().samples, 3);
  }
}

TEST(Pruning, DroppedStepsAreSkippedDownstreamWithTheSameOutputsAsZeroingThem) {
  DvsNet net = pruning_net("TCSA", torch::kFloat64);  // float64: skipping changes batch sizes, not the values
  const torch::Tensor x = frames(1, torch::kFloat64);
  serve::PrunedModel model = pruned(net, options("ta-topk=4"));  // half of T = 8
  const torch::Tensor a = model->forward(x);
  const serve::PruneStats skipped = model->stats();
  model->set_options(options("ta-topk=4", false));
  const torch::Tensor b = model->forward(x);
  const serve::PruneStats zeroed = model->stats();
  EXPECT_TRUE(torch::allclose(a, b, 1e-12, 1e-12));
  // TA prunes conv 0, conv 1 and fc 0 (not the output layer): 3 layers x 8 steps, half dropped.
  EXPECT_EQ(skipped.steps_total, 24);
  EXPECT_EQ(skipped.steps_dropped, 12);
  ASSERT_EQ(skipped.layers.size(), 4u);
  // conv 0 sees the frames: all computed. conv 1, fc 0 and fc 1 follow a pruned layer: at most half their rows
  // (dropped steps do not fire: the reference neuron has no bias), fewer where whole channels are silent too.
  EXPECT_EQ(skipped.layers[0].computed_macs, skipped.layers[0].dense_macs);
  for (size_t l = 1; l < 4; ++l) {
    EXPECT_LE(skipped.layers[l].computed_macs, skipped.layers[l].dense_macs / 2) << l;
    EXPECT_GT(skipped.layers[l].computed_macs, 0.0) << l;
  }
  EXPECT_EQ(zeroed.computed_macs(), zeroed.dense_macs());
  EXPECT_NEAR(skipped.skipped_fraction(), 1.0 - skipped.computed_macs() / skipped.dense_macs(), 1e-12);
  EXPECT_GT(skipped.skipped_fraction(), 0.0);
  EXPECT_NEAR(skipped.synaptic_ops(), zeroed.synaptic_ops(), 1e-6);  // the same spikes, counted the same way
}

TEST(Pruning, DroppedChannelsAreSkippedInTheNextConvAndTheFirstFc) {
  DvsNet net = pruning_net("CA", torch::kFloat64);
  const torch::Tensor x = frames(1, torch::kFloat64);
  serve::PrunedModel model = pruned(net, options("ca-topk=4"));  // of 8 channels in conv 0, of 16 in conv 1
  const torch::Tensor a = model->forward(x);
  const serve::PruneStats skipped = model->stats();
  model->set_options(options("ca-topk=4", false));
  EXPECT_TRUE(torch::allclose(a, model->forward(x), 1e-12, 1e-12));
  EXPECT_EQ(skipped.channels_total, 8 + 16);
  EXPECT_EQ(skipped.channels_dropped, 4 + 12);
  EXPECT_LE(skipped.layers[1].computed_macs, skipped.layers[1].dense_macs * 4 / 8);   // 4 of 8 input channels
  EXPECT_LE(skipped.layers[2].computed_macs, skipped.layers[2].dense_macs * 4 / 16);  // 4 of 16 channels' features
  EXPECT_GT(skipped.layers[2].computed_macs, 0.0);
  // A threshold drops the channels whose weight is below it.
  model->set_options(options("ca-threshold=0.5"));
  model->forward(x);
  EXPECT_GT(model->stats().channels_dropped, 0);
  EXPECT_LT(model->stats().channels_dropped, model->stats().channels_total);
}

TEST(Pruning, RejectsWhatTheModelCannotPrune) {
  DvsNet ta = pruning_net("TA");
  serve::PruneOptions o;
  o.ca_topk = 2;
  EXPECT_NE(expect_error([&] { pruned(ta, o); }).find("ca-topk=2 needs channel attention at conv-post"),
            std::string::npos);
  serve::PrunedModel model = pruned(ta);
  EXPECT_TRUE(model->can_prune_steps());
  EXPECT_FALSE(model->can_prune_channels());
  // Steps without TA before the output layer: a network with CA only.
  EXPECT_NE(expect_error([&] { pruned(pruning_net("CA"), options("ta-keep=0.5")); }).find("needs temporal attention"),
            std::string::npos);
  o = serve::PruneOptions();
  o.ta_threshold = 1.5;
  EXPECT_NE(expect_error([&] { model->set_options(o); }).find("thresholds must be in [0, 1)"), std::string::npos);
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
  serve::PrunedModel model = pruned(net, options("ta-keep=0.3"));  // ceil(0.3 * 8) = 3 steps
  const torch::Tensor a = model->forward(x);
  EXPECT_EQ(model->stats().steps_dropped, 3 * 2 * 5);  // 3 layers x 2 samples x 5 dropped steps
  model->set_options(options("ta-topk=3"));
  EXPECT_TRUE(torch::equal(a, model->forward(x)));
}

// The Res-SNNs: the same installation (no network's wiring in the pruning code); CA pooled over T drops channels
// in every residual branch, TA drops steps in every block (the head reads rates after the last one), and skipping
// gives the outputs of computing everything.
TEST(Pruning, ResSnnDropsStepsAndChannelsWithTheOutputsOfComputingEverything) {
  ModelSpec spec = default_model_spec("res-snn-mini");
  spec.attention = AttentionType::parse("TCSA");
  spec.steps = 4;
  spec.t_ratio = 2;
  spec.input_size = 16;
  spec.in_channels = 2;
  spec.num_classes = 5;
  torch::manual_seed(3);
  torch::nn::AnyModule model = build_model(spec);
  model.ptr()->to(torch::kFloat64);
  model.ptr()->eval();
  const torch::Tensor x = (torch::rand({4, 2, 2, 16, 16}) < 0.3).to(torch::kFloat64) * 2;
  torch::NoGradGuard ng;
  const torch::Tensor plain = model.forward(x);
  serve::PrunedModel p(model, example_input(spec).to(torch::kFloat64), options("none", false));
  EXPECT_TRUE(torch::equal(p->forward(x), plain));
  EXPECT_TRUE(p->can_prune_steps());
  EXPECT_TRUE(p->can_prune_channels());
  std::vector<std::string> names;
  for (const auto& l : p->stats().layers) names.push_back(l.name);
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(names.front(), "stem_conv");
  EXPECT_EQ(names[1], "stages.0.0.conv1");
  EXPECT_EQ(names.back(), "fc");
  std::ostringstream printed;
  printed << *p;
  EXPECT_NE(printed.str().find("PruningAttention(TCSA, drops steps and channels)"), std::string::npos)
      << printed.str();
  for (const char* setting : {"ca-keep=0.5", "ta-topk=2", "ta-keep=0.5,ca-keep=0.25"}) {
    p->set_options(options(setting));
    const torch::Tensor a = p->forward(x);
    const serve::PruneStats skipped = p->stats();
    p->set_options(options(setting, false));
    EXPECT_TRUE(torch::allclose(a, p->forward(x), 1e-12, 1e-12)) << setting;
    EXPECT_GT(skipped.steps_dropped + skipped.channels_dropped, 0) << setting;
    EXPECT_GT(skipped.skipped_fraction(), 0.0) << setting;
    EXPECT_EQ(skipped.samples, 2);
  }
}

// `masnn prune` end to end on checkpoints made by an earlier build: a DVS network on synthetic gestures and a
// Res-SNN on Fashion-MNIST files (untrained weights: the rows, the work and the JSON are checked, not accuracy).
TEST(Pruning, CommandPrunesADvsNetworkAndAResSnnCheckpoint) {
  const masnn::testing::TempDir dir("prune_cli");
  data::SynthOptions synth;
  synth.users = 2;
  synth.test_users = 1;
  synth.lightings = {"lab"};
  synth.gesture_seconds = 0.5;
  data::write_synthetic_gestures((dir.path / "gestures").string(), synth);
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 6, true);
  const std::string fixtures = std::string(MASNN_SOURCE_DIR) + "/tests/fixtures/checkpoints/";
  struct Case {
    std::string checkpoint, arguments, first_layer, last_layer;
  };
  const std::vector<Case> cases = {
      {"dvs_checkpoint_1.13.pt",
       "--data " + (dir.path / "gestures").string() + " --set data.ds=8 --set data.steps=4 --set data.dt_ms=100",
       "convs.0.conv", "fcs.1.linear"},
      {"checkpoint_1.13.pt", "--data " + dir.path.string() + " --set data.dataset=fashion-mnist", "stem_conv", "fc"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.checkpoint);
    const std::string json = (dir.path / (c.checkpoint + ".json")).string();
    int status = 0;
    const std::string out = run_command(std::string(MASNN_CLI) + " prune --checkpoint " + fixtures + c.checkpoint +
                                            " " + c.arguments + " --clips 1 --ta-keep 0.5 --ca-keep 0.5 --json " + json,
                                        status);
    ASSERT_EQ(status, 0) << out;
    EXPECT_NE(out.find("ta-keep=0.5"), std::string::npos) << out;
    std::ifstream in(json);
    const nlohmann::json j = nlohmann::json::parse(in);
    ASSERT_EQ(j["rows"].size(), 3u);  // none, ta-keep=0.5, ca-keep=0.5
    EXPECT_EQ(j["rows"][0]["setting"], "none");
    EXPECT_EQ(j["rows"][0]["steps_dropped"], 0);
    EXPECT_GT(j["rows"][1]["steps_dropped"].get<int64_t>(), 0);
    EXPECT_GT(j["rows"][2]["channels_dropped"].get<int64_t>(), 0);
    for (const auto& row : j["rows"]) {
      EXPECT_GT(row["clips"].get<int64_t>(), 0);
      EXPECT_LE(row["computed_macs"].get<double>(), row["dense_macs"].get<double>());
      EXPECT_EQ(row["layers"].front()["name"], c.first_layer);
      EXPECT_EQ(row["layers"].back()["name"], c.last_layer);
    }
  }
  // A dataset whose classes differ from the network's is named before any work.
  int status = 0;
  const std::string out =
      run_command(std::string(MASNN_CLI) + " prune --checkpoint " + fixtures + "checkpoint_1.13.pt --data " +
                      (dir.path / "gestures").string() + " --set data.dataset=dvs128-gesture",
                  status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("checkpoint_1.13.pt: the network has 10 classes but dvs128-gesture/test has 11"),
            std::string::npos)
      << out;
}
