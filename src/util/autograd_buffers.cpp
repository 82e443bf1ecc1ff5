#include "util/autograd_buffers.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/graph_task.h>

#include <utility>

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

// Fills a dropped storage again before its node's backward. It holds the storage weakly: once the nodes that kept
// the tensor have run their backward and released it, its memory goes, though this hook lives as long as the graph.
struct Refill : public torch::autograd::FunctionPreHook {
  Refill(const c10::Storage& storage, std::function<torch::Tensor()> f)
      : target(c10::weak_intrusive_ptr<c10::StorageImpl>(storage.getWeakStorageImpl())), recompute(std::move(f)) {}

  variable_list operator()(const variable_list& grads) override {
    const c10::intrusive_ptr<c10::StorageImpl> storage = target.lock();
    if (!storage || storage->data_ptr().get() != nullptr) return grads;  // no holder left, or filled already
    const torch::Tensor fresh = recompute();
    TORCH_CHECK(fresh.is_contiguous() && fresh.storage_offset() == 0 && fresh.storage().nbytes() == storage->nbytes() &&
                    fresh.device() == storage->device(),
                "drop_until_backward: the recomputed tensor must fill the dropped storage of ", storage->nbytes(),
                " bytes exactly, got ", fresh.storage().nbytes(), " bytes");
    c10::StorageImpl* source = fresh.storage().unsafeGetStorageImpl();
    storage->set_data_ptr_noswap(source->set_data_ptr(c10::DataPtr(nullptr, source->device())));
    return grads;
  }

  c10::weak_intrusive_ptr<c10::StorageImpl> target;
  std::function<torch::Tensor()> recompute;
};

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

void drop_until_backward(const torch::Tensor& t, const std::shared_ptr<torch::autograd::Node>& consumer,
                         std::function<torch::Tensor()> recompute) {
  TORCH_CHECK(consumer && t.is_contiguous() && t.storage_offset() == 0 &&
                  t.numel() * static_cast<int64_t>(t.element_size()) == static_cast<int64_t>(t.storage().nbytes()),
              "drop_until_backward: needs a consumer node and a contiguous tensor that is its whole storage");
  consumer->add_pre_hook(std::make_unique<Refill>(t.storage(), std::move(recompute)));
  c10::StorageImpl* storage = t.storage().unsafeGetStorageImpl();
  storage->set_data_ptr_noswap(c10::DataPtr(nullptr, storage->device()));
}

}  // namespace masnn::autograd_buffers
