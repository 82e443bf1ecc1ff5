// Event-file writers: the format dispatch and the AEDAT 3.1 writer in pieces.
#include "masnn/data/event_writer.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "masnn/data/aedat3.h"
#include "masnn/data/aedat4.h"
#include "masnn/data/nmnist_bin.h"
#include "masnn/util/file_io.h"
#include "npy_event_writer.h"

namespace masnn::data {
namespace {

class Aedat3EventWriter final : public EventFileWriter {
 public:
  Aedat3EventWriter(const std::string& path, const EventWriterOptions& options) : out_(path) {
    settings_.source_name = options.source;
    const std::string header = aedat3_header(settings_);
    out_.write(header.data(), header.size());
  }
  void write(const Events& events) override {
    buffer_.clear();
    append_aedat3_packets(events, settings_, buffer_);
    out_.write(buffer_.data(), buffer_.size());
  }
  void commit() override { out_.commit(); }

 private:
  AtomicFileWriter out_;
  Aedat3WriteOptions settings_;
  std::vector<uint8_t> buffer_;
};

// N-MNIST binary: stateless, each piece encoded and appended as it comes.
class NmnistBinWriter final : public EventFileWriter {
 public:
  explicit NmnistBinWriter(const std::string& path) : out_(path) {}
  void write(const Events& events) override {
    const std::vector<uint8_t> bytes = encode_nmnist_bin(events);
    out_.write(bytes.data(), bytes.size());
  }
  void commit() override { out_.commit(); }

 private:
  AtomicFileWriter out_;
};

}  // namespace

std::unique_ptr<EventFileWriter> make_event_writer(EventOutputFormat format, const std::string& path,
                                                   const EventWriterOptions& options) {
  switch (format) {
    case EventOutputFormat::Npy: return make_npy_event_writer(path);
    case EventOutputFormat::Aedat3: return std::make_unique<Aedat3EventWriter>(path, options);
    case EventOutputFormat::Aedat4: return make_aedat4_event_writer(path, options);
    case EventOutputFormat::NmnistBin: return std::make_unique<NmnistBinWriter>(path);
  }
  throw std::invalid_argument(path + ": unknown output format");
}

uint64_t write_event_file(const std::string& path, const Events& events, EventOutputFormat format,
                          const EventWriterOptions& options) {
  auto writer = make_event_writer(format, path, options);
  try {
    writer->write(events);
  } catch (const std::invalid_argument& e) {  // an event the format cannot hold: say which file
    throw std::invalid_argument(path + ": " + e.what());
  }
  writer->commit();
  return std::filesystem::file_size(path);
}

EventOutputFormat output_format_for(const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy") return EventOutputFormat::Npy;
  if (ext == ".aedat4") return EventOutputFormat::Aedat4;
  if (ext == ".aedat") return EventOutputFormat::Aedat3;
  if (ext == ".bin") return EventOutputFormat::NmnistBin;
  throw std::invalid_argument(path + ": cannot tell the output format from the name (expected .npy, .aedat4, "
                              ".aedat for AEDAT 3.1 or .bin for N-MNIST; or say which with --to)");
}

EventOutputFormat parse_output_format(const std::string& name) {
  if (name == "npy") return EventOutputFormat::Npy;
  if (name == "aedat3") return EventOutputFormat::Aedat3;
  if (name == "aedat4") return EventOutputFormat::Aedat4;
  if (name == "nmnist-bin") return EventOutputFormat::NmnistBin;
  throw std::invalid_argument("unknown output format '" + name + "' (expected npy, aedat3, aedat4 or nmnist-bin)");
}

std::string output_extension(EventOutputFormat format) {
  switch (format) {
    case EventOutputFormat::Npy: return ".npy";
    case EventOutputFormat::Aedat3: return ".aedat";
    case EventOutputFormat::Aedat4: return ".aedat4";
    case EventOutputFormat::NmnistBin: return ".bin";
  }
  return "";
}

}  // namespace masnn::data
