// Event-file format detection and dispatch (no tensors here).
#include "masnn/data/event_file.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "masnn/data/aedat2.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/gait_text.h"
#include "masnn/util/file_io.h"

namespace masnn::data {

std::string format_name(EventFormat format) {
  switch (format) {
    case EventFormat::Aedat3: return "AEDAT 3.1";
    case EventFormat::Aedat2: return "AEDAT 2.0";
    case EventFormat::GaitText: return "Gait text (t x y p)";
  }
  return "unknown";
}

EventFormat detect_format(const std::string& path) {
  const int fd = open_regular_file(path);  // a FIFO is refused, not waited on
  char head[4096];
  size_t n = 0;
  for (ssize_t got; n < sizeof head && (got = ::read(fd, head + n, sizeof head - n)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error(path + ": read error (" + std::strerror(error) + ")");
    }
    n += static_cast<size_t>(got);
  }
  ::close(fd);
  auto starts = [&](const char* magic) {
    return n >= std::strlen(magic) && std::memcmp(head, magic, std::strlen(magic)) == 0;
  };
  if (starts("#!AER-DAT3")) return EventFormat::Aedat3;
  if (starts("#!AER-DAT2")) return EventFormat::Aedat2;
  if (starts("#!AER-DAT")) throw std::runtime_error(path + ": unsupported AEDAT version (2.0 and 3.x are read)");
  // Text: the first line that is neither blank nor a comment must hold four integers.
  size_t pos = 0;
  while (pos < n) {
    size_t end = pos;
    while (end < n && head[end] != '\n') ++end;
    const char* cur = head + pos;
    const char* stop = head + end;
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
    if (count == 4 && cur == stop) return EventFormat::GaitText;
    break;
  }
  throw std::runtime_error(
      path + ": unknown event file format (expected '#!AER-DAT3.1', '#!AER-DAT2.0' or 't x y p' text lines)");
}

Events read_events(const std::string& path, const EventReadOptions& options, EventReadStats* stats) {
  return read_events(path, detect_format(path), options, stats);
}

Events read_events(const std::string& path, EventFormat format, const EventReadOptions& options,
                   EventReadStats* stats) {
  switch (format) {
    case EventFormat::Aedat3: return read_aedat3(path, options, stats);
    case EventFormat::Aedat2: return read_aedat2(path, options, stats);
    case EventFormat::GaitText: return read_gait_text(path, options, stats);
  }
  throw std::invalid_argument(path + ": unknown event format");
}

}  // namespace masnn::data
