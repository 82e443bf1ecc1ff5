// A CPU build's CUDA entry points (lif_kernels_cuda.h, cuda_stream.h): each says that this masnn has no CUDA
// kernels and how to build one that has.
#include <stdexcept>
#include <string>

#include "neuron/cuda/cuda_stream.h"
#include "neuron/lif_kernels_cuda.h"

namespace masnn::kernels {
namespace {

[[noreturn]] void absent(const char* what) {
  throw std::runtime_error(std::string(what) +
                           ": this masnn was built without its CUDA kernels; build it against a CUDA LibTorch with "
                           "-DMASNN_CUDA=ON, or choose model.lif.backend = \"composed\"");
}

}  // namespace

bool cuda_kernels_built() {
  return false;
}

void lif_forward_cuda(CudaScalar, const void*, void*, void*, std::uint8_t*, const void*, void*, std::int64_t,
                      std::int64_t, const LifParams&, void*) {
  absent("lif (fused, CUDA)");
}

void lif_backward_cuda(CudaScalar, const void*, const void*, const void*, const std::uint8_t*, void*, void*, double*,
                       std::int64_t, std::int64_t, const LifParams&, void*) {
  absent("lif backward (fused, CUDA)");
}

void* current_cuda_stream(const c10::Device&) {
  absent("CUDA stream");
}

}  // namespace masnn::kernels
