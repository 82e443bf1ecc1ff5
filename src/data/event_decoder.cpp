// The decoder of each format, and the error every decoder throws.
#include "masnn/data/event_decoder.h"

#include <stdexcept>

#include "masnn/data/aedat2.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/aedat4.h"
#include "masnn/data/nmnist_bin.h"
#include "masnn/data/prophesee.h"

namespace masnn::data {

void EventDecoder::fail(uint64_t offset, const std::string& what) const {
  throw std::runtime_error(name_ + ": " + format_name(format_) + ": " + what + " at byte " + std::to_string(offset));
}

void EventDecoder::fail_outside_sensor(int64_t x, int64_t y, uint64_t offset, const char* where) const {
  fail(offset, "event at x " + std::to_string(x) + ", y " + std::to_string(y) + " outside the " +
                   std::to_string(stats_.sensor_width) + " x " + std::to_string(stats_.sensor_height) +
                   " sensor the header states" + where);
}

std::unique_ptr<EventDecoder> make_event_decoder(EventFormat format, const std::string& name,
                                                 const EventReadOptions& options) {
  if (options.threads < 0) throw std::invalid_argument(name + ": threads must be >= 0 (0 = OpenMP's thread count)");
  switch (format) {
    case EventFormat::Aedat3: return make_aedat3_decoder(name, options);
    case EventFormat::Aedat2: return make_aedat2_decoder(name, options);
    case EventFormat::Aedat4: return make_aedat4_decoder(name, options);
    case EventFormat::Evt2: return make_evt2_decoder(name, options);
    case EventFormat::Evt3: return make_evt3_decoder(name, options);
    case EventFormat::Dat: return make_dat_decoder(name, options);
    case EventFormat::NmnistBin: return make_nmnist_bin_decoder(name, options);
    default: break;
  }
  throw std::invalid_argument(name + ": " + format_name(format) +
                              " has no incremental decoder (it is read whole; a live stream needs another format)");
}

}  // namespace masnn::data
