// Attention modules: shapes, ranges, hand-computed cases, gradients, and the in-loop (activate-pre) LIF.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "attention/attention_kernels.h"
#include "masnn/attention/attentive_lif.h"
#include "attention/fused_attention.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/util/monitor.h"

using namespace masnn;

namespace {

double sigmoid(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

void set_identity(SharedMLP& mlp) {
  torch::NoGradGuard ng;
  mlp->fc1->weight.copy_(torch::eye(mlp->features));
  mlp->fc2->weight.copy_(torch::eye(mlp->features));
}

void expect_all_params_get_gradients(torch::nn::Module& m) {
  for (const auto& p : m.named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key() << " got a zero gradient";
  }
}

}  // namespace

TEST(AttentionType, ParsesAllNames) {
  EXPECT_EQ(AttentionType::parse("none").name(), "none");
  EXPECT_EQ(AttentionType::parse("no").name(), "none");
  for (const char* n : {"TA", "CA", "SA", "TCA", "TSA", "CSA", "TCSA"}) EXPECT_EQ(AttentionType::parse(n).name(), n);
  EXPECT_EQ(AttentionType::parse("ma").name(), "TCSA");
  EXPECT_THROW(AttentionType::parse("XA"), std::invalid_argument);
  EXPECT_THROW(AttentionType::parse("CTA"), std::invalid_argument);
  EXPECT_EQ(parse_attention_placement("activate-pre"), AttentionPlacement::ActivatePre);
  EXPECT_THROW(parse_attention_placement("pre"), std::invalid_argument);
}

TEST(TemporalAttention, HandComputed) {
  TemporalAttention ta(TemporalAttentionOptions(2).ratio(1));
  set_identity(ta->mlp);
  // [T=2,B=1,C=1,H=1,W=2]: t0 = {1,3} (avg 2, max 3), t1 = {-1,-2} (avg -1.5, max -1).
  auto x = torch::tensor({1.f, 3.f, -1.f, -2.f}).view({2, 1, 1, 1, 2});
  auto w = ta(x);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{2, 1, 1, 1, 1}));
  EXPECT_NEAR(w[0].item<double>(), sigmoid(2 + 3), 1e-6);  // relu keeps both
  EXPECT_NEAR(w[1].item<double>(), sigmoid(0 + 0), 1e-6);  // relu zeroes both
  // fc form [T,B,F]
  EXPECT_EQ(ta(torch::randn({2, 3, 7})).sizes(), (std::vector<int64_t>{2, 3, 1}));
  EXPECT_THROW(ta(torch::randn({3, 1, 4})), c10::Error);  // wrong T
}

TEST(ChannelAttention, HandComputed) {
  ChannelAttention ca(ChannelAttentionOptions(2).ratio(1));
  set_identity(ca->mlp);
  // [T=2,B=1,C=2,H=1,W=2]; channel 0 holds 1..4 over (t,w): avg 2.5, max 4; channel 1 all -1.
  auto x = torch::tensor({1.f, 2.f, -1.f, -1.f, 3.f, 4.f, -1.f, -1.f}).view({2, 1, 2, 1, 2});
  auto w = ca(x);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{1, 1, 2, 1, 1}));
  EXPECT_NEAR(w.flatten()[0].item<double>(), sigmoid(2.5 + 4), 1e-6);
  EXPECT_NEAR(w.flatten()[1].item<double>(), 0.5, 1e-6);
  // Per step (the paper's variant): step 0 channel 0 = {1,2}: avg 1.5, max 2.
  ChannelAttention cas(ChannelAttentionOptions(2).ratio(1).per_step(true));
  set_identity(cas->mlp);
  auto ws = cas(x);
  ASSERT_EQ(ws.sizes(), (std::vector<int64_t>{2, 1, 2, 1, 1}));
  EXPECT_NEAR(ws[0].flatten()[0].item<double>(), sigmoid(1.5 + 2), 1e-6);
  EXPECT_TRUE(torch::allclose(cas->forward_step(x[1]), ws[1]));
}

