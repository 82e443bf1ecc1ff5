// The CUDA memory figures of memory.h, from LibTorch's caching allocator (a build with -DMASNN_CUDA=ON).
#include <c10/cuda/CUDACachingAllocator.h>

#include "masnn/util/memory.h"

namespace masnn::memory {

std::int64_t cuda_peak_bytes(int device) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  // Entry 0 is StatType::AGGREGATE (all pools), on every LibTorch line (the enum moved namespace in 2.5).
  return stats.allocated_bytes[0].peak;
}

void reset_cuda_peak(int device) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
}

}  // namespace masnn::memory
