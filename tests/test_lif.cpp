// Fused LIF against the composed oracle and against hand-computed values.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attention/fused_attention.h"
#include "masnn/neuron/lif.h"
#include "neuron/lif_kernels_cuda.h"

using namespace masnn;

namespace {

struct Grads {
  torch::Tensor spikes, state, gx, gh0, gdecay;
};

// Runs one backend on copies of the inputs with a loss that uses spikes and the final state, so every
// gradient path (surrogate, reset, state carry, decay) is exercised.
Grads run(const LIFOptions& o, LIFBackend backend, const torch::Tensor& x, const torch::Tensor& h0,
          const torch::Tensor& decay, const torch::Tensor& gs, const torch::Tensor& gh) {
  auto xx = x.clone().requires_grad_(true);
  auto hh = h0.defined() ? h0.clone().requires_grad_(true) : h0;
  auto dd = decay.defined() ? decay.clone().requires_grad_(true) : decay;
  auto r = functional::lif(xx, LIFOptions(o).backend(backend), hh, dd);
  auto loss = (r.spikes * gs).sum() + (r.state * gh).sum();
  loss.backward();
  return {r.spikes.detach(), r.state.detach(), xx.grad(), hh.defined() ? hh.grad() : hh, dd.defined() ? dd.grad() : dd};
}

void expect_same(const LIFOptions& o, std::vector<int64_t> shape, bool with_h0, bool learn_decay,
                 torch::Dtype dtype = torch::kFloat, torch::Device device = torch::kCPU) {
  torch::manual_seed(shape.size() * 7 + shape[0]);
  const auto opts = torch::TensorOptions().dtype(dtype).device(device);
  // Values around the threshold so that spikes, windows and resets all occur.
  auto x = torch::randn(shape, opts) * 0.4 + o.threshold() * 0.5;
  std::vector<int64_t> step(shape.begin() + 1, shape.end());
  auto h0 = with_h0 ? torch::randn(step, opts) * 0.3 : torch::Tensor();
  auto decay = learn_decay ? torch::scalar_tensor(o.decay(), opts) : torch::Tensor();
  auto gs = torch::randn(shape, opts);
  auto gh = torch::randn(step, opts);
  auto f = run(o, LIFBackend::Fused, x, h0, decay, gs, gh);
  auto c = run(o, LIFBackend::Composed, x, h0, decay, gs, gh);
  ASSERT_TRUE(torch::equal(f.spikes, c.spikes)) << "spikes differ";
  EXPECT_GT(f.spikes.sum().item<double>(), 0) << "test input produced no spikes";
  EXPECT_TRUE(torch::allclose(f.state, c.state, 1e-6, 1e-6)) << "final state differs";
  const double tol = 1e-6 * std::max(1.0, c.gx.abs().max().item<double>());
  EXPECT_LE((f.gx - c.gx).abs().max().item<double>(), tol) << "grad x differs";
  if (with_h0) {
    EXPECT_LE((f.gh0 - c.gh0).abs().max().item<double>(), tol) << "grad h0 differs";
  }
  if (learn_decay) {
    EXPECT_NEAR(f.gdecay.item<double>(), c.gdecay.item<double>(), 1e-5 * std::max(1.0, c.gdecay.abs().item<double>()));
  }
}

std::vector<LIFOptions> all_variants() {
  std::vector<LIFOptions> v{LIFOptions::reference_dvs(), LIFOptions::reference_resnet()};
  for (auto reset : {ResetMode::Hard, ResetMode::Soft, ResetMode::None})
    for (bool detach : {false, true})
      for (auto sg : {SurrogateKind::Rectangular, SurrogateKind::Sigmoid, SurrogateKind::Arctan})
        v.push_back(LIFOptions()
                        .threshold(0.4)
                        .v_reset(-0.1)
                        .decay(0.6)
                        .bias(0.01)
                        .reset(reset)
                        .detach_reset(detach)
                        .surrogate(sg)
                        .surrogate_width(0.7)
                        .fire_at_equal(detach));
  return v;
}

}  // namespace