TEST(SpatialAttention, HandComputed) {
  SpatialAttention sa;
  {
    torch::NoGradGuard ng;
    sa->conv->weight.zero_();
    sa->conv->weight[0][0][1][1] = 1.0;  // mean map, centre tap
    sa->conv->weight[0][1][1][1] = 2.0;  // max map, centre tap
  }
  // [T=1,B=1,C=2,H=1,W=2]: pixel 0 channels {1,3}: mean 2, max 3; pixel 1 {0,-2}: mean -1, max 0.
  auto x = torch::tensor({1.f, 0.f, 3.f, -2.f}).view({1, 1, 2, 1, 2});
  auto w = sa(x);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{1, 1, 1, 1, 2}));
  EXPECT_NEAR(w.flatten()[0].item<double>(), sigmoid(2 + 2 * 3), 1e-6);
  EXPECT_NEAR(w.flatten()[1].item<double>(), sigmoid(-1 + 0), 1e-6);
}

TEST(MultiDimAttention, AppliesTThenCThenSThenRelu) {
  torch::manual_seed(0);
  MultiDimAttention m(MultiDimAttentionOptions(AttentionType::parse("TCSA"), 6, 16).t_ratio(2).c_ratio(4));
  auto x = torch::randn({6, 3, 16, 5, 5});
  AttentionWeights w;
  auto y = m->forward_with_weights(x, w);
  ASSERT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(torch::equal(y, m(x)));
  auto a = x * m->ta(x);
  auto b = a * m->ca(a);
  auto expected = torch::relu(b * m->sa(b));
  EXPECT_TRUE(torch::allclose(y, expected, 1e-6, 1e-6));
  EXPECT_EQ(w.temporal.sizes(), (std::vector<int64_t>{6, 3, 1, 1, 1}));
  EXPECT_EQ(w.channel.sizes(), (std::vector<int64_t>{1, 3, 16, 1, 1}));
  EXPECT_EQ(w.spatial.sizes(), (std::vector<int64_t>{1, 3, 1, 5, 5}));
  for (const auto& t : {w.temporal, w.channel, w.spatial}) {
    EXPECT_GT(t.min().item<double>(), 0.0);
    EXPECT_LT(t.max().item<double>(), 1.0);
  }
}

TEST(MultiDimAttention, EveryCompositeHasItsModulesAndGradients) {
  for (const char* name : {"TA", "CA", "SA", "TCA", "TSA", "CSA", "TCSA"}) {
    SCOPED_TRACE(name);
    const auto type = AttentionType::parse(name);
    torch::manual_seed(1);
    for (bool per_step : {false, true}) {
      MultiDimAttention m(MultiDimAttentionOptions(type, 5, 8).t_ratio(2).c_ratio(2).per_step(per_step));
      EXPECT_EQ(static_cast<bool>(m->ta), type.temporal);
      EXPECT_EQ(static_cast<bool>(m->ca), type.channel);
      EXPECT_EQ(static_cast<bool>(m->sa), type.spatial);
      auto x = torch::randn({5, 2, 8, 4, 4}).requires_grad_(true);
      auto y = m(x);
      (y * torch::randn_like(y)).sum().backward();
      expect_all_params_get_gradients(*m);
      EXPECT_GT(x.grad().abs().sum().item<double>(), 0.0);
    }
  }
}

