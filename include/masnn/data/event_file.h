// Event files of any supported format: detection from the first bytes, and one reading entry point.
#pragma once

#include <cstdint>
#include <string>

#include "masnn/data/events.h"

namespace masnn::data {

/// The event-file formats masnn reads.
enum class EventFormat {
  Aedat3,    ///< AEDAT 3.x (`#!AER-DAT3`), DVS128 Gesture
  Aedat2,    ///< AEDAT 2.0 (`#!AER-DAT2`), jAER, CIFAR10-DVS
  GaitText,  ///< `t x y p` text lines, DVS128 Gait
};

/// A human-readable name ("AEDAT 3.1", "AEDAT 2.0", "Gait text").
std::string format_name(EventFormat format);

/// Detects the format of the file at `path` from its first bytes: the AEDAT version line, or a first
/// non-comment line of four integers. Throws std::runtime_error naming the file when none matches.
EventFormat detect_format(const std::string& path);

/// Reads the file at `path` in its detected format.
Events read_events(const std::string& path, const EventReadOptions& options = {}, EventReadStats* stats = nullptr);

/// Reads the file at `path` in the given format.
Events read_events(const std::string& path, EventFormat format, const EventReadOptions& options = {},
                   EventReadStats* stats = nullptr);

}  // namespace masnn::data
