// Zip archives in memory: the end record (zip64 too), the central directory, local headers, CRC-32 (zlib).
#include "util/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <stdexcept>

namespace masnn {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndRecord = 0x06054b50,
                   kZip64EndRecord = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr size_t kLocalHeaderSize = 30, kCentralHeaderSize = 46, kEndRecordSize = 22;
// Deflate cannot expand data more than about 1032 to 1: a larger declared size is a lie, refused before allocating.
constexpr uint64_t kMaxDeflateRatio = 1032;
// Torch archives deflate only small text records (code, constants); weights are stored. A compressed entry that
// would inflate past this is refused before allocating, whatever its ratio.
constexpr uint64_t kMaxInflatedBytes = uint64_t{1} << 30;

// Little-endian fields at checked offsets: every read names the structure it belongs to.
class Bytes {
 public:
  Bytes(const std::string& where, const uint8_t* data, size_t size) : where_(where), data_(data), size_(size) {}

  [[noreturn]] void fail(const std::string& what) const { throw std::runtime_error(where_ + ": " + what); }
  void need(uint64_t offset, uint64_t length, const char* what) const {
    if (offset > size_ || length > size_ - offset)
      fail(std::string("truncated or corrupt zip archive (") + what + " at byte " + std::to_string(offset) +
           " reaches past its end, " + std::to_string(size_) + " bytes)");
  }
  uint64_t le(uint64_t offset, int bytes) const {
    uint64_t v = 0;
    for (int k = bytes; k-- > 0;) v = (v << 8) | data_[offset + static_cast<uint64_t>(k)];
    return v;
  }
  size_t size() const { return size_; }
  const uint8_t* at(uint64_t offset) const { return data_ + offset; }

 private:
  const std::string& where_;
  const uint8_t* data_;
  size_t size_;
};

struct Directory {
  uint64_t entries = 0, offset = 0, size = 0;
};

Directory find_directory(const Bytes& b) {
  if (b.size() < kEndRecordSize) b.fail("not a zip archive (too short for its end record)");
  // The end record is the last 22 bytes plus a comment of at most 65535 bytes: searched backwards.
  const uint64_t lowest = b.size() >= kEndRecordSize + 0xffff ? b.size() - kEndRecordSize - 0xffff : 0;
  uint64_t end = b.size() - kEndRecordSize;
  for (;; --end) {
    if (b.le(end, 4) == kEndRecord && end + kEndRecordSize + b.le(end + 20, 2) == b.size()) break;
    if (end == lowest) b.fail("not a zip archive (no end-of-central-directory record)");
  }
  Directory d{b.le(end + 10, 2), b.le(end + 16, 4), b.le(end + 12, 4)};
  if (b.le(end + 4, 2) != 0 || b.le(end + 6, 2) != 0) b.fail("a multi-disk zip archive is not supported");
  if (d.entries == 0xffff || d.offset == 0xffffffff || d.size == 0xffffffff) {  // zip64: sizes in the zip64 record
    if (end < 20 || b.le(end - 20, 4) != kZip64Locator) b.fail("corrupt zip archive (zip64 locator missing)");
    const uint64_t record = b.le(end - 20 + 8, 8);
    b.need(record, 56, "zip64 end record");
    if (b.le(record, 4) != kZip64EndRecord) b.fail("corrupt zip archive (zip64 end record missing)");
    d = {b.le(record + 32, 8), b.le(record + 48, 8), b.le(record + 40, 8)};
  }
  b.need(d.offset, d.size, "central directory");
  if (d.entries > d.size / kCentralHeaderSize)
    b.fail("corrupt zip archive (" + std::to_string(d.entries) + " entries cannot fit in a central directory of " +
           std::to_string(d.size) + " bytes)");
  return d;
}

// The zip64 extended information field replaces the 32-bit fields that read 0xffffffff, in this order.
void apply_zip64_extra(const Bytes& b, uint64_t extra, uint64_t extra_size, ZipEntry& e, uint64_t& local_offset) {
  for (uint64_t p = extra; p + 4 <= extra + extra_size;) {
    const uint64_t id = b.le(p, 2), length = b.le(p + 2, 2);
    if (p + 4 + length > extra + extra_size) b.fail("corrupt zip archive (extra field of '" + e.name + "')");
    if (id == 1) {
      uint64_t q = p + 4;
      auto take = [&](uint64_t& field) {
        if (field != 0xffffffff) return;
        if (q + 8 > p + 4 + length) b.fail("corrupt zip archive (zip64 field of '" + e.name + "')");
        field = b.le(q, 8);
        q += 8;
      };
      take(e.size);
      take(e.compressed_size);
      take(local_offset);
    }
    p += 4 + length;
  }
}

uint32_t crc_of(const uint8_t* data, uint64_t size) {
  return static_cast<uint32_t>(::crc32_z(::crc32_z(0, nullptr, 0), data, static_cast<z_size_t>(size)));
}

std::vector<uint8_t> inflate_entry(const std::string& where, const uint8_t* data, const ZipEntry& e) {
  if (e.size > e.compressed_size * kMaxDeflateRatio + 64)
    throw std::runtime_error(where + ": corrupt zip entry '" + e.name + "' (declares " + std::to_string(e.size) +
                             " bytes from " + std::to_string(e.compressed_size) + " compressed ones)");
  if (e.size > kMaxInflatedBytes)
    throw std::runtime_error(where + ": zip entry '" + e.name + "' would inflate to " + std::to_string(e.size) +
                             " bytes, more than the 1 GiB a compressed record of a torch file may hold");
  std::vector<uint8_t> out(e.size);
  z_stream z{};
  if (::inflateInit2(&z, -MAX_WBITS) != Z_OK) throw std::runtime_error(where + ": zlib cannot start inflating");
  z.next_in = const_cast<Bytef*>(data + e.data_offset);
  z.next_out = out.data();
  uint64_t in_left = e.compressed_size, out_left = e.size;
  int rc = Z_OK;
  while (rc == Z_OK) {  // in chunks that fit zlib's 32-bit counters
    const uInt in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
    const uInt out_chunk = static_cast<uInt>(std::min<uint64_t>(out_left, 1u << 30));
    z.avail_in = in_chunk;
    z.avail_out = out_chunk;
    rc = ::inflate(&z, Z_NO_FLUSH);
    in_left -= in_chunk - z.avail_in;
    out_left -= out_chunk - z.avail_out;
    if (rc == Z_OK && in_chunk == z.avail_in && out_chunk == z.avail_out) rc = Z_BUF_ERROR;  // no progress
  }
  ::inflateEnd(&z);
  if (rc != Z_STREAM_END || out_left != 0)
    throw std::runtime_error(where + ": corrupt zip entry '" + e.name + "' (its deflated data does not inflate to " +
                             std::to_string(e.size) + " bytes)");
  return out;
}

}  // namespace

