// The memory- and time-lean layer ops of the training step (lean_ops.h) against the LibTorch composition they
// replace: values, gradients and the side effects (BN running statistics).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "masnn/models/event_driven_synapse.h"
#include "masnn/models/registry.h"
#include "masnn/models/spiking_blocks.h"
#include "masnn/util/memory.h"
#include "models/conv_norm_pool_fixed_input.h"
#include "models/lean_ops.h"
#include "models/sparse_kernels.h"
#include "neuron/surrogate_support.h"
#include "test_support.h"
#include "util/autograd_buffers.h"

using namespace masnn;

namespace {

// The output and the gradients of x and of m's parameters for a fixed weighting of the output.
std::vector<torch::Tensor> grads_of(const torch::Tensor& x0, torch::nn::Module& m,
                                    const std::function<torch::Tensor(torch::Tensor)>& f) {
  m.zero_grad();
  auto x = x0.clone().requires_grad_(true);
  auto y = f(x);
  (y * torch::linspace(-1, 1, y.numel(), y.options()).view(y.sizes()).cos()).sum().backward();
  std::vector<torch::Tensor> out = {y.detach(), x.grad()};
  for (const auto& p : m.parameters()) out.push_back(p.grad().clone());
  return out;
}

void expect_close(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b, double rtol, double atol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].sizes(), b[i].sizes()) << "tensor " << i;
    EXPECT_TRUE(torch::allclose(a[i], b[i], rtol, atol))
        << "tensor " << i << " max diff " << (a[i] - b[i]).abs().max().item<double>();
  }
}

// A BatchNorm2d with non-trivial affine parameters and running statistics.
torch::nn::BatchNorm2d make_bn(int64_t channels, torch::ScalarType dtype) {
  torch::nn::BatchNorm2d bn(channels);
  bn->to(dtype);
  torch::NoGradGuard ng;
  bn->weight.copy_(torch::rand({channels}) + 0.5);
  bn->bias.copy_(torch::randn({channels}));
  bn->running_mean.copy_(torch::randn({channels}));
  bn->running_var.copy_(torch::rand({channels}) + 0.5);
  return bn;
}

// One training-mode forward and backward of a conv block on x: the spikes, BN's running statistics and the
// gradients of every parameter.
std::vector<torch::Tensor> block_outputs(SpikingConvBlockImpl& block, const torch::Tensor& x) {
  block.train();
  block.zero_grad();
  const auto s = block.forward(x);
  (s * torch::linspace(-1, 1, s.numel(), s.options()).view(s.sizes())).sum().backward();
  std::vector<torch::Tensor> out = {s.detach(), block.bn->running_mean.clone(), block.bn->running_var.clone()};
  for (const auto& p : block.parameters()) out.push_back(p.grad().clone());
  return out;
}

// Attention for the blocks of these tests: T 4 and 6 channels, so ratios of 2.
LayerAttention small_attention(const std::string& type) {
  LayerAttention att;
  att.type = AttentionType::parse(type);
  att.t_ratio = 2;
  att.c_ratio = 2;
  return att;
}

}  // namespace

TEST(LeanOps, BatchNormAvgPoolMatchesBatchNormThenPool) {
  torch::manual_seed(11);
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    const double rtol = dtype == torch::kDouble ? 1e-10 : 2e-4, atol = dtype == torch::kDouble ? 1e-12 : 2e-5;
    for (int64_t k : {1, 2, 4}) {
      // A mean far from zero (as after a conv with bias) checks the one-pass variance.
      const auto y = (torch::randn({6, 5, 8, 12}) * 2 + 7).to(dtype);
      auto fused = make_bn(5, dtype);
      auto composed = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(fused->clone());
      ASSERT_TRUE(functional::batch_norm_avg_pool2d_supports(y, *fused, k));
      const auto a =
          grads_of(y, *fused, [&](torch::Tensor v) { return functional::batch_norm_avg_pool2d(v, *fused, k); });
      const auto b = grads_of(y, *composed, [&](torch::Tensor v) {
        const auto z = composed->forward(v);
        return k > 1 ? torch::avg_pool2d(z, k) : z;
      });
      SCOPED_TRACE("k = " + std::to_string(k) + ", " + std::string(c10::toString(dtype)));
      expect_close(a, b, rtol, atol);
      expect_close({fused->running_mean, fused->running_var}, {composed->running_mean, composed->running_var}, rtol,
                   atol);
      EXPECT_EQ(fused->num_batches_tracked.item<int64_t>(), composed->num_batches_tracked.item<int64_t>());
    }
  }
}

