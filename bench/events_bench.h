// Benchmark of the event pipeline: decoding every event format masnn reads (the same generated recording in each)
// and integrating events into frames, against the machine's memory bandwidth (a large memcpy) as the ceiling, the
// cost of writing the events out as the floor under any reader and, for compressed AEDAT 4, against the
// decompressor's own time (read on one thread, and with every thread decompressing packets at once).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn::bench {

struct EventsBenchConfig {
  int64_t events = 20000000;  ///< events in the generated recording
  int repeats = 3;            ///< timed runs, median reported
  std::string dir;            ///< where the generated files go (default: the system temp folder)
};

/// One format's figures: a file of it decoded from the page cache (read in chunks) to events.
struct FormatTiming {
  std::string format;     ///< e.g. "Prophesee EVT 3.0", "AEDAT 4.0 (lz4), 2 threads"
  int64_t events = 0;     ///< events in its file (N-MNIST holds the first 2^23 us only)
  double file_mb = 0;     ///< its size
  double read_s = 0;      ///< read_events of the file
  double inflate_s = 0;   ///< AEDAT 4 compressed: decompressing its packets alone, one thread (0 otherwise)
};

struct EventsBenchResult {
  int64_t events = 0;
  std::vector<FormatTiming> formats;
  double frames_s = 0;         ///< events_to_frames of all events into [T,2,32,32] (dt windows spanning them)
  /// Writing all events into fresh arrays, as a reader does (memory from the system, filled in file order):
  /// the floor under every reader's time, whatever its format.
  double output_s = 0;
  double memcpy_gb_per_s = 0;  ///< copy bandwidth of this machine (read + write bytes / s)
};

EventsBenchResult run_events_bench(const EventsBenchConfig& config);

}  // namespace masnn::bench
