#include "events_bench.h"

#include <torch/torch.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <vector>

#include "bench_util.h"
#include "masnn/data/aedat2.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/event_file.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/frames.h"
#include "masnn/data/nmnist_bin.h"
#include "masnn/data/prophesee.h"
#include "masnn/util/file_io.h"
#include "src/data/packet_compression.h"
#include "src/data/byte_order.h"

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


// Decompresses every packet of an AEDAT 4 file written by masnn (its header's data table position sits at byte
// 54 in masnn's fixed header layout) and returns the bytes produced.
size_t inflate_packets(const std::vector<uint8_t>& file, data::PacketCompression c) {
  int64_t table = 0;
  std::memcpy(&table, file.data() + 54, 8);
  size_t pos = 18 + data::le32(file.data() + 14), produced = 0;
  data::PacketInflater inflater(size_t{1} << 30);
  while (pos + 8 <= static_cast<size_t>(table)) {
    const size_t size = data::le32(file.data() + pos + 4);
    const std::string error = inflater.inflate(c, file.data() + pos + 8, size);
    if (!error.empty()) throw std::runtime_error("bench events: " + error);
    produced += inflater.size();
    pos += 8 + size;
  }
  return produced;
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
  const std::filesystem::path dir =
      c.dir.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(c.dir);
  const std::string stem = (dir / ("masnn_bench_events_" + std::to_string(::getpid()))).string();

  EventsBenchResult r;
  r.events = c.events;
  data::PropheseeGeometry g;
  g.width = 128;
  g.height = 128;
  // Each format's file, then its timing.
  auto time_file = [&](const std::string& name, const std::string& path, int64_t expected, double inflate_s = 0,
                       const data::EventReadOptions& read = {}) {
    size_t seen = 0;
    FormatTiming f;
    f.format = name;
    f.events = expected;
    f.file_mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
    f.read_s = median_seconds(c.repeats, [&] { seen = data::read_events(path, read).size(); });
    f.inflate_s = inflate_s;
    if (static_cast<int64_t>(seen) != expected) throw std::runtime_error("bench events: " + name + " lost events");
    r.formats.push_back(f);
  };
  auto time_bytes = [&](const std::string& name, const std::string& ext, const std::vector<uint8_t>& bytes,
                        int64_t expected) {
    write_file_atomic(stem + ext, bytes);
    time_file(name, stem + ext, expected);
    std::filesystem::remove(stem + ext);
  };
  time_bytes("AEDAT 3.1", ".aedat", data::encode_aedat3(ev), c.events);
  time_bytes("Prophesee EVT 2.0", ".raw", data::encode_evt2(ev, g), c.events);
  time_bytes("Prophesee EVT 3.0", ".raw", data::encode_evt3(ev, g), c.events);
  {
    // A camera's dense output: an edge crossing 16 neighbouring pixels of one row at once (vector words).
    data::Events bursts;
    bursts.reserve(static_cast<size_t>(c.events));
    std::mt19937_64 burst_rng(2);
    for (int64_t i = 0; i < c.events; i += 16) {
      const uint64_t r = burst_rng();
      const auto x0 = static_cast<uint16_t>(r % 112), y = static_cast<uint16_t>((r >> 8) & 127);
      const auto p = static_cast<uint8_t>((r >> 16) & 1);
      for (int64_t k = 0; k < 16 && i + k < c.events; ++k) bursts.push_back(i / 16, static_cast<uint16_t>(x0 + k), y, p);
    }
    time_bytes("Prophesee EVT 3.0, bursts", ".raw", data::encode_evt3(bursts, g), c.events);
  }
  {
    const data::Events short_ev = ev.slice(0, ev.lower_bound(int64_t{1} << 23));
    time_bytes("N-MNIST binary", ".bin", data::encode_nmnist_bin(short_ev), static_cast<int64_t>(short_ev.size()));
  }
  time_bytes("Prophesee DAT", ".dat", data::encode_dat(ev, g), c.events);
  for (const char* compression : {"none", "lz4", "zstd"}) {
    data::EventWriterOptions o;
    o.compression = compression;
    const std::string path = stem + ".aedat4";
    auto writer = data::make_event_writer(data::EventOutputFormat::Aedat4, path, o);
    writer->write(ev);
    writer->commit();
    double inflate_s = 0;
    const data::PacketCompression pc = data::parse_compression(compression);
    if (pc != data::PacketCompression::None) {
      const std::vector<uint8_t> file = read_file_bytes(path);
      inflate_s = median_seconds(c.repeats, [&] { inflate_packets(file, pc); });
    }
    const std::string name = std::string("AEDAT 4.0 (") + compression + ")";
    time_file(name, path, c.events, inflate_s);
    if (pc != data::PacketCompression::None && omp_get_max_threads() > 1) {
      data::EventReadOptions threaded;
      threaded.threads = 0;  // every thread decompresses packets
      time_file(name + ", " + std::to_string(omp_get_max_threads()) + " threads", path, c.events, inflate_s, threaded);
    }
    std::filesystem::remove(path);
  }

  data::FrameOptions f;
  f.steps(60).dt_us(std::max<int64_t>(1, (ev.t.back() + 60) / 60));
  double checksum = 0;
  r.frames_s = median_seconds(c.repeats, [&] { checksum = data::events_to_frames(ev, f, 0).sum().item<double>(); });
  if (static_cast<int64_t>(checksum) != c.events) throw std::runtime_error("bench events: frames lost events");

  // The output floor: the events written into fresh arrays, as every reader writes them.
  r.output_s = median_seconds(c.repeats, [&] {
    data::Events out;
    out.reserve(ev.size());
    out.t.resize(ev.size());
    out.x.resize(ev.size());
    out.y.resize(ev.size());
    out.p.resize(ev.size());
    for (size_t i = 0; i < ev.size(); ++i) {  // values made, not read: only the writing is timed
      out.t[i] = static_cast<int64_t>(i);
      out.x[i] = static_cast<uint16_t>(i & 127);
      out.y[i] = static_cast<uint16_t>((i >> 7) & 127);
      out.p[i] = static_cast<uint8_t>(i & 1);
    }
    if (out.t.back() != c.events - 1) throw std::runtime_error("bench events: output floor lost events");
  });

  // Memory bandwidth: copy a buffer much larger than the caches.
  const size_t n = size_t(256) << 20;
  std::vector<char> src(n, 1), dst(n, 0);
  const double copy_s = median_seconds(c.repeats, [&] { std::memcpy(dst.data(), src.data(), n); });
  r.memcpy_gb_per_s = 2.0 * n / copy_s / 1e9;
  return r;
}

}  // namespace masnn::bench
