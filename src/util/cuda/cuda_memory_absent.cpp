// The CUDA memory figures of memory.h in a CPU build: they say CUDA is absent.
#include <stdexcept>

#include "masnn/util/memory.h"

namespace masnn::memory {
namespace {

[[noreturn]] void absent() {
  throw std::runtime_error("CUDA memory statistics: this masnn was built without CUDA (-DMASNN_CUDA=ON)");
}

}  // namespace

std::int64_t cuda_peak_bytes(int) {
  absent();
}

void reset_cuda_peak(int) {
  absent();
}

}  // namespace masnn::memory
