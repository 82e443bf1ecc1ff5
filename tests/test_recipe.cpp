// The training recipe of the ImageNet networks: top-5 accuracy, cosine schedule with warm-up, loss scaling and
// autocast (on CPU: the scaler's logic, and the guard with CPU autocast in bfloat16).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "masnn/train/metrics.h"
#include "masnn/train/mixed_precision.h"
#include "masnn/train/schedule.h"

using namespace masnn::train;

TEST(Metrics, TopFiveAccuracyOfTheMeanOutput) {
  EvaluationAccumulator acc(7);
  // Sample 0 (class 3): 2nd highest -> top-5 right, top-1 wrong. Sample 1 (class 6): lowest -> both wrong.
  // Sample 2 (class 0): highest -> both right.
  auto out = torch::tensor(
      {{.1f, .2f, .3f, .6f, .5f, .0f, .9f}, {.9f, .8f, .7f, .6f, .5f, .4f, .0f}, {.9f, .1f, .1f, .1f, .1f, .1f, .1f}});
  acc.add(out, torch::tensor({3, 6, 0}, torch::kLong), 1, 0.3);
  const Evaluation e = acc.result();
  EXPECT_DOUBLE_EQ(e.vote_accuracy, 1.0 / 3);
  EXPECT_DOUBLE_EQ(e.top5_accuracy, 2.0 / 3);
  // With clips, top-5 is taken on the mean over the clips; with 5 classes or fewer every sample counts.
  EvaluationAccumulator few(3);
  few.add(torch::tensor({{1.f, 0.f, 0.f}, {0.f, 0.f, 1.f}}), torch::tensor({1, 1}, torch::kLong), 2, 0);
  EXPECT_DOUBLE_EQ(few.result().top5_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(few.result().vote_accuracy, 0.0);
}

TEST(Schedule, CosineWithWarmupAndItsChecks) {
  ScheduleSettings s;
  s.kind = ScheduleKind::Cosine;
  s.base_lr = 0.1;
  s.epochs = 11;
  s.warmup_epochs = 3;
  LRSchedule c(s);
  EXPECT_NEAR(c.lr_for_epoch(0), 0.1 * 1 / 4, 1e-12);
  EXPECT_NEAR(c.lr_for_epoch(2), 0.1 * 3 / 4, 1e-12);
  EXPECT_NEAR(c.lr_for_epoch(3), 0.1, 1e-12);   // the cosine starts after the warm-up, at base_lr
  EXPECT_NEAR(c.lr_for_epoch(7), 0.05, 1e-12);  // half-way through the 8 cosine epochs
  EXPECT_NEAR(c.lr_for_epoch(10), 0.05 * (1 + std::cos(M_PI * 7 / 8)), 1e-12);
  EXPECT_NEAR(c.end_epoch(2, 0), 0.1, 1e-12);  // end of epoch 2 gives the lr of epoch 3
  // The reference's ImageNet schedule: CosineAnnealingLR(T_max = epochs), stepped per epoch, no warm-up.
  s.warmup_epochs = 0;
  s.epochs = 250;
  LRSchedule ref(s);
  EXPECT_NEAR(ref.lr_for_epoch(125), 0.05, 1e-12);
  EXPECT_NEAR(ref.lr_for_epoch(249), 0.05 * (1 + std::cos(M_PI * 249 / 250)), 1e-12);
  // Warm-up before a step schedule; the steps count from its end.
  s.kind = ScheduleKind::Step;
  s.epochs = 10;
  s.warmup_epochs = 1;
  s.step_size = 2;
  s.step_gamma = 0.5;
  LRSchedule st(s);
  EXPECT_NEAR(st.lr_for_epoch(0), 0.05, 1e-12);
  EXPECT_NEAR(st.lr_for_epoch(2), 0.1, 1e-12);
  EXPECT_NEAR(st.lr_for_epoch(3), 0.05, 1e-12);
  s.kind = ScheduleKind::Plateau;
  EXPECT_THROW(LRSchedule{s}, std::invalid_argument);
}

namespace {

// A one-parameter "model" whose gradient is set by hand.
struct OneParam {
  torch::Tensor w = torch::zeros({2}, torch::requires_grad());
  torch::optim::SGD opt{std::vector<torch::Tensor>{w}, torch::optim::SGDOptions(1.0)};
  void set_grad(float a, float b) { w.mutable_grad() = torch::tensor({a, b}); }
};

}  // namespace

TEST(GradScaler, ScalesUnscalesSkipsInfBacksOffAndGrows) {
  GradScaler scaler(GradScalerOptions().init_scale(8.0).growth_interval(2));
  EXPECT_DOUBLE_EQ(scaler.scale(torch::tensor(1.5f)).item<double>(), 12.0);
  OneParam m;
  // A clean step: gradients divided by the scale, the optimizer steps.
  m.set_grad(8.0f, -16.0f);
  EXPECT_TRUE(scaler.step(m.opt));
  EXPECT_FALSE(scaler.last_step_skipped());
  EXPECT_TRUE(torch::allclose(m.w.detach(), torch::tensor({-1.0f, 2.0f})));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 8.0);  // 1 clean step of the 2 needed to grow
  // An inf gradient: no step, the scale halves, the growth count restarts.
  m.set_grad(std::numeric_limits<float>::infinity(), 1.0f);
  EXPECT_TRUE(scaler.unscale(m.opt));
  EXPECT_THROW(scaler.unscale(m.opt), std::logic_error);  // once per step
  EXPECT_FALSE(scaler.step(m.opt));
  EXPECT_TRUE(scaler.last_step_skipped());
  EXPECT_TRUE(torch::allclose(m.w.detach(), torch::tensor({-1.0f, 2.0f})));  // unchanged
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 4.0);
  // A NaN counts as well.
  m.set_grad(std::nanf(""), 0.0f);
  EXPECT_FALSE(scaler.step(m.opt));
  scaler.update();
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 2.0);
  // Two clean steps in a row: the scale doubles.
  for (int i = 0; i < 2; ++i) {
    m.set_grad(2.0f, 2.0f);
    EXPECT_TRUE(scaler.step(m.opt));
    scaler.update();
  }
  EXPECT_DOUBLE_EQ(scaler.get_scale(), 4.0);
  EXPECT_THROW(scaler.update(), std::logic_error);  // no step since the last update
  // State for checkpoints.
  const GradScaler::State st = scaler.state();
  GradScaler other;
  other.load_state(st);
  EXPECT_DOUBLE_EQ(other.get_scale(), 4.0);
  EXPECT_THROW(other.load_state({0.0, 0}), std::invalid_argument);
  EXPECT_THROW(GradScaler(GradScalerOptions().backoff_factor(1.5)), std::invalid_argument);
  // Disabled: the loss as it is, every step taken (also with inf gradients), update a no-op.
  GradScaler off(GradScalerOptions().enabled(false));
  EXPECT_DOUBLE_EQ(off.scale(torch::tensor(1.5f)).item<double>(), 1.5);
  OneParam n;
  n.set_grad(1.0f, 1.0f);
  EXPECT_TRUE(off.step(n.opt));
  off.update();
  EXPECT_TRUE(torch::allclose(n.w.detach(), torch::tensor({-1.0f, -1.0f})));
}

