// A build without NCCL (the default; -DMASNN_NCCL=ON against a CUDA LibTorch builds process_group_nccl.cpp).
#include <stdexcept>

#include "masnn/train/distributed.h"
#include "process_groups.h"

namespace masnn::train {

bool nccl_available() { return false; }

// Communicator::join names the missing backend before it gets here.
c10::intrusive_ptr<c10d::ProcessGroup> process_groups::nccl(const c10::intrusive_ptr<c10d::Store>&, int, int,
                                                            std::chrono::milliseconds) {
  throw std::logic_error("NCCL is not built (Communicator::join checks gloo_available/nccl_available first)");
}

}  // namespace masnn::train
