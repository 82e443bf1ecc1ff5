#include "masnn/util/bit_mask.h"

#include <ATen/Parallel.h>

namespace masnn::bits {

void pack(const std::uint8_t* flags, std::int64_t n, std::uint8_t* out) {
  const std::int64_t bytes = packed_size(n);
  at::parallel_for(0, bytes, 1 << 14, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t j = b; j < e; ++j) {
      const std::int64_t i0 = j * 8, count = n - i0 < 8 ? n - i0 : 8;
      std::uint8_t byte = 0;
      for (std::int64_t k = 0; k < count; ++k) byte |= static_cast<std::uint8_t>((flags[i0 + k] != 0) << k);
      out[j] = byte;
    }
  });
}

}  // namespace masnn::bits
