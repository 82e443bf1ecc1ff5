// LibTorch's current CUDA stream for a device, as the void* the CUDA kernels take (cudaStream_t). Defined by
// cuda_stream.cpp in a CUDA build (-DMASNN_CUDA=ON) and by cuda_absent.cpp, which throws, in a CPU build.
#pragma once

#include <c10/core/Device.h>

namespace masnn::kernels {

/// The stream LibTorch runs its work on for `device` (a CUDA device): kernels launched on it are ordered with
/// LibTorch's, and memory from its caching allocator is safe to use on it.
void* current_cuda_stream(const c10::Device& device);

}  // namespace masnn::kernels
