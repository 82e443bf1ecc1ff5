// When a custom Function's backward may reuse the memory it is handed (include/src/util/autograd_buffers.h).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <utility>
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
// t * t for a time-major t [T,B,F]; its backward reads the saved t through for_each_sample_chunk and records the
// sample ranges it is handed.
std::vector<std::pair<int64_t, int64_t>> g_chunks_seen;

struct Square : public torch::autograd::Function<Square> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& t) {
    ctx->save_for_backward({t});
    return t * t;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor t = ctx->get_saved_variables()[0], g = grads[0];
    torch::Tensor dt = torch::empty(t.sizes(), g.options());
    autograd_buffers::for_each_sample_chunk(t, autograd_buffers::kSampleChunkBytes,
                                            [&](const torch::Tensor& chunk, int64_t first, int64_t count) {
                                              g_chunks_seen.emplace_back(first, count);
                                              dt.narrow(1, first, count).copy_(2 * chunk * g.narrow(1, first, count));
                                            });
    return {dt};
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

// A tensor kept for a backward, let go after the forward and read in the backward a chunk of samples at a time,
// computed again: its memory goes at once, the gradients are those of it kept, each backward through a retained
// graph computes the chunks again, a backward elsewhere computes nothing, and the recompute goes with the storage.
TEST(AutogradBuffers, ADroppedTensorIsComputedAgainInChunksOfSamplesWhereItIsRead) {
  memory::track_cpu_allocations();
  const int64_t T = 4, B = 6, F = int64_t{1} << 16;  // 2 MiB of doubles per sample
  const auto w = torch::linspace(-1, 1, T * B * F, torch::dtype(torch::kDouble)).view({T, B, F}).requires_grad_();
  std::vector<std::pair<int64_t, int64_t>> computed;
  const auto alive = std::make_shared<int>(0);  // held by `again` and by each recompute while it lives
  const auto again = [&computed, alive, w](int64_t first, int64_t count) {
    computed.emplace_back(first, count);
    torch::NoGradGuard no_grad;
    return (w.narrow(1, first, count) * 3).contiguous();
  };
  // Chunks of 8 MiB (4 samples), or one sample per thread where there are more threads.
  const int64_t per_chunk = std::max<int64_t>(at::get_num_threads(), 4);
  std::vector<std::pair<int64_t, int64_t>> chunks;
  for (int64_t first = 0; first < B; first += per_chunk) chunks.emplace_back(first, std::min(per_chunk, B - first));
  const long held_by_again = alive.use_count();
  {
    g_chunks_seen.clear();
    torch::Tensor t = w * 3;
    const torch::Tensor z = Square::apply(t) * 2;
    const int64_t before = memory::cpu_bytes_in_use();
    autograd_buffers::drop_for_sample_reads(t, again);
    EXPECT_EQ(before - memory::cpu_bytes_in_use(), T * B * F * 8);
    t = torch::Tensor();
    EXPECT_TRUE(computed.empty());
    z.sum().backward({}, /*retain_graph=*/true);
    EXPECT_EQ(computed, chunks);
    EXPECT_EQ(g_chunks_seen, chunks);
    EXPECT_TRUE(torch::allclose(w.grad(), 36 * w.detach()));  // d(2 (3w)^2)/dw
    EXPECT_EQ(alive.use_count(), held_by_again + 1);          // the graph is kept, with t's storage
    z.sum().backward();
    EXPECT_EQ(computed.size(), 2 * chunks.size());
    EXPECT_TRUE(torch::allclose(w.grad(), 72 * w.detach()));
    EXPECT_EQ(alive.use_count(), held_by_again);  // the node let t go, and the recompute went with its storage
  }
  {
    computed.clear();
    w.mutable_grad() = torch::Tensor();
    torch::Tensor t = w * 3;
    const torch::Tensor z = Square::apply(t) * 2, other = w * 5;
    autograd_buffers::drop_for_sample_reads(t, again);
    t = torch::Tensor();
    other.sum().backward();
    EXPECT_TRUE(computed.empty());
    EXPECT_TRUE(torch::allclose(w.grad(), torch::full_like(w, 5)));
  }
  // Kept whole, a tensor is read in one piece.
  g_chunks_seen.clear();
  Square::apply(w * 3).sum().backward();
  EXPECT_EQ(g_chunks_seen, (std::vector<std::pair<int64_t, int64_t>>{{0, B}}));

  const torch::Tensor strided = (w.narrow(2, 0, 16) * 1).transpose(0, 1);  // not contiguous
  EXPECT_THROW(autograd_buffers::drop_for_sample_reads(strided, again), c10::Error);
  // A recompute that gives other sizes, and a tensor whose data is gone without one, are refused when read.
  {
    torch::Tensor t = w * 3;
    const torch::Tensor z = Square::apply(t).sum();
    autograd_buffers::drop_for_sample_reads(t, [&](int64_t first, int64_t count) { return again(first, count + 1); });
    EXPECT_THROW(z.backward(), c10::Error);
  }
  {
    torch::Tensor t = w * 3;
    const torch::Tensor z = Square::apply(t).sum();
    c10::StorageImpl* storage = t.storage().unsafeGetStorageImpl();
    storage->set_data_ptr_noswap(c10::DataPtr(nullptr, storage->device()));
    EXPECT_THROW(z.backward(), c10::Error);
  }
}
