// current_cuda_stream of a CUDA build (cuda_stream.h).
#include "neuron/cuda/cuda_stream.h"

#include <c10/cuda/CUDAStream.h>

namespace masnn::kernels {

void* current_cuda_stream(const c10::Device& device) {
  return c10::cuda::getCurrentCUDAStream(device.index()).stream();
}

}  // namespace masnn::kernels
