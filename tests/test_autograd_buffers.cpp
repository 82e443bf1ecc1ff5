// When a custom Function's backward may reuse the memory it is handed (include/src/util/autograd_buffers.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "masnn/util/memory.h"
#include "util/autograd_buffers.h"

using namespace masnn;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// y = x * 1; its backward records what autograd_buffers says of the incoming gradient and of the saved input.
std::vector<int> g_gradient_seen, g_saved_seen;

struct Recorder : public torch::autograd::Function<Recorder> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return x * 1;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    g_gradient_seen.push_back(autograd_buffers::incoming_gradient_is_exclusive(grads[0]));
    g_saved_seen.push_back(autograd_buffers::saved_tensor_is_exclusive(saved[0]));
    return {grads[0] * 1};
  }
};

void clear() {
  g_gradient_seen.clear();
  g_saved_seen.clear();
}

// Recorder over a fresh intermediate that the caller drops (a temporary would live on to the end of the statement).
torch::Tensor recorded(const torch::Tensor& w, double scale) {
  torch::Tensor input = w * scale;
  return Recorder::apply(input);
}

// y = t * t, keeping t for its backward (2 t g).
struct Square : public torch::autograd::Function<Square> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& t) {
    ctx->save_for_backward({t});
    return t * t;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {2 * ctx->get_saved_variables()[0] * grads[0]};
  }
};

}  // namespace

TEST(AutogradBuffers, AGradientAndASavedTensorThatNothingElseHoldsAreExclusive) {
  clear();
  const auto w = torch::ones({4}, torch::requires_grad());
  // The gradient reaching Recorder is MulBackward's fresh result; the saved input (w * 3) is held by the node alone.
  (recorded(w, 3) * 2).sum().backward();
  EXPECT_EQ(g_gradient_seen, std::vector<int>{1});
  EXPECT_EQ(g_saved_seen, std::vector<int>{1});
}

TEST(AutogradBuffers, WhatSomethingElseHoldsIsNot) {
  const auto w = torch::ones({4}, torch::requires_grad());
  {
    clear();  // the caller keeps the saved input; a hook keeps the incoming gradient
    const torch::Tensor input = w * 3;
    torch::Tensor kept;
    torch::Tensor y = Recorder::apply(input);
    y.register_hook([&kept](torch::Tensor g) { kept = g; });
    (y * 2).sum().backward();
    EXPECT_EQ(g_gradient_seen, std::vector<int>{0});
    EXPECT_EQ(g_saved_seen, std::vector<int>{0});
  }
  {
    clear();  // a graph kept for a second backward keeps its saved tensors
    const torch::Tensor loss = (recorded(w, 3) * 2).sum();
    loss.backward({}, /*retain_graph=*/true);
    EXPECT_EQ(g_saved_seen, std::vector<int>{0});
  }
  {
    clear();  // one gradient for two nodes (AddBackward passes the same tensor to both): not while both hold it
    const torch::Tensor a = recorded(w, 3), b = recorded(w, 5);
    ((a + b) * 2).sum().backward();
    ASSERT_EQ(g_gradient_seen.size(), 2u);
    EXPECT_EQ(g_gradient_seen[0], 0);
  }
  {
    clear();  // a gradient that is a view of a base nothing else holds (a reshape's backward) is exclusive
    (recorded(w, 3).view({2, 2}) * 2).sum().backward();
    EXPECT_EQ(g_gradient_seen, std::vector<int>{1});
  }
  {
    clear();  // a gradient that is a broadcast view (sum's backward expands a scalar) is not contiguous
    recorded(w, 3).sum().backward();
    EXPECT_EQ(g_gradient_seen, std::vector<int>{0});
  }
}

// A tensor kept for a backward, let go after the forward and computed again right before the backward of a node
// downstream of its keeper: its memory goes at once, the gradients are those of it kept, once computed again even
// through a retained graph, and never when the backward does not pass there.
TEST(AutogradBuffers, ADroppedTensorIsComputedAgainBeforeTheBackwardThatNeedsIt) {
  memory::track_cpu_allocations();
  const auto w = torch::linspace(-1, 1, 1 << 18, torch::dtype(torch::kDouble).requires_grad(true));
  int computed = 0;
  const auto again = [&] {
    ++computed;
    torch::NoGradGuard no_grad;
    return w * 3;
  };
  {
    torch::Tensor t = w * 3;
    const torch::Tensor z = Square::apply(t) * 2;
    const int64_t before = memory::cpu_bytes_in_use();
    autograd_buffers::drop_until_backward(t, z.grad_fn(), again);
    EXPECT_EQ(before - memory::cpu_bytes_in_use(), (int64_t{1} << 18) * 8);
    t = torch::Tensor();
    EXPECT_EQ(computed, 0);
    z.sum().backward({}, /*retain_graph=*/true);
    EXPECT_EQ(computed, 1);
    EXPECT_TRUE(torch::allclose(w.grad(), 36 * w.detach()));  // d(2 (3w)^2)/dw
    z.sum().backward();
    EXPECT_EQ(computed, 1);
    EXPECT_TRUE(torch::allclose(w.grad(), 72 * w.detach()));
  }
  {
    w.mutable_grad() = torch::Tensor();
    torch::Tensor t = w * 3;
    const torch::Tensor z = Square::apply(t) * 2, other = w * 5;
    autograd_buffers::drop_until_backward(t, z.grad_fn(), again);
    t = torch::Tensor();
    other.sum().backward();
    EXPECT_EQ(computed, 1);
    EXPECT_TRUE(torch::allclose(w.grad(), torch::full_like(w, 5)));
  }
  const torch::Tensor strided = (w.narrow(0, 0, 16).view({4, 4}) * 1).t();  // not contiguous
  const torch::Tensor sum = (strided * 1).sum();
  ASSERT_TRUE(sum.grad_fn());
  EXPECT_THROW(autograd_buffers::drop_until_backward(strided, sum.grad_fn(), again), c10::Error);
}