// The fused Conv-POST path (fused_attention.h) against the composed LibTorch ops: outputs, the recorded
// weights, and the gradients of the input and of every parameter, for every composite, with and without the
// ReLU, in float and double, at sizes with one and several parallel tasks.
TEST(MultiDimAttention, FusedMatchesComposedValuesAndGradients) {
  struct Case {
    int64_t T, B, C, H, W;
  };
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = dtype == torch::kDouble ? 1e-10 : 2e-5;
    for (const Case& k : {Case{5, 2, 8, 4, 4}, Case{4, 3, 16, 9, 7}, Case{1, 1, 8, 1, 1}}) {
      for (const char* name : {"TA", "CA", "SA", "TCA", "TSA", "CSA", "TCSA"}) {
        for (bool relu : {true, false}) {
          SCOPED_TRACE(std::string(name) + (relu ? " relu " : " no-relu ") + torch::toString(dtype) +
                       " T=" + std::to_string(k.T) + " C=" + std::to_string(k.C) + " H=" + std::to_string(k.H));
          torch::manual_seed(7);
          MultiDimAttention m(MultiDimAttentionOptions(AttentionType::parse(name), k.T, k.C)
                                  .t_ratio(k.T > 1 ? 2 : 1)
                                  .c_ratio(4)
                                  .relu(relu));
          m->to(dtype);
          const auto x0 = torch::randn({k.T, k.B, k.C, k.H, k.W}, dtype);
          const auto g = torch::randn_like(x0);
          auto run = [&](bool fused) {
            m->options.fused(fused);
            m->zero_grad();
            auto x = x0.clone().requires_grad_(true);
            AttentionWeights weights;
            auto y = m->forward_with_weights(x, weights);
            (y * g).sum().backward();
            std::vector<torch::Tensor> out = {y.detach(), x.grad()};
            for (const auto& p : m->parameters()) out.push_back(p.grad().clone());
            for (const auto& w : {weights.temporal, weights.channel, weights.spatial})
              if (w.defined()) out.push_back(w);
            return out;
          };
          const auto composed = run(false), fused = run(true);
          ASSERT_EQ(fused.size(), composed.size());
          for (size_t i = 0; i < fused.size(); ++i) {
            ASSERT_EQ(fused[i].sizes(), composed[i].sizes()) << "tensor " << i;
            EXPECT_TRUE(torch::allclose(fused[i], composed[i], tol, tol))
                << "tensor " << i << " (0 output, 1 input gradient, then parameter gradients, then weights): max diff "
                << (fused[i] - composed[i]).abs().max().item<double>();
          }
        }
      }
    }
  }
}

// Pooled maxima tie often in a network (a receptive field without spikes gives the bias): the fused kernels and
// the composed ops both send the gradient of a tied maximum to the first one (T, then C, then H*W order), as the
// reference's max pooling does; amax would split it.
TEST(MultiDimAttention, FusedAndComposedRouteTiedMaximaAlike) {
  for (const char* name : {"TA", "CA", "SA", "TCSA"}) {
    SCOPED_TRACE(name);
    torch::manual_seed(8);
    MultiDimAttention m(MultiDimAttentionOptions(AttentionType::parse(name), 3, 8).t_ratio(1).c_ratio(4));
    m->to(torch::kDouble);
    const auto x0 = torch::randint(0, 3, {3, 2, 8, 4, 4}, torch::kDouble);  // values 0, 1, 2: ties everywhere
    const auto g = torch::randn_like(x0);
    auto run = [&](bool fused) {
      m->options.fused(fused);
      m->zero_grad();
      auto x = x0.clone().requires_grad_(true);
      (m->forward(x) * g).sum().backward();
      std::vector<torch::Tensor> out = {x.grad()};
      for (const auto& p : m->parameters()) out.push_back(p.grad().clone());
      return out;
    };
    const auto composed = run(false), fused = run(true);
    for (size_t i = 0; i < fused.size(); ++i)
      EXPECT_LE((fused[i] - composed[i]).abs().max().item<double>(), 1e-10) << "tensor " << i;
  }
}