// The backward writes the input gradient over its saved input when nothing else can see that input (one gradient's
// memory less at the peak of the backward): the gradient is the same whether it did or not, an input the caller
// still holds is left as it was, and a graph kept for a second backward (retain_graph) still has its input.
TEST(LeanOps, BatchNormAvgPoolBackwardReusesItsInputOnlyWhenNothingElseNeedsIt) {
  torch::manual_seed(12);
  memory::track_cpu_allocations();
  const auto x0 = torch::randn({4, 3, 8, 8}) * 2 + 1;
  const auto weight = torch::linspace(-1, 1, 3 * 4 * 4).view({1, 3, 4, 4});
  auto bn = make_bn(3, torch::kFloat);
  struct Run {
    torch::Tensor grad;
    int64_t backward_bytes;  // the most the first backward allocated beyond what was held before it
  };
  // y = 2x, an intermediate the node alone holds (the in-place case) or one the caller keeps too.
  auto run = [&](bool keep_y, bool twice) {
    auto x = x0.clone().requires_grad_(true);
    torch::Tensor y = x * 2;
    const torch::Tensor y_before = y.detach().clone();
    const torch::Tensor loss = (functional::batch_norm_avg_pool2d(y, *bn, 2) * weight).sum();
    if (!keep_y) y = torch::Tensor();
    memory::reset_cpu_peak();
    const int64_t before = memory::cpu_bytes_in_use();
    loss.backward({}, /*retain_graph=*/twice);
    const Run r{x.grad().clone(), memory::cpu_peak_bytes() - before};
    if (twice) {
      x.grad().zero_();
      loss.backward();
      EXPECT_TRUE(torch::allclose(x.grad(), r.grad, 1e-5, 1e-6)) << "the second backward saw another input";
    }
    if (keep_y) {
      EXPECT_TRUE(torch::equal(y, y_before)) << "the caller's tensor was written over";
    }
    return r;
  };
  const Run held = run(/*keep_y=*/true, /*twice=*/false), owned = run(false, false), retained = run(false, true);
  EXPECT_TRUE(torch::allclose(owned.grad, held.grad, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(retained.grad, held.grad, 1e-5, 1e-6));
  EXPECT_GT(held.grad.abs().sum().item<double>(), 0);
  const int64_t y_bytes = x0.numel() * 4;
  EXPECT_LE(owned.backward_bytes, held.backward_bytes - y_bytes) << "the owned input was not reused";
  EXPECT_EQ(retained.backward_bytes, held.backward_bytes);
}

TEST(LeanOps, BatchNormAvgPoolRefusesWhatItDoesNotHandle) {
  auto bn = make_bn(3, torch::kFloat);
  EXPECT_FALSE(functional::batch_norm_avg_pool2d_supports(torch::zeros({2, 3, 5, 6}), *bn, 2));  // 5 % 2
  EXPECT_FALSE(functional::batch_norm_avg_pool2d_supports(torch::zeros({2, 4, 6, 6}), *bn, 2));  // channels
  EXPECT_FALSE(functional::batch_norm_avg_pool2d_supports(torch::zeros({2, 3, 6, 6}, torch::kLong), *bn, 2));
  torch::nn::BatchNorm2d plain(torch::nn::BatchNorm2dOptions(3).affine(false));
  EXPECT_FALSE(functional::batch_norm_avg_pool2d_supports(torch::zeros({2, 3, 6, 6}), *plain, 2));
  const std::string msg = masnn::testing::expect_error([&] {
    functional::batch_norm_avg_pool2d(torch::zeros({2, 3, 5, 6}), *bn, 2);
  });
  EXPECT_NE(msg.find("batch_norm_avg_pool2d"), std::string::npos) << msg;
}

TEST(LeanOps, LinearOnSpikesMatchesTorchLinearBothWays) {
  torch::manual_seed(12);
  torch::nn::Linear linear(300, 17);
  const auto spikes = torch::rand({40, 300}).lt(0.2).to(torch::kFloat);
  const auto reference = grads_of(spikes, *linear, [&](torch::Tensor x) { return linear(x); });
  for (bool as_conv : {true, false}) {
    SCOPED_TRACE(as_conv ? "as a 1x1 convolution" : "as a GEMM");
    expect_close(grads_of(spikes, *linear,
                          [&](torch::Tensor x) { return functional::linear_binary_input(x, *linear, as_conv); }),
                 reference, 1e-5, 1e-6);
  }
  torch::nn::Linear no_bias(torch::nn::LinearOptions(300, 5).bias(false));
  expect_close(
      grads_of(spikes, *no_bias, [&](torch::Tensor x) { return functional::linear_binary_input(x, *no_bias); }),
      grads_of(spikes, *no_bias, [&](torch::Tensor x) { return no_bias(x); }), 1e-5, 1e-6);
}

// What a convolution or a linear layer on spikes keeps for its backward: the spikes as bits, 1/32 of their floats
// (their gradients equal LibTorch's: LeanOps.PoolConvAndLinearMatchLibTorch in test_models.cpp).
TEST(LeanOps, SynapsesOnSpikesKeepTheirInputAsBits) {
  torch::manual_seed(14);
  memory::track_cpu_allocations();
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(8, 4, 3).padding(1));
  torch::nn::Linear linear(2048, 4);
  const auto spikes = torch::rand({16, 8, 16, 16}).lt(0.3).to(torch::kFloat);
  const int64_t bits_bytes = spikes.numel() / 8;
  auto kept_bytes = [&](const std::function<torch::Tensor()>& forward) {
    const int64_t before = memory::cpu_bytes_in_use();
    const torch::Tensor y = forward();
    EXPECT_TRUE(y.requires_grad());
    return memory::cpu_bytes_in_use() - before - y.numel() * static_cast<int64_t>(sizeof(float));
  };
  const int64_t conv_kept = kept_bytes([&] { return functional::conv2d_binary_input(spikes, *conv); });
  EXPECT_GE(conv_kept, bits_bytes);
  EXPECT_LE(conv_kept, bits_bytes + 4096) << "bytes kept: " << conv_kept;
  for (bool as_conv : {true, false}) {
    const int64_t linear_kept = kept_bytes([&] {
      return functional::linear_binary_input(spikes.view({16, 2048}), *linear, as_conv);
    });
    EXPECT_GE(linear_kept, bits_bytes);
    EXPECT_LE(linear_kept, bits_bytes + 4096) << "bytes kept: " << linear_kept << (as_conv ? " as a conv" : "");
  }
}

TEST(LeanOps, AvgPoolBackwardMatchesLibTorchInDouble) {
  torch::manual_seed(13);
  torch::nn::Sequential none;
  for (int64_t k : {2, 3}) {
    const auto x = torch::randn({2, 3, 6 * k, 4 * k}, torch::kDouble);
    expect_close(grads_of(x, *none, [&](torch::Tensor v) { return functional::avg_pool2d_lean(v, k); }),
                 grads_of(x, *none, [&](torch::Tensor v) { return torch::avg_pool2d(v, k); }), 1e-12, 1e-14);
  }
}

// The conv block gives the same spikes, gradients and running statistics with the fused BN + pooling.
TEST(LeanOps, ConvBlockWithFusedNormMatchesComposed) {
  torch::manual_seed(14);
  const LayerAttention att = small_attention("TCSA");
  SpikingConvBlock fused(SpikingConvBlockOptions(4, 6).pool(2).steps(4).attention(att).spike_input(true).lif(
      LIFOptions::reference_dvs().backend(LIFBackend::Composed)));
  fused->to(torch::kDouble);
  {
    torch::NoGradGuard ng;
    fused->bn->weight.fill_(4.0);  // BN output strong enough for spikes after the attention weights
  }
  auto composed = std::dynamic_pointer_cast<SpikingConvBlockImpl>(fused->clone());
  composed->options.fused_norm(false);
  ASSERT_TRUE(fused->options.fused_norm());
  // Double precision and a strong input: the spikes (a threshold of the membrane) must agree exactly.
  const auto x = torch::rand({4, 3, 4, 8, 8}).lt(0.4).to(torch::kDouble);
  const auto a = block_outputs(*fused, x);
  const auto b = block_outputs(*composed, x);
  EXPECT_GT(a[0].sum().item<double>(), 0.0);  // some spikes
  expect_close(a, b, 1e-9, 1e-11);
}

// The first layer's block (event frames in, a convolution cheap to run again, whose output BN recomputes in its
// backward) against the composition.
TEST(LeanOps, FirstConvBlockWithFusedNormMatchesComposed) {
  torch::manual_seed(15);
  SpikingConvBlock fused(SpikingConvBlockOptions(2, 6)
                             .pool(2)
                             .steps(4)
                             .attention(small_attention("TCSA"))
                             .lif(LIFOptions::reference_dvs().backend(LIFBackend::Composed)));
  fused->to(torch::kDouble);
  {
    torch::NoGradGuard ng;
    fused->bn->weight.fill_(4.0);  // BN output strong enough for spikes after the attention weights
  }
  ASSERT_TRUE(functional::conv2d_cheap_to_recompute(*fused->conv));
  auto composed = std::dynamic_pointer_cast<SpikingConvBlockImpl>(fused->clone());
  composed->options.fused_norm(false);
  const auto frames = torch::randint(0, 4, {4, 3, 2, 8, 8}).to(torch::kDouble);  // event counts
  const auto a = block_outputs(*fused, frames);
  EXPECT_GT(a[0].sum().item<double>(), 0.0);  // some spikes
  expect_close(a, block_outputs(*composed, frames), 1e-9, 1e-11);
}

