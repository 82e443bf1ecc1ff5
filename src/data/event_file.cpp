// Event-file format detection and dispatch (no tensors here).
#include "masnn/data/event_file.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "masnn/data/aedat2.h"
#include "masnn/data/aedat3.h"
#include "data/gait_text.h"
#include "masnn/data/prophesee.h"
#include "masnn/util/file_io.h"
#include "masnn/util/chunked_file.h"

namespace masnn::data {
namespace {

bool is_gait_text(const uint8_t* head, size_t n) {
  // The first line that is neither blank nor a comment must hold four integers.
  size_t pos = 0;
  while (pos < n) {
    size_t end = pos;
    while (end < n && head[end] != '\n') ++end;
    const char* cur = reinterpret_cast<const char*>(head) + pos;
    const char* stop = reinterpret_cast<const char*>(head) + end;
    pos = end + 1;
    auto skip = [&] {
      while (cur < stop && (*cur == ' ' || *cur == '\t' || *cur == ',' || *cur == '\r')) ++cur;
    };
    skip();
    if (cur == stop || *cur == '#') continue;
    int count = 0;
    while (cur < stop) {
      long long v = 0;
      auto [next, ec] = std::from_chars(cur, stop, v);
      if (ec != std::errc() || next == cur) break;
      ++count;
      cur = next;
      skip();
    }
    return count == 4 && cur == stop;
  }
  return false;
}

std::optional<EventFormat> sniff(const uint8_t* head, size_t n, const std::string& name) {
  auto starts = [&](const char* magic) {
    return n >= std::strlen(magic) && std::memcmp(head, magic, std::strlen(magic)) == 0;
  };
  if (starts("#!AER-DAT4")) return EventFormat::Aedat4;
  if (starts("#!AER-DAT3")) return EventFormat::Aedat3;
  if (starts("#!AER-DAT2")) return EventFormat::Aedat2;
  if (starts("#!AER-DAT"))
    throw std::runtime_error(name + ": unsupported AEDAT version (2.0, 3.x and 4.0 are read)");
  if (starts("%")) return sniff_prophesee(head, n, name);
  if (is_gait_text(head, n)) return EventFormat::GaitText;
  return std::nullopt;
}

const char* kExpected =
    "expected an AEDAT 2.0/3.1/4.0 file, a Prophesee RAW (EVT 2.0/3.0) or DAT file, 't x y p' text lines, or an "
    "N-MNIST '.bin' file (or say which with --format)";

// The input ended: the decoder's last checks, then the whole-file steps (sorting, statistics).
Events finish_decoding(EventDecoder& decoder, Events& events, const EventReadOptions& options,
                       EventReadStats* stats) {
  decoder.finish(events);
  EventReadStats st = decoder.stats();
  finish_read(events, options, st);
  if (stats) *stats = st;
  return std::move(events);
}

}  // namespace

EventFormat detect_format(const uint8_t* head, size_t size, const std::string& name) {
  if (auto format = sniff(head, size, name)) return *format;
  // The headerless N-MNIST files are known by their name only.
  if (lower_extension(name) == ".bin") return EventFormat::NmnistBin;
  throw std::runtime_error(name + ": unknown event file format (" + kExpected + ")");
}

EventFormat detect_format(const std::string& path) {
  // Only the first bytes are read: mapping (and populating) the whole file to look at its header would read it all.
  const std::vector<uint8_t> head = read_file_bytes(path, kEventSniffBytes);  // a FIFO is refused, not waited on
  return detect_format(head.data(), head.size(), path);
}

EventFormat detect_format(const ChunkedFile& file) {
  std::vector<uint8_t> head(static_cast<size_t>(std::min<uint64_t>(file.size(), kEventSniffBytes)));
  head.resize(file.read_at(0, head.data(), head.size()));
  return detect_format(head.data(), head.size(), file.path());
}

Events read_events(const std::string& path, const EventReadOptions& options, EventReadStats* stats) {
  ChunkedFile file(path);  // opened once: detected from its first bytes, then decoded
  return read_events(file, detect_format(file), options, stats);
}

Events read_events(const std::string& path, EventFormat format, const EventReadOptions& options,
                   EventReadStats* stats) {
  ChunkedFile file(path);
  return read_events(file, format, options, stats);
}

Events read_events(ChunkedFile& file, EventFormat format, const EventReadOptions& options, EventReadStats* stats) {
  if (format == EventFormat::GaitText) return read_gait_text(file.path(), options, stats);  // text, parsed whole
  auto decoder = make_event_decoder(format, file.path(), options);
  Events events;
  const auto sample = [&file](uint64_t offset, uint8_t* dst, size_t n) { return file.read_at(offset, dst, n); };
  events.reserve(decoder->expected_events(file.size(), sample) + 1);  // + 1: decoders write one slot ahead
  for (auto [data, size] = file.next(); size > 0; std::tie(data, size) = file.next()) decoder->feed(data, size, events);
  return finish_decoding(*decoder, events, options, stats);
}

Events parse_events(const uint8_t* data, size_t size, EventFormat format, const std::string& name,
                    const EventReadOptions& options, EventReadStats* stats) {
  switch (format) {
    case EventFormat::GaitText: return parse_gait_text(reinterpret_cast<const char*>(data), size, name, options, stats);
    default: break;
  }
  auto decoder = make_event_decoder(format, name, options);
  Events events;
  const auto sample = [data, size](uint64_t offset, uint8_t* dst, size_t n) -> size_t {
    if (offset >= size) return 0;
    n = std::min<size_t>(n, size - static_cast<size_t>(offset));
    std::memcpy(dst, data + offset, n);
    return n;
  };
  events.reserve(decoder->expected_events(size, sample) + 1);  // + 1: decoders write one slot ahead
  decoder->feed(data, size, events);
  return finish_decoding(*decoder, events, options, stats);
}

}  // namespace masnn::data
