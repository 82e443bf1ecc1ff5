#include "events_bench.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <vector>

#include "bench_util.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/frames.h"

namespace masnn::bench {
namespace {

template <typename Fn>
double median_seconds(int repeats, const Fn& fn) {
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(ms_since(t0));
  }
  return median(ms) / 1e3;
}

}  // namespace

EventsBenchResult run_events_bench(const EventsBenchConfig& c) {
  if (c.events < 1 || c.repeats < 1) throw std::invalid_argument("bench events: --events and --repeats must be >= 1");
  // A recording of random events at a steady rate (1 event per microsecond on average), 128x128.
  data::Events ev;
  ev.reserve(static_cast<size_t>(c.events));
  std::mt19937_64 rng(1);
  int64_t t = 0;
  for (int64_t i = 0; i < c.events; ++i) {
    t += static_cast<int64_t>(rng() % 3);
    const uint64_t r = rng();
    ev.push_back(t, static_cast<uint16_t>(r & 127), static_cast<uint16_t>((r >> 7) & 127),
                 static_cast<uint8_t>((r >> 14) & 1));
  }
  const std::vector<uint8_t> bytes = data::encode_aedat3(ev);
  const std::filesystem::path dir =
      c.dir.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(c.dir);
  const std::string path = (dir / ("masnn_bench_events_" + std::to_string(::getpid()) + ".aedat")).string();
  data::write_aedat3(path, ev);

  EventsBenchResult r;
  r.events = c.events;
  r.file_mb = bytes.size() / 1e6;
  size_t seen = 0;
  r.read_file_s = median_seconds(c.repeats, [&] { seen = data::read_aedat3(path).size(); });
  std::filesystem::remove(path);
  if (seen != static_cast<size_t>(c.events)) throw std::runtime_error("bench events: the reader lost events");
  r.parse_s = median_seconds(c.repeats, [&] { seen = data::parse_aedat3(bytes.data(), bytes.size(), "bench").size(); });

  data::FrameOptions f;
  f.steps(60).dt_us(std::max<int64_t>(1, (ev.t.back() + 60) / 60));
  double checksum = 0;
  r.frames_s = median_seconds(c.repeats, [&] { checksum = data::events_to_frames(ev, f, 0).sum().item<double>(); });
  if (static_cast<int64_t>(checksum) != c.events) throw std::runtime_error("bench events: frames lost events");

  // Memory bandwidth: copy a buffer much larger than the caches.
  const size_t n = std::max<size_t>(bytes.size(), size_t(256) << 20);
  std::vector<char> src(n, 1), dst(n, 0);
  const double copy_s = median_seconds(c.repeats, [&] { std::memcpy(dst.data(), src.data(), n); });
  r.memcpy_gb_per_s = 2.0 * n / copy_s / 1e9;
  return r;
}

}  // namespace masnn::bench
