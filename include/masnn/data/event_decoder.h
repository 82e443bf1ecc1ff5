// Incremental event decoding: bytes of an event file arrive in pieces of any size (a file read in chunks, a buffer
// in one piece, a pipe, a file still being written) and complete events come out as soon as their bytes are in.
// Every format's reader is a decoder; `read_events` (event_file.h) feeds a file through one, chunk by chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "masnn/data/event_format.h"
#include "masnn/data/events.h"

namespace masnn::data {

class EventDecoder {
 public:
  virtual ~EventDecoder() = default;
  EventDecoder(const EventDecoder&) = delete;
  EventDecoder& operator=(const EventDecoder&) = delete;

  /// Decodes the next `size` bytes and appends the complete polarity events among them to `out`, in file order
  /// (not sorted; EventReadOptions::sort_by_time is for whole files). Throws std::runtime_error naming the source,
  /// the format and the byte offset for malformed input.
  virtual void feed(const uint8_t* data, size_t size, Events& out) = 0;
  /// The input ended. Throws std::runtime_error when it ended inside a header, record or packet.
  virtual void finish(Events& out) = 0;
  /// True once the header (if the format has one) is read: stats().sensor_width/height are known from then on.
  virtual bool header_done() const = 0;

  /// Reads up to `n` bytes at `offset` of an input into `dst` and returns how many (fewer at its end).
  using InputSampler = std::function<size_t(uint64_t offset, uint8_t* dst, size_t n)>;
  /// How many events a whole input of `size` bytes (header included) is likely to hold, for reserving memory once
  /// (0 = no estimate): a cheap guess from the size, or from a few samples read through `sample`; the arrays grow
  /// when it is short.
  virtual size_t expected_events(uint64_t size, const InputSampler& sample) const { return 0; }

  /// The format decoded.
  EventFormat format() const { return format_; }
  /// Bytes fed so far.
  uint64_t offset() const { return offset_; }
  /// What was decoded, skipped and stated so far (stats().events counts the events returned).
  const EventReadStats& stats() const { return stats_; }

 protected:
  EventDecoder(EventFormat format, std::string name, const EventReadOptions& options)
      : format_(format), name_(std::move(name)), options_(options) {}
  /// Throws "<name>: <format>: <what> at byte <offset>".
  [[noreturn]] void fail(uint64_t offset, const std::string& what) const;
  /// Throws "<name>: <format>: event at x X, y Y outside the W x H sensor the header states<where> at byte <offset>"
  /// (out of the decoders' hot loops: never inlined).
  [[noreturn, gnu::cold, gnu::noinline]] void fail_outside_sensor(int64_t x, int64_t y, uint64_t offset,
                                                                  const char* where = "") const;

  EventFormat format_;
  std::string name_;
  EventReadOptions options_;
  EventReadStats stats_;
  uint64_t offset_ = 0;
};

/// A decoder of `format`; `name` names the source in errors (a path, or "standard input"). Events outside
/// options.width x options.height are dropped and counted; events outside the geometry the file states are an
/// error. Throws std::invalid_argument for a format without an incremental decoder.
std::unique_ptr<EventDecoder> make_event_decoder(EventFormat format, const std::string& name,
                                                 const EventReadOptions& options = {});

}  // namespace masnn::data
