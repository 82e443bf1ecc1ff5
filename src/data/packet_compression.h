// The packet compressions of AEDAT 4.0: LZ4 frames and Zstd frames, one frame per packet (REFERENCE.md 4.6).
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

/// Decompresses packet bodies, one after another, into one buffer that is reused (and grows only), with one LZ4
/// and one Zstd context for all of them: the decoder's cost stays that of the decompressor itself.
class PacketInflater {
 public:
  /// At most `limit` bytes per packet: a body that would inflate further is refused before more is allocated.
  explicit PacketInflater(size_t limit);
  ~PacketInflater();
  PacketInflater(const PacketInflater&) = delete;
  PacketInflater& operator=(const PacketInflater&) = delete;

  /// Decompresses one body. Returns an empty string on success, else what went wrong ("not a Zstd frame",
  /// "inflates past the limit of ..."). The result is data()[0, size()), 8-byte aligned.
  std::string inflate(PacketCompression c, const uint8_t* data, size_t size);
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(buffer_.data()); }
  size_t size() const { return size_; }

 private:
  uint8_t* room() { return reinterpret_cast<uint8_t*>(buffer_.data()); }
  size_t capacity() const { return buffer_.size() * sizeof(uint64_t); }
  bool grow();  // doubles the buffer up to the limit; false at the limit
  std::string inflate_lz4(const uint8_t* data, size_t size);

  size_t limit_;
  std::vector<uint64_t> buffer_;  // 8-byte aligned for the FlatBuffers read from it
  size_t size_ = 0;
  void* lz4_ = nullptr;   // LZ4F_dctx
  void* zstd_ = nullptr;  // ZSTD_DCtx
};

/// Compresses `size` bytes as one frame (the levels of iniVation's writer: LZ4 0, LZ4 high 9, Zstd 3, Zstd high
/// the maximum), appending to `out`.
void compress_packet(PacketCompression c, const uint8_t* data, size_t size, std::vector<uint8_t>& out);

}  // namespace masnn::data
