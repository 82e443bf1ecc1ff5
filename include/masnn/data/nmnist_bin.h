// The binary event format of N-MNIST and N-Caltech101 (Orchard et al. 2015; REFERENCE.md 4.4): no header, 5 bytes
// per event, read as a 40-bit big-endian word: bits 39-32 x, bits 31-24 y, bit 23 polarity (1 = ON), bits 22-0
// timestamp (us). A record with y = 240 is read as a timestamp-overflow marker, not an event: every later timestamp
// gains 2^13 us (the convention of the authors' Python reader and of Tonic; no file of the datasets holds one). Files are named `*.bin`; the format is chosen by
// that extension or `--format nmnist-bin`, since nothing in the bytes identifies it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "masnn/data/event_decoder.h"

namespace masnn::data {

/// y value of the timestamp-overflow marker.
constexpr uint32_t kNmnistOverflowY = 240;
/// Microseconds each overflow marker adds to the timestamps after it.
constexpr int64_t kNmnistOverflowUs = int64_t{1} << 13;

/// A decoder of N-MNIST binary bytes (see make_event_decoder).
std::unique_ptr<EventDecoder> make_nmnist_bin_decoder(const std::string& name, const EventReadOptions& options = {});

/// Encodes events (0 <= t < 2^23 us, x < 256, y < 240) in the N-MNIST format, without overflow markers (which
/// the authors' Matlab reader would misread). Throws std::invalid_argument naming the event otherwise.
std::vector<uint8_t> encode_nmnist_bin(const Events& events);

}  // namespace masnn::data
