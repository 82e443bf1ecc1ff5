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

/// The samples [first, first + count) of a time-major tensor [T,B,...] computed again: [T,count,...], contiguous.
using SampleRecompute = std::function<torch::Tensor(int64_t first, int64_t count)>;

/// Frees the memory of `t` [T,B,...] now, for an activation that nodes keep only for their backward and that is
/// cheaper to compute again than to hold through the rest of the forward and most of the backward. Those nodes
/// read it in their backward through for_each_sample_chunk, which computes again the samples it needs, a chunk at
/// a time, so that t is never whole again. t must be contiguous and its whole storage, and recompute give the
/// values t had; nothing may read t's data otherwise (it is gone: a direct read faults). The recompute goes with
/// t's storage, when the last node keeping t lets it go.
void drop_for_sample_reads(const torch::Tensor& t, SampleRecompute recompute);

/// About how large for_each_sample_chunk's chunks are.
inline constexpr int64_t kSampleChunkBytes = int64_t{8} << 20;

/// Calls body(chunk, first, count) over the samples of `t` [T,B,...], a tensor a node saved: once with t itself
/// (first 0, count B) when t holds its data; when drop_for_sample_reads dropped it, over consecutive ranges of
/// samples computed again, each of about chunk_bytes and at least one sample per thread (the kernels that read
/// them run in parallel over samples). Throws for a tensor whose data is gone otherwise.
void for_each_sample_chunk(const torch::Tensor& t, int64_t chunk_bytes,
                           const std::function<void(const torch::Tensor& chunk, int64_t first, int64_t count)>& body);

/// While it lives, for_each_sample_chunk computes dropped tensors again `samples` at a time, whatever their size and
/// the number of threads: for tests, whose tensors are far smaller than a chunk.
class FixedSampleChunk {
 public:
  explicit FixedSampleChunk(int64_t samples);
  ~FixedSampleChunk();
  FixedSampleChunk(const FixedSampleChunk&) = delete;
  FixedSampleChunk& operator=(const FixedSampleChunk&) = delete;

 private:
  int64_t previous_;
};

}  // namespace masnn::autograd_buffers
