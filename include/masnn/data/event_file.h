// Event files of any supported format: detection from the first bytes (or the name, for the headerless N-MNIST
// files), and one reading entry point.
#pragma once

#include <cstdint>
#include <string>

#include "masnn/data/event_decoder.h"
#include "masnn/data/event_format.h"
#include "masnn/data/events.h"
#include "masnn/util/chunked_file.h"

namespace masnn::data {

/// Detects the format of the file at `path`: from its first bytes (the AEDAT version line, the `%` header of a
/// Prophesee RAW or DAT file, a first non-comment line of four integers), else from a `.bin` name (N-MNIST).
/// Throws std::runtime_error naming the file when none matches.
EventFormat detect_format(const std::string& path);

/// How many first bytes detection looks at (enough for any header's format lines).
constexpr size_t kEventSniffBytes = 65536;

/// Detects the format from the first `size` bytes of an input (as detect_format(path)); `name` is the input's path
/// (a `.bin` name means N-MNIST) or another name ("standard input"). Throws std::runtime_error naming `name` when
/// none matches.
EventFormat detect_format(const uint8_t* head, size_t size, const std::string& name);
/// Detects the format of an opened file from its first bytes (as detect_format(path)).
EventFormat detect_format(const ChunkedFile& file);

/// Reads the file at `path` in its detected format.
Events read_events(const std::string& path, const EventReadOptions& options = {}, EventReadStats* stats = nullptr);

/// Reads the file at `path` in the given format (read chunk by chunk, never whole into memory).
Events read_events(const std::string& path, EventFormat format, const EventReadOptions& options = {},
                   EventReadStats* stats = nullptr);
/// Reads the rest of an opened file in the given format, one chunk at a time.
Events read_events(ChunkedFile& file, EventFormat format, const EventReadOptions& options = {},
                   EventReadStats* stats = nullptr);

/// Decodes `size` bytes held in memory in the given format; `name` names them in errors.
Events parse_events(const uint8_t* data, size_t size, EventFormat format, const std::string& name,
                    const EventReadOptions& options = {}, EventReadStats* stats = nullptr);

}  // namespace masnn::data
