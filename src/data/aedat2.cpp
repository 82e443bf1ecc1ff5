// AEDAT 2.0 (jAER, DVS128 addresses) reader and encoder (no tensors here).
#include "masnn/data/aedat2.h"

#include <cstring>
#include <stdexcept>

#include "byte_order.h"
#include "masnn/data/event_file.h"
#include "record_decoder.h"

namespace masnn::data {
namespace {

class Aedat2Decoder final : public RecordDecoder {
 public:
  Aedat2Decoder(const std::string& name, const EventReadOptions& options)
      : RecordDecoder(EventFormat::Aedat2, name, options, 8) {}

 protected:
  // Header: every line starting with '#'.
  size_t parse_header(const uint8_t* head, size_t size, bool at_end) override {
    size_t pos = 0;
    while (pos < size && head[pos] == '#') {
      const auto* nl = static_cast<const uint8_t*>(std::memchr(head + pos, '\n', size - pos));
      if (nl == nullptr) {
        if (at_end) fail(size, "header line not terminated");
        return kNeedMore;
      }
      pos = static_cast<size_t>(nl - head) + 1;
    }
    return pos < size || at_end ? pos : kNeedMore;
  }

  void decode(const uint8_t* data, size_t count, uint64_t, Events& events) override {
    EventAppender out(events, count, options_, stats_);
    for (size_t i = 0; i < count; ++i, data += 8) {
      const uint32_t addr = be32(data), ts = be32(data + 4);
      if (started_ && ts < previous_ && previous_ - ts > 0x80000000u) {
        base_ += int64_t{1} << 32;
        ++stats_.timestamp_wraps;
      }
      started_ = true;
      previous_ = ts;
      out.push(base_ + ts, 127u - ((addr >> 1) & 0x7Fu), (addr >> 8) & 0x7Fu, static_cast<uint8_t>(addr & 1u));
    }
  }

 private:
  bool started_ = false;
  uint32_t previous_ = 0;
  int64_t base_ = 0;
};

}  // namespace

std::unique_ptr<EventDecoder> make_aedat2_decoder(const std::string& name, const EventReadOptions& options) {
  return std::make_unique<Aedat2Decoder>(name, options);
}

Events parse_aedat2(const uint8_t* data, size_t size, const std::string& name, const EventReadOptions& options,
                    EventReadStats* stats) {
  return parse_events(data, size, EventFormat::Aedat2, name, options, stats);
}

Events read_aedat2(const std::string& path, const EventReadOptions& options, EventReadStats* stats) {
  return read_events(path, EventFormat::Aedat2, options, stats);
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
