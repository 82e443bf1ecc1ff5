// The c10::Allocator interface: LibTorch 2.3 made allocate() non-const and added a pure virtual copy_data().
// An allocator of masnn derives from CpuAllocatorBase and implements allocate_block() (const on every line).
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstring>

#include "compat/torch_version.h"

namespace masnn::compat {

class CpuAllocatorBase : public c10::Allocator {
 public:
  /// A block of `n` bytes, as c10::Allocator::allocate returns it.
  virtual c10::DataPtr allocate_block(std::size_t n) const = 0;

#if MASNN_TORCH_VERSION < 203
  c10::DataPtr allocate(std::size_t n) const final {
    return allocate_block(n);
  }
#else
  c10::DataPtr allocate(std::size_t n) final {
    return allocate_block(n);
  }
  void copy_data(void* dest, const void* src, std::size_t count) const final {
    if (count > 0) std::memcpy(dest, src, count);
  }
#endif
};

}  // namespace masnn::compat
