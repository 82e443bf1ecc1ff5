// The DVS128 Gait text format (REFERENCE.md 4.2): one event per line, `t x y p` (integers separated by
// spaces, tabs or commas; p is 0/1, or -1/1 with -1 read as OFF). Blank lines and lines starting with '#'
// are skipped.
#pragma once

#include <cstdint>
#include <string>

#include "masnn/data/events.h"

namespace masnn::data {

/// Decodes Gait text held in memory; `name` names it in errors. A malformed line throws std::runtime_error
/// naming `name` and the line number.
Events parse_gait_text(const char* data, size_t size, const std::string& name, const EventReadOptions& options = {},
                       EventReadStats* stats = nullptr);

/// Reads the Gait text file at `path` (see parse_gait_text).
Events read_gait_text(const std::string& path, const EventReadOptions& options = {}, EventReadStats* stats = nullptr);

}  // namespace masnn::data
