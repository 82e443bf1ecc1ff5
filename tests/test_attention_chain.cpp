// The fused Conv-POST attention passes one gradient buffer through its three nodes (fused_attention.h): the
// gradient of x must stay right when x also feeds other ops, and when a composite is applied twice to one x.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "masnn/attention/multi_attention.h"

using namespace masnn;

TEST(FusedAttentionChain, GradientOfASharedInputMatchesComposed) {
  torch::manual_seed(21);
  MultiDimAttention m(MultiDimAttentionOptions(AttentionType::parse("TCSA"), 4, 8).t_ratio(2).c_ratio(4));
  m->to(torch::kDouble);
  const auto x0 = torch::randn({4, 2, 8, 5, 6}, torch::kDouble);
  const auto g = torch::randn_like(x0);
  auto run = [&](bool fused) {
    m->options.fused(fused);
    m->zero_grad();
    auto x = x0.clone().requires_grad_(true);
    // x feeds the attention twice and a plain op, so autograd sums three gradients at x.
    const auto y = m(x) * g + m(x * 2).sin() + x.pow(2);
    y.sum().backward();
    std::vector<torch::Tensor> out = {y.detach(), x.grad().clone()};
    for (const auto& p : m->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  const auto a = run(true), b = run(false);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-10, 1e-12))
        << "tensor " << i << " max diff " << (a[i] - b[i]).abs().max().item<double>();
}