TEST(LIF, FusedMatchesComposedForEveryVariant) {
  for (const auto& o : all_variants()) {
    SCOPED_TRACE(to_string(o.reset()) + " detach=" + std::to_string(o.detach_reset()) + " " + to_string(o.surrogate()));
    expect_same(o, {6, 3, 5, 7}, false, false);
    expect_same(o, {1, 4, 3}, false, false);   // T = 1
    expect_same(o, {9, 2, 300}, true, false);  // more neurons than one kernel tile, odd sizes, h0
    expect_same(o, {5, 3, 11}, true, true);    // learnable decay
  }
}

TEST(LIF, FusedMatchesComposedInDouble) {
  for (const auto& o : all_variants()) expect_same(o, {7, 2, 3, 13}, true, true, torch::kDouble);
}

// The CUDA kernels (lif_kernels_cuda.h) against the composed LibTorch ops on the same GPU, every variant, float
// and double; skipped without a GPU or in a build without them (-DMASNN_CUDA=ON).
bool cuda_kernels_usable() {
  return torch::cuda::is_available() && kernels::cuda_kernels_built();
}

TEST(LIFCuda, FusedMatchesComposedForEveryVariant) {
  if (!cuda_kernels_usable()) GTEST_SKIP() << "no CUDA device, or masnn built without -DMASNN_CUDA=ON";
  for (const auto& o : all_variants()) {
    SCOPED_TRACE(to_string(o.reset()) + " detach=" + std::to_string(o.detach_reset()) + " " + to_string(o.surrogate()));
    expect_same(o, {6, 3, 5, 7}, false, false, torch::kFloat, torch::kCUDA);
    expect_same(o, {1, 4, 3}, false, false, torch::kFloat, torch::kCUDA);
    expect_same(o, {9, 2, 300}, true, false, torch::kFloat, torch::kCUDA);
    expect_same(o, {5, 3, 11}, true, true, torch::kFloat, torch::kCUDA);
    expect_same(o, {7, 2, 3, 13}, true, true, torch::kDouble, torch::kCUDA);
  }
}

// Float16 and bfloat16 are computed in float32: the same spikes as the float32 kernel on the same (rounded)
// inputs, gradients within the 16-bit types' precision.
TEST(LIFCuda, HalfTypesComputeInFloat) {
  if (!cuda_kernels_usable()) GTEST_SKIP() << "no CUDA device, or masnn built without -DMASNN_CUDA=ON";
  for (const auto dtype : {torch::kHalf, torch::kBFloat16}) {
    for (const auto& o : {LIFOptions::reference_dvs(), LIFOptions::reference_resnet()}) {
      torch::manual_seed(5);
      const auto x16 = (torch::randn({8, 4, 33}) * 0.4 + o.threshold() * 0.5).to(torch::kCUDA).to(dtype);
      const auto gs16 = torch::randn({8, 4, 33}).to(torch::kCUDA).to(dtype);
      auto a = x16.clone().requires_grad_(true);
      auto b = x16.to(torch::kFloat).requires_grad_(true);
      const auto ra = functional::lif(a, o);
      const auto rb = functional::lif(b, o);
      EXPECT_EQ(ra.spikes.scalar_type(), dtype);
      ASSERT_TRUE(torch::equal(ra.spikes.to(torch::kFloat), rb.spikes)) << "spikes differ";
      (ra.spikes * gs16).sum().backward();
      (rb.spikes * gs16.to(torch::kFloat)).sum().backward();
      // The saved membrane is rounded to the 16-bit type: a value at the surrogate window's edge may fall on the
      // other side of it, so a few elements may differ by a whole window's height.
      const auto off = (a.grad().to(torch::kFloat) - b.grad()).abs() > 2e-2 + 2e-2 * b.grad().abs();
      EXPECT_LT(off.to(torch::kFloat).mean().item<double>(), 0.01) << "grad x differs";
    }
  }
}

TEST(LIF, CudaEntryPointsOfACpuBuildSaySo) {
  if (kernels::cuda_kernels_built()) GTEST_SKIP() << "this build has the CUDA kernels";
  try {
    kernels::lif_forward_cuda(kernels::CudaScalar::Float32, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 1, 1,
                              kernels::LifParams{}, nullptr);
    FAIL() << "a CPU build ran a CUDA kernel";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("-DMASNN_CUDA=ON"), std::string::npos) << e.what();
  }
}