// BN+pool after a cheap convolution, its output computed again in the backward: the same values and gradients,
// bit for bit, as with the output kept, and the output is not held between forward and backward.
TEST(LeanOps, NormPoolRecomputesACheapConvolutionsOutputExactly) {
  torch::manual_seed(16);
  EXPECT_FALSE(functional::conv2d_cheap_to_recompute(*torch::nn::Conv2d(torch::nn::Conv2dOptions(64, 8, 3))));
  memory::track_cpu_allocations();
  for (const int64_t k : {1, 2}) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 8, 3).padding(1));
    ASSERT_TRUE(functional::conv2d_cheap_to_recompute(*conv));
    const auto frames = torch::randint(0, 5, {64, 2, 32, 32}).to(torch::kFloat);
    const int64_t y_bytes = 64 * 8 * 32 * 32 * 4;
    torch::nn::BatchNorm2d bn_keep = make_bn(8, torch::kFloat);
    auto bn_recompute = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn_keep->clone());
    auto bn_chunked = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn_keep->clone());
    // recompute: 0 keeps y, 1 computes it again in the default chunks (one here), 2 in chunks of 5 samples
    const auto run = [&](int recompute, int64_t& held) {
      conv->zero_grad();
      torch::nn::BatchNorm2dImpl& bn = recompute == 0 ? *bn_keep : recompute == 1 ? *bn_recompute : *bn_chunked;
      bn.zero_grad();
      const int64_t before = memory::cpu_bytes_in_use();
      torch::Tensor y = conv->forward(frames);
      const int64_t chunk_bytes = recompute == 2 ? 5 * 8 * 32 * 32 * 4 : functional::kChunkBytes;
      torch::Tensor out = recompute > 0
                              ? functional::batch_norm_avg_pool2d(y, bn, k, functional::conv2d_recompute(frames, *conv),
                                                                  nullptr, chunk_bytes)
                              : functional::batch_norm_avg_pool2d(y, bn, k);
      y = torch::Tensor();
      held = memory::cpu_bytes_in_use() - before - out.numel() * 4;
      out.backward(torch::linspace(-1, 1, out.numel()).view(out.sizes()).cos());
      return std::vector<torch::Tensor>{
          out.detach(),           conv->weight.grad().clone(), conv->bias.grad().clone(), bn.weight.grad().clone(),
          bn.bias.grad().clone(), bn.running_mean.clone(),     bn.running_var.clone()};
    };
    int64_t held_keep = 0, held_recompute = 0, held_chunked = 0;
    const auto kept = run(0, held_keep), recomputed = run(1, held_recompute), chunked = run(2, held_chunked);
    for (size_t i = 0; i < kept.size(); ++i) {
      EXPECT_TRUE(torch::equal(kept[i], recomputed[i])) << "k " << k << " tensor " << i;
      EXPECT_TRUE(torch::allclose(kept[i], chunked[i], 1e-5, 1e-6)) << "k " << k << " tensor " << i;
    }
    EXPECT_EQ(held_chunked, held_recompute) << k;
    EXPECT_GE(held_keep, y_bytes) << k;
    EXPECT_LT(held_recompute, y_bytes / 8) << k;  // the weight and bias copies only
  }
}

// Convolution + BN + pooling as one node for an input without gradient (event frames): values, running statistics
// and the gradients of the convolution's and BN's parameters equal the composition's, for sparse event counts and
// dense inputs, with and without the convolution's bias and pooling, a strided and dilated convolution, in one
// chunk and one sample per chunk; rows of the output computed again equal the output's; nothing but the output
// is held between forward and backward.
TEST(LeanOps, ConvNormPoolOnAFixedInputMatchesTheComposition) {
  memory::track_cpu_allocations();
  struct Case {
    int64_t k, stride, dilation;
    bool bias, sparse;
    torch::ScalarType dtype;
  };
  for (const Case& c : {Case{1, 1, 1, true, true, torch::kDouble}, Case{2, 1, 1, true, true, torch::kDouble},
                        Case{1, 1, 1, false, false, torch::kDouble}, Case{1, 2, 2, true, false, torch::kDouble},
                        Case{1, 1, 1, true, true, torch::kFloat}, Case{2, 1, 1, true, true, torch::kFloat}}) {
    SCOPED_TRACE("k " + std::to_string(c.k) + " stride " + std::to_string(c.stride) + " bias " +
                 std::to_string(c.bias) + " sparse " + std::to_string(c.sparse) + " " + toString(c.dtype));
    torch::manual_seed(21);
    torch::nn::Conv2d conv(
        torch::nn::Conv2dOptions(2, 6, 3).padding(1).stride(c.stride).dilation(c.dilation).bias(c.bias));
    conv->to(c.dtype);
    torch::nn::BatchNorm2d bn = make_bn(6, c.dtype);
    const torch::Tensor x =
        c.sparse ? (torch::randint(1, 4, {10, 2, 16, 16}) * torch::rand({10, 2, 16, 16}).lt(0.05)).to(c.dtype)
                 : torch::randn({10, 2, 16, 16}, c.dtype);
    ASSERT_TRUE(functional::conv2d_norm_pool_fixed_input_supports(x, *conv, *bn, c.k));
    const auto outputs = [&](torch::nn::Conv2dImpl& cv, torch::nn::BatchNorm2dImpl& b, const torch::Tensor& out) {
      out.backward(torch::linspace(-1, 1, out.numel(), out.options()).view(out.sizes()).cos());
      std::vector<torch::Tensor> r = {
          out.detach(),           cv.weight.grad().clone(), b.weight.grad().clone(),      b.bias.grad().clone(),
          b.running_mean.clone(), b.running_var.clone(),    b.num_batches_tracked.clone()};
      if (cv.bias.defined()) r.push_back(cv.bias.grad().clone());
      return r;
    };
    // The composition in double: in float its sums' rounding is larger than this node's (which sums in double),
    // notably for the convolution bias's gradient, zero but for rounding (BN cancels the bias).
    auto conv_ref = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(conv->clone());
    auto bn_ref = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn->clone());
    conv_ref->to(torch::kDouble);
    bn_ref->to(torch::kDouble);
    auto expected =
        outputs(*conv_ref, *bn_ref, torch::avg_pool2d(bn_ref->forward(conv_ref->forward(x.to(torch::kDouble))), c.k));
    for (auto& e : expected) e = e.to(c.dtype);
    const int64_t out_side = c.stride == 1 ? 16 : 7, sample_bytes = 6 * out_side * out_side * x.element_size();
    for (const int64_t chunk_bytes : {functional::kChunkBytes, sample_bytes}) {
      SCOPED_TRACE("chunk " + std::to_string(chunk_bytes));
      auto cv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(conv->clone());
      auto b = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn->clone());
      functional::RowRecompute rows;
      const int64_t before = memory::cpu_bytes_in_use();
      const torch::Tensor out = functional::conv2d_norm_pool_fixed_input(x, *cv, *b, c.k, &rows, chunk_bytes);
      // the output, BN's statistics per channel and the recompute's copy of the weight and bias
      const int64_t parameters = (conv->weight.numel() + 6 * 4 + 6) * x.element_size();
      EXPECT_LE(memory::cpu_bytes_in_use() - before, out.numel() * x.element_size() + parameters);
      const auto got = outputs(*cv, *b, out);
      ASSERT_EQ(got.size(), expected.size());
      for (size_t i = 0; i < got.size(); ++i) {
        // In float within a few float epsilons of the largest value (the float composition: within one or two):
        // the convolution's weight gradient of the output gradient, summed by oneDNN in float, is not centred
        // as BN's input gradient is.
        const double scale = expected[i].abs().max().item<double>() + 1.0,
                     tolerance = c.dtype == torch::kDouble ? 1e-11 * scale : 2e-5 * scale;
        EXPECT_LE((got[i] - expected[i]).abs().max().item<double>(), tolerance) << "tensor " << i;
      }
      // Bit for bit where the chunks' convolutions are alike (oneDNN's float kernels may differ in the last bits
      // between batch sizes; the recompute runs in chunks of kChunkBytes).
      const auto expect_equal = [&](const torch::Tensor& a, const torch::Tensor& b) {
        if (c.dtype == torch::kDouble || chunk_bytes == functional::kChunkBytes)
          EXPECT_TRUE(torch::equal(a, b));
        else
          EXPECT_TRUE(torch::allclose(a, b, 1e-6, 1e-6));
      };
      expect_equal(rows(1, 3, 4), out.narrow(0, 3, 4));
      expect_equal(rows(2, 1, 3), torch::cat({out.narrow(0, 1, 3), out.narrow(0, 6, 3)}));
    }
  }
}

