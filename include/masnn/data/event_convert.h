// Converting an event file of any readable format to .npy, AEDAT 3.1 or AEDAT 4.0, in pieces (the input is mapped
// and decoded a few MB at a time, so a recording larger than memory converts).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "masnn/data/event_format.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/events.h"

namespace masnn::data {

struct ConvertOptions {
  std::optional<EventFormat> input_format;   ///< the input's format; unset = detected
  std::optional<EventOutputFormat> output;   ///< the output's format; unset = from the output's name
  int64_t from_us = std::numeric_limits<int64_t>::min();  ///< keep events with t >= from_us ...
  int64_t to_us = std::numeric_limits<int64_t>::max();    ///< ... and t < to_us
  bool rebase = false;  ///< subtract the first kept event's timestamp (else times stay as the input encodes them)
  EventWriterOptions writer;  ///< width/height 0 = the geometry the input states, else the largest x/y + 1
};

struct ConvertSummary {
  EventFormat input_format{};
  EventOutputFormat output_format{};
  size_t events_read = 0;     ///< polarity events the input held
  size_t events_written = 0;  ///< after the time cut
  int64_t t_first = 0, t_last = 0;  ///< of the events written, as written (0 when none)
  EventReadStats read;        ///< the reader's counters (triggers, other streams, ...)
};

/// Converts `input` to `output`. Events keep the input's order. Throws std::runtime_error naming the file for a
/// malformed input or a failed write (the output is then not created), std::invalid_argument for events the
/// output format cannot hold.
ConvertSummary convert_events(const std::string& input, const std::string& output, const ConvertOptions& options = {});

}  // namespace masnn::data
