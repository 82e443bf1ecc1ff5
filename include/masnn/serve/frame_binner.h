// Events -> frames on the fly, with the binning of the offline frames (masnn/data/frames.h, time-window
// slicing): frame k covers [start + k*dt, start + (k+1)*dt), counts per (polarity, row, column) after the
// spatial down-sampling ds, then options.binary and MaxPerFrame normalisation per frame. A frame is finished
// when an event at or past its end arrives (events are time-ordered in a stream), or at the end of the stream.
// Frames go to a sink as they are finished, so memory holds one frame whatever the events; a silence longer than
// max_silent_steps frames gives that many empty frames, then the frames of silence after them are skipped (a
// paused camera, a jump in timestamps, --start-us 0 on absolute times: no empty steps by the billion).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "masnn/data/events.h"
#include "masnn/data/frames.h"

namespace masnn::serve {

/// Counters of the binner.
struct BinnerStats {
  int64_t frames = 0;           ///< frames finished
  int64_t events_binned = 0;    ///< events counted into a frame
  int64_t late_dropped = 0;     ///< events older than the frame in progress (their frame was already finished)
  int64_t early_dropped = 0;    ///< events before the start time
  int64_t outside_dropped = 0;  ///< events outside the sensor (options.width x options.height)
  int64_t gaps = 0;             ///< silences cut short (longer than max_silent_steps frames)
  int64_t skipped_steps = 0;    ///< empty frames those silences would have given beyond max_silent_steps each
};

class StreamingFrameBinner {
 public:
  /// options: the frame settings of the model (steps is ignored: a stream has no end). Only causal settings
  /// are accepted: time-window slicing and no or per-frame normalisation; event-count / time-bins slicing and
  /// max-per-sample normalisation need the whole sample and throw std::invalid_argument naming the setting.
  /// start_us: start of frame 0; negative = the timestamp of the first event. max_silent_steps (>= 1): the most
  /// empty frames one silence gives (a network's window of T steps has forgotten everything after T of them).
  explicit StreamingFrameBinner(const data::FrameOptions& options, int64_t start_us = -1,
                                int64_t max_silent_steps = kDefaultMaxSilentSteps);
  static constexpr int64_t kDefaultMaxSilentSteps = 1000;

  /// Receives each finished frame ([2,rows,cols] float32; silent windows give empty frames).
  using FrameSink = std::function<void(const torch::Tensor& frame)>;
  /// Adds events [begin, end) of `events` (in stream order) and gives every frame they finish to `sink`.
  void push(const data::Events& events, size_t begin, size_t end, const FrameSink& sink);
  /// As push with a sink, appending to `ready`.
  void push(const data::Events& events, size_t begin, size_t end, std::vector<torch::Tensor>& ready) {
    push(events, begin, end, [&ready](const torch::Tensor& f) { ready.push_back(f); });
  }
  /// Adds all of `events`.
  void push(const data::Events& events, std::vector<torch::Tensor>& ready) { push(events, 0, events.size(), ready); }
  /// End of the stream: gives the frame in progress (when any event reached it) to `sink`.
  void flush(const FrameSink& sink);
  void flush(std::vector<torch::Tensor>& ready) {
    flush([&ready](const torch::Tensor& f) { ready.push_back(f); });
  }

  /// Start of frame 0 (us); -1 before the first event when it was not given.
  int64_t start_us() const { return start_us_; }
  /// Frames given so far (the index of the next one).
  int64_t frames_given() const { return stats_.frames; }
  /// Start (us) of the frame given as number `given` (0-based), skipped silences included.
  int64_t frame_begin_us(int64_t given) const;
  const BinnerStats& stats() const { return stats_; }
  const data::FrameOptions& options() const { return options_; }

 private:
  void finish_frame(const FrameSink& sink);

  data::FrameOptions options_;
  int64_t start_us_;
  int64_t max_silent_steps_;
  int64_t index_ = 0;  ///< the frame in progress, counted in time from start_us (skipped frames included)
  std::vector<std::pair<int64_t, int64_t>> skips_;  ///< (frames given before a skip, frames skipped by then)
  bool touched_ = false;  ///< an event reached the frame in progress
  torch::Tensor frame_;   ///< the frame in progress [2,rows,cols]
  BinnerStats stats_;
};

}  // namespace masnn::serve