TEST(LeanOps, ConvNormPoolOnAFixedInputRefusesWhatItDoesNotHandle) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 4, 3).padding(1));
  torch::nn::BatchNorm2d bn(4);
  const torch::Tensor x = torch::rand({2, 2, 8, 8});
  EXPECT_TRUE(functional::conv2d_norm_pool_fixed_input_supports(x, *conv, *bn, 2));
  EXPECT_FALSE(functional::conv2d_norm_pool_fixed_input_supports(x.clone().requires_grad_(true), *conv, *bn, 2));
  EXPECT_FALSE(functional::conv2d_norm_pool_fixed_input_supports(x, *conv, *bn, 3));  // 8 is no multiple of 3
  EXPECT_FALSE(functional::conv2d_norm_pool_fixed_input_supports(x.to(torch::kDouble), *conv, *bn, 2));
  torch::nn::Conv2d grouped(torch::nn::Conv2dOptions(2, 4, 3).padding(1).groups(2));
  EXPECT_FALSE(functional::conv2d_norm_pool_fixed_input_supports(x, *grouped, *bn, 1));
  torch::nn::Conv2d wide(torch::nn::Conv2dOptions(8, 4, 3).padding(1));  // 72 multiply-adds per output
  EXPECT_FALSE(functional::conv2d_norm_pool_fixed_input_supports(torch::rand({2, 8, 8, 8}), *wide, *bn, 1));
  try {
    functional::conv2d_norm_pool_fixed_input(x, *conv, *bn, 3);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 3"), std::string::npos) << e.what();
  }
}

// The patches' moments against unfold's patches: the sum of u u^T and of u over every output position.
TEST(LeanOps, PatchMomentsMatchUnfold) {
  torch::manual_seed(22);
  for (const int64_t stride : {1, 2}) {
    const torch::Tensor x =
        (torch::randint(0, 4, {5, 3, 9, 11}) * torch::rand({5, 3, 9, 11}).lt(0.3)).to(torch::kDouble);
    functional::kernels::PatchShape s;
    s.batch = 5;
    s.in_channels = 3;
    s.height = 9;
    s.width = 11;
    s.kernel_h = 3;
    s.kernel_w = 2;
    s.stride_h = s.stride_w = stride;
    s.pad_h = 1;
    s.pad_w = 0;
    s.dilation_h = 2;
    const int64_t K = s.patch_size();
    std::vector<double> gram(K * K), sums(K);
    functional::kernels::patch_moments<double>(x.data_ptr<double>(), s, gram.data(), sums.data());
    const torch::Tensor u = torch::nn::functional::unfold(
        x, torch::nn::functional::UnfoldFuncOptions({3, 2}).padding({1, 0}).stride(stride).dilation({2, 1}));
    ASSERT_EQ(u.size(2), s.out_height() * s.out_width());
    const torch::Tensor cols = u.permute({0, 2, 1}).reshape({-1, K});
    EXPECT_TRUE(torch::allclose(torch::from_blob(gram.data(), {K, K}, torch::kDouble), cols.t().mm(cols)));
    EXPECT_TRUE(torch::allclose(torch::from_blob(sums.data(), {K}, torch::kDouble), cols.sum(0)));
  }
}

// The recomputed output would differ from the forward's if the input changed in between: the backward refuses, as
// autograd refuses a saved tensor modified in place.
TEST(LeanOps, ConvRecomputeRefusesAnInputModifiedInPlace) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 4, 3).padding(1));
  torch::nn::BatchNorm2d bn(4);
  torch::Tensor frames = torch::rand({4, 2, 8, 8});
  const auto out =
      functional::batch_norm_avg_pool2d(conv->forward(frames), *bn, 2, functional::conv2d_recompute(frames, *conv));
  frames.add_(1.0);
  try {
    out.sum().backward();
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("modified in place"), std::string::npos) << e.what();
  }
}

