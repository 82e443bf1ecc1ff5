// The streaming pipeline: bytes (a file, replayed at real time or as fast as possible, or standard input) ->
// incremental decoder of its event format (AEDAT 2.0/3.1/4.0, EVT 2.0/3.0, DAT, N-MNIST) -> frames of dt on the fly -> one network step per frame -> a prediction every
// hop steps, with the latency of every step.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "masnn/data/event_filters.h"
#include "masnn/data/event_format.h"
#include "masnn/data/events.h"
#include "masnn/serve/frame_binner.h"
#include "masnn/serve/step_times.h"
#include "masnn/serve/stream_classifier.h"

namespace masnn::serve {

struct StreamRunOptions {
  /// A file path, or "-" for standard input.
  std::string input = "-";
  /// Replay at the pace of the timestamps: step k runs no earlier than k+1 frame lengths after the start.
  bool realtime = false;
  /// Give up on an input that sends nothing for this long (seconds; 0 = wait as long as it is open). A closed
  /// input always ends the stream.
  double idle_timeout_s = 0;
  /// Stop after this many steps (0 = at the end of the input).
  int64_t max_steps = 0;
  /// Bytes per read.
  size_t chunk_bytes = 1 << 16;
  /// The input's format ("evt3", ... as `--format` takes it); empty = detected from its first bytes (a `.bin` file
  /// name: N-MNIST).
  std::string format;
  /// A file still being written: at its end, wait for more (polling every 20 ms) until idle_timeout_s passes
  /// without new bytes (0 = wait until interrupted), instead of ending the stream.
  bool follow = false;
  /// Event filters applied as the events arrive (the checkpoint's data.denoise_us and data.refractory_us; the
  /// hot-pixel filter needs a whole recording and is not applied to a stream).
  data::EventFilterOptions filters;
};

/// Where one prediction sits in the stream and what it cost.
struct WindowReport {
  Prediction prediction;
  int64_t t_begin_us = 0;          ///< start of the window's first frame
  int64_t t_end_us = 0;            ///< end of its last frame
  double step_ms = 0;              ///< compute time of the step that ended the window (incl. the batch forward)
  double window_mean_step_ms = 0;  ///< mean compute time of the window's steps
  double lag_ms = 0;               ///< realtime: how late the window's last step finished after its frame ended
};

struct StreamSummary {
  int64_t steps = 0;
  int64_t windows = 0;
  uint64_t bytes = 0;
  data::EventReadStats parser;
  data::EventFormat format{};  ///< the input's format
  data::EventFilterStats filtered;  ///< what the filters removed
  BinnerStats binner;
  StepTimes step_times;         ///< compute times of the steps (bounded memory, whatever the stream's length)
  double dt_ms = 0;             ///< real time one step covers
  double wall_s = 0;            ///< the whole run
  bool idle_timeout = false;    ///< the input went silent for idle_timeout_s
  /// Median (within 1%), mean, 99th percentile (within 1%) and maximum step time in ms (0 when no step ran).
  double median_ms() const;
  double mean_ms() const;
  double p99_ms() const;
  double max_ms() const;
};

/// Runs the pipeline until the input ends (or max_steps). `on_window` is called for every prediction as it is
/// made. A malformed or truncated input throws std::runtime_error naming the input and the byte offset, after
/// the predictions of everything before it were delivered.
StreamSummary run_stream(StreamClassifier& classifier, StreamingFrameBinner& binner, const StreamRunOptions& options,
                         const data::EventReadOptions& read_options,
                         const std::function<void(const WindowReport&)>& on_window);

}  // namespace masnn::serve
