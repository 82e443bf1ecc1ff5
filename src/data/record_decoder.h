// The shared part of the decoders of formats made of a header and fixed-size records (EVT 2.0/3.0 words, DAT
// and N-MNIST records): collecting the header across pieces, and records split between two pieces.
#pragma once

#include <algorithm>
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
  size_t expected_events(uint64_t size, const InputSampler&) const override { return size / record_size_; }

  /// A header longer than this is not one of these formats.
  static constexpr size_t kMaxHeaderBytes = size_t{1} << 20;
  /// The most records handed to decode() at once.
  static constexpr size_t kChunkRecords = 8192;
  /// parse_header's answer while the header is not complete yet.
  static constexpr size_t kNeedMore = ~size_t{0};

 protected:
  RecordDecoder(EventFormat format, std::string name, const EventReadOptions& options, size_t record_size)
      : EventDecoder(format, std::move(name), options), record_size_(record_size) {}

  /// The header's length in bytes when `head` (the first `size` bytes of the input) holds all of it, else
  /// kNeedMore; `at_end` says no more bytes will come. May set record_size_. Throws (via fail) when malformed.
  virtual size_t parse_header(const uint8_t* head, size_t size, bool at_end) = 0;
  /// Decodes `count` whole records at `data`, the first at byte `offset` of the input; `count` is at most
  /// kChunkRecords, so that a chunk's events are still in the cache when they are checked.
  virtual void decode(const uint8_t* data, size_t count, uint64_t offset, Events& out) = 0;

  size_t record_size_;

 private:
  void feed_records(const uint8_t* data, size_t size, Events& out);

  bool header_done_ = false;
  std::vector<uint8_t> head_;  ///< header bytes collected while the header spans pieces
  std::vector<uint8_t> carry_;  ///< a record split between two pieces
  size_t carry_fill_ = 0;
};

/// Appends decoded events to an Events through raw pointers (Events::push_back checks four capacities per event, and
/// its one-byte stores make the compiler reload every array pointer): room for up to `max` more events is made once,
/// the unused room is trimmed when the appender goes, and the timestamps of the appended events that went
/// backwards are counted then (into stats.backwards, while they are in the cache). Events outside
/// options.width x options.height are dropped and counted.
class EventAppender {
 public:
  EventAppender(Events& out, size_t max, const EventReadOptions& options, EventReadStats& stats)
      : out_(out),
        stats_(stats),
        first_(out.size()),
        n_(first_),
        width_(options.width > 0 ? static_cast<uint32_t>(options.width) : 0xFFFFFFFFu),
        height_(options.height > 0 ? static_cast<uint32_t>(options.height) : 0xFFFFFFFFu) {
    const size_t need = n_ + max + 1;  // + 1: push_if writes a slot before it knows whether to keep it
    if (need > out.t.capacity()) out.reserve(std::max(need, 2 * out.t.capacity()));  // geometric: pieces stay linear
    out.t.resize(need);
    out.x.resize(need);
    out.y.resize(need);
    out.p.resize(need);
    t_ = out.t.data();
    x_ = out.x.data();
    y_ = out.y.data();
    p_ = out.p.data();
  }
  ~EventAppender() {
    out_.t.resize(n_);
    out_.x.resize(n_);
    out_.y.resize(n_);
    out_.p.resize(n_);
    stats_.backwards += count_backwards(out_, first_, n_);
  }
  EventAppender(const EventAppender&) = delete;
  EventAppender& operator=(const EventAppender&) = delete;

  /// Writes an event into the next slot and keeps it when `keep` (no branch: decoders of mixed words call it for
  /// every word). The caller has checked the event against width() and height().
  void push_if(bool keep, int64_t t, uint32_t x, uint32_t y, uint8_t p) {
    t_[n_] = t;
    x_[n_] = static_cast<uint16_t>(x);
    y_[n_] = static_cast<uint16_t>(y);
    p_[n_] = p;
    n_ += keep;
  }
  /// The arrays and the count, for a decoder's hot loop to keep in registers (hand the count back with
  /// set_count before calling push or push_if again).
  struct Slots {
    int64_t* t;
    uint16_t* x;
    uint16_t* y;
    uint8_t* p;
    size_t n;
  };
  Slots slots() const { return {t_, x_, y_, p_, n_}; }
  void set_count(size_t n) { n_ = n; }
  /// set_count for a decoder that also counted the timestamps of its events that went backwards (the first
  /// against the event before it), so that they are not counted again.
  void set_count(size_t n, size_t backwards) {
    stats_.backwards += backwards;
    first_ = n_ = n;
  }
  size_t count() const { return n_; }
  /// Slots made and not yet used (the `max` of the constructor + 1, less what was appended since).
  size_t room() const { return out_.t.size() - n_; }
  /// The options' limits (0xFFFFFFFF when unset).
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }

  void push(int64_t t, uint32_t x, uint32_t y, uint8_t p) {
    if (__builtin_expect(x >= width_ || y >= height_, 0)) {
      ++stats_.out_of_range_dropped;
      return;
    }
    t_[n_] = t;
    x_[n_] = static_cast<uint16_t>(x);
    y_[n_] = static_cast<uint16_t>(y);
    p_[n_] = p;
    ++n_;
  }

 private:
  Events& out_;
  EventReadStats& stats_;
  size_t first_;  // the count when the appender came
  size_t n_;
  uint32_t width_, height_;
  int64_t* t_;
  uint16_t* x_;
  uint16_t* y_;
  uint8_t* p_;
};

}  // namespace masnn::data