// The attention's last pass fused into the LIF (fused_scale_lif) against the two apart, in a whole conv block with
// the fused LIF backend: the same spikes, BN statistics and parameter gradients, for attentions with and without SA.
TEST(LeanOps, ConvBlockWithScaledLifMatchesAttentionThenLif) {
  for (const char* name : {"TCSA", "TCA", "SA"}) {
    SCOPED_TRACE(name);
    torch::manual_seed(15);
    const LayerAttention att = small_attention(name);
    SpikingConvBlock fused(SpikingConvBlockOptions(4, 6).pool(2).steps(4).attention(att).spike_input(true));
    fused->to(torch::kDouble);
    {
      torch::NoGradGuard ng;
      fused->bn->weight.fill_(4.0);
    }
    auto apart = std::dynamic_pointer_cast<SpikingConvBlockImpl>(fused->clone());
    apart->options.fused_scale_lif(false);
    const auto x = torch::rand({4, 3, 4, 8, 8}).lt(0.4).to(torch::kDouble);
    const auto a = block_outputs(*fused, x);
    const auto b = block_outputs(*apart, x);
    EXPECT_GT(a[0].sum().item<double>(), 0.0);
    EXPECT_TRUE(torch::equal(a[0], b[0]));
    expect_close(a, b, 1e-9, 1e-11);
  }
}

// BN's output let go after the forward and computed again, a chunk of samples at a time, in the backwards of the
// LIF and the spatial attention (recompute_norm_output), in a first layer (event frames) and an event-driven one
// (spikes): the same spikes, statistics and gradients as with it kept, and that much less held between forward and
// backward.
TEST(LeanOps, ConvBlockComputesItsNormOutputAgainForTheBackward) {
  memory::track_cpu_allocations();
  for (const bool spikes_in : {false, true}) {
    SCOPED_TRACE(spikes_in ? "event-driven" : "event frames");
    torch::manual_seed(17);
    auto options = SpikingConvBlockOptions(2, 6).pool(2).steps(4).attention(small_attention("TCSA"));
    if (spikes_in) options.spike_input(true).synapses(SynapseMode::Sparse);
    SpikingConvBlock again(options);
    again->to(torch::kDouble);
    {
      torch::NoGradGuard ng;
      again->bn->weight.fill_(4.0);
    }
    auto kept = std::dynamic_pointer_cast<SpikingConvBlockImpl>(again->clone());
    kept->options.recompute_norm_output(false);
    const auto x = spikes_in ? torch::rand({4, 3, 2, 8, 8}).lt(0.3).to(torch::kDouble)
                             : torch::randint(0, 4, {4, 3, 2, 8, 8}).to(torch::kDouble);
    const int64_t norm_output_bytes = 4 * 3 * 6 * 4 * 4 * 8;  // [T,B,C,H/2,W/2] doubles
    const auto held_after_forward = [&](SpikingConvBlockImpl& block) {
      block.train();
      const int64_t before = memory::cpu_bytes_in_use();
      const auto s = block.forward(x);
      return memory::cpu_bytes_in_use() - before;
    };
    // less by the output, but for what computes it again (BN's scale and offset per channel; for event frames the
    // convolution's weights too)
    const int64_t less = held_after_forward(*kept) - held_after_forward(*again);
    EXPECT_LE(less, norm_output_bytes);
    EXPECT_GE(less, norm_output_bytes - 2 * 6 * 8 - (spikes_in ? 0 : (6 * 2 * 9 + 6) * 8));
    const auto b = block_outputs(*kept, x);
    EXPECT_GT(b[0].sum().item<double>(), 0.0);
    // in one chunk of samples (the default here: the tensors are small), and one sample at a time
    for (const int64_t samples : {int64_t{0}, int64_t{1}}) {
      SCOPED_TRACE("samples per chunk " + std::to_string(samples));
      std::optional<autograd_buffers::FixedSampleChunk> chunk;
      if (samples > 0) chunk.emplace(samples);
      // a copy each time: the forward updates BN's running statistics, which are compared
      const auto a = block_outputs(*std::dynamic_pointer_cast<SpikingConvBlockImpl>(again->clone()), x);
      EXPECT_TRUE(torch::equal(a[0], b[0]));
      expect_close(a, b, 1e-12, 1e-14);
    }
  }
}

// Event-driven convolution of spikes (event_driven_synapse.h): values and gradients (input, weight, bias) equal
// LibTorch's convolution at densities from 0% to 100%, on the spike-input convolutions of the registry's DVS
// networks (their channels and kernels) and an odd, non-square plane.
TEST(EventDrivenConv, MatchesDenseConvolutionAtEveryDensity) {
  auto shapes = masnn::testing::spike_input_conv_shapes();  // in, out, kernel, pad
  ASSERT_FALSE(shapes.empty());
  shapes.push_back({3, 5, 5, 2});
  torch::manual_seed(21);
  for (const auto& [in, out, k, pad] : shapes) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, k).padding(pad));
    for (const double density : {0.0, 0.01, 0.1, 0.5, 1.0}) {
      SCOPED_TRACE(std::to_string(in) + "->" + std::to_string(out) + " k" + std::to_string(k) + " density " +
                   std::to_string(density));
      const auto spikes = torch::rand({3, in, 7, 9}).lt(density).to(torch::kFloat);
      ASSERT_TRUE(functional::conv2d_event_driven_supports(spikes, *conv));
      auto x1 = spikes.clone().requires_grad_(true), x2 = spikes.clone().requires_grad_(true);
      conv->zero_grad();
      const auto y1 = functional::conv2d_event_driven(x1, *conv);
      const auto g = torch::randn(y1.sizes());
      y1.backward(g);
      const auto dw1 = conv->weight.grad().clone(), db1 = conv->bias.grad().clone();
      conv->zero_grad();
      const auto y2 = conv->forward(x2);
      y2.backward(g);
      EXPECT_TRUE(torch::allclose(y1, y2, 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(x1.grad(), x2.grad(), 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(dw1, conv->weight.grad(), 1e-4, 1e-4));
      EXPECT_TRUE(torch::allclose(db1, conv->bias.grad(), 1e-4, 1e-4));
    }
  }
}

TEST(EventDrivenConv, WeightGradientIsTheSameForAnyNumberOfThreads) {
  torch::manual_seed(22);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(8, 16, 3).padding(1));
  const auto x = torch::rand({6, 8, 12, 12}).lt(0.1).to(torch::kFloat);
  EXPECT_TRUE(masnn::testing::same_for_1_and_3_threads([&] {
    conv->zero_grad();
    functional::conv2d_event_driven(x, *conv).pow(2).sum().backward();
    return conv->weight.grad();
  }));
}

