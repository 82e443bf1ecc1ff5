// IDX files (MNIST's format), plain or gzip-compressed (zlib).
#include "data/idx.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn::data {
namespace {

constexpr uint8_t kUnsignedByte = 0x08;

const char* idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return "unknown";
  }
}

}  // namespace

std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  std::vector<uint8_t> raw = read_file_bytes(path);
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;
  z_stream zs{};
  // 16 + MAX_WBITS: expect the gzip wrapper.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error(path + ": cannot start gzip decompression");
  std::vector<uint8_t> out;
  out.reserve(raw.size() * 4);
  uint8_t buffer[1 << 16];
  size_t consumed = 0;
  for (;;) {
    // avail_in is 32-bit: feed at most 1 GiB at a time.
    if (zs.avail_in == 0 && consumed < raw.size()) {
      const size_t chunk = std::min<size_t>(raw.size() - consumed, size_t{1} << 30);
      zs.next_in = raw.data() + consumed;
      zs.avail_in = static_cast<uInt>(chunk);
      consumed += chunk;
    }
    zs.next_out = buffer;
    zs.avail_out = sizeof(buffer);
    const int status = inflate(&zs, Z_NO_FLUSH);
    out.insert(out.end(), buffer, buffer + (sizeof(buffer) - zs.avail_out));
    if (status == Z_STREAM_END) break;
    if (status == Z_OK) continue;
    // Z_BUF_ERROR: no progress possible, i.e. the input ended inside the stream; anything else is corrupt data.
    const std::string why = status == Z_BUF_ERROR ? "truncated: the file ends inside the compressed stream"
                                                  : "corrupt: " + std::string(zs.msg ? zs.msg : "bad data");
    inflateEnd(&zs);
    throw std::runtime_error(path + ": gzip data is " + why);
  }
  inflateEnd(&zs);
  return out;
}

std::vector<uint8_t> gzip_compress(const std::vector<uint8_t>& bytes) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: cannot start compression");
  if (bytes.size() > std::numeric_limits<uInt>::max()) {
    deflateEnd(&zs);
    throw std::invalid_argument("gzip: more than 4 GiB in one call");
  }
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(bytes.size())));
  zs.next_in = const_cast<Bytef*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int status = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (status != Z_STREAM_END) throw std::runtime_error("gzip: compression failed");
  out.resize(zs.total_out);
  return out;
}

IdxArray parse_idx(const std::vector<uint8_t>& b, const std::string& name) {
  if (b.size() < 4)
    throw std::runtime_error(name + ": not an IDX file (" + std::to_string(b.size()) +
                             " bytes, shorter than a header)");
  if (b[0] != 0 || b[1] != 0)
    throw std::runtime_error(name + ": not an IDX file (the magic number must start with two zero bytes)");
  if (b[2] != kUnsignedByte)
    throw std::runtime_error(fmt::format("{}: IDX element type 0x{:02X} ({}); only unsigned bytes (0x08) are supported",
                                         name, b[2], idx_type_name(b[2])));
  const int ndims = b[3];
  if (ndims < 1) throw std::runtime_error(name + ": IDX file with 0 dimensions");
  const size_t header = 4 + 4 * static_cast<size_t>(ndims);
  if (b.size() < header)
    throw std::runtime_error(name + ": truncated IDX header (" + std::to_string(ndims) + " dimensions need " +
                             std::to_string(header) + " bytes, the file has " + std::to_string(b.size()) + ")");
  IdxArray a;
  uint64_t count = 1;
  for (int d = 0; d < ndims; ++d) {
    const uint8_t* p = &b[4 + 4 * static_cast<size_t>(d)];
    const uint32_t v = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    a.dims.push_back(static_cast<int64_t>(v));
    count *= v;
    if (count > (uint64_t{1} << 40)) throw std::runtime_error(name + ": IDX dimensions are implausibly large");
  }
  const uint64_t have = b.size() - header;
  if (have != count)
    throw std::runtime_error(name + ": IDX dimensions give " + std::to_string(count) + " values, the file holds " +
                             std::to_string(have) + (have < count ? " (truncated)" : " (trailing bytes)"));
  a.data.assign(b.begin() + static_cast<std::ptrdiff_t>(header), b.end());
  return a;
}

IdxArray read_idx(const std::string& path) {
  return parse_idx(read_maybe_gzip(path), path);
}

void write_idx(const std::string& path, const IdxArray& a, bool gzip) {
  if (a.dims.empty() || a.dims.size() > 255) throw std::invalid_argument("write_idx: 1 to 255 dimensions");
  uint64_t count = 1;
  for (int64_t d : a.dims) {
    if (d < 0 || d > std::numeric_limits<uint32_t>::max()) throw std::invalid_argument("write_idx: bad dimension");
    count *= static_cast<uint64_t>(d);
  }
  if (count != a.data.size())
    throw std::invalid_argument("write_idx: " + std::to_string(a.data.size()) + " values for dimensions giving " +
                                std::to_string(count));
  std::vector<uint8_t> bytes = {0, 0, kUnsignedByte, static_cast<uint8_t>(a.dims.size())};
  for (int64_t d : a.dims) {
    const auto v = static_cast<uint32_t>(d);
    bytes.insert(bytes.end(), {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                               static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
  }
  bytes.insert(bytes.end(), a.data.begin(), a.data.end());
  write_file_atomic(path, gzip ? gzip_compress(bytes) : bytes);
}

}  // namespace masnn::data
