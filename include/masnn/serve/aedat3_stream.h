// An incremental AEDAT 3.1 reader for live streams: bytes arrive in pieces of any size (a pipe, a socket, a file
// read chunk by chunk) and complete polarity events come out as soon as their 8 bytes are in. Same format and
// checks as masnn/data/aedat3.h (header lines, 28-byte packet headers, polarity events of type 1, other event
// types skipped by their size), without holding the stream in memory.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "masnn/data/events.h"

namespace masnn::serve {

class Aedat3StreamParser {
 public:
  /// `name` names the source in error messages (a path, or "standard input"). Events outside
  /// options.width x options.height are dropped and counted; options.sort_by_time is ignored (a stream is not
  /// sorted afterwards: the frame binner counts events that arrive late).
  explicit Aedat3StreamParser(std::string name, const data::EventReadOptions& options = {});

  /// Decodes the next `size` bytes of the stream and appends its complete polarity events to `out` (in stream
  /// order). Throws std::runtime_error naming the source and the byte offset for a missing or wrong header, a
  /// header line that does not start with '#', a header longer than kMaxHeaderBytes, a packet with eventNumber
  /// above eventCapacity, or a polarity packet with an impossible eventSize / eventTSOffset.
  void feed(const uint8_t* data, size_t size, data::Events& out);

  /// The stream ended. Throws std::runtime_error when it ended inside the header or inside a packet (a
  /// truncated stream), naming the source, the offset and what was missing.
  void finish() const;

  /// True once `#!END-HEADER` has been read.
  bool header_done() const { return phase_ != Phase::Header; }
  /// Bytes consumed so far.
  uint64_t offset() const { return offset_; }
  /// Counters: events returned, dropped (invalid, out of range), packets walked and skipped.
  const data::EventReadStats& stats() const { return stats_; }

  /// A header longer than this without `#!END-HEADER` is not an AEDAT 3.1 stream.
  static constexpr size_t kMaxHeaderBytes = 1 << 20;
  /// Largest eventSize accepted for polarity packets (8 in every known writer).
  static constexpr uint32_t kMaxPolarityEventSize = 4096;

 private:
  enum class Phase { Header, PacketHeader, Body };
  [[noreturn]] void fail(uint64_t offset, const std::string& what) const;
  void header_byte(uint8_t b);
  void start_packet();
  void finish_event(data::Events& out);

  std::string name_;
  data::EventReadOptions options_;
  data::EventReadStats stats_;
  Phase phase_ = Phase::Header;
  uint64_t offset_ = 0;
  // Header: the current line and the total header length.
  std::string line_;
  uint64_t line_start_ = 0;
  // Packet header being assembled, and the packet being walked.
  std::array<uint8_t, 28> head_{};
  size_t head_fill_ = 0;
  uint64_t packet_start_ = 0;
  uint16_t type_ = 0;
  uint32_t event_size_ = 0, ts_offset_ = 0, overflow_ = 0, number_ = 0;
  uint64_t body_left_ = 0;      ///< bytes of the current packet body still to come
  uint64_t events_left_ = 0;    ///< meaningful polarity events still to come in this packet
  std::vector<uint8_t> event_;  ///< the polarity event being assembled
  size_t event_fill_ = 0;
};

}  // namespace masnn::serve
