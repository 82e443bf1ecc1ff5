// Events -> frames on the fly, with the binning of the offline frames (masnn/data/frames.h, time-window
// slicing): frame k covers [start + k*dt, start + (k+1)*dt), counts per (polarity, row, column) after the
// spatial down-sampling ds, then options.binary and MaxPerFrame normalisation per frame. A frame is finished
// when an event at or past its end arrives (events are time-ordered in a stream), or at the end of the stream.
#pragma once

#include <torch/types.h>

#include <cstdint>
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
};

class StreamingFrameBinner {
 public:
  /// options: the frame settings of the model (steps is ignored: a stream has no end). Only causal settings
  /// are accepted: time-window slicing and no or per-frame normalisation; event-count / time-bins slicing and
  /// max-per-sample normalisation need the whole sample and throw std::invalid_argument naming the setting.
  /// start_us: start of frame 0; negative = the timestamp of the first event.
  explicit StreamingFrameBinner(const data::FrameOptions& options, int64_t start_us = -1);

  /// Adds events [begin, end) of `events` (in stream order) and appends every frame they finish to `ready`
  /// (each [2,rows,cols] float32; silent windows give empty frames).
  void push(const data::Events& events, size_t begin, size_t end, std::vector<torch::Tensor>& ready);
  /// Adds all of `events`.
  void push(const data::Events& events, std::vector<torch::Tensor>& ready) { push(events, 0, events.size(), ready); }
  /// End of the stream: appends the frame in progress (when any event reached it) to `ready`.
  void flush(std::vector<torch::Tensor>& ready);

  /// Start of frame 0 (us); -1 before the first event when it was not given.
  int64_t start_us() const { return start_us_; }
  /// Index of the frame in progress (= frames finished so far).
  int64_t frame_index() const { return index_; }
  /// Time span [begin, end) of frame k (us).
  int64_t frame_begin_us(int64_t k) const { return start_us_ + k * options_.dt_us(); }
  const BinnerStats& stats() const { return stats_; }
  const data::FrameOptions& options() const { return options_; }

 private:
  void finish_frame(std::vector<torch::Tensor>& ready);

  data::FrameOptions options_;
  int64_t start_us_;
  int64_t index_ = 0;
  bool touched_ = false;  ///< an event reached the frame in progress
  torch::Tensor frame_;   ///< the frame in progress [2,rows,cols]
  BinnerStats stats_;
};

}  // namespace masnn::serve