TEST(LIF, ReferenceDvsHandComputed) {
  // alpha 0.3, V_th 0.3, reset to V_th, fire at equality. x = 0.2, 0.25, 0.3 for one neuron:
  // t1: u=0.2 no spike, h=0.06; t2: u=0.31 spike, h=0.3*0.3=0.09; t3: u=0.39 spike.
  auto x = torch::tensor({0.2f, 0.25f, 0.3f}).view({3, 1});
  auto s = functional::lif(x, LIFOptions::reference_dvs()).spikes;
  EXPECT_TRUE(torch::equal(s.flatten(), torch::tensor({0.f, 1.f, 1.f})));
  // Exactly at threshold it fires (REFERENCE 1.1), the Res-SNN neuron does not (1.2).
  auto at = torch::full({1, 1}, 0.5f);
  EXPECT_EQ(functional::lif(at, LIFOptions::reference_dvs()).spikes.item<float>(), 1.f);
  EXPECT_EQ(functional::lif(at, LIFOptions::reference_resnet()).spikes.item<float>(), 0.f);
}

TEST(LIF, MembraneAndSurrogateSupport) {
  // u_t is what fires: the reference DVS neuron spikes exactly where u_t - V_th >= 0; the rectangular surrogate is
  // nonzero exactly where |u_t - V_th| < a/2, the sigmoid one everywhere.
  torch::manual_seed(5);
  const auto x = torch::rand({12, 3, 40}) * 0.7 - 0.1;
  const LIFOptions o = LIFOptions::reference_dvs();
  const torch::Tensor u = functional::lif_membrane(x, o);
  ASSERT_EQ(u.sizes(), x.sizes());
  EXPECT_FALSE(u.requires_grad());
  EXPECT_TRUE(torch::equal(functional::lif(x, o).spikes, (u - o.threshold() >= 0).to(torch::kFloat)));
  EXPECT_TRUE(torch::allclose(u[0], x[0]));  // from rest: u_1 = x_1
  const torch::Tensor support = functional::surrogate_support(u, o);
  EXPECT_TRUE(torch::equal(support, (u - o.threshold()).abs() < o.surrogate_width() / 2));
  const double share = support.to(torch::kDouble).mean().item<double>();
  EXPECT_GT(share, 0.05);
  EXPECT_LT(share, 0.95);
  LIFOptions sigmoid = o;
  sigmoid.surrogate(SurrogateKind::Sigmoid);
  EXPECT_TRUE(functional::surrogate_support(u, sigmoid).all().item<bool>());
}

TEST(LIF, ReferenceDvsMatchesReferenceFormulaBitExact) {
  // The reference code's own expressions, written out: u = h + x; s = (u - V_th >= 0);
  // h = (s * V_th + (1 - s) * u) * alpha + beta.
  torch::manual_seed(3);
  auto x = torch::rand({20, 4, 33}) * 0.6;
  auto h = torch::zeros({4, 33});
  std::vector<torch::Tensor> ref;
  for (int t = 0; t < 20; ++t) {
    auto u = h + x[t];
    auto s = (u - 0.3).ge(0).to(torch::kFloat);
    h = (s * 0.3 + (1 - s) * u) * 0.3 + 0.0;
    ref.push_back(s);
  }
  auto r = functional::lif(x, LIFOptions::reference_dvs());
  EXPECT_TRUE(torch::equal(r.spikes, torch::stack(ref)));
  EXPECT_TRUE(torch::equal(r.state, h));
}

TEST(LIF, ReferenceResnetMatchesReferenceFormulaBitExact) {
  // mem = mem_old * decay * (1 - spike) + x[t] (first step mem = x[0]); spike = mem > 0.5.
  torch::manual_seed(4);
  auto x = torch::rand({12, 3, 17});
  torch::Tensor mem, spike;
  std::vector<torch::Tensor> ref;
  for (int t = 0; t < 12; ++t) {
    mem = t == 0 ? x[0] : mem * 0.25 * (1 - spike) + x[t];
    spike = mem.gt(0.5).to(torch::kFloat);
    ref.push_back(spike);
  }
  EXPECT_TRUE(torch::equal(functional::lif(x, LIFOptions::reference_resnet()).spikes, torch::stack(ref)));
}

