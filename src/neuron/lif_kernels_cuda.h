// The multi-step LIF kernels of lif_kernels.h on CUDA: the same contract and layout ([T, N] contiguous, time-major),
// raw device pointers, a CUDA stream (cudaStream_t passed as void*) and sizes; no LibTorch or CUDA types, so
// callers need neither header. Built with -DMASNN_CUDA=ON; in a CPU build every function here throws
// std::runtime_error saying so (cuda_kernels_built() tells first).
#pragma once

#include <cstdint>

#include "neuron/lif_kernels.h"

namespace masnn::kernels {

/// Element types of the CUDA kernels. Float16 and BFloat16 are loaded and stored in their type, computed in float32.
enum class CudaScalar : int { Float32 = 0, Float64 = 1, Float16 = 2, BFloat16 = 3 };

/// True when this masnn was built with its CUDA kernels.
bool cuda_kernels_built();

/// lif_forward_cpu on the GPU: one thread per neuron walking T. Pointers are device pointers of `type` (saved_code:
/// bytes); h0, h_last, saved_membrane, saved_code may be null as in lif_forward_cpu. Asynchronous on `stream`.
void lif_forward_cuda(CudaScalar type, const void* x, void* spikes, void* saved_membrane, std::uint8_t* saved_code,
                      const void* h0, void* h_last, std::int64_t steps, std::int64_t neurons, const LifParams& p,
                      void* stream);

/// lif_backward_cpu on the GPU. grad_decay_partial ([N] float64, may be null) receives each neuron's sum over t of
/// dL/dh_t * r_t: the caller sums it (in a fixed order) for dL/d(decay).
void lif_backward_cuda(CudaScalar type, const void* grad_spikes, const void* grad_h_last, const void* saved_membrane,
                       const std::uint8_t* saved_code, void* grad_x, void* grad_h0, double* grad_decay_partial,
                       std::int64_t steps, std::int64_t neurons, const LifParams& p, void* stream);

}  // namespace masnn::kernels