// The backward transposes the output gradient a chunk of samples (8 MiB) at a time: with 2.5 chunks' worth, the
// weight gradient and the input gradient at a published support are still the dense ones.
TEST(EventDrivenConv, BackwardInChunksOfSamplesMatchesDense) {
  torch::manual_seed(27);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 128, 3).padding(1));
  const auto spikes = torch::rand({40, 4, 32, 32}).lt(0.1).to(torch::kFloat);  // gradient: 40 x 512 KiB
  const auto mask = torch::rand(spikes.sizes()).lt(0.3);
  auto x1 = spikes.clone().requires_grad_(true), x2 = spikes.clone().requires_grad_(true);
  const auto support = functional::pack_bits(mask);
  functional::publish_surrogate_support(x1, support);
  conv->zero_grad();
  const auto y1 = functional::conv2d_event_driven(x1, *conv);
  const auto g = torch::randn(y1.sizes());
  y1.backward(g);
  const auto dw1 = conv->weight.grad().clone();
  conv->zero_grad();
  conv->forward(x2).backward(g);
  EXPECT_TRUE(torch::allclose(dw1, conv->weight.grad(), 1e-4, 1e-3));
  EXPECT_TRUE(torch::allclose(x1.grad(), x2.grad() * mask, 1e-4, 1e-5));
  EXPECT_EQ((x1.grad() * mask.logical_not()).abs().max().item<float>(), 0.0f);
}

// The weight-gradient kernel over consecutive ranges of samples sums in the same order as over the whole batch.
TEST(EventDrivenConv, WeightGradientKernelIsTheSameOverAnySplitOfTheBatch) {
  torch::manual_seed(28);
  kernels::ConvShape s;
  s.batch = 5;
  s.in_channels = 3;
  s.height = 6;
  s.width = 7;
  s.out_channels = 20;
  const auto x = torch::rand({5, 3, 6, 7}).lt(0.3).to(torch::kFloat);
  torch::Tensor offsets = torch::zeros({16}, torch::kLong);
  kernels::count_plane_nonzeros<float>(x.data_ptr<float>(), 15, 42, offsets.data_ptr<int64_t>() + 1);
  offsets = offsets.cumsum(0);
  torch::Tensor positions = torch::empty({offsets[15].item<int64_t>()}, torch::kInt);
  kernels::index_plane_nonzeros<float>(x.data_ptr<float>(), 15, 42, offsets.data_ptr<int64_t>(),
                                       positions.data_ptr<int32_t>());
  const kernels::SpikeIndex index{positions.data_ptr<int32_t>(), offsets.data_ptr<int64_t>()};
  const auto g = torch::randn({5, 6, 7, 20});  // channels-last
  auto whole = torch::zeros({3, 3, 3, 20}), split = torch::zeros({3, 3, 3, 20});
  kernels::sparse_conv2d_weight_grad<float>(index, g.data_ptr<float>(), whole.data_ptr<float>(), s);
  for (const auto& [b, e] : {std::pair<int64_t, int64_t>{0, 2}, {2, 3}, {3, 5}})
    kernels::sparse_conv2d_weight_grad<float>(index, g[b].data_ptr<float>(), split.data_ptr<float>(), s, {b, e});
  EXPECT_GT(whole.abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(whole, split));
}

// Event-driven conv + BN + pooling, whose backward computes the conv output again: the gradients of the composition,
// and twice them through a retained graph.
TEST(EventDrivenConv, NormPoolRecomputesTheConvOutputWithTheComposedGradients) {
  torch::manual_seed(29);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
  torch::nn::BatchNorm2d bn(8);
  conv->to(torch::kDouble);
  bn->to(torch::kDouble);
  const auto spikes = torch::rand({4, 3, 8, 8}, torch::kDouble).lt(0.2).to(torch::kDouble);
  ASSERT_TRUE(functional::conv2d_event_driven_norm_pool_supports(spikes, *conv, *bn, 2));
  const auto grads = [&](bool fused, int backwards) {
    conv->zero_grad();
    bn->zero_grad();
    auto x = spikes.clone().requires_grad_(true);
    const auto y = fused ? functional::conv2d_event_driven_norm_pool(x, *conv, *bn, 2)
                         : torch::avg_pool2d(bn->forward(conv->forward(x)), 2);
    const auto g = torch::linspace(-1, 1, y.numel(), y.options()).view(y.sizes());
    for (int i = 0; i < backwards; ++i) y.backward(g, /*retain_graph=*/true);
    return std::vector<torch::Tensor>{y.detach(), x.grad(), conv->weight.grad().clone(), bn->weight.grad().clone()};
  };
  expect_close(grads(true, 1), grads(false, 1), 1e-9, 1e-11);
  const auto once = grads(true, 1), twice = grads(true, 2);
  for (size_t i = 1; i < once.size(); ++i) EXPECT_TRUE(torch::allclose(twice[i], 2 * once[i], 1e-9, 1e-11)) << i;
}

// The node computes the convolution's output a chunk of samples at a time in forward and backward: with pooling 1
// and 2, one sample per chunk, chunks of 3 and 1, and the whole batch at once, the values, gradients (the input's
// dense and at a published support) and running statistics of the composition; across chunk sizes the same bits.
TEST(EventDrivenConv, NormPoolInChunksOfSamplesMatchesTheComposition) {
  torch::manual_seed(30);
  const auto spikes = torch::rand({4, 3, 8, 8}, torch::kDouble).lt(0.2).to(torch::kDouble);
  const auto mask = torch::rand(spikes.sizes()).lt(0.3);
  for (const int64_t k : {1, 2}) {
    const int64_t sample_bytes = 8 * 8 * 8 * 8;  // one sample of the convolution's output, double
    std::vector<std::vector<torch::Tensor>> chunked;
    for (const int64_t chunk_bytes : {int64_t{8} << 20, sample_bytes, 3 * sample_bytes}) {
      for (const bool with_support : {false, true}) {
        SCOPED_TRACE("k " + std::to_string(k) + ", chunk " + std::to_string(chunk_bytes) + ", support " +
                     std::to_string(with_support));
        const auto run = [&](bool fused) {
          torch::manual_seed(31);
          torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
          torch::nn::BatchNorm2d bn(8);
          conv->to(torch::kDouble);
          bn->to(torch::kDouble);
          {
            torch::NoGradGuard no_grad;
            bn->weight.uniform_(0.5, 1.5);
            bn->bias.uniform_(-0.5, 0.5);
          }
          auto x = spikes.clone().requires_grad_(true);
          const auto support = functional::pack_bits(mask);
          if (fused && with_support) functional::publish_surrogate_support(x, support);
          const auto y = fused ? functional::conv2d_event_driven_norm_pool(x, *conv, *bn, k, 1.0, chunk_bytes)
                               : torch::avg_pool2d(bn->forward(conv->forward(x)), k);
          y.backward(torch::linspace(-1, 1, y.numel(), y.options()).view(y.sizes()).pow(3));
          return std::vector<torch::Tensor>{y.detach(),
                                            x.grad(),
                                            conv->weight.grad(),
                                            bn->weight.grad(),
                                            bn->bias.grad(),
                                            bn->running_mean.clone(),
                                            bn->running_var.clone(),
                                            conv->bias.grad()};
        };
        const auto fused = run(true);
        auto composed = run(false);
        if (with_support) {
          // the input gradient at the support only, zero elsewhere
          EXPECT_EQ(fused[1].ne(0).logical_and(mask.logical_not()).sum().item<int64_t>(), 0);
          composed[1] = composed[1] * mask;
        }
        expect_close(fused, composed, 1e-9, 1e-11);
        if (with_support) continue;
        if (!chunked.empty()) {
          for (size_t i = 0; i < fused.size(); ++i) EXPECT_TRUE(torch::equal(fused[i], chunked[0][i])) << i;
        }
        chunked.push_back(fused);
      }
    }
  }
}