TEST(FusedAttention, PoolsAndScaleMatchLibTorchOps) {
  torch::manual_seed(3);
  const auto x = torch::randn({3, 2, 4, 5, 6}, torch::kDouble).requires_grad_(true);
  const auto a = torch::rand({3, 2, 4}, torch::kDouble).add(0.1).requires_grad_(true);
  const auto w = torch::rand({2, 5, 6}, torch::kDouble).add(0.1).requires_grad_(true);
  auto [sum, max] = functional::spatial_sum_max(x);
  EXPECT_TRUE(torch::allclose(sum, x.sum(at::IntArrayRef{3, 4})));
  EXPECT_TRUE(torch::allclose(max, x.amax(at::IntArrayRef{3, 4})));
  const auto y = x * a.view({3, 2, 4, 1, 1});
  auto [mean, mx] = functional::scaled_mean_max_tc(x, a);
  EXPECT_TRUE(torch::allclose(mean, y.mean(at::IntArrayRef{0, 2})));
  EXPECT_TRUE(torch::allclose(mx, y.amax(at::IntArrayRef{0, 2})));
  const auto out = functional::scale_tbc(x, a, w, true);
  EXPECT_TRUE(torch::allclose(out, torch::relu(y * w.unsqueeze(0).unsqueeze(2))));
  // Gradients by finite differences (random inputs: no ties in the maxima).
  auto f = [&](const std::vector<torch::Tensor>& in) {
    auto [s1, m1] = functional::spatial_sum_max(in[0]);
    auto [m2, x2] = functional::scaled_mean_max_tc(in[0], in[1]);
    const auto o = functional::scale_tbc(in[0], in[1], in[2], true);
    return (s1 * 0.3).sum() + (m1 * 0.7).sum() + (m2 * 1.1).sum() + (x2 * 0.9).sum() + (o * o).sum();
  };
  const std::vector<torch::Tensor> in = {x, a, w};
  f(in).backward();
  const double eps = 1e-6;
  for (size_t k = 0; k < in.size(); ++k) {
    const auto flat = in[k].detach().view(-1);
    for (int64_t i = 0; i < flat.numel(); i += 7) {
      std::vector<torch::Tensor> plus, minus;
      for (const auto& t : in) {
        plus.push_back(t.detach().clone());
        minus.push_back(t.detach().clone());
      }
      plus[k].view(-1)[i] += eps;
      minus[k].view(-1)[i] -= eps;
      const double fd = (f(plus) - f(minus)).item<double>() / (2 * eps);
      EXPECT_NEAR(in[k].grad().view(-1)[i].item<double>(), fd, 1e-5) << "input " << k << " element " << i;
    }
  }
  EXPECT_THROW(functional::scale_tbc(x, a.view({6, 4}), w, true), c10::Error);
  EXPECT_THROW(functional::spatial_sum_max(torch::randn({2, 3})), c10::Error);
}

// The vectorised spatial pooling keeps the first position of a repeated maximum (where the max-pool gradient
// goes), and stays inside a row whose values are all NaN.
TEST(FusedAttention, RowMaxKeepsTheFirstOfTiedMaxima) {
  const float nan = std::nanf("");
  // Row 0: ties at 2 and 5 (of 7 values: past one vector width); row 1: the max first; row 2: all NaN.
  const std::vector<float> x = {1, 0, 4, 3, 2, 4, -1, 7, 1, 2, 3, 4, 5, 6, nan, nan, nan, nan, nan, nan, nan};
  std::vector<float> sum(3), max(3);
  std::vector<int32_t> arg(3, -1);
  kernels::row_sum_max(x.data(), 3, 7, sum.data(), max.data(), arg.data());
  EXPECT_FLOAT_EQ(sum[0], 13);
  EXPECT_FLOAT_EQ(max[0], 4);
  EXPECT_EQ(arg[0], 2);
  EXPECT_FLOAT_EQ(sum[1], 28);
  EXPECT_FLOAT_EQ(max[1], 7);
  EXPECT_EQ(arg[1], 0);
  EXPECT_GE(arg[2], 0);
  EXPECT_LT(arg[2], 7);
}

TEST(MultiDimAttention, FcFormAllowsTemporalOnly) {
  MultiDimAttention ta(MultiDimAttentionOptions(AttentionType::parse("TA"), 4, 0).t_ratio(2));
  EXPECT_EQ(ta(torch::randn({4, 2, 10})).sizes(), (std::vector<int64_t>{4, 2, 10}));
  MultiDimAttention ca(MultiDimAttentionOptions(AttentionType::parse("CA"), 4, 10));
  EXPECT_THROW(ca(torch::randn({4, 2, 10})), c10::Error);
  EXPECT_THROW(TemporalAttention(TemporalAttentionOptions(4).ratio(5)), c10::Error);  // 4/5 = 0 hidden units
}

