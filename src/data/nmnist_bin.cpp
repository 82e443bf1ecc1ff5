// N-MNIST / N-Caltech101 binary decoder and encoder.
#include "masnn/data/nmnist_bin.h"

#include <stdexcept>

#include "record_decoder.h"

namespace masnn::data {
namespace {

class NmnistBinDecoder final : public RecordDecoder {
 public:
  NmnistBinDecoder(const std::string& name, const EventReadOptions& options)
      : RecordDecoder(EventFormat::NmnistBin, name, options, 5) {}

 protected:
  size_t parse_header(const uint8_t*, size_t, bool) override { return 0; }  // no header

  void decode(const uint8_t* data, size_t count, uint64_t, Events& out) override {
    EventAppender append(out, count, options_, stats_);
    for (size_t i = 0; i < count; ++i, data += 5) {
      const uint32_t y = data[1];
      if (y == kNmnistOverflowY) {
        base_ += kNmnistOverflowUs;
        ++stats_.timestamp_wraps;
        continue;
      }
      const int64_t t = base_ + ((static_cast<int64_t>(data[2] & 0x7F) << 16) | (data[3] << 8) | data[4]);
      append.push(t, data[0], y, static_cast<uint8_t>(data[2] >> 7));
    }
  }

 private:
  int64_t base_ = 0;  ///< overflow markers seen x 2^13 us
};

}  // namespace

std::unique_ptr<EventDecoder> make_nmnist_bin_decoder(const std::string& name, const EventReadOptions& options) {
  return std::make_unique<NmnistBinDecoder>(name, options);
}

std::vector<uint8_t> encode_nmnist_bin(const Events& events) {
  std::vector<uint8_t> out;
  out.reserve(events.size() * 5);
  for (size_t i = 0; i < events.size(); ++i) {
    const int64_t t = events.t[i];
    if (t < 0 || t >= (int64_t{1} << 23) || events.x[i] > 255 || events.y[i] >= kNmnistOverflowY)
      throw std::invalid_argument("encode_nmnist_bin: event " + std::to_string(i) +
                                  " cannot be written (0 <= t < 2^23 us, x < 256, y < 240 expected)");
    const auto ts = static_cast<uint32_t>(t);
    out.push_back(static_cast<uint8_t>(events.x[i]));
    out.push_back(static_cast<uint8_t>(events.y[i]));
    out.push_back(static_cast<uint8_t>((static_cast<uint32_t>(events.p[i] != 0) << 7) | (ts >> 16)));
    out.push_back(static_cast<uint8_t>(ts >> 8));
    out.push_back(static_cast<uint8_t>(ts));
  }
  return out;
}

}  // namespace masnn::data
