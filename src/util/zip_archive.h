// Reading zip archives held in memory (the container of torch.save and of LibTorch's archives), checked the way
// a library for untrusted input would: every header inside the buffer, local and central headers agreeing, each
// entry's CRC-32 verified, sizes bounded before anything is allocated. LibTorch's reader (miniz) checks none of
// the CRCs its writer stores, so a flipped bit in a weight went unnoticed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace masnn {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;      ///< where the entry's (possibly compressed) bytes start in the archive
  uint64_t compressed_size = 0;  ///< bytes in the archive
  uint64_t size = 0;             ///< bytes once inflated
  uint16_t method = 0;           ///< 0 stored, 8 deflated
  uint32_t crc32 = 0;
};

/// Whether `data` starts as a zip archive does (a local file header, "PK\3\4").
inline bool starts_like_zip(const uint8_t* data, size_t size) {
  return size >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
}

/// The entries of the zip archive `data[0, size)`, in central-directory order. Throws std::runtime_error naming
/// `where` (and the entry) when the archive is truncated, inconsistent, uses something other than stored or
/// deflated entries, or (with `verify_crc`) when an entry's CRC-32 does not match its bytes.
std::vector<ZipEntry> read_zip_entries(const std::string& where, const uint8_t* data, size_t size,
                                       bool verify_crc = true);

/// The bytes of one entry (inflated when deflated); `data` is the archive the entry came from.
std::vector<uint8_t> zip_entry_bytes(const std::string& where, const uint8_t* data, const ZipEntry& entry);

}  // namespace masnn
