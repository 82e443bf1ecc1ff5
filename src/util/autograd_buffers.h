// When a custom autograd Function's backward may reuse memory it was handed instead of allocating: the incoming
// gradient (to write its result into) or a tensor it saved (to write over once read). Both save the size of a
// tensor at the memory peak of a training step, and a pass of allocation and page faults.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>

namespace masnn::autograd_buffers {

/// For `g`, an incoming gradient as the backward received it (an element of its `grads` argument, not a copy):
/// true when nothing but the autograd engine's call holds it (no other node, no user tensor, no view of its
/// storage but a base of which it is the only view), and it is contiguous, so the backward may write into it and
/// return it as a result. LibTorch's CppNode holds a few references of its own while backward runs; their number is
/// measured once, with a probe node, so that a LibTorch that holds more or fewer is still read right.
bool incoming_gradient_is_exclusive(const torch::Tensor& g);

/// For `t`, a tensor as unpacked from the context's saved variables (an element of get_saved_variables(), not a
/// copy): true when only the saved variable holds it (nothing else, no view of its storage), it is contiguous, and
/// the graph is freed after this backward (no retain_graph or create_graph), so the backward may write over it
/// once it has read it.
bool saved_tensor_is_exclusive(const torch::Tensor& t);

/// Frees the memory of `t` now and fills it again with `recompute()` right before `consumer`'s backward runs, for
/// an activation that nodes keep only for their backward, all of them upstream of `consumer` (which autograd runs
/// first), and that is cheaper to compute again than to hold through the rest of the forward and most of the
/// backward. `t` must be contiguous and start its storage, and recompute() return a contiguous tensor of t's
/// storage size with the values t had; nothing may read t between now and then (its data is gone: a read
/// faults). If every holder of t is gone by then (the backward took another path), nothing is computed; after a
/// second backward through a retained graph, t is filled already.
void drop_until_backward(const torch::Tensor& t, const std::shared_ptr<torch::autograd::Node>& consumer,
                         std::function<torch::Tensor()> recompute);

}  // namespace masnn::autograd_buffers