TEST(LIF, SurrogateShapes) {
  auto v = torch::linspace(-1, 1, 201, torch::kDouble);
  for (auto k : {SurrogateKind::Rectangular, SurrogateKind::Sigmoid, SurrogateKind::Arctan}) {
    auto g = functional::surrogate_derivative(v, k, 0.5);
    EXPECT_NEAR(g[100].item<double>(), k == SurrogateKind::Rectangular ? 2.0 : 2.0, 1e-9) << "peak is 1/width";
    EXPECT_LE(g.max().item<double>(), 2.0 + 1e-9);
    EXPECT_GE(g.min().item<double>(), 0.0);
  }
  auto rect = functional::surrogate_derivative(v, SurrogateKind::Rectangular, 0.5);
  EXPECT_EQ(rect[74].item<double>(), 0.0);  // v = -0.26: outside |v| < 0.25
  EXPECT_EQ(rect[76].item<double>(), 2.0);  // v = -0.24
}

TEST(LIF, StateGradientMatchesFiniteDifferences) {
  // With the reset detached and a loss on the final state only, the state is a piecewise-linear function
  // of x and decay with no surrogate in its gradient: central differences must agree (double precision).
  for (auto reset : {ResetMode::Hard, ResetMode::Soft, ResetMode::None}) {
    auto o = LIFOptions().reset(reset).detach_reset(true).threshold(0.5).v_reset(0.1).decay(0.7);
    torch::manual_seed(11);
    auto x = torch::rand({6, 10}, torch::kDouble).requires_grad_(true);
    auto decay = torch::scalar_tensor(0.7, torch::kDouble).requires_grad_(true);
    auto w = torch::randn({10}, torch::kDouble);
    auto loss = [&](const torch::Tensor& xx, const torch::Tensor& dd) {
      return (functional::lif_fused(xx, o, {}, dd).state * w).sum();
    };
    loss(x, decay).backward();
    const double eps = 1e-7;
    torch::NoGradGuard ng;
    for (int64_t i = 0; i < x.numel(); i += 7) {
      auto xp = x.detach().clone(), xm = x.detach().clone();
      xp.view(-1)[i] += eps;
      xm.view(-1)[i] -= eps;
      const double fd = (loss(xp, decay.detach()) - loss(xm, decay.detach())).item<double>() / (2 * eps);
      EXPECT_NEAR(x.grad().view(-1)[i].item<double>(), fd, 1e-6) << "element " << i;
    }
    const double fd =
        (loss(x.detach(), decay.detach() + eps) - loss(x.detach(), decay.detach() - eps)).item<double>() / (2 * eps);
    EXPECT_NEAR(decay.grad().item<double>(), fd, 1e-6);
  }
}

TEST(LIF, ChunkedRunEqualsOneRun) {
  // Carrying the state between two calls gives the same spikes and gradients as one call over all T.
  torch::manual_seed(5);
  auto x = (torch::rand({10, 2, 9}) * 0.5).requires_grad_(true);
  auto o = LIFOptions::reference_dvs();
  auto whole = functional::lif(x, o);
  auto gs = torch::randn_like(whole.spikes);
  auto g_whole = torch::autograd::grad({(whole.spikes * gs).sum()}, {x})[0];
  auto a = functional::lif(x.narrow(0, 0, 4), o);
  auto b = functional::lif(x.narrow(0, 4, 6), o, a.state);
  auto both = torch::cat({a.spikes, b.spikes});
  EXPECT_TRUE(torch::equal(both, whole.spikes));
  auto g_chunks = torch::autograd::grad({(both * gs).sum()}, {x})[0];
  EXPECT_TRUE(torch::allclose(g_chunks, g_whole, 1e-6, 1e-6));
}

TEST(LIF, LearnableDecayIsAParameterAndLearns) {
  LIF lif(LIFOptions::reference_dvs().learnable_decay(true));
  ASSERT_EQ(lif->parameters().size(), 1u);
  EXPECT_NEAR(lif->decay().item<double>(), 0.3, 1e-6);
  auto x = torch::rand({8, 4, 16}) * 0.5;
  lif(x).sum().backward();
  EXPECT_TRUE(lif->decay_logit.grad().defined());
  EXPECT_NE(lif->decay_logit.grad().item<double>(), 0.0);
}

TEST(LIF, InferenceKeepsNoState) {
  // No input needs a gradient: the result has no autograd history.
  auto s = functional::lif(torch::rand({4, 3, 5}), LIFOptions::reference_dvs()).spikes;
  EXPECT_FALSE(s.requires_grad());
}

