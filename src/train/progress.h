// Terminal progress for one epoch (or any counted loop):
//   epoch 3/20 [=========>          ] 45/100 loss 0.0312 acc 81.2% 412.3 samples/s ETA 0:13
// On a terminal the line is redrawn in place ('\r', at most every 0.1 s); otherwise (a log file, a pipe) a plain
// line is printed each time another tenth of the steps is done, so logs stay readable.
#pragma once

#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace masnn::train {

/// Seconds on a monotonic clock (any origin); ProgressBar measures elapsed time as differences of its values.
using ProgressClock = std::function<double()>;

/// `seconds` as `m:ss` below an hour, `h:mm:ss` from an hour on (rounded to whole seconds; negative as 0:00,
/// NaN or infinite as `--:--`).
std::string format_duration(double seconds);

/// Metrics shown after the step count, in order. A value is printed with 4 significant digits; a name ending in
/// '%' marks a fraction shown as a percentage with the '%' moved to the value: {"acc%", 0.812} -> `acc 81.2%`.
using ProgressMetrics = std::vector<std::pair<std::string, double>>;

/// Progress display of `total_steps` steps. Not thread-safe; call from one thread.
class ProgressBar {
 public:
  /// `title` starts every line (e.g. "epoch 3/20"); `total_steps` <= 0 means unknown (no bar, no ETA, and
  /// without a terminal a line every 10 s). `quiet` prints nothing at all. Output goes to `out`, which counts as a
  /// terminal when it is std::cerr/std::clog (stderr) or std::cout (stdout) and that descriptor is a tty.
  /// `clock` (default: std::chrono::steady_clock) is read now for the start time and at every update.
  ProgressBar(std::string title, int64_t total_steps, bool quiet, std::ostream& out = std::cerr,
              ProgressClock clock = {});
  /// Ends an in-place line left open (no finish) with a newline.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Overrides the terminal detection: true redraws in place, false prints plain lines.
  void set_interactive(bool interactive) { interactive_ = interactive; }
  /// Whether lines are redrawn in place.
  bool interactive() const { return interactive_; }

  /// Reports `step` steps done (1..total_steps) and `samples_done` samples processed since the start, with the
  /// running `metrics`. samples/s = samples_done / elapsed; ETA = elapsed * (total_steps - step) / step.
  void update(int64_t step, int64_t samples_done, const ProgressMetrics& metrics);
  /// Prints the final line (last step and samples seen, `metrics`, samples/s and the elapsed time) and a
  /// newline. Later calls do nothing.
  void finish(const ProgressMetrics& metrics);

  /// The text of the line for the given state (what update prints, without '\r' or newline); for tests and
  /// for callers that log elsewhere.
  std::string format_line(int64_t step, int64_t samples_done, const ProgressMetrics& metrics, double elapsed,
                          bool final_line) const;

 private:
  void emit(const std::string& line, bool end_line);

  std::string title_;
  int64_t total_steps_;
  bool quiet_;
  std::ostream& out_;
  ProgressClock clock_;
  bool interactive_ = false;
  double start_ = 0.0;
  double last_draw_ = 0.0;
  bool drawn_ = false;      // something was printed by update
  bool line_open_ = false;  // an in-place line waits for its newline
  bool finished_ = false;
  size_t last_length_ = 0;   // length of the last in-place line, to blank a longer one
  int64_t last_bucket_ = 0;  // tenths of total_steps already printed (plain mode)
  int64_t last_step_ = 0;
  int64_t last_samples_ = 0;
};

}  // namespace masnn::train
