#include "util/bit_mask.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace masnn::bits {
namespace {

constexpr std::int64_t kGrain = 1 << 14;  // bytes of mask per task

template <typename T>
void pack_values(const T* values, std::int64_t n, std::uint8_t* out) {
  const std::int64_t bytes = packed_size(n);
  at::parallel_for(0, bytes, kGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t j = b; j < e; ++j) {
      const std::int64_t i0 = j * 8, count = n - i0 < 8 ? n - i0 : 8;
      std::uint8_t byte = 0;
      for (std::int64_t k = 0; k < count; ++k) byte |= static_cast<std::uint8_t>((values[i0 + k] != T(0)) << k);
      out[j] = byte;
    }
  });
}

template <typename T>
void unpack_values(const std::uint8_t* mask, std::int64_t begin, std::int64_t n, T* out) {
  // Single bits up to the first whole byte of the mask, then 8 values per byte (a loop the compiler vectorises).
  const std::int64_t head = std::min<std::int64_t>(n, (8 - (begin & 7)) & 7);
  for (std::int64_t i = 0; i < head; ++i) out[i] = static_cast<T>(test(mask, begin + i));
  const std::uint8_t* whole = mask + (begin + head) / 8;
  const std::int64_t bytes = (n - head) / 8;
  T* body = out + head;
  at::parallel_for(0, bytes, kGrain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t j = b; j < e; ++j) {
      const unsigned byte = whole[j];
      for (int k = 0; k < 8; ++k) body[j * 8 + k] = static_cast<T>((byte >> k) & 1u);
    }
  });
  for (std::int64_t i = head + bytes * 8; i < n; ++i) out[i] = static_cast<T>(test(mask, begin + i));
}

}  // namespace

void pack(const std::uint8_t* flags, std::int64_t n, std::uint8_t* out) {
  pack_values(flags, n, out);
}
void pack(const float* values, std::int64_t n, std::uint8_t* out) {
  pack_values(values, n, out);
}
void pack(const double* values, std::int64_t n, std::uint8_t* out) {
  pack_values(values, n, out);
}
void unpack(const std::uint8_t* mask, std::int64_t begin, std::int64_t n, float* out) {
  unpack_values(mask, begin, n, out);
}
void unpack(const std::uint8_t* mask, std::int64_t begin, std::int64_t n, double* out) {
  unpack_values(mask, begin, n, out);
}

}  // namespace masnn::bits
