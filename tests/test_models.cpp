// The DVS networks: parameter counts of REFERENCE.md 3.1, shapes, both attention placements, training signal.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "masnn/models/dvs_net.h"
#include "masnn/models/fusion.h"
#include "masnn/models/registry.h"
#include "models/lean_ops.h"
#include "test_support.h"

using namespace masnn;

TEST(DvsNet, GestureParameterCountsMatchTheReference) {
  EXPECT_EQ(count_parameters(*DvsNet(DvsNetOptions::gesture(16, AttentionType::parse("none")))), 2324065);
  EXPECT_EQ(count_parameters(*DvsNet(DvsNetOptions::gesture(16, AttentionType::parse("TCSA")))), 2333815);
  EXPECT_EQ(count_parameters(*DvsNet(DvsNetOptions::gesture(60, AttentionType::parse("TCSA")))), 2340535);
}

TEST(DvsNet, PlacementMovesCaAndSaIntoTheNeuronWithTheSameParameters) {
  auto opts = DvsNetOptions::gesture(16, AttentionType::parse("TCSA"));
  auto pre = opts;
  auto a = opts.attention();
  a.placement = AttentionPlacement::ActivatePre;
  pre.attention(a);
  DvsNet net(pre);
  EXPECT_EQ(count_parameters(*net), 2333815);
  auto block = net->convs[0]->as<SpikingConvBlock>();
  ASSERT_TRUE(block->attentive_lif);
  EXPECT_TRUE(block->attentive_lif->ca && block->attentive_lif->sa);
  ASSERT_TRUE(block->attention);
  EXPECT_TRUE(block->attention->ta && !block->attention->ca && !block->attention->sa);
}

TEST(DvsNet, ForwardAndBackwardForEveryAttentionType) {
  for (auto placement : {AttentionPlacement::ConvPost, AttentionPlacement::ActivatePre}) {
    for (const char* name : {"none", "TA", "CA", "SA", "TCA", "TSA", "CSA", "TCSA"}) {
      SCOPED_TRACE(std::string(name) + " " + to_string(placement));
      torch::manual_seed(0);
      auto o = DvsNetOptions::gesture(5, AttentionType::parse(name)).input_size(16).hidden({32});
      auto a = o.attention();
      a.placement = placement;
      a.t_ratio = 2;
      o.attention(a);
      DvsNet net(o);
      auto x = (torch::rand({5, 2, 2, 16, 16}) < 0.3).to(torch::kFloat) * 2;
      auto y = net(x);
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{2, 11}));
      EXPECT_GE(y.min().item<double>(), 0.0);  // firing rates
      EXPECT_LE(y.max().item<double>(), 1.0);
      torch::mse_loss(y, torch::zeros_like(y)).backward();
      EXPECT_TRUE(net->convs[0]->as<SpikingConvBlock>()->conv->weight.grad().defined());
    }
  }
}

TEST(DvsNet, GaitShapes) {
  auto o = DvsNetOptions::gait(2, AttentionType::parse("TCSA"));
  DvsNet net(o);
  torch::NoGradGuard ng;
  net->eval();
  EXPECT_EQ(net(torch::zeros({2, 1, 2, 128, 128})).sizes(), (std::vector<int64_t>{1, 21}));
}

TEST(DvsNet, LearnsATinyTask) {
  // Two classes that differ in where the input is active; a few Adam steps must drive the MSE down.
  torch::manual_seed(1);
  auto o = DvsNetOptions::gesture(4, AttentionType::parse("TCSA"))
               .input_size(8)
               .channels({8, 8})
               .pools({1, 2})
               .hidden({16})
               .num_classes(2);
  auto a = o.attention();
  a.t_ratio = 2;
  a.c_ratio = 2;
  o.attention(a);
  DvsNet net(o);
  auto x = torch::zeros({4, 16, 2, 8, 8});
  auto labels = torch::arange(16) % 2;
  for (int i = 0; i < 16; ++i) {
    if (labels[i].item<int64_t>() == 0)
      x.index_put_({torch::indexing::Slice(), i, 0, torch::indexing::Slice(0, 4)}, 1.0);
    else
      x.index_put_({torch::indexing::Slice(), i, 1, torch::indexing::Slice(4, 8)}, 1.0);
  }
  auto target = torch::one_hot(labels, 2).to(torch::kFloat);
  torch::optim::Adam opt(net->parameters(), 1e-2);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    auto loss = torch::mse_loss(net(x), target);
    loss.backward();
    opt.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.5) << "first " << first << " last " << last;
}

