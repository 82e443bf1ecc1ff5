// The incremental AEDAT 3.1 decoder (see masnn/data/aedat3.h): a byte-driven state machine (header lines, packet
// header, packet body) for bytes that arrive in pieces of any size (a pipe, a socket, a file read chunk by chunk).
#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "byte_order.h"
#include "masnn/data/aedat3.h"
#include "record_decoder.h"

namespace masnn::data {
namespace {

constexpr char kMagic[] = "#!AER-DAT3";
constexpr size_t kMagicLen = sizeof(kMagic) - 1;
constexpr char kEndHeader[] = "#!END-HEADER";

class Aedat3Decoder final : public EventDecoder {
 public:
  Aedat3Decoder(const std::string& name, const EventReadOptions& options)
      : EventDecoder(EventFormat::Aedat3, name, options) {}

  bool header_done() const override { return phase_ != Phase::Header; }
  size_t expected_events(uint64_t size, const InputSampler&) const override { return size / 8; }

  void feed(const uint8_t* data, size_t size, Events& out) override {
    size_t i = 0;
    while (i < size) {
      switch (phase_) {
        case Phase::Header:
          header_byte(data[i]);
          ++i;
          ++offset_;
          break;
        case Phase::PacketHeader: {
          if (head_fill_ == 0) packet_start_ = offset_;
          const size_t n = std::min(size - i, head_.size() - head_fill_);
          std::memcpy(head_.data() + head_fill_, data + i, n);
          head_fill_ += n;
          i += n;
          offset_ += n;
          if (head_fill_ == head_.size()) start_packet();
          break;
        }
        case Phase::Body: {
          if (events_left_ > 0 && event_fill_ == 0 && size - i >= event_size_) {
            // Whole events straight from the input (a mapped file: all of them).
            const size_t n = static_cast<size_t>(std::min<uint64_t>(events_left_, (size - i) / event_size_));
            decode_events(data + i, n, out);
            i += n * event_size_;
            offset_ += n * event_size_;
            body_left_ -= n * event_size_;
          } else if (events_left_ > 0) {
            // Whole events straight from the input; a split event is assembled in event_.
            const size_t n = static_cast<size_t>(std::min<uint64_t>(size - i, event_size_ - event_fill_));
            std::memcpy(event_.data() + event_fill_, data + i, n);
            event_fill_ += n;
            i += n;
            offset_ += n;
            body_left_ -= n;
            if (event_fill_ == event_size_) {
              finish_event(out);
              event_fill_ = 0;
            }
          } else {
            // Unused capacity of a polarity packet, or a packet of another type: skipped by its size.
            const size_t n = static_cast<size_t>(std::min<uint64_t>(size - i, body_left_));
            i += n;
            offset_ += n;
            body_left_ -= n;
          }
          if (body_left_ == 0) phase_ = Phase::PacketHeader;
          break;
        }
      }
    }
  }

  void finish(Events&) override {
    switch (phase_) {
      case Phase::Header:
        fail(offset_, offset_ == 0 ? std::string("empty stream (no AEDAT 3.1 header)")
                                   : std::string("the input ended inside the header (no '#!END-HEADER' line)"));
      case Phase::PacketHeader:
        if (head_fill_ > 0)
          fail(packet_start_, "the input ended inside a packet header (" + std::to_string(head_fill_) + " of 28 bytes)");
        return;
      case Phase::Body:
        fail(packet_start_,
             "the input ended inside a packet (" + std::to_string(body_left_) + " bytes of its body missing)");
    }
  }

 private:
  enum class Phase { Header, PacketHeader, Body };