// The function conv2d_event_driven_norm_pool hands back computes rows of its output again from the window sums it
// keeps (ranges, or a range of every group of rows): the same values, as often as asked; none without pooling (the
// sums would be the output itself).
// In float, with and without the convolution's bias (BN's moments are taken about it), against the composition in
// double: the node's sums run in double, so it stays within a few float epsilons of the largest value.
TEST(EventDrivenConv, NormPoolInFloatWithAndWithoutBiasMatchesTheComposition) {
  torch::manual_seed(32);
  const auto spikes = torch::rand({16, 16, 16, 16}).lt(0.05).to(torch::kFloat);
  for (const bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "bias" : "no bias");
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(16, 32, 3).padding(1).bias(bias));
    torch::nn::BatchNorm2d bn = make_bn(32, torch::kFloat);
    const auto run = [&](bool fused) {
      auto c = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(conv->clone());
      auto b = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(bn->clone());
      if (!fused) {
        c->to(torch::kDouble);
        b->to(torch::kDouble);
      }
      auto x = (fused ? spikes : spikes.to(torch::kDouble)).clone().requires_grad_(true);
      const auto y = fused ? functional::conv2d_event_driven_norm_pool(x, *c, *b, 2)
                           : torch::avg_pool2d(b->forward(c->forward(x)), 2);
      y.backward(torch::linspace(-1, 1, y.numel(), y.options()).view(y.sizes()).pow(3));
      std::vector<torch::Tensor> out = {y.detach(),
                                        x.grad(),
                                        c->weight.grad(),
                                        b->weight.grad(),
                                        b->bias.grad(),
                                        b->running_mean.clone(),
                                        b->running_var.clone()};
      if (bias) out.push_back(c->bias.grad());
      for (auto& t : out) t = t.to(torch::kDouble);
      return out;
    };
    const auto fused = run(true), composed = run(false);
    ASSERT_EQ(fused.size(), composed.size());
    for (size_t i = 0; i < fused.size(); ++i) {
      // the convolution bias's gradient: zero but for rounding (BN cancels the bias), a sum of 4096 float gradients
      // whose rounding differs between LibTorch versions (2e-4 seen on 2.6); a wrong term would be of their size
      const double scale = i == 7 ? 200.0 : composed[i].abs().max().item<double>() + 1.0;
      EXPECT_LE((fused[i] - composed[i]).abs().max().item<double>(), 1e-5 * scale) << "tensor " << i;
    }
  }
}

// Layers without bias: the event-driven convolution and linear layer take them (their nodes' bias input is absent).
TEST(EventDrivenConv, SynapsesWithoutBiasMatchDense) {
  torch::manual_seed(33);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 5, 3).padding(1).bias(false));
  torch::nn::Linear linear(torch::nn::LinearOptions(40, 6).bias(false));
  conv->to(torch::kDouble);
  linear->to(torch::kDouble);
  const auto images = torch::rand({4, 3, 6, 6}, torch::kDouble).lt(0.2).to(torch::kDouble);
  const auto rows = torch::rand({7, 40}, torch::kDouble).lt(0.2).to(torch::kDouble);
  expect_close(grads_of(images, *conv, [&](torch::Tensor x) { return functional::conv2d_event_driven(x, *conv); }),
               grads_of(images, *conv, [&](torch::Tensor x) { return conv(x); }), 1e-10, 1e-12);
  expect_close(grads_of(rows, *linear, [&](torch::Tensor x) { return functional::linear_event_driven(x, *linear); }),
               grads_of(rows, *linear, [&](torch::Tensor x) { return linear(x); }), 1e-10, 1e-12);
}

TEST(EventDrivenConv, NormPoolComputesRowsOfItsOutputAgain) {
  torch::manual_seed(32);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3).padding(1));
  torch::nn::BatchNorm2d bn(8);
  const auto x = torch::rand({4, 3, 8, 8}).lt(0.2).to(torch::kFloat);
  std::function<torch::Tensor(int64_t, int64_t, int64_t)> again;
  const auto y = functional::conv2d_event_driven_norm_pool(x, *conv, *bn, 2, 1.0, int64_t{8} << 20, &again);
  ASSERT_TRUE(again);
  EXPECT_TRUE(torch::equal(again(1, 0, 4), y));
  EXPECT_TRUE(torch::equal(again(1, 1, 2), y.narrow(0, 1, 2)));
  EXPECT_TRUE(torch::equal(again(1, 3, 1), y.narrow(0, 3, 1)));
  // the second row of each half (as T 2, B 2 merged: the second sample of both steps)
  EXPECT_TRUE(torch::equal(again(2, 1, 1), torch::stack({y[1], y[3]})));
  EXPECT_NE(masnn::testing::expect_error([&] { again(1, 3, 2); }).find("rows [3, 5) of each of 1 groups of 4"),
            std::string::npos);
  EXPECT_NE(masnn::testing::expect_error([&] { again(3, 0, 1); }).find("not there"), std::string::npos);
  functional::conv2d_event_driven_norm_pool(x, *conv, *bn, 1, 1.0, int64_t{8} << 20, &again);
  EXPECT_FALSE(again);
}

TEST(EventDrivenConv, ChoiceByModeAndDensity) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 4, 3).padding(1));
  const auto sparse = torch::zeros({1, 2, 10, 10});
  sparse.view(-1).narrow(0, 0, 4).fill_(1);  // 2% of the inputs
  const auto dense = torch::ones({1, 2, 10, 10});
  EXPECT_FALSE(functional::use_event_driven_conv(SynapseMode::Dense, sparse, *conv));
  EXPECT_TRUE(functional::use_event_driven_conv(SynapseMode::Sparse, dense, *conv));
  EXPECT_TRUE(functional::use_event_driven_conv(SynapseMode::Auto, sparse, *conv, 0.05));
  EXPECT_FALSE(functional::use_event_driven_conv(SynapseMode::Auto, sparse, *conv, 0.01));
  EXPECT_FALSE(functional::use_event_driven_conv(SynapseMode::Auto, dense, *conv, 0.05));
  torch::nn::Conv2d strided(torch::nn::Conv2dOptions(2, 4, 3).padding(1).stride(2));
  EXPECT_FALSE(functional::conv2d_event_driven_supports(sparse, *strided));
  EXPECT_FALSE(functional::use_event_driven_conv(SynapseMode::Sparse, sparse, *strided));
  EXPECT_NE(masnn::testing::expect_error([&] { functional::conv2d_event_driven(sparse, *strided); }).find("stride-1"),
            std::string::npos);
  EXPECT_EQ(parse_synapse_mode("sparse"), SynapseMode::Sparse);
  EXPECT_NE(masnn::testing::expect_error([] {
              parse_synapse_mode("events", "--synapses");
            }).find("--synapses: expected one of dense, sparse, auto; got 'events'"),
            std::string::npos);
}

