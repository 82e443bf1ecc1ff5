#include "util/autograd_buffers.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/graph_task.h>

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

namespace masnn::autograd_buffers {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The references an exclusively held incoming gradient and saved tensor have inside a backward, as this LibTorch
// counts them (3 and 2 in LibTorch 1.13: the engine's buffer, CppNode's copy and the by-value argument; the saved
// variable and the unpacked copy).
struct Counts {
  size_t gradient = 0;
  size_t saved = 0;
};

struct Probe : public torch::autograd::Function<Probe> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, Counts* counts) {
    ctx->saved_data["counts"] = reinterpret_cast<int64_t>(counts);
    ctx->save_for_backward({x * 1});  // a tensor nothing else holds
    return x * 1;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto* counts = reinterpret_cast<Counts*>(ctx->saved_data["counts"].toInt());
    const auto saved = ctx->get_saved_variables();
    counts->saved = saved[0].use_count();
    counts->gradient = grads[0].use_count();
    return {grads[0], torch::Tensor()};
  }
};

Counts measure() {
  Counts counts;
  torch::AutoGradMode grad_mode(true);
  const torch::Tensor x = torch::ones({2}, torch::requires_grad());
  // The gradient reaching Probe is MulBackward's fresh result: held by the engine alone.
  const torch::Tensor y = Probe::apply(x, &counts) * 2;
  torch::autograd::grad({y.sum()}, {x});
  return counts;
}

const Counts& counts() {
  static const Counts c = measure();
  return c;
}

std::atomic<int64_t> g_fixed_sample_chunk{0};  // FixedSampleChunk's, 0 when none

// The context of a dropped storage's DataPtr (no data): how to compute its samples again. Deleted with the DataPtr,
// i.e. when the storage goes.
void delete_recompute(void* context) {
  delete static_cast<SampleRecompute*>(context);
}

bool alone(const torch::Tensor& t, size_t references) {
  return t.defined() && t.is_contiguous() && t.use_count() == references && t.storage().use_count() == 1;
}

}  // namespace

bool incoming_gradient_is_exclusive(const torch::Tensor& g) {
  if (alone(g, counts().gradient)) return true;
  // A reshape of the gradient the node before computed (a view-taking forward, as merging T into the batch is): the
  // view's base is held by the view alone, so nothing else sees the storage either.
  return g.defined() && g.is_contiguous() && g.use_count() == counts().gradient && g.is_view() &&
         g._base().use_count() == 1 && g.storage().use_count() == 2;
}

bool saved_tensor_is_exclusive(const torch::Tensor& t) {
  return !torch::autograd::get_current_graph_task_keep_graph() && alone(t, counts().saved);
}

void drop_for_sample_reads(const torch::Tensor& t, SampleRecompute recompute) {
  TORCH_CHECK(t.dim() >= 2 && t.is_contiguous() && t.storage_offset() == 0 &&
                  t.numel() * static_cast<int64_t>(t.element_size()) == static_cast<int64_t>(t.storage().nbytes()) &&
                  recompute,
              "drop_for_sample_reads: needs a contiguous time-major tensor [T,B,...] that is its whole storage, and a "
              "recompute");
  c10::StorageImpl* storage = t.storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(
      c10::DataPtr(nullptr, new SampleRecompute(std::move(recompute)), &delete_recompute, storage->device()));
}

void for_each_sample_chunk(const torch::Tensor& t, int64_t chunk_bytes,
                           const std::function<void(const torch::Tensor& chunk, int64_t first, int64_t count)>& body) {
  const c10::DataPtr& data = t.storage().data_ptr();
  const int64_t B = t.size(1);
  if (data.get() != nullptr) return body(t, 0, B);
  TORCH_CHECK(data.get_deleter() == &delete_recompute,
              "for_each_sample_chunk: the tensor's data is gone and there is no way to compute it again");
  const auto& recompute = *static_cast<const SampleRecompute*>(data.get_context());
  const int64_t sample_bytes = t.numel() / std::max<int64_t>(1, B) * static_cast<int64_t>(t.element_size());
  const int64_t fixed = g_fixed_sample_chunk.load();
  const int64_t per_chunk =
      fixed > 0 ? fixed : std::max<int64_t>(at::get_num_threads(), chunk_bytes / std::max<int64_t>(1, sample_bytes));
  for (int64_t first = 0; first < B; first += per_chunk) {
    const int64_t count = std::min(per_chunk, B - first);
    std::vector<int64_t> sizes = t.sizes().vec();
    sizes[1] = count;
    const torch::Tensor chunk = recompute(first, count);
    TORCH_CHECK(chunk.sizes() == torch::IntArrayRef(sizes) && chunk.is_contiguous() &&
                    chunk.scalar_type() == t.scalar_type() && chunk.device() == t.device(),
                "for_each_sample_chunk: the recompute must give a contiguous ", sizes, " ", t.scalar_type(),
                " tensor, got ", chunk.sizes(), " ", chunk.scalar_type());
    body(chunk, first, count);
  }
}

namespace {
int64_t positive_samples(int64_t samples) {
  TORCH_CHECK(samples > 0, "FixedSampleChunk: samples must be positive, got ", samples);
  return samples;
}
}  // namespace

FixedSampleChunk::FixedSampleChunk(int64_t samples)
    : previous_(g_fixed_sample_chunk.exchange(positive_samples(samples))) {}

FixedSampleChunk::~FixedSampleChunk() {
  g_fixed_sample_chunk.store(previous_);
}

}  // namespace masnn::autograd_buffers