TEST(DvsNet, BadInputIsAClearError) {
  DvsNet net(DvsNetOptions::gesture(4, AttentionType::parse("none")));
  try {
    net(torch::zeros({4, 1, 2, 64, 64}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("[T,B,2,32,32]"), std::string::npos);
  }
  EXPECT_THROW(DvsNet(DvsNetOptions().channels({8}).pools({3})), c10::Error);
}

// The memory-lean layer ops give LibTorch's values and gradients.
TEST(LeanOps, PoolConvAndLinearMatchLibTorch) {
  torch::manual_seed(4);
  auto grads_of = [](const torch::Tensor& x0, torch::nn::Module& m,
                     const std::function<torch::Tensor(torch::Tensor)>& f) {
    m.zero_grad();
    auto x = x0.clone().requires_grad_(true);
    auto y = f(x);
    (y * torch::linspace(-1, 1, y.numel(), y.options()).view(y.sizes())).sum().backward();
    std::vector<torch::Tensor> out = {y.detach(), x.grad()};
    for (const auto& p : m.parameters()) out.push_back(p.grad().clone());
    return out;
  };
  // Within float rounding of the tensor's own scale: the sums run in another order (and oneDNN's order differs
  // between LibTorch versions).
  auto expect_same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      const double diff = (a[i] - b[i]).abs().max().item<double>();
      EXPECT_LE(diff, 1e-5 * std::max(1.0, b[i].abs().max().item<double>())) << "tensor " << i << " max diff " << diff;
    }
  };
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 5, 3).padding(1));
  torch::nn::Linear linear(12, 4);
  torch::nn::Sequential none;
  const auto spikes = torch::rand({6, 3, 7, 9}).lt(0.3).to(torch::kFloat);
  expect_same(grads_of(spikes, *conv, [&](torch::Tensor x) { return functional::conv2d_binary_input(x, *conv); }),
              grads_of(spikes, *conv, [&](torch::Tensor x) { return conv(x); }));
  // In chunks of 4 rows (6 = 4 + 2): forward and backward run per chunk, the same numbers come out.
  const int64_t row_bytes = 5 * 7 * 9 * 4;
  expect_same(grads_of(spikes, *conv,
                       [&](torch::Tensor x) { return functional::conv2d_binary_input(x, *conv, 4 * row_bytes); }),
              grads_of(spikes, *conv, [&](torch::Tensor x) { return conv(x); }));
  const auto flat = torch::rand({10, 12}).lt(0.2).to(torch::kFloat);
  expect_same(grads_of(flat, *linear, [&](torch::Tensor x) { return functional::linear_binary_input(x, *linear); }),
              grads_of(flat, *linear, [&](torch::Tensor x) { return linear(x); }));
  for (int64_t k : {1, 2, 4}) {
    const auto x = torch::randn({3, 2, 8, 12});
    expect_same(grads_of(x, *none, [&](torch::Tensor v) { return functional::avg_pool2d_lean(v, k); }),
                grads_of(x, *none, [&](torch::Tensor v) { return torch::avg_pool2d(v, k); }));
  }
  const auto odd = torch::randn({1, 1, 5, 5});  // not a multiple of 2: LibTorch's own pooling
  EXPECT_TRUE(torch::equal(functional::avg_pool2d_lean(odd, 2), torch::avg_pool2d(odd, 2)));
}

// Every network equals its unfused chain (unfuse): outputs, the gradient of every parameter and the BN statistics,
// in training. Res-SNN-34 and -104 are Res-SNN-18's blocks at other depths, left out for time; a DVS network with
// activate-pre attention is added. The inputs are dense (continuous frames, about a third of the neurons firing), so
// that no pooled maximum is tied: at ties the fused attention routes the max's gradient to the first maximum of
// each row and splits it across rows, the composed ops split it evenly (both are subgradients).
TEST(Fusion, EveryNetworkEqualsItsUnfusedChain) {
  std::vector<ModelSpec> specs;
  for (const auto& [name, _] : model_names())
    if (name != "res-snn-34" && name != "res-snn-104") specs.push_back(masnn::testing::small_spec(name));
  ModelSpec pre = masnn::testing::small_spec("dvs-small");
  pre.placement = AttentionPlacement::ActivatePre;
  specs.push_back(pre);
  for (const ModelSpec& spec : specs) {
    SCOPED_TRACE(spec.name + " " + to_string(spec.placement));
    auto build = [&] {
      torch::manual_seed(5);
      torch::nn::AnyModule m = build_model(spec);
      m.ptr()->to(torch::kFloat64);
      torch::NoGradGuard ng;
      if (!is_res_snn(spec.name)) {  // BN scales at which the DVS networks fire under three attention weights
        for (auto& p : m.ptr()->named_parameters())
          if (p.key().find("bn.weight") != std::string::npos) p.value().fill_(4.0);
      }
      return m;
    };
    torch::nn::AnyModule fused = build(), unfused = build();
    unfuse(*unfused.ptr());
    std::ostringstream shown_fused, shown_unfused;  // the switches differ, and pretty_print shows them
    for (const auto& m : fused.ptr()->modules()) m->pretty_print(shown_fused);
    for (const auto& m : unfused.ptr()->modules()) m->pretty_print(shown_unfused);
    EXPECT_NE(shown_fused.str(), shown_unfused.str());
    torch::manual_seed(6);
    torch::Tensor x = example_input(spec, 3).to(torch::kFloat64);
    x = is_res_snn(spec.name) ? torch::randn(x.sizes(), x.options()) : torch::rand(x.sizes(), x.options()) * 3;
    torch::manual_seed(7);  // the same dropout masks (Res-SNN head)
    const torch::Tensor yf = fused.forward(x);
    torch::manual_seed(7);
    const torch::Tensor yu = unfused.forward(x);
    EXPECT_LE((yf - yu).abs().max().item<double>(), 1e-9);
    const torch::Tensor weights = torch::randn(yf.sizes(), yf.options());
    (yf * weights).sum().backward();
    (yu * weights).sum().backward();
    const auto pu = unfused.ptr()->named_parameters();
    double largest = 0;
    for (const auto& p : fused.ptr()->named_parameters()) {
      const torch::Tensor gf = p.value().grad(), gu = pu[p.key()].grad();
      ASSERT_EQ(gf.defined(), gu.defined()) << p.key();
      if (!gf.defined()) continue;
      EXPECT_LE((gf - gu).abs().max().item<double>(), 1e-9 * std::max(1.0, gu.abs().max().item<double>())) << p.key();
      largest = std::max(largest, gf.abs().max().item<double>());
    }
    EXPECT_GT(largest, 0);  // gradients flowed
    const auto bu = unfused.ptr()->named_buffers();
    for (const auto& b : fused.ptr()->named_buffers()) {
      if (b.value().is_floating_point()) {
        EXPECT_LE((b.value() - bu[b.key()]).abs().max().item<double>(), 1e-12) << b.key();
      }
    }
  }
}
