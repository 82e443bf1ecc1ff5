// The packet compressions of AEDAT 4.0: LZ4 frames and Zstd frames, one frame per packet (REFERENCE.md 4.7).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace masnn::data {

enum class PacketCompression { None = 0, Lz4 = 1, Lz4High = 2, Zstd = 3, ZstdHigh = 4 };

/// "none", "lz4", "lz4-high", "zstd", "zstd-high".
std::string compression_name(PacketCompression c);
/// The compression a name names. Throws std::invalid_argument listing the names otherwise.
PacketCompression parse_compression(const std::string& name);

/// Decompresses one packet body into `out` (resized to the decompressed size). Returns an empty string on success,
/// else what went wrong ("not an LZ4 frame", "inflates past the limit of ..."). At most `limit` bytes are produced:
/// a body that would inflate further is refused before allocating more.
std::string decompress_packet(PacketCompression c, const uint8_t* data, size_t size, size_t limit,
                              std::vector<uint8_t>& out);

/// Compresses `size` bytes as one frame (the levels of iniVation's writer: LZ4 0, LZ4 high 9, Zstd 3, Zstd high
/// the maximum), appending to `out`.
void compress_packet(PacketCompression c, const uint8_t* data, size_t size, std::vector<uint8_t>& out);

}  // namespace masnn::data
