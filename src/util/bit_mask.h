// Boolean masks packed 8 to a byte (bit i is bit i % 8 of byte i / 8): what training keeps of a layer's surrogate
// support and of the spikes a synapse reads, at 1/8 of a byte mask's memory and 1/32 of a float tensor's. Plain
// pointers, no LibTorch types.
#pragma once

#include <cstdint>
#include <cstring>

namespace masnn::bits {

/// Bytes holding n bits.
inline std::int64_t packed_size(std::int64_t n) {
  return (n + 7) / 8;
}

/// out[0 .. packed_size(n)) = the bits of flags[0 .. n) (nonzero = 1); the last byte's spare bits are 0. Parallel.
void pack(const std::uint8_t* flags, std::int64_t n, std::uint8_t* out);

/// The same for float or double values (nonzero = 1): spikes kept for a backward pass at 1/32 (1/64) of their size.
void pack(const float* values, std::int64_t n, std::uint8_t* out);
void pack(const double* values, std::int64_t n, std::uint8_t* out);

/// out[0 .. n) = bits [begin, begin + n) of mask as 0 or 1: packed rows decoded where they are read. Parallel.
void unpack(const std::uint8_t* mask, std::int64_t begin, std::int64_t n, float* out);
void unpack(const std::uint8_t* mask, std::int64_t begin, std::int64_t n, double* out);

/// Whether bit i of mask is set.
inline bool test(const std::uint8_t* mask, std::int64_t i) {
  return (mask[i >> 3] >> (i & 7)) & 1;
}

/// The number of set bits among the first n (the spare bits of a mask made by pack are zero).
inline std::int64_t count(const std::uint8_t* mask, std::int64_t n) {
  std::int64_t total = 0, i = 0;
  for (; i + 64 <= n; i += 64) {
    std::uint64_t word;
    std::memcpy(&word, mask + (i >> 3), sizeof word);
    total += __builtin_popcountll(word);
  }
  for (; i < n; ++i) total += test(mask, i);
  return total;
}

/// Calls fn(i) for every set bit i in [begin, end), in increasing order; reads 64 bits at a time, so sparse masks
/// cost about (end - begin) / 64 steps plus one per set bit.
template <typename Fn>
inline void for_each_set(const std::uint8_t* mask, std::int64_t begin, std::int64_t end, const Fn& fn) {
  std::int64_t i = begin;
  while (i < end && (i & 7)) {  // up to the first whole byte
    if (test(mask, i)) fn(i);
    ++i;
  }
  for (; i + 64 <= end; i += 64) {
    std::uint64_t word;
    std::memcpy(&word, mask + (i >> 3), sizeof word);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    word = __builtin_bswap64(word);  // so that bit k of the word is bit i + k
#endif
    while (word) {
      fn(i + __builtin_ctzll(word));
      word &= word - 1;
    }
  }
  for (; i < end; ++i)
    if (test(mask, i)) fn(i);
}

}  // namespace masnn::bits
