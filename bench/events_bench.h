// Benchmark of the event pipeline: parsing AEDAT 3.1 and integrating events into frames, against the machine's
// memory bandwidth (a large memcpy) as the ceiling.
#pragma once

#include <cstdint>
#include <string>

namespace masnn::bench {

struct EventsBenchConfig {
  int64_t events = 20000000;  ///< events in the generated recording
  int repeats = 3;            ///< timed runs, median reported
  std::string dir;            ///< where the generated file goes (default: the system temp folder)
};

struct EventsBenchResult {
  int64_t events = 0;
  double file_mb = 0;
  double read_file_s = 0;      ///< read_aedat3: file to events (I/O from the page cache + parse)
  double parse_s = 0;          ///< parse_aedat3 of bytes already in memory
  double frames_s = 0;         ///< events_to_frames of all events into [T,2,32,32] (dt windows spanning them)
  double memcpy_gb_per_s = 0;  ///< copy bandwidth of this machine (read + write bytes / s)
};

EventsBenchResult run_events_bench(const EventsBenchConfig& config);

}  // namespace masnn::bench
