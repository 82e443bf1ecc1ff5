// AEDAT 3.1 reader and writer (no tensors here).
#include "masnn/data/aedat3.h"

#include <cstring>
#include <stdexcept>

#include "byte_order.h"
#include "masnn/util/file_io.h"
#include "masnn/util/mapped_file.h"

namespace masnn::data {
namespace {

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

[[noreturn]] void fail(const std::string& name, size_t offset, const std::string& what) {
  throw std::runtime_error(name + ": AEDAT 3.1: " + what + " at byte " + std::to_string(offset));
}

// Returns the offset of the first packet.
size_t parse_header(const uint8_t* data, size_t size, const std::string& name) {
  static const char kMagic[] = "#!AER-DAT3";
  const size_t magic_len = sizeof(kMagic) - 1;
  if (size < magic_len || std::memcmp(data, kMagic, magic_len) != 0)
    fail(name, 0, "missing version line '#!AER-DAT3.1' (not an AEDAT 3 file)");
  size_t pos = 0;
  while (pos < size) {
    if (data[pos] != '#') fail(name, pos, "header line does not start with '#' before '#!END-HEADER'");
    size_t end = pos;
    while (end < size && data[end] != '\n') ++end;
    if (end >= size) break;
    size_t len = end - pos;
    if (len > 0 && data[end - 1] == '\r') --len;
    static const char kEnd[] = "#!END-HEADER";
    if (len == sizeof(kEnd) - 1 && std::memcmp(data + pos, kEnd, len) == 0) return end + 1;
    pos = end + 1;
  }
  fail(name, size, "header has no '#!END-HEADER' line before the end of the file");
}

}  // namespace

Events parse_aedat3(const uint8_t* data, size_t size, const std::string& name, const EventReadOptions& options,
                    EventReadStats* stats) {
  EventReadStats local;
  EventReadStats& st = stats ? *stats : local;
  size_t pos = parse_header(data, size, name);
  Events events;
  // First pass: validate the packet chain and count polarity events, so the arrays are allocated once.
  size_t total = 0;
  for (size_t p = pos; p < size;) {
    if (size - p < 28) fail(name, p, "truncated packet header (" + std::to_string(size - p) + " bytes, 28 expected)");
    const uint8_t* h = data + p;
    const uint32_t event_size = le32(h + 4), capacity = le32(h + 16), number = le32(h + 20);
    const uint64_t body = static_cast<uint64_t>(event_size) * capacity;
    if (number > capacity)
      fail(name, p,
           "packet eventNumber " + std::to_string(number) + " exceeds eventCapacity " + std::to_string(capacity));
    if (body > size - p - 28)
      fail(name, p,
           "packet body of " + std::to_string(body) + " bytes overruns the file (" + std::to_string(size - p - 28) +
               " bytes left)");
    if (le16(h) == kAedat3PolarityType) {
      const uint32_t ts_offset = le32(h + 8);
      if (event_size < 8 || ts_offset > event_size - 4)
        fail(name, p,
             "polarity packet with eventSize " + std::to_string(event_size) + " and eventTSOffset " +
                 std::to_string(ts_offset) + " (8 and 4 expected)");
      total += number;
    }
    p += 28 + static_cast<size_t>(body);
  }
  // Decode straight into the arrays (sized once), then trim what was dropped.
  events.reserve(total);
  events.t.resize(total);
  events.x.resize(total);
  events.y.resize(total);
  events.p.resize(total);
  int64_t* out_t = events.t.data();
  uint16_t* out_x = events.x.data();
  uint16_t* out_y = events.y.data();
  uint8_t* out_p = events.p.data();
  size_t n = 0;
  const uint32_t width = options.width > 0 ? static_cast<uint32_t>(options.width) : 0xFFFFFFFFu;
  const uint32_t height = options.height > 0 ? static_cast<uint32_t>(options.height) : 0xFFFFFFFFu;
  while (pos < size) {
    const uint8_t* h = data + pos;
    const uint16_t type = le16(h);
    const uint32_t event_size = le32(h + 4), ts_offset = le32(h + 8), overflow = le32(h + 12);
    const uint32_t capacity = le32(h + 16), number = le32(h + 20);
    const size_t body = static_cast<size_t>(event_size) * capacity;
    ++st.packets;
    if (type != kAedat3PolarityType) {
      ++st.skipped_packets;
      st.skipped_events += number;
    } else {
      const int64_t high = static_cast<int64_t>(overflow) << 31;
      const uint8_t* e = h + 28;
      for (uint32_t i = 0; i < number; ++i, e += event_size) {
        const uint32_t word = le32(e);
        const uint32_t x = (word >> 17) & 0x7FFFu, y = (word >> 2) & 0x7FFFu;
        if ((word & 1u) == 0) {
          ++st.invalid_dropped;
          continue;
        }
        if (x >= width || y >= height) {
          ++st.out_of_range_dropped;
          continue;
        }
        out_t[n] = high | static_cast<int64_t>(le32(e + ts_offset) & 0x7FFFFFFFu);
        out_x[n] = static_cast<uint16_t>(x);
        out_y[n] = static_cast<uint16_t>(y);
        out_p[n] = static_cast<uint8_t>((word >> 1) & 1u);
        ++n;
      }
    }
    pos += 28 + body;
  }
  events.t.resize(n);
  events.x.resize(n);
  events.y.resize(n);
  events.p.resize(n);
  st.backwards = count_backwards(events, 0, n);
  finish_read(events, options, st);
  return events;
}

Events read_aedat3(const std::string& path, const EventReadOptions& options, EventReadStats* stats) {
  const MappedFile file(path);
  return parse_aedat3(file.data(), file.size(), path, options, stats);
}

std::string aedat3_header(const Aedat3WriteOptions& options) {
  return "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: " + options.source_name + "\r\n#Writer: masnn\r\n#!END-HEADER\r\n";
}

void append_aedat3_packets(const Events& events, const Aedat3WriteOptions& options, std::vector<uint8_t>& out) {
  if (options.events_per_packet == 0) throw std::invalid_argument("encode_aedat3: events_per_packet must be > 0");
  out.reserve(out.size() + events.size() * 8 + (events.size() / options.events_per_packet + 1) * 28);
  for (size_t i = 0; i < events.size(); ++i) {
    if (events.t[i] < 0) throw std::invalid_argument("encode_aedat3: negative timestamp at event " + std::to_string(i));
    if (events.x[i] > 0x7FFF || events.y[i] > 0x7FFF)
      throw std::invalid_argument("encode_aedat3: coordinate above 32767 at event " + std::to_string(i));
  }
  size_t i = 0;
  while (i < events.size()) {
    const int64_t overflow = events.t[i] >> 31;
    size_t j = i;
    while (j < events.size() && j - i < options.events_per_packet && (events.t[j] >> 31) == overflow) ++j;
    const auto n = static_cast<uint32_t>(j - i);
    put16(out, kAedat3PolarityType);
    put16(out, 1);  // source id
    put32(out, 8);  // event size
    put32(out, 4);  // timestamp offset
    put32(out, static_cast<uint32_t>(overflow));
    put32(out, n);  // capacity
    put32(out, n);  // number
    put32(out, n);  // valid
    for (size_t k = i; k < j; ++k) {
      put32(out, (static_cast<uint32_t>(events.x[k]) << 17) | (static_cast<uint32_t>(events.y[k]) << 2) |
                     (static_cast<uint32_t>(events.p[k] != 0) << 1) | 1u);
      put32(out, static_cast<uint32_t>(events.t[k] & 0x7FFFFFFF));
    }
    i = j;
  }
}

std::vector<uint8_t> encode_aedat3(const Events& events, const Aedat3WriteOptions& options) {
  const std::string header = aedat3_header(options);
  std::vector<uint8_t> out(header.begin(), header.end());
  append_aedat3_packets(events, options, out);
  return out;
}

void write_aedat3(const std::string& path, const Events& events, const Aedat3WriteOptions& options) {
  write_file_atomic(path, encode_aedat3(events, options));
}

}  // namespace masnn::data
