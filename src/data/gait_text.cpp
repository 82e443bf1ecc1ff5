// DVS128 Gait text reader (no tensors here).
#include "data/gait_text.h"

#include <charconv>
#include <stdexcept>

#include "util/mapped_file.h"

namespace masnn::data {

Events parse_gait_text(const char* data, size_t size, const std::string& name, const EventReadOptions& options,
                       EventReadStats* stats) {
  EventReadStats local;
  EventReadStats& st = stats ? *stats : local;
  Events events;
  size_t lines = 0;
  for (size_t i = 0; i < size; ++i) lines += data[i] == '\n';
  events.reserve(lines + 1);
  const int64_t width = options.width > 0 ? options.width : INT64_MAX;
  const int64_t height = options.height > 0 ? options.height : INT64_MAX;
  size_t pos = 0, line = 0;
  while (pos < size) {
    ++line;
    size_t end = pos;
    while (end < size && data[end] != '\n') ++end;
    const char* cur = data + pos;
    const char* stop = data + end;
    pos = end + 1;
    auto skip_sep = [&] {
      while (cur < stop && (*cur == ' ' || *cur == '\t' || *cur == ',' || *cur == '\r')) ++cur;
    };
    skip_sep();
    if (cur == stop || *cur == '#') continue;
    int64_t v[4];
    for (int k = 0; k < 4; ++k) {
      skip_sep();
      auto [next, ec] = std::from_chars(cur, stop, v[k]);
      if (ec != std::errc() || next == cur)
        throw std::runtime_error(name + ": line " + std::to_string(line) + ": expected 4 integers 't x y p'");
      cur = next;
    }
    skip_sep();
    if (cur != stop)
      throw std::runtime_error(name + ": line " + std::to_string(line) + ": unexpected text after 't x y p'");
    if (v[1] < 0 || v[2] < 0 || v[1] > 0xFFFF || v[2] > 0xFFFF)
      throw std::runtime_error(name + ": line " + std::to_string(line) + ": coordinate out of range");
    if (v[3] != 0 && v[3] != 1 && v[3] != -1)
      throw std::runtime_error(name + ": line " + std::to_string(line) + ": polarity must be 0, 1 or -1");
    if (v[1] >= width || v[2] >= height) {
      ++st.out_of_range_dropped;
      continue;
    }
    events.push_back(v[0], static_cast<uint16_t>(v[1]), static_cast<uint16_t>(v[2]), static_cast<uint8_t>(v[3] == 1));
  }
  st.backwards = count_backwards(events, 0, events.size());
  finish_read(events, options, st);
  return events;
}

Events read_gait_text(const std::string& path, const EventReadOptions& options, EventReadStats* stats) {
  const MappedFile file(path);
  return parse_gait_text(reinterpret_cast<const char*>(file.data()), file.size(), path, options, stats);
}

}  // namespace masnn::data