namespace {

struct Run {
  torch::Tensor spikes, gx;
  std::vector<torch::Tensor> gparams;
};

Run run_attentive(AttentiveLIF& m, const torch::Tensor& x, const torch::Tensor& gs) {
  m->zero_grad();
  auto xx = x.clone().requires_grad_(true);
  auto s = m(xx);
  (s * gs).sum().backward();
  Run r{s.detach(), xx.grad(), {}};
  for (auto& p : m->parameters()) r.gparams.push_back(p.grad().clone());
  return r;
}

}  // namespace

TEST(AttentiveLIF, FusedStepMatchesComposed) {
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    for (auto lif : {LIFOptions::reference_dvs(), LIFOptions::reference_resnet(),
                     LIFOptions().surrogate(SurrogateKind::Sigmoid).reset(ResetMode::Soft).learnable_decay(true)}) {
      torch::manual_seed(2);
      AttentiveLIF fused(AttentiveLIFOptions(8).c_ratio(2).lif(lif));
      fused->to(dtype);
      auto composed_opts = fused->options;
      composed_opts.lif(LIFOptions(lif).backend(LIFBackend::Composed));
      AttentiveLIF composed(composed_opts);
      composed->to(dtype);
      {
        torch::NoGradGuard ng;
        auto src = fused->parameters(), dst = composed->parameters();
        for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
      }
      auto x = (torch::rand({7, 2, 8, 5, 5}) * 2.5).to(dtype);
      auto gs = torch::randn({7, 2, 8, 5, 5}).to(dtype);
      auto f = run_attentive(fused, x, gs);
      auto c = run_attentive(composed, x, gs);
      ASSERT_TRUE(torch::equal(f.spikes, c.spikes));
      EXPECT_GT(f.spikes.sum().item<double>(), 0.0);
      const double tol = dtype == torch::kDouble ? 1e-10 : 1e-5;
      EXPECT_TRUE(torch::allclose(f.gx, c.gx, tol, tol)) << (f.gx - c.gx).abs().max();
      ASSERT_EQ(f.gparams.size(), c.gparams.size());
      for (size_t i = 0; i < f.gparams.size(); ++i) {
        EXPECT_GT(f.gparams[i].abs().sum().item<double>(), 0.0) << "parameter " << i << " got no gradient";
        EXPECT_TRUE(torch::allclose(f.gparams[i], c.gparams[i], tol, tol)) << "parameter " << i;
      }
    }
  }
}

TEST(AttentiveLIF, WithoutAttentionItIsThePlainLIF) {
  torch::manual_seed(3);
  AttentiveLIF m(AttentiveLIFOptions(4).channel_attention(false).spatial_attention(false));
  auto x = torch::rand({9, 2, 4, 3, 3}) * 0.6;
  EXPECT_TRUE(torch::equal(m(x), functional::lif(x, LIFOptions::reference_dvs()).spikes));
}

TEST(AttentiveLIF, AttentionActsOnEachStepsMembrane) {
  // With a huge negative SA bias-free conv weight on the max map, every pixel is suppressed to ~0 weight:
  // the membrane never reaches threshold, while the plain LIF fires on the same input.
  AttentiveLIF m(AttentiveLIFOptions(4).channel_attention(false));
  {
    torch::NoGradGuard ng;
    m->sa->conv->weight.zero_();
    m->sa->conv->weight[0][1][1][1] = -100.0;
  }
  // A monitor sees the weights of every step (masnn/util/monitor.h).
  struct Weights : Monitor {
    void on_attention(const std::string&, const AttentionEvent& e) override { spatial = e.spatial; }
    torch::Tensor spatial;
  } seen;
  auto x = torch::full({5, 1, 4, 3, 3}, 0.5);
  {
    MonitorScope scope(seen, *m);
    EXPECT_EQ(m(x).sum().item<double>(), 0.0);
  }
  EXPECT_GT(functional::lif(x, LIFOptions::reference_dvs()).spikes.sum().item<double>(), 0.0);
  EXPECT_EQ(seen.spatial.sizes(), (std::vector<int64_t>{5, 1, 1, 3, 3}));
  EXPECT_LT(seen.spatial.max().item<double>(), 1e-6);
}