TEST(GradScaler, ATrainingStepWithScaledLossMatchesTheUnscaledOne) {
  torch::manual_seed(0);
  torch::nn::Linear a(4, 3), b(4, 3);
  b->weight.data().copy_(a->weight.data());
  b->bias.data().copy_(a->bias.data());
  torch::optim::SGD oa(a->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-5));
  torch::optim::SGD ob(b->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-5));
  GradScaler scaler(GradScalerOptions().init_scale(1024.0));
  const auto x = torch::randn({5, 4});
  const auto y = torch::tensor({0, 1, 2, 1, 0}, torch::kLong);
  for (int i = 0; i < 3; ++i) {
    oa.zero_grad();
    torch::nn::functional::cross_entropy(a(x), y).backward();
    oa.step();
    ob.zero_grad();
    scaler.scale(torch::nn::functional::cross_entropy(b(x), y)).backward();
    EXPECT_TRUE(scaler.step(ob));
    scaler.update();
  }
  EXPECT_TRUE(torch::allclose(a->weight, b->weight, 1e-5, 1e-6));
}

TEST(Autocast, GuardTurnsCpuAutocastOnAndRestoresIt) {
  const auto x = torch::randn({4, 4});
  EXPECT_FALSE(AutocastGuard::is_enabled(torch::kCPU));
  {
    AutocastGuard outer(torch::kCPU);
    EXPECT_TRUE(AutocastGuard::is_enabled(torch::kCPU));
    EXPECT_EQ(torch::mm(x, x).scalar_type(), torch::kBFloat16);  // matmul is cast down
    {
      AutocastGuard off(torch::kCPU, /*enabled=*/false);  // does nothing
      EXPECT_TRUE(AutocastGuard::is_enabled(torch::kCPU));
    }
    EXPECT_EQ(torch::mm(x, x).scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(AutocastGuard::is_enabled(torch::kCPU));
  EXPECT_EQ(torch::mm(x, x).scalar_type(), torch::kFloat);
  EXPECT_FALSE(AutocastGuard::is_enabled(torch::kCUDA));
  EXPECT_THROW(AutocastGuard(torch::kCPU, true, torch::kHalf), std::invalid_argument);
  EXPECT_THROW(AutocastGuard(torch::kCUDA, true, torch::kFloat), std::invalid_argument);
  {
    // A CUDA guard only flips the CUDA state (this build may have no CUDA device: nothing runs on it here).
    AutocastGuard cuda(torch::kCUDA);
    EXPECT_TRUE(AutocastGuard::is_enabled(torch::kCUDA));
    EXPECT_FALSE(AutocastGuard::is_enabled(torch::kCPU));
    EXPECT_EQ(torch::mm(x, x).scalar_type(), torch::kFloat);  // CPU tensors unaffected
  }
  EXPECT_FALSE(AutocastGuard::is_enabled(torch::kCUDA));
}
