// LZ4 and Zstd frames for AEDAT 4.0 packets.
#include "packet_compression.h"

#include <lz4frame.h>
#include <lz4hc.h>
#include <zstd.h>

#include <algorithm>
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

std::string decompress_packet(PacketCompression c, const uint8_t* data, size_t size, size_t limit,
                              std::vector<uint8_t>& out) {
  switch (c) {
    case PacketCompression::None:
      if (size > limit) return "holds " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(limit);
      out.assign(data, data + size);
      return "";
    case PacketCompression::Lz4:
    case PacketCompression::Lz4High: {
      // LZ4 frames of iniVation's writer state no content size: inflate in steps, bounded by the limit.
      LZ4F_dctx* raw = nullptr;
      if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) throw std::bad_alloc();
      std::unique_ptr<LZ4F_dctx, decltype(&LZ4F_freeDecompressionContext)> ctx(raw, LZ4F_freeDecompressionContext);
      out.clear();
      size_t in = 0, produced = 0, hint = 1;
      while (hint != 0) {
        if (in == size) return "an LZ4 frame cut short";
        if (out.size() - produced < 65536) {
          if (out.size() >= limit) return "inflates past the limit of " + std::to_string(limit) + " bytes";
          out.resize(std::min(limit, std::max<size_t>(out.size() * 2, produced + 65536)));
        }
        size_t dst = out.size() - produced, src = size - in;
        hint = LZ4F_decompress(ctx.get(), out.data() + produced, &dst, data + in, &src, nullptr);
        if (LZ4F_isError(hint)) return std::string("not a valid LZ4 frame (") + LZ4F_getErrorName(hint) + ")";
        in += src;
        produced += dst;
        if (src == 0 && dst == 0 && hint != 0 && out.size() - produced >= 65536) return "an LZ4 frame that does not end";
      }
      if (in != size) return "bytes after the end of the LZ4 frame";
      out.resize(produced);
      return "";
    }
    case PacketCompression::Zstd:
    case PacketCompression::ZstdHigh: {
      const unsigned long long n = ZSTD_getFrameContentSize(data, size);
      if (n == ZSTD_CONTENTSIZE_ERROR) return "not a Zstd frame";
      if (n == ZSTD_CONTENTSIZE_UNKNOWN) return "a Zstd frame without its content size";
      if (n > limit) return "inflates to " + std::to_string(n) + " bytes, more than the limit of " + std::to_string(limit);
      out.resize(static_cast<size_t>(n));
      const size_t got = ZSTD_decompress(out.data(), out.size(), data, size);
      if (ZSTD_isError(got)) return std::string("not a valid Zstd frame (") + ZSTD_getErrorName(got) + ")";
      if (got != n) return "a Zstd frame whose content disagrees with its stated size";
      return "";
    }
  }
  return "an unknown compression";
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
