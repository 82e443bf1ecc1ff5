// LZ4 and Zstd frames for AEDAT 4.0 packets.
#include "packet_compression.h"

#include <lz4frame.h>
#include <lz4hc.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace masnn::data {

std::string compression_name(PacketCompression c) {
  switch (c) {
    case PacketCompression::None: return "none";
    case PacketCompression::Lz4: return "lz4";
    case PacketCompression::Lz4High: return "lz4-high";
    case PacketCompression::Zstd: return "zstd";
    case PacketCompression::ZstdHigh: return "zstd-high";
  }
  return "unknown";
}

PacketCompression parse_compression(const std::string& name) {
  for (auto c : {PacketCompression::None, PacketCompression::Lz4, PacketCompression::Lz4High, PacketCompression::Zstd,
                 PacketCompression::ZstdHigh})
    if (compression_name(c) == name) return c;
  throw std::invalid_argument("unknown compression '" + name + "' (expected none, lz4, lz4-high, zstd or zstd-high)");
}

PacketInflater::PacketInflater(size_t limit) : limit_(limit) {}

PacketInflater::~PacketInflater() {
  if (lz4_) LZ4F_freeDecompressionContext(static_cast<LZ4F_dctx*>(lz4_));
  if (zstd_) ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(zstd_));
}

bool PacketInflater::grow() {
  if (capacity() >= limit_) return false;
  const size_t bytes = std::min(limit_, std::max<size_t>(2 * capacity(), 65536));
  buffer_.resize((bytes + 7) / 8);
  return true;
}

std::string PacketInflater::inflate(PacketCompression c, const uint8_t* data, size_t size) {
  size_ = 0;
  switch (c) {
    case PacketCompression::None:
      if (size > limit_) return "holds " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(limit_);
      while (capacity() < size) grow();
      if (size > 0) std::memcpy(room(), data, size);  // aligned for FlatBuffers
      size_ = size;
      return "";
    case PacketCompression::Lz4:
    case PacketCompression::Lz4High: return inflate_lz4(data, size);
    case PacketCompression::Zstd:
    case PacketCompression::ZstdHigh: {
      const unsigned long long n = ZSTD_getFrameContentSize(data, size);
      if (n == ZSTD_CONTENTSIZE_ERROR) return "not a Zstd frame";
      if (n == ZSTD_CONTENTSIZE_UNKNOWN) return "a Zstd frame without its content size";
      if (n > limit_) return "inflates to " + std::to_string(n) + " bytes, more than the limit of " + std::to_string(limit_);
      while (capacity() < n) grow();
      if (!zstd_ && !(zstd_ = ZSTD_createDCtx())) throw std::bad_alloc();
      const size_t got = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(zstd_), room(), capacity(), data, size);
      if (ZSTD_isError(got)) return std::string("not a valid Zstd frame (") + ZSTD_getErrorName(got) + ")";
      if (got != n) return "a Zstd frame whose content disagrees with its stated size";
      size_ = got;
      return "";
    }
  }
  return "an unknown compression";
}

// iniVation's LZ4 frames state no content size: decode into the buffer, pledged stable (LZ4 then keeps no copy of
// its 64 KB history), and start over with a buffer twice as large when it fills up before the frame ends.
std::string PacketInflater::inflate_lz4(const uint8_t* data, size_t size) {
  if (!lz4_) {
    LZ4F_dctx* ctx = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION))) throw std::bad_alloc();
    lz4_ = ctx;
  }
  auto* ctx = static_cast<LZ4F_dctx*>(lz4_);
  if (capacity() < 65536) grow();
  LZ4F_decompressOptions_t options{};
  options.stableDst = 1;
  for (;;) {
    LZ4F_resetDecompressionContext(ctx);
    size_t in = 0, produced = 0, hint = 1;
    bool full = false;
    while (hint != 0) {
      if (in == size) return "an LZ4 frame cut short";
      if (produced == capacity()) {
        full = true;
        break;
      }
      size_t dst = capacity() - produced, src = size - in;
      hint = LZ4F_decompress(ctx, room() + produced, &dst, data + in, &src, &options);
      if (LZ4F_isError(hint)) return std::string("not a valid LZ4 frame (") + LZ4F_getErrorName(hint) + ")";
      in += src;
      produced += dst;
      if (src == 0 && dst == 0 && hint != 0) return "an LZ4 frame that does not progress";
    }
    if (!full) {
      if (in != size) return "bytes after the end of the LZ4 frame";
      size_ = produced;
      return "";
    }
    if (!grow()) return "inflates past the limit of " + std::to_string(limit_) + " bytes";
  }
}

void compress_packet(PacketCompression c, const uint8_t* data, size_t size, std::vector<uint8_t>& out) {
  const size_t start = out.size();
  switch (c) {
    case PacketCompression::None: out.insert(out.end(), data, data + size); return;
    case PacketCompression::Lz4:
    case PacketCompression::Lz4High: {
      LZ4F_preferences_t prefs{};
      prefs.frameInfo.blockSizeID = LZ4F_max64KB;
      prefs.frameInfo.blockMode = LZ4F_blockLinked;
      prefs.compressionLevel = c == PacketCompression::Lz4High ? LZ4HC_CLEVEL_DEFAULT : 0;
      out.resize(start + LZ4F_compressFrameBound(size, &prefs));
      const size_t n = LZ4F_compressFrame(out.data() + start, out.size() - start, data, size, &prefs);
      if (LZ4F_isError(n)) throw std::runtime_error(std::string("LZ4 compression failed: ") + LZ4F_getErrorName(n));
      out.resize(start + n);
      return;
    }
    case PacketCompression::Zstd:
    case PacketCompression::ZstdHigh: {
      out.resize(start + ZSTD_compressBound(size));
      const size_t n = ZSTD_compress(out.data() + start, out.size() - start, data, size,
                                     c == PacketCompression::ZstdHigh ? ZSTD_maxCLevel() : 3);
      if (ZSTD_isError(n)) throw std::runtime_error(std::string("Zstd compression failed: ") + ZSTD_getErrorName(n));
      out.resize(start + n);
      return;
    }
  }
}

}  // namespace masnn::data
