// Terminal progress display (see the header).
#include "train/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

namespace masnn::train {

namespace {

constexpr int kBarWidth = 20;
constexpr double kRedrawInterval = 0.1;       // seconds between in-place redraws
constexpr double kUnknownTotalInterval = 10;  // seconds between plain lines when the total is unknown

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

bool is_terminal(const std::ostream& out) {
  if (&out == &std::cerr || &out == &std::clog) return isatty(STDERR_FILENO) == 1;
  if (&out == &std::cout) return isatty(STDOUT_FILENO) == 1;
  return false;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds)) return "--:--";
  const long long total = std::llround(std::max(0.0, seconds));
  const long long hours = total / 3600;
  const long long minutes = (total % 3600) / 60;
  const long long secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

ProgressBar::ProgressBar(std::string title, int64_t total_steps, bool quiet, std::ostream& out, ProgressClock clock)
    : title_(std::move(title)),
      total_steps_(total_steps),
      quiet_(quiet),
      out_(out),
      clock_(clock ? std::move(clock) : ProgressClock(steady_seconds)),
      interactive_(is_terminal(out)) {
  start_ = clock_();
  last_draw_ = start_;
}

ProgressBar::~ProgressBar() {
  if (line_open_ && !finished_) {
    out_ << '\n';
    out_.flush();
  }
}

std::string ProgressBar::format_line(int64_t step, int64_t samples_done, const ProgressMetrics& metrics, double elapsed,
                                     bool final_line) const {
  std::string line = title_;
  const bool known_total = total_steps_ > 0;
  if (known_total && interactive_ && !final_line) {
    const int64_t clamped = std::clamp<int64_t>(step, 0, total_steps_);
    const int filled = static_cast<int>(clamped * kBarWidth / total_steps_);
    std::string bar(kBarWidth, ' ');
    for (int i = 0; i < filled; ++i) bar[i] = '=';
    if (filled > 0 && filled < kBarWidth) bar[filled - 1] = '>';
    line += fmt::format(" [{}]", bar);
  }
  line += known_total ? fmt::format(" {}/{}", step, total_steps_) : fmt::format(" {}", step);
  for (const auto& [name, value] : metrics) {
    if (!name.empty() && name.back() == '%') {
      line += fmt::format(" {} {:.1f}%", name.substr(0, name.size() - 1), value * 100.0);
    } else {
      line += fmt::format(" {} {:.4g}", name, value);
    }
  }
  if (elapsed > 0) line += fmt::format(" {:.1f} samples/s", static_cast<double>(samples_done) / elapsed);
  if (final_line) {
    line += fmt::format(" in {}", format_duration(elapsed));
  } else if (known_total && step > 0) {
    const double remaining = std::max<int64_t>(0, total_steps_ - step);
    line += fmt::format(" ETA {}", format_duration(elapsed * remaining / static_cast<double>(step)));
  }
  return line;
}

void ProgressBar::emit(const std::string& line, bool end_line) {
  if (interactive_) {
    std::string text = "\r" + line;
    if (line.size() < last_length_) text.append(last_length_ - line.size(), ' ');
    last_length_ = line.size();
    out_ << text;
    if (end_line) out_ << '\n';
    line_open_ = !end_line;
  } else {
    out_ << line << '\n';
  }
  out_.flush();
}

void ProgressBar::update(int64_t step, int64_t samples_done, const ProgressMetrics& metrics) {
  last_step_ = step;
  last_samples_ = samples_done;
  if (quiet_ || finished_) return;
  const double now = clock_();
  bool draw = false;
  if (interactive_) {
    draw = !drawn_ || now - last_draw_ >= kRedrawInterval || (total_steps_ > 0 && step >= total_steps_);
  } else if (total_steps_ > 0) {
    // One line per tenth done; the complete line comes from finish().
    const int64_t bucket = std::clamp<int64_t>(step * 10 / total_steps_, 0, 10);
    if (bucket > last_bucket_ && bucket < 10) {
      last_bucket_ = bucket;
      draw = true;
    }
  } else {
    draw = now - last_draw_ >= kUnknownTotalInterval;
  }
  if (!draw) return;
  drawn_ = true;
  last_draw_ = now;
  emit(format_line(step, samples_done, metrics, now - start_, false), false);
}

void ProgressBar::finish(const ProgressMetrics& metrics) {
  if (finished_) return;
  finished_ = true;
  if (quiet_) return;
  emit(format_line(last_step_, last_samples_, metrics, clock_() - start_, true), true);
}

}  // namespace masnn::train
