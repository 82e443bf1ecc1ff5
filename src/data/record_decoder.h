// The shared part of the decoders of formats made of a header and fixed-size records (EVT 2.0/3.0 words, DAT
// and N-MNIST records): collecting the header across pieces, and records split between two pieces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/data/event_decoder.h"

namespace masnn::data {

class RecordDecoder : public EventDecoder {
 public:
  void feed(const uint8_t* data, size_t size, Events& out) final;
  void finish(Events& out) final;
  bool header_done() const final { return header_done_; }
  size_t expected_events(size_t bytes) const override { return bytes / record_size_; }

  /// A header longer than this is not one of these formats.
  static constexpr size_t kMaxHeaderBytes = size_t{1} << 20;
  /// parse_header's answer while the header is not complete yet.
  static constexpr size_t kNeedMore = ~size_t{0};

 protected:
  RecordDecoder(EventFormat format, std::string name, const EventReadOptions& options, size_t record_size)
      : EventDecoder(format, std::move(name), options), record_size_(record_size) {}

  /// The header's length in bytes when `head` (the first `size` bytes of the input) holds all of it, else
  /// kNeedMore; `at_end` says no more bytes will come. May set record_size_. Throws (via fail) when malformed.
  virtual size_t parse_header(const uint8_t* head, size_t size, bool at_end) = 0;
  /// Decodes `count` whole records at `data`, the first at byte `offset` of the input.
  virtual void decode(const uint8_t* data, size_t count, uint64_t offset, Events& out) = 0;

  size_t record_size_;

 private:
  void feed_records(const uint8_t* data, size_t size, Events& out);

  bool header_done_ = false;
  std::vector<uint8_t> head_;  ///< header bytes collected while the header spans pieces
  std::vector<uint8_t> carry_;  ///< a record split between two pieces
  size_t carry_fill_ = 0;
};

/// Appends an event, or drops and counts it when it lies outside options.width x options.height.
inline void push_checked(Events& out, const EventReadOptions& options, EventReadStats& stats, int64_t t, uint32_t x,
                         uint32_t y, uint8_t p) {
  if ((options.width > 0 && x >= static_cast<uint32_t>(options.width)) ||
      (options.height > 0 && y >= static_cast<uint32_t>(options.height))) {
    ++stats.out_of_range_dropped;
    return;
  }
  out.push_back(t, static_cast<uint16_t>(x), static_cast<uint16_t>(y), p);
}

}  // namespace masnn::data
