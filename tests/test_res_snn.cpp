// The Res-SNN family (REFERENCE.md 3.3): parameter counts, shapes, static vs time-major input, the block's
// shortcut variants, gradients, the registry, checkpoints, and the reference's own network run by PyTorch
// (tests/fixtures/reference/res_snn_*.pt, made once by make_res_snn_fixture.py there; no Python at test time).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "masnn/models/dvs_net.h"  // count_parameters
#include "masnn/models/pytorch_state_dict.h"
#include "masnn/models/reference_names.h"
#include "masnn/models/registry.h"
#include "masnn/models/res_snn.h"
#include "masnn/train/checkpoint.h"
#include "module_state.h"
#include "test_support.h"

using namespace masnn;
namespace fs = std::filesystem;
using masnn::testing::expect_error;
using masnn::testing::TempDir;

namespace {

const fs::path kFixture = fs::path(MASNN_SOURCE_DIR) / "tests" / "fixtures" / "reference";

LayerAttention attention_of(const char* type, int64_t c_ratio = 8, int64_t t_ratio = 1) {
  LayerAttention a = res_snn_reference_attention();
  a.type = AttentionType::parse(type);
  a.c_ratio = c_ratio;
  a.t_ratio = t_ratio;
  return a;
}

// A small Res-SNN for 32x32 RGB: stem 7x7/2 to 8 channels, stages 8-16 (2 blocks in the second), 4 classes.
ResSnnOptions tiny(int64_t steps, const char* attention = "CSA") {
  return ResSnnOptions()
      .blocks({1, 2})
      .widths({8, 16})
      .strides({2, 2})
      .stem_width(8)
      .num_classes(4)
      .steps(steps)
      .attention(attention_of(attention, 8, 1));
}

// Random BN statistics and shifts, so that eval mode depends on them and the network fires.
void randomize_bn(torch::nn::Module& net) {
  torch::NoGradGuard ng;
  for (auto& p : net.named_parameters()) {
    const bool bn = p.key().find("bn") != std::string::npos;
    if (bn && p.key().find(".weight") != std::string::npos) p.value().uniform_(0.5, 1.5);
    if (bn && p.key().find(".bias") != std::string::npos) p.value().uniform_(0.0, 0.4);
  }
  for (auto& b : net.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().copy_(torch::randn_like(b.value()) * 0.05);
    if (b.key().find("running_var") != std::string::npos) b.value().copy_(torch::rand_like(b.value()) * 0.05 + 0.02);
  }
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Structure

TEST(ResSnn, ParameterCountsMatchTheReference) {
  // REFERENCE.md 3.3, with CSA (c_ratio 8) and 1000 classes; the reference's own modules give the same counts.
  EXPECT_EQ(count_parameters(*ResSnn(ResSnnOptions::depth(18))), 11867960);
  EXPECT_EQ(count_parameters(*ResSnn(ResSnnOptions::depth(34))), 22116552);
  EXPECT_EQ(res_snn_parameter_count(ResSnnOptions::depth(18)), 11867960);
  EXPECT_EQ(res_snn_parameter_count(ResSnnOptions::depth(34)), 22116552);
  EXPECT_EQ(res_snn_parameter_count(ResSnnOptions::depth(104)), 78369598);
  EXPECT_THROW(ResSnnOptions::depth(50), std::invalid_argument);
}

TEST(ResSnn, BuiltResSnn104HasTheReferenceCount) {
  EXPECT_EQ(count_parameters(*ResSnn(ResSnnOptions::depth(104))), 78369598);
}

TEST(ResSnn, CountingFromOptionsAgreesWithBuiltNetworks) {
  for (const char* attention : {"none", "TA", "CA", "SA", "CSA", "TCSA"}) {
    for (int64_t steps : {1, 4}) {
      SCOPED_TRACE(std::string(attention) + " T=" + std::to_string(steps));
      auto o = tiny(steps, attention);
      EXPECT_EQ(res_snn_parameter_count(o), count_parameters(*ResSnn(o)));
      o.lif(LIFOptions::reference_resnet().learnable_decay(true));
      EXPECT_EQ(res_snn_parameter_count(o), count_parameters(*ResSnn(o)));
    }
  }
  EXPECT_EQ(res_snn_parameter_count(ResSnnOptions::mini()), count_parameters(*ResSnn(ResSnnOptions::mini())));
}

TEST(ResSnn, SummaryShapesOfResSnn18) {
  const auto rows = summarize_res_snn(ResSnnOptions::depth(18), 224);
  ASSERT_EQ(rows.size(), 6u);  // stem, 4 stages, head
  EXPECT_EQ(rows[0].output_shape, (std::vector<int64_t>{64, 112, 112}));
  EXPECT_EQ(rows[1].output_shape, (std::vector<int64_t>{64, 56, 56}));
  EXPECT_EQ(rows[2].output_shape, (std::vector<int64_t>{128, 28, 28}));
  EXPECT_EQ(rows[3].output_shape, (std::vector<int64_t>{256, 14, 14}));
  EXPECT_EQ(rows[4].output_shape, (std::vector<int64_t>{512, 7, 7}));
  EXPECT_EQ(rows[5].output_shape, (std::vector<int64_t>{1000}));
  EXPECT_EQ(rows[0].macs, 112 * 112 * 64 * 3 * 49);
  // Convolutions scale with T, the stem (computed once for a static image) does not.
  const auto rows4 = summarize_res_snn(ResSnnOptions::depth(18).steps(4), 224);
  EXPECT_EQ(rows4[0].macs, rows[0].macs);
  EXPECT_GT(rows4[2].macs, 3 * rows[2].macs);
}

TEST(ResSnn, BatchNormInitialisationFollowsTheReference) {
  ResSnn net(tiny(1));
  const double vth = 0.5;
  EXPECT_TRUE(torch::all(net->stem_bn->weight == vth).item<bool>());
  auto b = net->block(0, 0);
  EXPECT_TRUE(torch::all(b->bn1->weight == vth).item<bool>());
  EXPECT_TRUE(torch::all(b->bn2->weight == 0.2 * vth).item<bool>());  // the last BN of the branch
  EXPECT_TRUE(torch::all(b->shortcut_bn->weight == vth).item<bool>());
  EXPECT_TRUE(torch::all(b->bn2->bias == 0).item<bool>());
  // The neuron is the Res-SNN one (REFERENCE.md 1.2).
  EXPECT_EQ(b->lif1->options.threshold(), 0.5);
  EXPECT_EQ(b->lif1->options.decay(), 0.25);
  EXPECT_FALSE(b->lif1->options.fire_at_equal());
  EXPECT_TRUE(b->lif1->options.detach_reset());
}

TEST(ResSnn, OutputShapesForT1AndT4) {
  torch::manual_seed(0);
  for (int64_t steps : {1, 4}) {
    SCOPED_TRACE(steps);
    ResSnn net(tiny(steps));
    net->eval();
    torch::NoGradGuard ng;
    EXPECT_EQ(net(torch::randn({3, 3, 32, 32})).sizes(), (std::vector<int64_t>{3, 4}));
    EXPECT_EQ(net(torch::randn({steps, 3, 3, 32, 32})).sizes(), (std::vector<int64_t>{3, 4}));
    EXPECT_EQ(net(torch::randn({2, 3, 45, 37})).sizes(), (std::vector<int64_t>{2, 4}));  // any side
    EXPECT_EQ(net->stem(torch::randn({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{steps, 2, 8, 16, 16}));
  }
  // The full Res-SNN-18 at 224x224.
  ResSnn r18(ResSnnOptions::depth(18));
  r18->eval();
  torch::NoGradGuard ng;
  EXPECT_EQ(r18(torch::randn({1, 3, 224, 224})).sizes(), (std::vector<int64_t>{1, 1000}));
  const auto msg = expect_error([&] { r18(torch::randn({1, 2, 224, 224})); });
  EXPECT_NE(msg.find("input must be [B,3,H,W]"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------------
// Step-at-a-time inference

// The mean of T steps from rest is forward's logits when no attention pools over time: none, CA/SA per step, and
// any attention at T = 1 (the ImageNet networks' T).
TEST(ResSnnStep, TheMeanOfTheStepsIsTheOfflineLogitsWhenNoAttentionPoolsOverTime) {
  struct Case {
    const char* attention;
    int64_t steps;
    bool per_step;
  };
  for (const Case c : {Case{"none", 4, false}, Case{"CSA", 4, true}, Case{"CSA", 1, false}, Case{"TCSA", 1, false}}) {
    SCOPED_TRACE(std::string(c.attention) + " T " + std::to_string(c.steps));
    torch::manual_seed(2);
    LayerAttention a = attention_of(c.attention);
    a.per_step = c.per_step;
    ResSnn net(tiny(c.steps).attention(a).dropout(0.0));
    randomize_bn(*net);
    net->to(torch::kDouble);
    net->eval();
    torch::NoGradGuard ng;
    const auto x = torch::randn({c.steps, 2, 3, 32, 32}, torch::kDouble);
    const torch::Tensor offline = net(x);
    // The head fired: the logits are not the bias alone.
    EXPECT_GT(max_abs_diff(offline, net->fc->bias.expand_as(offline)), 1e-3);
    ResSnnStepState state;
    torch::Tensor sum = torch::zeros_like(offline);
    for (int64_t t = 0; t < c.steps; ++t) sum += net->forward_step(x[t], state);
    EXPECT_LE(max_abs_diff(sum / static_cast<double>(c.steps), offline), 1e-10);
  }
}

TEST(ResSnnStep, ARowPutAtRestRunsAsANewStreamAndTrainingModeIsRefused) {
  torch::manual_seed(3);
  const int64_t T = 3;
  ResSnn net(tiny(T, "none").dropout(0.0));
  randomize_bn(*net);
  net->to(torch::kDouble);
  net->eval();
  torch::NoGradGuard ng;
  const auto x = torch::randn({5, 2, 3, 32, 32}, torch::kDouble);
  ResSnnStepState state;
  for (int64_t t = 0; t < 2; ++t) net->forward_step(x[t], state);
  state.reset(1);
  torch::Tensor sum = torch::zeros({2, 4}, torch::kDouble);
  for (int64_t t = 2; t < 5; ++t) sum += net->forward_step(x[t], state);
  const torch::Tensor fresh = net(x.slice(0, 2, 5).slice(1, 1, 2));  // row 1 alone, from rest
  EXPECT_LE(max_abs_diff(sum[1] / static_cast<double>(T), fresh[0]), 1e-10);
  // Row 0 carried its state over: it is not the fresh run of its last three steps.
  EXPECT_GT(max_abs_diff(sum[0] / static_cast<double>(T), net(x.slice(0, 2, 5).slice(1, 0, 1))[0]), 1e-6);
  EXPECT_NE(expect_error([&] { net->forward_step(x[0].slice(0, 0, 1), state); }).find("reset the state"),
            std::string::npos);
  net->train();
  ResSnnStepState other;
  EXPECT_NE(expect_error([&] { net->forward_step(x[0], other); }).find("needs eval mode"), std::string::npos);
}

TEST(ResSnn, StaticAndTimeMajorInputGiveTheSameLogits) {
  for (const char* attention : {"CSA", "TCSA", "none"}) {
    SCOPED_TRACE(attention);
    torch::manual_seed(1);
    const int64_t T = 3;
    ResSnn a(tiny(T, attention).dropout(0.0));
    randomize_bn(*a);
    ResSnn b = std::dynamic_pointer_cast<ResSnnImpl>(a->clone());
    const auto x = torch::randn({2, 3, 32, 32});
    const auto xt = x.unsqueeze(0).expand({T, 2, 3, 32, 32}).contiguous();
    {
      torch::NoGradGuard ng;
      a->eval();
      b->eval();
      const auto ya = a(x), yb = b(xt);
      EXPECT_LE(max_abs_diff(ya, yb), 1e-5);
    }
    // Training mode: same logits, same gradients, same BN running statistics (the stem's BN sees T copies).
    a->train();
    b->train();
    const auto ya = a(x), yb = b(xt);
    EXPECT_LE(max_abs_diff(ya, yb), 1e-5);
    ya.sum().backward();
    yb.sum().backward();
    EXPECT_LE(max_abs_diff(a->stem_conv->weight.grad(), b->stem_conv->weight.grad()), 1e-4);
    EXPECT_LE(max_abs_diff(a->stem_bn->running_var, b->stem_bn->running_var), 1e-6);
    EXPECT_LE(max_abs_diff(a->stem_bn->running_mean, b->stem_bn->running_mean), 1e-6);
  }
}

TEST(ResSnn, TemporalAttentionNeedsTheBuiltT) {
  ResSnn net(tiny(4, "TCSA"));
  net->eval();
  torch::NoGradGuard ng;
  EXPECT_NO_THROW(net(torch::randn({4, 1, 3, 32, 32})));
  const auto msg = expect_error([&] { net(torch::randn({2, 1, 3, 32, 32})); });
  EXPECT_NE(msg.find("T = 4"), std::string::npos) << msg;
  // Without TA any T works.
  ResSnn csa(tiny(4, "CSA"));
  csa->eval();
  EXPECT_EQ(csa(torch::randn({2, 1, 3, 32, 32})).sizes(), (std::vector<int64_t>{1, 4}));
}

TEST(ResSnn, ActivatePreAndBadOptionsAreRejected) {
  auto o = tiny(2);
  auto a = o.attention();
  a.placement = AttentionPlacement::ActivatePre;
  o.attention(a);
  EXPECT_NE(expect_error([&] { ResSnn{o}; }).find("conv-post"), std::string::npos);
  EXPECT_NE(expect_error([&] { ResSnn{tiny(2).widths({8})}; }).find("one entry per stage"), std::string::npos);
  EXPECT_NE(expect_error([&] { ResSnn{tiny(2).stem_kernel(4)}; }).find("stem_kernel"), std::string::npos);
  EXPECT_NE(expect_error([&] { ResSnn{tiny(0)}; }).find("steps"), std::string::npos);
  // CA on 4 channels with ratio 8 has no hidden unit.
  EXPECT_NE(expect_error([&] { ResSnn{tiny(1).widths({4, 16})}; }).find("ratio"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------------
// The block

TEST(ResSnnBlock, IdentityShortcutWhenStrideAndWidthStay) {
  torch::manual_seed(2);
  ResSnnBlock block(ResSnnBlockOptions(8, 8).stride(1));
  EXPECT_FALSE(block->has_projection());
  EXPECT_EQ(block->named_parameters().find("shortcut_conv.weight"), nullptr);
  const auto x = torch::randn({2, 3, 8, 9, 9});
  EXPECT_TRUE(torch::equal(block->shortcut(x), x));
  const auto y = block(x);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_LE(max_abs_diff(y, block->branch(x) + x), 1e-6);
}

TEST(ResSnnBlock, ProjectionShortcutWhenStrideOrWidthChanges) {
  torch::manual_seed(3);
  // Stride 2: avg-pool 2x2 -> conv1x1 -> BN; an odd side rounds up like the conv (9 -> 5).
  ResSnnBlock down(ResSnnBlockOptions(8, 16).stride(2));
  EXPECT_TRUE(down->has_projection());
  EXPECT_EQ(down->shortcut_conv->weight.sizes(), (std::vector<int64_t>{16, 8, 1, 1}));
  const auto x = torch::randn({2, 3, 8, 9, 9});
  EXPECT_EQ(down(x).sizes(), (std::vector<int64_t>{2, 3, 16, 5, 5}));
  EXPECT_EQ(down(torch::randn({1, 2, 8, 8, 8})).sizes(), (std::vector<int64_t>{1, 2, 16, 4, 4}));
  // The pooled shortcut by hand (eval-mode BN).
  down->eval();
  torch::NoGradGuard ng;
  const auto x8 = torch::randn({2, 2, 8, 8, 8});
  auto pooled = torch::avg_pool2d(x8.flatten(0, 1), 2);
  auto expected = down->shortcut_bn(down->shortcut_conv(pooled)).view({2, 2, 16, 4, 4});
  EXPECT_LE(max_abs_diff(down->shortcut(x8), expected), 1e-6);
  // Stride 2 at the same width (the first block of the reference's first stage) also projects.
  EXPECT_TRUE(ResSnnBlock(ResSnnBlockOptions(8, 8).stride(2))->has_projection());
  // Width change at stride 1: conv1x1 without pooling.
  ResSnnBlock widen(ResSnnBlockOptions(8, 16).stride(1));
  EXPECT_TRUE(widen->has_projection());
  EXPECT_EQ(widen(x).sizes(), (std::vector<int64_t>{2, 3, 16, 9, 9}));
}

TEST(ResSnnBlock, AttentionSitsOnTheBranchBeforeTheAdd) {
  torch::manual_seed(4);
  ResSnnBlock with(ResSnnBlockOptions(16, 16).attention(attention_of("CSA")));
  ResSnnBlock without(ResSnnBlockOptions(16, 16).attention(attention_of("none")));
  ASSERT_TRUE(with->attention);
  EXPECT_TRUE(with->attention->ca && with->attention->sa && !with->attention->ta);
  EXPECT_FALSE(without->attention);
  // CA 16 -> 2 -> 16 twice, SA 2x3x3.
  EXPECT_EQ(count_parameters(*with) - count_parameters(*without), 2 * 16 * 2 + 18);
  // With attention the branch ends in the composite's ReLU; without it the branch is the signed BN output.
  randomize_bn(*with);
  randomize_bn(*without);
  torch::NoGradGuard ng;
  with->eval();
  without->eval();
  const auto x = torch::randn({2, 2, 16, 6, 6}) + 0.5;
  EXPECT_GE(with->branch(x).min().item<double>(), 0.0);
  EXPECT_LT(without->branch(x).min().item<double>(), 0.0);
}

// ---------------------------------------------------------------------------------------------------
// Training signal

TEST(ResSnn, GradientsReachEveryParameter) {
  for (const char* attention : {"CSA", "TCSA"}) {
    SCOPED_TRACE(attention);
    torch::manual_seed(5);
    // c_ratio 2: with 16 channels and ratio 8 the CA MLP has 2 hidden units, which a random init can leave
    // dead (ReLU) for a whole batch.
    ResSnn net(tiny(2, attention).attention(attention_of(attention, 2, 1)));
    randomize_bn(*net);
    net->train();
    const auto x = torch::randn({4, 3, 32, 32});
    const auto labels = torch::tensor({0, 1, 2, 3}, torch::kLong);
    torch::nn::functional::cross_entropy(net(x), labels).backward();
    for (const auto& p : net->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
    }
  }
}

TEST(ResSnn, MiniLearnsATinyTask) {
  // Two classes of 28x28 grey images (bright left half vs bright right half), a few SGD steps.
  torch::manual_seed(6);
  ResSnn net(ResSnnOptions::mini().num_classes(2));
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  auto make = [](int64_t n) {
    auto labels = torch::randint(2, {n}, torch::kLong);
    auto x = torch::rand({n, 1, 28, 28}) * 0.3;
    auto left = x.narrow(3, 0, 14), right = x.narrow(3, 14, 14);
    left.add_((labels == 0).to(torch::kFloat).view({n, 1, 1, 1}));
    right.add_((labels == 1).to(torch::kFloat).view({n, 1, 1, 1}));
    return std::make_pair(x, labels);
  };
  double first = 0, last = 0;
  for (int step = 0; step < 25; ++step) {
    auto [x, y] = make(16);
    net->train();
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net(x), y);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, first);
  // Accuracy on a fresh batch with batch statistics: after 25 steps the BN running statistics still hold
  // 0.9^25 = 7% of their initial values, which eval mode would use.
  torch::NoGradGuard ng;
  auto [x, y] = make(64);
  net->dropout->options.p(0.0);
  EXPECT_GT(net(x).argmax(1).eq(y).to(torch::kFloat).mean().item<double>(), 0.8);
}

// ---------------------------------------------------------------------------------------------------
// Registry and checkpoints

TEST(ResSnnRegistry, NamesAndPresets) {
  for (const char* name : {"res-snn-18", "res-snn-34", "res-snn-104", "res-snn-mini"}) {
    EXPECT_TRUE(is_res_snn(name));
    bool listed = false;
    for (const auto& [n, _] : model_names()) listed = listed || n == name;
    EXPECT_TRUE(listed) << name;
  }
  EXPECT_FALSE(is_res_snn("dvs-gesture"));
  const ModelSpec s = default_model_spec("res-snn-18");
  EXPECT_EQ(s.attention.name(), "CSA");
  EXPECT_EQ(s.steps, 1);
  EXPECT_EQ(s.in_channels, 3);
  EXPECT_EQ(s.input_size, 224);
  EXPECT_EQ(s.num_classes, 1000);
  EXPECT_EQ(s.c_ratio, 8);
  EXPECT_EQ(s.lif.threshold(), 0.5);
  const auto o = res_snn_options(default_model_spec("res-snn-104"));
  EXPECT_EQ(o.blocks(), (std::vector<int64_t>{3, 8, 32, 8}));
  EXPECT_EQ(res_snn_parameter_count(o), 78369598);
  EXPECT_THROW(res_snn_options(default_model_spec("dvs-gesture")), std::invalid_argument);

  const ModelSpec mini = default_model_spec("res-snn-mini");
  EXPECT_EQ(mini.in_channels, 1);
  EXPECT_EQ(mini.input_size, 28);
  EXPECT_EQ(mini.num_classes, 10);
  auto model = build_model(mini);
  const int64_t params = count_parameters(*model.ptr());
  EXPECT_GT(params, 50000);
  EXPECT_LT(params, 500000);
  torch::NoGradGuard ng;
  model.ptr()->eval();
  EXPECT_EQ(model.forward(torch::randn({5, 1, 28, 28})).sizes(), (std::vector<int64_t>{5, 10}));
}

TEST(ResSnnRegistry, CheckpointRoundTrip) {
  TempDir dir("res_snn");
  ModelSpec spec = default_model_spec("res-snn-mini");
  spec.steps = 2;
  spec.attention = AttentionType::parse("TCSA");
  spec.t_ratio = 2;
  torch::manual_seed(7);
  auto model = build_model(spec);
  randomize_bn(*model.ptr());
  train::CheckpointInfo info;
  info.spec = spec;
  train::save_checkpoint(dir.file("ck.pt"), *model.ptr(), nullptr, info);
  train::CheckpointInfo read;
  auto loaded = train::load_model(dir.file("ck.pt"), &read);
  EXPECT_EQ(read.spec.name, "res-snn-mini");
  EXPECT_EQ(read.spec.attention.name(), "TCSA");
  EXPECT_EQ(read.spec.lif.threshold(), 0.5);
  model.ptr()->eval();
  torch::NoGradGuard ng;
  const auto x = torch::randn({3, 1, 28, 28});
  EXPECT_TRUE(torch::equal(model.forward(x), loaded.forward(x)));
}

// ---------------------------------------------------------------------------------------------------
// Import and export in the reference's naming

namespace {

struct Variant {
  const char* tag;
  const char* attention;
  int64_t steps, c_ratio, t_ratio;
};
// The variants of make_res_snn_fixture.py.
const Variant kVariants[] = {
    {"csa_t1", "CSA", 1, 8, 1}, {"csa_t4", "CSA", 4, 8, 1}, {"none_t2", "none", 2, 8, 1}, {"tcsa_t4", "TCSA", 4, 5, 4}};

ResSnnOptions fixture_options(const Variant& v) {
  return ResSnnOptions()
      .blocks({1, 2, 1, 1})
      .widths({8, 16, 24, 32})
      .stem_width(8)
      .num_classes(5)
      .steps(v.steps)
      .attention(attention_of(v.attention, v.c_ratio, v.t_ratio));
}

const std::map<std::string, torch::Tensor>& fixture_outputs() {
  static const auto outputs = read_pytorch_state_dict((kFixture / "res_snn_outputs.pt").string());
  return outputs;
}

}  // namespace

TEST(ResSnnReference, ImportedWeightsGiveTheReferenceLogits) {
  const auto& out = fixture_outputs();
  const torch::Tensor x = out.at("input");
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.tag);
    const std::string file = (kFixture / (std::string("res_snn_") + v.tag + ".pt")).string();
    const auto reference = read_pytorch_state_dict(file);  // csa_t4 carries DistributedDataParallel's "module."
    ASSERT_EQ(reference.count("conv1.0.weight"), 1u);
    const auto options = fixture_options(v);
    ResSnn net(options);
    load_state_dict(*net, res_snn_from_reference(reference, options));

    // Eval mode: stage by stage (each stage's output summed over C,H,W per (t,b)), then the logits.
    net->eval();
    {
      torch::NoGradGuard ng;
      torch::Tensor y = net->stem(x);
      const auto stages = out.at(std::string("stages_") + v.tag);  // [4,T,B]
      for (size_t s = 0; s < net->stages->size(); ++s) {
        for (size_t b = 0; b < net->stages[s]->as<torch::nn::ModuleList>()->size(); ++b) y = net->block(s, b)(y);
        const double d = max_abs_diff(y.sum({2, 3, 4}), stages[static_cast<int64_t>(s)]);
        EXPECT_LE(d, 1e-3) << "stage " << s;
      }
      const auto logits = net->head(y);
      const auto expected = out.at(std::string("logits_eval_") + v.tag);
      const double diff = max_abs_diff(logits, expected);
      EXPECT_LE(diff, 1e-5) << "masnn " << logits << "\nreference " << expected;
      EXPECT_TRUE(torch::equal(net(x), logits));
      std::cout << "[ reference ] " << v.tag << " eval: max |masnn - reference| = " << diff << "\n";
    }
    // Train mode (batch statistics; dropout off as in the fixture): logits and the running statistics after.
    net->train();
    net->dropout->options.p(0.0);
    {
      torch::NoGradGuard ng;
      const auto logits = net(x);
      const double diff = max_abs_diff(logits, out.at(std::string("logits_train_") + v.tag));
      EXPECT_LE(diff, 1e-5);
      EXPECT_LE(max_abs_diff(net->stem_bn->running_var, out.at(std::string("stem_rv_") + v.tag)), 1e-5);
      EXPECT_LE(max_abs_diff(net->block(1, 0)->bn1->running_var, out.at(std::string("block_rv_") + v.tag)), 1e-5);
      std::cout << "[ reference ] " << v.tag << " train: max |masnn - reference| = " << diff << "\n";
    }
  }
}

TEST(ResSnnReference, ExportGivesTheReferenceNamesAndShapes) {
  TempDir dir("res_snn");
  for (const Variant& v : kVariants) {
    SCOPED_TRACE(v.tag);
    const auto reference = read_pytorch_state_dict((kFixture / (std::string("res_snn_") + v.tag + ".pt")).string());
    const auto options = fixture_options(v);
    ResSnn net(options);
    load_state_dict(*net, res_snn_from_reference(reference, options));
    const auto exported = res_snn_to_reference(net);
    ASSERT_EQ(exported.size(), reference.size());
    for (const auto& [k, t] : reference) {
      ASSERT_TRUE(exported.count(k)) << k;
      EXPECT_EQ(exported.at(k).sizes(), t.sizes()) << k;
      EXPECT_EQ(exported.at(k).scalar_type(), t.scalar_type()) << k;
      EXPECT_TRUE(torch::equal(exported.at(k), t)) << k;
    }
    // Through a file and back into a fresh net.
    write_pytorch_state_dict(exported, dir.file("out.pt"));
    ResSnn fresh(options);
    load_state_dict(*fresh, res_snn_from_reference(read_pytorch_state_dict(dir.file("out.pt")), options));
    const auto a = masnn::testing::named_state(*net), b = masnn::testing::named_state(*fresh);
    for (const auto& [k, t] : a) EXPECT_TRUE(torch::equal(b.at(k), t)) << k;
  }
  // Res-SNN-18's names are the reference resnet18()'s: a few spot checks.
  const auto r18 = res_snn_to_reference(ResSnn(ResSnnOptions::depth(18)));
  EXPECT_EQ(r18.size(), 152u);  // the reference resnet18().state_dict() holds 152 entries
  EXPECT_EQ(r18.at("conv1.0.weight").sizes(), (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(r18.at("conv2_x.0.residual_function.6.attention.ca.sharedMLP.0.weight").sizes(),
            (std::vector<int64_t>{8, 64, 1, 1, 1}));
  EXPECT_EQ(r18.at("conv5_x.1.residual_function.6.attention.sa.conv.weight").sizes(),
            (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_EQ(r18.at("conv3_x.0.shortcut.2.bn.num_batches_tracked").scalar_type(), torch::kLong);
  EXPECT_EQ(r18.count("conv3_x.1.shortcut.1.weight"), 0u);  // identity shortcut
  EXPECT_EQ(r18.at("fc.weight").sizes(), (std::vector<int64_t>{1000, 512}));
}

TEST(ResSnnReference, MismatchesNameTheReferenceKey) {
  const Variant v = kVariants[0];
  const auto reference = read_pytorch_state_dict((kFixture / "res_snn_csa_t1.pt").string());
  const auto options = fixture_options(v);

  std::string m = expect_error([&] { res_snn_from_reference(reference, fixture_options(v).num_classes(10)); });
  EXPECT_NE(m.find("key 'fc."), std::string::npos) << m;
  EXPECT_NE(m.find("number of classes"), std::string::npos) << m;

  auto missing = reference;
  missing.erase("conv3_x.1.residual_function.5.bn.running_var");
  m = expect_error([&] { res_snn_from_reference(missing, options); });
  EXPECT_NE(m.find("missing key 'conv3_x.1.residual_function.5.bn.running_var'"), std::string::npos) << m;
  EXPECT_NE(m.find("stages.1.1.bn2.running_var"), std::string::npos) << m;

  // A deeper net than the reference: a whole block is missing.
  m = expect_error([&] { res_snn_from_reference(reference, fixture_options(v).blocks({1, 3, 1, 1})); });
  EXPECT_NE(m.find("missing key 'conv3_x.2."), std::string::npos) << m;
  EXPECT_NE(m.find("check the depth"), std::string::npos) << m;

  auto unknown = reference;
  unknown["conv2_x.0.residual_function.3.weight"] = torch::zeros({1});
  m = expect_error([&] { res_snn_from_reference(unknown, options); });
  EXPECT_NE(m.find("unknown key 'conv2_x.0.residual_function.3.weight'"), std::string::npos) << m;

  auto extra_block = reference;
  extra_block["conv5_x.1.residual_function.1.weight"] = torch::zeros({32, 32, 3, 3});
  m = expect_error([&] { res_snn_from_reference(extra_block, options); });
  EXPECT_NE(m.find("unexpected key 'conv5_x.1.residual_function.1.weight'"), std::string::npos) << m;

  // CSA weights into a net without attention, and the other way round.
  m = expect_error([&] { res_snn_from_reference(reference, fixture_options({"x", "none", 1, 8, 1})); });
  EXPECT_NE(m.find("unexpected key"), std::string::npos) << m;
  EXPECT_NE(m.find(".attention."), std::string::npos) << m;
  const auto plain = read_pytorch_state_dict((kFixture / "res_snn_none_t2.pt").string());
  m = expect_error([&] { res_snn_from_reference(plain, options); });
  EXPECT_NE(m.find("missing key"), std::string::npos) << m;
  EXPECT_NE(m.find("attention CSA"), std::string::npos) << m;

  // A wrong c_ratio shows in the CA MLP's shape.
  m = expect_error([&] { res_snn_from_reference(reference, fixture_options({"x", "CSA", 1, 4, 1})); });
  EXPECT_NE(m.find("c_ratio"), std::string::npos) << m;

  // Learnable decay and per-step CA/SA have no reference counterpart.
  EXPECT_NE(expect_error([&] {
              res_snn_to_reference(ResSnn(tiny(1).lif(LIFOptions::reference_resnet().learnable_decay(true))));
            }).find("learnable decay"),
            std::string::npos);
  auto per_step = tiny(2);
  auto a = per_step.attention();
  a.per_step = true;
  per_step.attention(a);
  EXPECT_NE(expect_error([&] { res_snn_to_reference(ResSnn(per_step)); }).find("per-step"), std::string::npos);
}
