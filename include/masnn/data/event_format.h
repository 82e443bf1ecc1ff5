// The event-file formats masnn reads, their names, and how a user names one (`--format`).
#pragma once

#include <string>
#include <vector>

namespace masnn::data {

/// The event-file formats masnn reads.
enum class EventFormat {
  Aedat3,     ///< AEDAT 3.x (`#!AER-DAT3`), DVS128 Gesture
  Aedat2,     ///< AEDAT 2.0 (`#!AER-DAT2`), jAER, CIFAR10-DVS
  GaitText,   ///< `t x y p` text lines, DVS128 Gait
  Aedat4,     ///< AEDAT 4.0 (`#!AER-DAT4.0`), iniVation DV
  Evt2,       ///< Prophesee EVT 2.0 RAW (32-bit words)
  Evt3,       ///< Prophesee EVT 3.0 RAW (16-bit words)
  Dat,        ///< Prophesee DAT (N-CARS, the ATIS datasets)
  NmnistBin,  ///< the 40-bit records of N-MNIST and N-Caltech101 (`.bin`, no header)
};

/// A human-readable name ("AEDAT 3.1", "Prophesee EVT 3.0", ...).
std::string format_name(EventFormat format);

/// The short names `--format` takes: aedat3, aedat2, gait-text, aedat4, evt2, evt3, dat, nmnist-bin.
std::string format_key(EventFormat format);
/// Every format, in the order of the enum.
const std::vector<EventFormat>& all_event_formats();
/// The format a short name names. Throws std::invalid_argument listing the names when none matches.
EventFormat parse_format_key(const std::string& key);

}  // namespace masnn::data