std::vector<ZipEntry> read_zip_entries(const std::string& where, const uint8_t* data, size_t size, bool verify_crc) {
  const Bytes b(where, data, size);
  const Directory d = find_directory(b);
  std::vector<ZipEntry> entries;
  entries.reserve(d.entries);
  uint64_t p = d.offset;
  for (uint64_t i = 0; i < d.entries; ++i) {
    b.need(p, kCentralHeaderSize, "central directory entry");
    if (b.le(p, 4) != kCentralHeader) b.fail("corrupt zip archive (central directory entry " + std::to_string(i) + ")");
    const uint64_t flags = b.le(p + 8, 2), name_size = b.le(p + 28, 2), extra_size = b.le(p + 30, 2),
                   comment_size = b.le(p + 32, 2);
    b.need(p + kCentralHeaderSize, name_size + extra_size + comment_size, "central directory entry");
    ZipEntry e;
    e.name.assign(reinterpret_cast<const char*>(b.at(p + kCentralHeaderSize)), name_size);
    e.method = static_cast<uint16_t>(b.le(p + 10, 2));
    e.crc32 = static_cast<uint32_t>(b.le(p + 16, 4));
    e.compressed_size = b.le(p + 20, 4);
    e.size = b.le(p + 24, 4);
    uint64_t local = b.le(p + 42, 4);
    apply_zip64_extra(b, p + kCentralHeaderSize + name_size, extra_size, e, local);
    if (flags & 1) b.fail("zip entry '" + e.name + "' is encrypted");
    if (e.method != 0 && e.method != 8)
      b.fail("zip entry '" + e.name + "' uses compression method " + std::to_string(e.method) +
             " (stored and deflated entries are read)");
    if (e.method == 0 && e.compressed_size != e.size)
      b.fail("corrupt zip entry '" + e.name + "' (stored, but its two sizes differ)");
    b.need(local, kLocalHeaderSize, "local header");
    if (b.le(local, 4) != kLocalHeader) b.fail("corrupt zip archive (local header of '" + e.name + "')");
    const uint64_t local_name = b.le(local + 26, 2), local_extra = b.le(local + 28, 2);
    b.need(local + kLocalHeaderSize, local_name + local_extra, "local header");
    if (local_name != name_size ||
        !std::equal(e.name.begin(), e.name.end(), reinterpret_cast<const char*>(b.at(local + kLocalHeaderSize))))
      b.fail("corrupt zip archive (the local header of '" + e.name + "' names another entry)");
    e.data_offset = local + kLocalHeaderSize + local_name + local_extra;
    b.need(e.data_offset, e.compressed_size, ("data of '" + e.name + "'").c_str());
    if (verify_crc) {
      const uint32_t crc =
          e.method == 0 ? crc_of(b.at(e.data_offset), e.size) : [&] {
            const auto bytes = inflate_entry(where, data, e);
            return crc_of(bytes.data(), bytes.size());
          }();
      if (crc != e.crc32)
        b.fail("zip entry '" + e.name + "' is corrupt (its CRC-32 does not match its bytes); the file is damaged");
    }
    entries.push_back(std::move(e));
    p += kCentralHeaderSize + name_size + extra_size + comment_size;
  }
  return entries;
}

std::vector<uint8_t> zip_entry_bytes(const std::string& where, const uint8_t* data, const ZipEntry& entry) {
  if (entry.method == 8) return inflate_entry(where, data, entry);
  return std::vector<uint8_t>(data + entry.data_offset, data + entry.data_offset + entry.size);
}

}  // namespace masnn
