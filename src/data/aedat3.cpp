// AEDAT 3.1 reader and writer (no tensors here).
#include "masnn/data/aedat3.h"

#include <stdexcept>

#include "masnn/data/event_file.h"
#include "masnn/util/file_io.h"

namespace masnn::data {
namespace {

void put32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}

}  // namespace

Events parse_aedat3(const uint8_t* data, size_t size, const std::string& name, const EventReadOptions& options,
                    EventReadStats* stats) {
  return parse_events(data, size, EventFormat::Aedat3, name, options, stats);
}

Events read_aedat3(const std::string& path, const EventReadOptions& options, EventReadStats* stats) {
  return read_events(path, EventFormat::Aedat3, options, stats);
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
