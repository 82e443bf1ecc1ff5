// The streaming pipeline: read, parse, bin, step, predict.
#include "masnn/serve/stream_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

#include "masnn/data/event_decoder.h"
#include "masnn/data/event_file.h"

namespace masnn::serve {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Closes a file descriptor we opened (never standard input).
struct FdGuard {
  int fd;
  bool owned;
  ~FdGuard() {
    if (owned && fd >= 0) ::close(fd);
  }
};

}  // namespace

double StreamSummary::median_ms() const {
  return step_times.percentile_ms(0.5);
}
double StreamSummary::mean_ms() const {
  return step_times.mean_ms();
}
double StreamSummary::p99_ms() const {
  return step_times.percentile_ms(0.99);
}
double StreamSummary::max_ms() const {
  return step_times.max_ms();
}

StreamSummary run_stream(StreamClassifier& classifier, StreamingFrameBinner& binner, const StreamRunOptions& options,
                         const data::EventReadOptions& read_options,
                         const std::function<void(const WindowReport&)>& on_window) {
  if (options.chunk_bytes == 0) throw std::invalid_argument("stream: chunk_bytes must be > 0");
  if (options.max_steps < 0) throw std::invalid_argument("stream: --max-steps must be >= 0");
  if (options.idle_timeout_s < 0 || !std::isfinite(options.idle_timeout_s))
    throw std::invalid_argument("stream: --idle-timeout must be >= 0 seconds");
  StreamSummary sum;
  sum.step_times = StepTimes(static_cast<size_t>(classifier.window()));
  sum.dt_ms = static_cast<double>(binner.options().dt_us()) / 1000.0;
  const bool from_stdin = options.input == "-";
  const std::string name = from_stdin ? std::string("standard input") : options.input;
  const int fd = from_stdin ? STDIN_FILENO : ::open(options.input.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(name + ": cannot open (" + std::strerror(errno) + ")");
  FdGuard guard{fd, !from_stdin};

  std::unique_ptr<data::EventDecoder> decoder;
  std::vector<uint8_t> head;  // the first bytes, kept until the format is known
  std::vector<uint8_t> buffer(options.chunk_bytes);
  data::Events events;
  const auto t0 = Clock::now();
  std::optional<Clock::time_point> wall_start;  // realtime: the wall time of the stream's start time
  const auto dt = std::chrono::microseconds(binner.options().dt_us());
  bool stopped = false;  // max_steps reached: later frames are dropped

  // Steps each frame as the binner finishes it (one frame in memory, whatever the input).
  const StreamingFrameBinner::FrameSink run_frame = [&](const torch::Tensor& frame) {
    if (stopped || (options.max_steps > 0 && sum.steps >= options.max_steps)) {
      stopped = true;
      return;
    }
    const int64_t k = classifier.steps();
    Clock::time_point due{};
    if (options.realtime && wall_start) {
      due = *wall_start + (k + 1) * dt;  // frame k is complete only when its window of real time has passed
      std::this_thread::sleep_until(due);
    }
    const auto s0 = Clock::now();
    const std::optional<Prediction> p = classifier.step(frame);
    const auto s1 = Clock::now();
    sum.step_times.add(ms_between(s0, s1));
    ++sum.steps;
    if (!p) return;
    WindowReport w;
    w.prediction = *p;
    w.t_begin_us = binner.frame_begin_us(p->first_step);
    w.t_end_us = binner.frame_begin_us(p->last_step + 1);
    w.step_ms = sum.step_times.last_ms();
    w.window_mean_step_ms = sum.step_times.recent_mean_ms(static_cast<size_t>(p->last_step - p->first_step + 1));
    if (options.realtime && wall_start) w.lag_ms = ms_between(due, s1);
    ++sum.windows;
    on_window(w);
  };

  // The format: named, or detected from the first bytes once enough arrived (or the input ended).
  auto start_decoder = [&](bool input_ended) {
    constexpr size_t kSniffBytes = 4096;
    if (!options.format.empty()) {
      sum.format = data::parse_format_key(options.format);
    } else {
      if (head.size() < 16 && !input_ended) return;
      try {
        sum.format = data::detect_format(head.data(), head.size(), name);
      } catch (const std::runtime_error&) {
        if (head.size() < kSniffBytes && !input_ended) return;  // a header still arriving
        throw;
      }
    }
    decoder = data::make_event_decoder(sum.format, name, read_options);
  };
  std::optional<data::EventFilter> filter;
  if (options.filters.any())
    filter.emplace(static_cast<int>(binner.options().width()), static_cast<int>(binner.options().height()),
                   options.filters);
  auto decode = [&](const uint8_t* bytes, size_t n) {
    events.clear();
    try {
      decoder->feed(bytes, n, events);
    } catch (...) {
      // Deliver what came before the bad bytes, then report them.
      if (filter) filter->apply(events, false);
      binner.push(events, 0, events.size(), run_frame);
      binner.flush(run_frame);
      throw;
    }
    if (filter) filter->apply(events, false);
    if (options.realtime && !wall_start && !events.empty()) wall_start = Clock::now();
    binner.push(events, 0, events.size(), run_frame);
  };
  if (!options.format.empty()) start_decoder(false);

  auto last_data = Clock::now();
  while (!stopped) {
    if (options.idle_timeout_s > 0 && !options.follow) {
      pollfd pfd{fd, POLLIN, 0};
      const int r = ::poll(&pfd, 1, static_cast<int>(std::lround(options.idle_timeout_s * 1000)));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw std::runtime_error(name + ": poll failed (" + std::strerror(errno) + ")");
      if (r == 0) {
        sum.idle_timeout = true;
        break;
      }
    }
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(name + ": read failed (" + std::strerror(errno) + ")");
    if (n == 0) {
      if (!options.follow) break;  // the input is closed
      // A file still being written: wait for more, up to the idle timeout.
      if (options.idle_timeout_s > 0 &&
          std::chrono::duration<double>(Clock::now() - last_data).count() >= options.idle_timeout_s) {
        sum.idle_timeout = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    last_data = Clock::now();
    sum.bytes += static_cast<uint64_t>(n);
    if (!decoder) {
      head.insert(head.end(), buffer.data(), buffer.data() + n);
      start_decoder(false);
      if (decoder) {
        decode(head.data(), head.size());
        head = {};
      }
      continue;
    }
    decode(buffer.data(), static_cast<size_t>(n));
  }
  if (!decoder && !stopped) {
    if (head.empty()) {
      if (!sum.idle_timeout) throw std::runtime_error(name + ": empty stream (no event data)");
    } else {
      start_decoder(true);  // a short input: all of it is the head
      decode(head.data(), head.size());
    }
  }
  if (!stopped) {
    binner.flush(run_frame);
    // A stream cut inside a header or packet is an error (after its predictions).
    if (!sum.idle_timeout && decoder) decoder->finish(events);
  }
  if (decoder) sum.parser = decoder->stats();
  if (filter) sum.filtered = filter->stats();
  sum.binner = binner.stats();
  sum.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return sum;
}

}  // namespace masnn::serve
