// Names of the event-file formats.
#include "masnn/data/event_format.h"

#include <stdexcept>

namespace masnn::data {

std::string format_name(EventFormat format) {
  switch (format) {
    case EventFormat::Aedat3: return "AEDAT 3.1";
    case EventFormat::Aedat2: return "AEDAT 2.0";
    case EventFormat::GaitText: return "Gait text (t x y p)";
    case EventFormat::Aedat4: return "AEDAT 4.0";
    case EventFormat::Evt2: return "Prophesee EVT 2.0";
    case EventFormat::Evt3: return "Prophesee EVT 3.0";
    case EventFormat::Dat: return "Prophesee DAT";
    case EventFormat::NmnistBin: return "N-MNIST binary";
  }
  return "unknown";
}

std::string format_key(EventFormat format) {
  switch (format) {
    case EventFormat::Aedat3: return "aedat3";
    case EventFormat::Aedat2: return "aedat2";
    case EventFormat::GaitText: return "gait-text";
    case EventFormat::Aedat4: return "aedat4";
    case EventFormat::Evt2: return "evt2";
    case EventFormat::Evt3: return "evt3";
    case EventFormat::Dat: return "dat";
    case EventFormat::NmnistBin: return "nmnist-bin";
  }
  return "unknown";
}

const std::vector<EventFormat>& all_event_formats() {
  static const std::vector<EventFormat> formats = {EventFormat::Aedat3, EventFormat::Aedat2, EventFormat::GaitText,
                                                   EventFormat::Aedat4, EventFormat::Evt2,   EventFormat::Evt3,
                                                   EventFormat::Dat,    EventFormat::NmnistBin};
  return formats;
}

EventFormat parse_format_key(const std::string& key) {
  std::string names;
  for (EventFormat f : all_event_formats()) {
    if (format_key(f) == key) return f;
    names += (names.empty() ? "" : ", ") + format_key(f);
  }
  throw std::invalid_argument("unknown event format '" + key + "' (expected one of " + names + ")");
}

}  // namespace masnn::data
