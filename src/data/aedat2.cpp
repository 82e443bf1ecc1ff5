// AEDAT 2.0 (jAER, DVS128 addresses) reader and encoder (no tensors here).
#include "masnn/data/aedat2.h"

#include <stdexcept>

#include "masnn/util/file_io.h"
#include "masnn/util/mapped_file.h"

namespace masnn::data {
namespace {

uint32_t be32(const uint8_t* b) {
  return (static_cast<uint32_t>(b[0]) << 24) | (static_cast<uint32_t>(b[1]) << 16) |
         (static_cast<uint32_t>(b[2]) << 8) | static_cast<uint32_t>(b[3]);
}

}  // namespace

Events parse_aedat2(const uint8_t* data, size_t size, const std::string& name, const EventReadOptions& options,
                    EventReadStats* stats) {
  EventReadStats local;
  EventReadStats& st = stats ? *stats : local;
  // Header: every line starting with '#'.
  size_t pos = 0;
  while (pos < size && data[pos] == '#') {
    while (pos < size && data[pos] != '\n') ++pos;
    if (pos >= size)
      throw std::runtime_error(name + ": AEDAT 2.0: header line not terminated at byte " + std::to_string(pos));
    ++pos;
  }
  const size_t body = size - pos;
  if (body % 8 != 0)
    throw std::runtime_error(name + ": AEDAT 2.0: truncated record at byte " + std::to_string(pos + body / 8 * 8) +
                             " (" + std::to_string(body % 8) + " bytes, 8 expected)");
  Events events;
  events.reserve(body / 8);
  const uint32_t width = options.width > 0 ? static_cast<uint32_t>(options.width) : 0xFFFFFFFFu;
  const uint32_t height = options.height > 0 ? static_cast<uint32_t>(options.height) : 0xFFFFFFFFu;
  int64_t base = 0;
  uint32_t previous = 0;
  for (size_t i = pos; i < size; i += 8) {
    const uint32_t addr = be32(data + i), ts = be32(data + i + 4);
    if (i > pos && ts < previous && previous - ts > 0x80000000u) {
      base += int64_t{1} << 32;
      ++st.timestamp_wraps;
    }
    previous = ts;
    const uint32_t x = 127u - ((addr >> 1) & 0x7Fu), y = (addr >> 8) & 0x7Fu;
    if (x >= width || y >= height) {
      ++st.out_of_range_dropped;
      continue;
    }
    events.push_back(base + ts, static_cast<uint16_t>(x), static_cast<uint16_t>(y), static_cast<uint8_t>(addr & 1u));
  }
  finish_read(events, options, &st);
  return events;
}

Events read_aedat2(const std::string& path, const EventReadOptions& options, EventReadStats* stats) {
  const MappedFile file(path);
  return parse_aedat2(file.data(), file.size(), path, options, stats);
}

std::vector<uint8_t> encode_aedat2(const Events& events) {
  const std::string header = "#!AER-DAT2.0\r\n# This is a raw AE data file created by masnn\r\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  out.reserve(out.size() + events.size() * 8);
  auto put = [&out](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
  };
  for (size_t i = 0; i < events.size(); ++i) {
    if (events.x[i] > 127 || events.y[i] > 127)
      throw std::invalid_argument("encode_aedat2: coordinate above 127 at event " + std::to_string(i));
    const uint32_t addr = (static_cast<uint32_t>(events.y[i]) << 8) | ((127u - events.x[i]) << 1) | (events.p[i] != 0);
    put(addr);
    put(static_cast<uint32_t>(static_cast<uint64_t>(events.t[i]) & 0xFFFFFFFFu));
  }
  return out;
}

}  // namespace masnn::data
