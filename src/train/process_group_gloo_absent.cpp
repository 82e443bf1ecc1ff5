// A build without Gloo's headers (-DMASNN_GLOO=OFF): no CPU collectives.
#include <stdexcept>

#include "masnn/train/distributed.h"
#include "process_groups.h"

namespace masnn::train {

bool gloo_available() { return false; }

// Communicator::join names the missing backend before it gets here.
c10::intrusive_ptr<c10d::ProcessGroup> process_groups::gloo(const c10::intrusive_ptr<c10d::Store>&, int, int,
                                                            std::chrono::milliseconds, bool) {
  throw std::logic_error("Gloo is not built (Communicator::join checks gloo_available/nccl_available first)");
}

}  // namespace masnn::train