// A conv block training with event-driven synapses: the same spikes, BN statistics and gradients as dense.
TEST(EventDrivenConv, ConvBlockMatchesDense) {
  torch::manual_seed(23);
  const LayerAttention att = small_attention("TCSA");
  SpikingConvBlock event(
      SpikingConvBlockOptions(4, 6).pool(2).steps(4).attention(att).spike_input(true).synapses(SynapseMode::Sparse));
  event->to(torch::kDouble);
  {
    torch::NoGradGuard ng;
    event->bn->weight.fill_(4.0);
  }
  auto dense = std::dynamic_pointer_cast<SpikingConvBlockImpl>(event->clone());
  dense->options.synapses(SynapseMode::Dense);
  const auto x = torch::rand({4, 3, 4, 8, 8}).lt(0.1).to(torch::kDouble);
  const auto a = block_outputs(*event, x);
  const auto b = block_outputs(*dense, x);
  EXPECT_GT(a[0].sum().item<double>(), 0.0);
  expect_close(a, b, 1e-9, 1e-11);
  std::ostringstream printed;
  event->pretty_print(printed);
  EXPECT_NE(printed.str().find("synapses=sparse"), std::string::npos);
}

// Event-driven linear layer on spikes: values and gradients (input, weight, bias) equal LibTorch's linear at
// densities from 0% to 100%, on the spike-input linear layers of the registry's DVS networks and an odd shape.
TEST(EventDrivenLinear, MatchesDenseLinearAtEveryDensity) {
  auto shapes = masnn::testing::spike_input_linear_shapes();  // in, out
  shapes.push_back({37, 21});
  torch::manual_seed(24);
  for (const auto& [in, out] : shapes) {
    torch::nn::Linear linear(in, out);
    for (const double density : {0.0, 0.01, 0.1, 0.5, 1.0}) {
      SCOPED_TRACE(std::to_string(in) + "->" + std::to_string(out) + " density " + std::to_string(density));
      const auto spikes = torch::rand({6, in}).lt(density).to(torch::kFloat);
      ASSERT_TRUE(functional::linear_event_driven_supports(spikes, *linear));
      auto x1 = spikes.clone().requires_grad_(true), x2 = spikes.clone().requires_grad_(true);
      linear->zero_grad();
      const auto y1 = functional::linear_event_driven(x1, *linear);
      const auto g = torch::randn(y1.sizes());
      y1.backward(g);
      const auto dw1 = linear->weight.grad().clone(), db1 = linear->bias.grad().clone();
      linear->zero_grad();
      linear->forward(x2).backward(g);
      EXPECT_TRUE(torch::allclose(y1, linear->forward(spikes), 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(x1.grad(), x2.grad(), 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(dw1, linear->weight.grad(), 1e-4, 1e-5));
      EXPECT_TRUE(torch::allclose(db1, linear->bias.grad(), 1e-4, 1e-5));
    }
  }
}

TEST(EventDrivenLinear, WeightGradientIsTheSameForAnyNumberOfThreads) {
  torch::manual_seed(25);
  torch::nn::Linear linear(300, 40);
  const auto x = torch::rand({24, 300}).lt(0.1).to(torch::kFloat);
  EXPECT_TRUE(masnn::testing::same_for_1_and_3_threads([&] {
    linear->zero_grad();
    functional::linear_event_driven(x, *linear).pow(2).sum().backward();
    return linear->weight.grad();
  }));
}

TEST(EventDrivenLinear, ChoiceByModeAndDensity) {
  torch::nn::Linear linear(100, 4);
  const auto sparse = torch::zeros({2, 100});
  sparse.view(-1).narrow(0, 0, 4).fill_(1);  // 2% of the inputs
  const auto dense = torch::ones({2, 100});
  EXPECT_FALSE(functional::use_event_driven_linear(SynapseMode::Dense, sparse, *linear));
  EXPECT_TRUE(functional::use_event_driven_linear(SynapseMode::Sparse, dense, *linear));
  EXPECT_TRUE(functional::use_event_driven_linear(SynapseMode::Auto, sparse, *linear, 0.05));
  EXPECT_FALSE(functional::use_event_driven_linear(SynapseMode::Auto, sparse, *linear, 0.01));
  EXPECT_FALSE(functional::use_event_driven_linear(SynapseMode::Auto, dense, *linear, 0.05));
  const auto wrong = torch::zeros({2, 99});
  EXPECT_FALSE(functional::use_event_driven_linear(SynapseMode::Sparse, wrong, *linear));
  EXPECT_NE(masnn::testing::expect_error([&] { functional::linear_event_driven(wrong, *linear); }).find("[N,100]"),
            std::string::npos);
}

// A linear block training with an event-driven linear layer: the same spikes, BN statistics and gradients as dense.
TEST(EventDrivenLinear, LinearBlockMatchesDense) {
  torch::manual_seed(26);
  SpikingLinearBlock event(SpikingLinearBlockOptions(40, 12)
                               .steps(4)
                               .attention(small_attention("TCSA"))
                               .spike_input(true)
                               .synapses(SynapseMode::Sparse));
  event->to(torch::kDouble);
  {
    torch::NoGradGuard ng;
    event->bn->weight.fill_(4.0);
  }
  auto dense = std::dynamic_pointer_cast<SpikingLinearBlockImpl>(event->clone());
  dense->options.synapses(SynapseMode::Dense);
  const auto x = torch::rand({4, 3, 40}).lt(0.1).to(torch::kDouble);
  std::vector<std::vector<torch::Tensor>> outputs;
  for (SpikingLinearBlockImpl* block : {event.get(), dense.get()}) {
    block->train();
    block->zero_grad();
    const auto s = block->forward(x);
    (s * torch::linspace(-1, 1, s.numel(), s.options()).view(s.sizes())).sum().backward();
    std::vector<torch::Tensor> out = {s.detach(), block->bn->running_mean.clone(), block->bn->running_var.clone()};
    for (const auto& p : block->parameters()) out.push_back(p.grad().clone());
    outputs.push_back(out);
  }
  EXPECT_GT(outputs[0][0].sum().item<double>(), 0.0);
  expect_close(outputs[0], outputs[1], 1e-9, 1e-11);
  std::ostringstream printed;
  event->pretty_print(printed);
  EXPECT_NE(printed.str().find("synapses=sparse"), std::string::npos);
}
