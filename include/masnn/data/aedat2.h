// AEDAT 2.0 (jAER; the CIFAR10-DVS recordings; REFERENCE.md 4.3): reader.
//
// File: text header lines starting with '#' (the first normally `#!AER-DAT2.0`), then big-endian records of
// u32 address and u32 timestamp (microseconds). DVS128 address: polarity = bit 0,
// x = 127 - ((addr >> 1) & 0x7F), y = (addr >> 8) & 0x7F. 32-bit timestamp wrap-arounds are unwrapped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "masnn/data/event_decoder.h"
#include "masnn/data/events.h"

namespace masnn::data {

/// Decodes an AEDAT 2.0 DVS128 file held in memory; `name` names it in errors. A record cut short by the
/// end of the data throws std::runtime_error naming `name` and the byte offset.
Events parse_aedat2(const uint8_t* data, size_t size, const std::string& name, const EventReadOptions& options = {},
                    EventReadStats* stats = nullptr);

/// An incremental AEDAT 2.0 decoder (see make_event_decoder).
std::unique_ptr<EventDecoder> make_aedat2_decoder(const std::string& name, const EventReadOptions& options = {});
/// Reads the AEDAT 2.0 file at `path` (see parse_aedat2).
Events read_aedat2(const std::string& path, const EventReadOptions& options = {}, EventReadStats* stats = nullptr);

/// Encodes events as an AEDAT 2.0 DVS128 file (the inverse of the address decoding above; x, y < 128,
/// timestamps taken modulo 2^32). For tests and for converting data to the jAER format.
std::vector<uint8_t> encode_aedat2(const Events& events);

}  // namespace masnn::data
