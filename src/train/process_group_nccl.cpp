// NCCL process groups (CUDA collectives), in a build with -DMASNN_NCCL=ON against a CUDA LibTorch.
#include "process_groups.h"

#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <cstdlib>

#include "compat/torch_c10d.h"
#include "masnn/train/distributed.h"

namespace masnn::train {

bool nccl_available() { return true; }

c10::intrusive_ptr<c10d::ProcessGroup> process_groups::nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                            int size, std::chrono::milliseconds timeout) {
  // Collectives that hang on a dead peer are aborted after the timeout only with asynchronous error handling.
  setenv("NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
  auto o = c10d::ProcessGroupNCCL::Options::create();
  o->timeout = timeout;
  const auto prefixed = c10::make_intrusive<c10d::PrefixStore>("masnn/nccl", store);
  return compat::process_group_of(prefixed, rank, size,
                                  c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, size, o), "nccl",
                                  c10::kCUDA);
}

}  // namespace masnn::train