TEST(LIF, BadInputsGiveClearErrors) {
  auto o = LIFOptions::reference_dvs();
  EXPECT_THROW(functional::lif(torch::rand({0, 3}), o), c10::Error);
  EXPECT_THROW(functional::lif(torch::rand({3, 2}).to(torch::kInt), o), c10::Error);
  EXPECT_THROW(functional::lif(torch::rand({3, 2}), o, torch::zeros({3})), c10::Error);
  try {
    functional::lif(torch::rand({3, 2}), o, torch::zeros({5}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("h0"), std::string::npos);
  }
  EXPECT_THROW(LIF(LIFOptions().surrogate_width(0)), std::invalid_argument);
  EXPECT_THROW(LIF(LIFOptions().decay(1.5)), std::invalid_argument);
  EXPECT_THROW(parse_surrogate("triangle"), std::invalid_argument);
  EXPECT_EQ(parse_reset_mode("soft"), ResetMode::Soft);
}

// The LIF over relu?(x * a * w) as one node (functional::scaled_lif) against the attention's scale_tbc then the
// fused LIF: the same spikes bit for bit, the same gradients of x, a and w, for every LIF variant, with and
// without the ReLU and w, in float and double, at sizes with one tile and with several (positions > 256).
TEST(LIF, ScaledLifMatchesScaleThenLif) {
  struct Case {
    int64_t T, B, C, H, W;
  };
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = dtype == torch::kDouble ? 1e-10 : 1e-4;
    for (const Case& k : {Case{5, 2, 3, 4, 4}, Case{3, 3, 2, 17, 19}}) {
      for (const auto& o : all_variants()) {
        for (bool relu : {true, false}) {
          for (bool with_w : {true, false}) {
            SCOPED_TRACE(std::string(torch::toString(dtype)) + " H=" + std::to_string(k.H) + (relu ? " relu" : "") +
                         (with_w ? " w" : "") + " reset " + std::to_string(static_cast<int>(o.reset())) +
                         " surrogate " + std::to_string(static_cast<int>(o.surrogate())));
            torch::manual_seed(11);
            const auto x0 = (torch::randn({k.T, k.B, k.C, k.H, k.W}, dtype) * 0.6).add(0.2);
            const auto a0 = torch::rand({k.T, k.B, k.C}, dtype).add(0.5);
            const auto w0 = with_w ? torch::rand({k.B, k.H, k.W}, dtype).add(0.5) : torch::Tensor();
            const auto g = torch::randn_like(x0);
            auto run = [&](bool fused) {
              auto x = x0.clone().requires_grad_(true), a = a0.clone().requires_grad_(true);
              auto w = with_w ? w0.clone().requires_grad_(true) : torch::Tensor();
              const auto s = fused ? functional::scaled_lif(x, a, w, relu, o)
                                   : functional::lif_fused(functional::scale_tbc(x, a, w, relu), o).spikes;
              (s * g).sum().backward();
              std::vector<torch::Tensor> out = {s.detach(), x.grad(), a.grad()};
              if (with_w) out.push_back(w.grad());
              return out;
            };
            const auto fused = run(true), apart = run(false);
            EXPECT_TRUE(torch::equal(fused[0], apart[0])) << "spikes";
            EXPECT_GT(fused[0].sum().item<double>(), 0.0);
            for (size_t i = 1; i < fused.size(); ++i)
              EXPECT_TRUE(torch::allclose(fused[i], apart[i], tol, tol))
                  << "gradient " << i << " (1 x, 2 a, 3 w): max diff "
                  << (fused[i] - apart[i]).abs().max().item<double>();
          }
        }
      }
    }
  }
}

TEST(LIF, ScaledLifRefusesWhatItDoesNotHandle) {
  const auto x = torch::rand({2, 1, 2, 3, 3});
  const auto a = torch::ones({2, 1, 2});
  EXPECT_FALSE(functional::scaled_lif_supports(x, LIFOptions().backend(LIFBackend::Composed)));
  EXPECT_FALSE(functional::scaled_lif_supports(x, LIFOptions().learnable_decay(true)));
  EXPECT_FALSE(functional::scaled_lif_supports(x.flatten(3), LIFOptions()));
  EXPECT_THROW(functional::scaled_lif(x, torch::ones({2, 2}), {}, true, LIFOptions()), c10::Error);
  EXPECT_THROW(functional::scaled_lif(x, a, torch::ones({1, 3, 4}), true, LIFOptions()), c10::Error);
}
