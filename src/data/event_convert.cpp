// Event-file conversion, decoded and written in pieces.
#include "masnn/data/event_convert.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>
#include <vector>

#include "masnn/data/event_decoder.h"
#include "masnn/data/event_file.h"
#include "masnn/util/chunked_file.h"

namespace masnn::data {
namespace {

// Keeps the events of [from_us, to_us), rebased if asked, and writes them.
class CutWriter {
 public:
  CutWriter(EventFileWriter& writer, const ConvertOptions& options, ConvertSummary& summary)
      : writer_(writer), options_(options), summary_(summary) {}

  void write(Events& events) {
    summary_.events_read += events.size();
    std::vector<uint8_t> keep(events.size());
    for (size_t i = 0; i < events.size(); ++i) keep[i] = events.t[i] >= options_.from_us && events.t[i] < options_.to_us;
    events.keep_where(keep);
    if (options_.rebase && !based_ && !events.empty()) base_ = events.t.front(), based_ = true;
    if (options_.rebase)
      for (int64_t& t : events.t) t -= base_;
    if (!events.empty()) {
      if (summary_.events_written == 0) summary_.t_first = events.t.front();
      summary_.t_last = events.t.back();
    }
    writer_.write(events);
    summary_.events_written += events.size();
    events.clear();
  }

 private:
  EventFileWriter& writer_;
  const ConvertOptions& options_;
  ConvertSummary& summary_;
  bool based_ = false;
  int64_t base_ = 0;
};

}  // namespace

ConvertSummary convert_events(const std::string& input, const std::string& output, const ConvertOptions& options) {
  if (options.from_us >= options.to_us)
    throw std::invalid_argument("convert: --from-us " + std::to_string(options.from_us) + " must be below --to-us " +
                                std::to_string(options.to_us));
  ConvertSummary summary;
  summary.output_format = options.output ? *options.output : output_format_for(output);
  ChunkedFile file(input);  // read in pieces: the input may be larger than memory
  summary.input_format = options.input_format ? *options.input_format : detect_format(file);
  EventReadOptions read;
  read.sort_by_time = false;  // the file's order
  read.threads = 0;           // one file: compressed packets decompressed on every thread

  std::unique_ptr<EventDecoder> decoder;
  try {
    decoder = make_event_decoder(summary.input_format, input, read);
  } catch (const std::invalid_argument&) {
    // Formats read whole (Gait text): decoded at once, then written.
  }
  EventWriterOptions writer_options = options.writer;
  Events events;
  if (!decoder) {
    events = read_events(file, summary.input_format, read, &summary.read);
  } else {
    // Decode up to the end of the header first, so that the writer states the input's geometry.
    auto [data, size] = file.next();
    for (; size > 0 && !decoder->header_done(); std::tie(data, size) = file.next()) decoder->feed(data, size, events);
    if (!decoder->header_done()) decoder->finish(events);
    const EventReadStats& stated = decoder->stats();
    if (writer_options.width == 0) writer_options.width = stated.sensor_width;
    if (writer_options.height == 0) writer_options.height = stated.sensor_height;
    if (writer_options.source == "masnn" && !stated.source.empty()) writer_options.source = stated.source;
    auto writer = make_event_writer(summary.output_format, output, writer_options);
    CutWriter cut(*writer, options, summary);
    cut.write(events);
    for (; size > 0; std::tie(data, size) = file.next()) {
      decoder->feed(data, size, events);
      cut.write(events);
    }
    decoder->finish(events);
    cut.write(events);
    summary.read = decoder->stats();
    writer->commit();
    return summary;
  }
  auto writer = make_event_writer(summary.output_format, output, writer_options);
  CutWriter cut(*writer, options, summary);
  cut.write(events);
  writer->commit();
  return summary;
}

}  // namespace masnn::data
