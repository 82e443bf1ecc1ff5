// AEDAT 3.1 (the DVS128 Gesture recordings; REFERENCE.md 4.1): reader and writer.
//
// File: text header lines, each starting with '#', the first `#!AER-DAT3.1`, the last `#!END-HEADER`; then
// packets. A packet is a 28-byte little-endian header (eventType u16, eventSource u16, eventSize u32,
// eventTSOffset u32, eventTSOverflow u32, eventCapacity u32, eventNumber u32, eventValid u32) followed by
// eventCapacity * eventSize bytes, of which the first eventNumber events are meaningful.
// Polarity events (type 1, 8 bytes): data u32 (bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31 x) and
// a u32 timestamp at eventTSOffset; the full timestamp is (eventTSOverflow << 31) | timestamp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "masnn/data/event_decoder.h"
#include "masnn/data/events.h"

namespace masnn::data {

/// AEDAT 3.1 event type of polarity events.
constexpr uint16_t kAedat3PolarityType = 1;

/// Decodes an AEDAT 3.1 file held in memory. `name` names the source in error messages. Packets of other
/// event types are skipped by their size, events with the valid bit 0 are dropped. A missing or wrong
/// header, a truncated packet header, a packet body that overruns the data or a malformed polarity packet
/// throws std::runtime_error naming `name` and the byte offset.
Events parse_aedat3(const uint8_t* data, size_t size, const std::string& name, const EventReadOptions& options = {},
                    EventReadStats* stats = nullptr);

/// The incremental AEDAT 3.1 decoder (see make_event_decoder) that parse_aedat3 runs over the whole input, for
/// bytes that arrive in pieces (a live stream) too. Its errors say "the input ended inside ..." for an input cut in
/// a header or packet.
std::unique_ptr<EventDecoder> make_aedat3_decoder(const std::string& name, const EventReadOptions& options = {});
/// A header longer than this without `#!END-HEADER` is not an AEDAT 3.1 stream.
constexpr size_t kAedat3MaxHeaderBytes = 1 << 20;
/// Largest eventSize accepted for polarity packets (8 in every known writer).
constexpr uint32_t kAedat3MaxPolarityEventSize = 4096;

/// Reads the AEDAT 3.1 file at `path` (see parse_aedat3).
Events read_aedat3(const std::string& path, const EventReadOptions& options = {}, EventReadStats* stats = nullptr);

/// Settings of the AEDAT 3.1 writer.
struct Aedat3WriteOptions {
  /// Written as `#Source 1: <source_name>` in the header.
  std::string source_name = "DVS128";
  /// Most events per packet (a new packet also starts whenever t >> 31 changes).
  uint32_t events_per_packet = 8192;
};

/// Encodes `events` (timestamps >= 0; x, y < 32768) as an AEDAT 3.1 file, in their order.
/// Throws std::invalid_argument when an event cannot be represented.
std::vector<uint8_t> encode_aedat3(const Events& events, const Aedat3WriteOptions& options = {});

/// The header lines of a file written with `options`.
std::string aedat3_header(const Aedat3WriteOptions& options);
/// Appends `events` as polarity packets to `out`, checking as encode_aedat3 does (so a file can be written in
/// pieces). Events keep their order; a packet ends where the timestamp's bits above 31 change.
void append_aedat3_packets(const Events& events, const Aedat3WriteOptions& options, std::vector<uint8_t>& out);

/// Writes `events` to `path` as AEDAT 3.1, atomically (temporary file + rename).
void write_aedat3(const std::string& path, const Events& events, const Aedat3WriteOptions& options = {});

}  // namespace masnn::data