  void header_byte(uint8_t b) {
    if (offset_ >= kAedat3MaxHeaderBytes)
      fail(offset_, "header longer than " + std::to_string(kAedat3MaxHeaderBytes) + " bytes without '#!END-HEADER'");
    // The version line is checked byte by byte as it comes in, so that garbage fails at once.
    if (offset_ < kMagicLen && b != static_cast<uint8_t>(kMagic[offset_]))
      fail(0, "missing version line '#!AER-DAT3.1' (not an AEDAT 3 stream)");
    if (line_.empty()) {
      line_start_ = offset_;
      if (b != '#') fail(offset_, "header line does not start with '#' before '#!END-HEADER'");
    }
    if (b != '\n') {
      line_.push_back(static_cast<char>(b));
      return;
    }
    if (line_start_ == 0 && line_.size() < kMagicLen)
      fail(0, "missing version line '#!AER-DAT3.1' (not an AEDAT 3 stream)");
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_ == kEndHeader) phase_ = Phase::PacketHeader;
    line_.clear();
  }

  void start_packet() {
    const uint8_t* h = head_.data();
    type_ = static_cast<uint16_t>(h[0] | (h[1] << 8));
    event_size_ = le32(h + 4);
    ts_offset_ = le32(h + 8);
    overflow_ = le32(h + 12);
    const uint32_t capacity = le32(h + 16);
    number_ = le32(h + 20);
    ++stats_.packets;
    if (number_ > capacity)
      fail(packet_start_,
           "packet eventNumber " + std::to_string(number_) + " exceeds eventCapacity " + std::to_string(capacity));
    body_left_ = static_cast<uint64_t>(event_size_) * capacity;
    events_left_ = 0;
    if (type_ == kAedat3PolarityType) {
      if (event_size_ < 8 || event_size_ > kAedat3MaxPolarityEventSize || ts_offset_ > event_size_ - 4)
        fail(packet_start_, "polarity packet with eventSize " + std::to_string(event_size_) + " and eventTSOffset " +
                                std::to_string(ts_offset_) + " (8 and 4 expected)");
      events_left_ = number_;
      event_.assign(event_size_, 0);
      event_fill_ = 0;
    } else {
      ++stats_.skipped_packets;
      stats_.skipped_events += number_;
    }
    phase_ = body_left_ > 0 ? Phase::Body : Phase::PacketHeader;
    head_fill_ = 0;
  }

  // Decodes `n` whole polarity events of the current packet at `e`.
  void decode_events(const uint8_t* e, size_t n, Events& out) {
    EventAppender append(out, n, options_, stats_);
    const size_t before = append.count();
    const int64_t high = static_cast<int64_t>(overflow_) << 31;
    for (size_t k = 0; k < n; ++k, e += event_size_) {
      const uint32_t word = le32(e);
      if ((word & 1u) == 0) {
        ++stats_.invalid_dropped;
        continue;
      }
      append.push(high | static_cast<int64_t>(le32(e + ts_offset_) & 0x7FFFFFFFu), (word >> 17) & 0x7FFFu,
                  (word >> 2) & 0x7FFFu, static_cast<uint8_t>((word >> 1) & 1u));
    }
    stats_.events += append.count() - before;
    events_left_ -= n;
  }

  void finish_event(Events& out) { decode_events(event_.data(), 1, out); }

  Phase phase_ = Phase::Header;
  // Header: the current line and where it started.
  std::string line_;
  uint64_t line_start_ = 0;
  // Packet header being assembled, and the packet being walked.
  std::array<uint8_t, 28> head_{};
  size_t head_fill_ = 0;
  uint64_t packet_start_ = 0;
  uint16_t type_ = 0;
  uint32_t event_size_ = 0, ts_offset_ = 0, overflow_ = 0, number_ = 0;
  uint64_t body_left_ = 0;      // bytes of the current packet body still to come
  uint64_t events_left_ = 0;    // meaningful polarity events still to come in this packet
  std::vector<uint8_t> event_;  // the polarity event being assembled
  size_t event_fill_ = 0;
};

}  // namespace

std::unique_ptr<EventDecoder> make_aedat3_decoder(const std::string& name, const EventReadOptions& options) {
  return std::make_unique<Aedat3Decoder>(name, options);
}

}  // namespace masnn::data
