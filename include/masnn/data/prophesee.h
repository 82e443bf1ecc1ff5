// Prophesee event files (REFERENCE.md 4.5): RAW recordings in EVT 2.0 and EVT 3.0, and DAT files (N-CARS and the
// other ATIS datasets). All start with a text header of lines `% key value`; RAW headers name their encoding
// (`% evt 3.0`, `% format EVT3;height=720;width=1280`) and geometry, DAT headers their version and geometry.
// Timestamps are microseconds from the start of the camera's clock; p = 1 is ON (brighter).
//
// EVT 2.0: little-endian 32-bit words, type in bits 31-28. CD_OFF (0x0) and CD_ON (0x1): timestamp low 6 bits in
// 27-22, x in 21-11, y in 10-0. EVT_TIME_HIGH (0x8): timestamp bits 33-6 in 27-0. EXT_TRIGGER (0xA): timestamp low
// 6 bits in 27-22, trigger id in 12-8, value in bit 0. OTHERS (0xE), CONTINUED (0xF): skipped.
// EVT 3.0: little-endian 16-bit words, type in bits 15-12, decoded with state. EVT_ADDR_Y (0x0): y in 10-0.
// EVT_ADDR_X (0x2): one event at x = bits 10-0, polarity bit 11. VECT_BASE_X (0x3): base x in 10-0, polarity of
// the vectors in bit 11. VECT_12 (0x4) / VECT_8 (0x5): a mask of 12 / 8 bits, one event at base x + i for each set
// bit i, then base x advances by 12 / 8. EVT_TIME_LOW (0x6) / EVT_TIME_HIGH (0x8): bits 11-0 / 23-12 of a 24-bit
// timestamp that wraps every 2^24 us (about 16.8 s). EXT_TRIGGER (0xA): id in 11-8, value in bit 0. CONTINUED_4
// (0x7), OTHERS (0xE), CONTINUED_12 (0xF): skipped. Events before the first EVT_TIME_HIGH are dropped (their time
// is unknown), as Prophesee's decoders do.
// DAT: after the header, one byte of event type and one of event size (8), then records of a u32 timestamp and a
// u32 address, little-endian: x in bits 13-0, y in 27-14, polarity in 28 (version 2; 0/1 older files: x in 8-0,
// y in 16-9, polarity in 17).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "masnn/data/event_decoder.h"

namespace masnn::data {

/// The format a `%` header names: Evt2 or Evt3 for RAW, Dat for DAT; nullopt when `head` (the first bytes of a
/// file) does not start with a `%` header. Throws std::runtime_error naming `name` for an encoding masnn does not
/// read (EVT 2.1, EVT 4.0) or a header that names none.
std::optional<EventFormat> sniff_prophesee(const uint8_t* head, size_t size, const std::string& name);

/// Decoders of the three formats (see make_event_decoder).
std::unique_ptr<EventDecoder> make_evt2_decoder(const std::string& name, const EventReadOptions& options = {});
std::unique_ptr<EventDecoder> make_evt3_decoder(const std::string& name, const EventReadOptions& options = {});
std::unique_ptr<EventDecoder> make_dat_decoder(const std::string& name, const EventReadOptions& options = {});

/// Sensor geometry written into the headers below.
struct PropheseeGeometry {
  int width = 1280;
  int height = 720;
};

/// Encodes events (timestamps >= 0, non-decreasing; x < width, y < height) as an EVT 2.0 / EVT 3.0 RAW file with
/// a header stating the encoding and geometry. EVT 3.0 groups events of one timestamp, row and polarity into
/// VECT_12 words. Throws std::invalid_argument naming the event that cannot be written.
std::vector<uint8_t> encode_evt2(const Events& events, const PropheseeGeometry& geometry = {});
std::vector<uint8_t> encode_evt3(const Events& events, const PropheseeGeometry& geometry = {});
/// Encodes events (timestamps in [0, 2^32) us) as a version-2 DAT file.
std::vector<uint8_t> encode_dat(const Events& events, const PropheseeGeometry& geometry = {});

}  // namespace masnn::data
