// Synthetic DVS gesture recordings: scene motion per class, a contrast-threshold pixel model, noise, and the
// DVS128 Gesture folder layout (no tensors here).
#include "masnn/data/synth_gestures.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "masnn/data/aedat3.h"
#include "masnn/util/file_io.h"
#include "masnn/util/random.h"
#include "util/parallel.h"

namespace masnn::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

using Rng = SplitMix64;

uint64_t mix(uint64_t a, uint64_t b) {
  Rng r(a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL));
  return r.next();
}

struct Blob {
  double cx, cy, r, amp;
};

// Per-user style.
struct UserStyle {
  double dx, dy, size, speed;
};

// Per-gesture parameters.
struct Gesture {
  int label;
  double duration;  // seconds
  double cx, cy;    // body centre
  double f, amp_px, radius, contrast, phase;
  double wx[3], wy[3], fx[3], fy[3], px[3], py[3];  // random trajectories (class "other")
};

// The limbs of a gesture at time tau (seconds since its start).
void limbs(const Gesture& g, double tau, std::vector<Blob>& out) {
  const double fade = std::clamp(std::min(tau, g.duration - tau) / 0.15, 0.0, 1.0);
  const double a = g.contrast * fade;
  const double r = g.radius;
  const double w = 2.0 * kPi * g.f * tau + g.phase;
  const double A = g.amp_px;
  const double hand_y = g.cy - 22;
  switch (g.label) {
    case 0: {  // hand clap: two limbs converging and separating
      const double d = r + 2 + (A * 1.6) * (0.5 + 0.5 * std::cos(w));
      out.push_back({g.cx - d, g.cy - 8, r, a});
      out.push_back({g.cx + d, g.cy - 8, r, a});
      break;
    }
    case 1:  // right hand wave: the subject's right is the image's left
    case 2: {
      const double side = g.label == 1 ? -1.0 : 1.0;
      out.push_back({g.cx + side * 32 + A * std::sin(w), hand_y + 0.25 * A * std::cos(2 * w), r, a});
      break;
    }
    case 3:
    case 4:
    case 5:
    case 6: {  // arm rotations: clockwise on screen (y down) when the angle grows
      const double side = g.label <= 4 ? -1.0 : 1.0;
      const double dir = (g.label == 3 || g.label == 5) ? 1.0 : -1.0;
      const double R = A * 1.4;
      out.push_back({g.cx + side * 30 + R * std::cos(dir * w), g.cy - 14 + R * std::sin(dir * w), r, a});
      break;
    }
    case 7: {  // arm roll: two limbs circling each other in front of the body
      const double R = 0.6 * A + 3;
      out.push_back({g.cx + R * std::cos(w), g.cy - 4 + R * std::sin(w), r * 0.9, a});
      out.push_back({g.cx - R * std::cos(w), g.cy - 4 - R * std::sin(w), r * 0.9, a});
      break;
    }
    case 8: {  // air drums: two limbs alternating up and down
      out.push_back({g.cx - 22, g.cy + A * std::sin(w), r, a});
      out.push_back({g.cx + 22, g.cy - A * std::sin(w), r, a});
      break;
    }
    case 9: {  // air guitar: fast strumming low, slow fretting limb up the other side
      out.push_back({g.cx - 6 + 0.2 * A * std::sin(w), g.cy + 12 + 0.6 * A * std::sin(2.2 * w), r, a});
      out.push_back({g.cx + 28 + 4 * std::sin(0.3 * w), g.cy - 12 - 3 * std::sin(0.3 * w), r * 0.8, a});
      break;
    }
    default: {  // other: random smooth trajectories
      for (int k = 0; k < 2; ++k) {
        double x = g.cx + (k == 0 ? -15 : 15), y = g.cy - 10;
        for (int j = 0; j < 3; ++j) {
          x += g.wx[j] * std::sin(2 * kPi * g.fx[j] * tau + g.px[j] + k);
          y += g.wy[j] * std::sin(2 * kPi * g.fy[j] * tau + g.py[j] - k);
        }
        out.push_back({x, y, r * (k == 0 ? 1.0 : 0.7), a * (k == 0 ? 1.0 : 0.8)});
      }
    }
  }
}

Gesture make_gesture(int label, const UserStyle& user, double mean_seconds, int width, int height, Rng& rng) {
  Gesture g{};
  g.label = label;
  g.duration = mean_seconds * rng.uniform(0.8, 1.2);
  g.cx = width / 2.0 + user.dx + rng.uniform(-3, 3);
  g.cy = height / 2.0 + 6 + user.dy + rng.uniform(-3, 3);
  const double base_f =
      (label == 0 || label == 7 || label == 8 || label == 9) ? 2.2 : (label >= 3 && label <= 6 ? 1.2 : 1.8);
  g.f = base_f * user.speed * rng.uniform(0.85, 1.15);
  g.amp_px = 12 * user.size * rng.uniform(0.8, 1.2);
  g.radius = 7 * user.size * rng.uniform(0.9, 1.1);
  g.contrast = rng.uniform(1.0, 2.2);
  g.phase = rng.uniform(0, 2 * kPi);
  for (int j = 0; j < 3; ++j) {
    g.wx[j] = rng.uniform(2, 9);
    g.wy[j] = rng.uniform(2, 9);
    g.fx[j] = rng.uniform(0.3, 2.5);
    g.fy[j] = rng.uniform(0.3, 2.5);
    g.px[j] = rng.uniform(0, 2 * kPi);
    g.py[j] = rng.uniform(0, 2 * kPi);
  }
  return g;
}

struct Lighting {
  double noise, contrast, background;
};
Lighting lighting_of(int index) {
  static const Lighting table[] = {{1.0, 1.0, 1.0}, {0.6, 1.2, 1.5}, {2.0, 0.8, 0.7}, {1.4, 0.9, 1.2}, {0.8, 1.1, 0.9}};
  return table[index % 5];
}

// Per-pixel contrast-threshold model.
class Sensor {
 public:
  Sensor(const SynthOptions& o, double background, Rng& rng)
      : w_(o.width),
        h_(o.height),
        bg_(background),
        refractory_(o.refractory_us),
        ref_(static_cast<size_t>(w_ * h_), std::log(background)),
        thr_(ref_.size()),
        last_(ref_.size(), INT64_MIN / 2) {
    for (auto& t : thr_) t = std::max(0.05, o.threshold + o.threshold_sigma * rng.normal());
  }

  // Log intensity at pixel (x, y) for the given scene.
  double log_intensity(int x, int y, const std::vector<Blob>& scene) const {
    double v = bg_;
    for (const Blob& b : scene) {
      const double dx = x + 0.5 - b.cx, dy = y + 0.5 - b.cy;
      const double reach = b.r + 1.0;
      if (std::abs(dx) > reach || std::abs(dy) > reach) continue;
      const double s = std::clamp(b.r - std::sqrt(dx * dx + dy * dy) + 0.5, 0.0, 1.0) * 0.5 +
                       std::clamp((b.r - std::sqrt(dx * dx + dy * dy)) / 2.0 + 0.5, 0.0, 1.0) * 0.5;
      v += bg_ * b.amp * s;
    }
    return std::log(v);
  }

  // Updates the pixels in the box of blob b (and its previous position), emitting into `out`.
  void update_box(const Blob& now, const Blob* before, const std::vector<Blob>& scene, int64_t t0, int64_t step,
                  Events& out) {
    double x0 = now.cx - now.r - 2, x1 = now.cx + now.r + 2, y0 = now.cy - now.r - 2, y1 = now.cy + now.r + 2;
    if (before) {
      x0 = std::min(x0, before->cx - before->r - 2);
      x1 = std::max(x1, before->cx + before->r + 2);
      y0 = std::min(y0, before->cy - before->r - 2);
      y1 = std::max(y1, before->cy + before->r + 2);
    }
    const int ix0 = std::max(0, static_cast<int>(std::floor(x0))),
              ix1 = std::min(w_ - 1, static_cast<int>(std::ceil(x1)));
    const int iy0 = std::max(0, static_cast<int>(std::floor(y0))),
              iy1 = std::min(h_ - 1, static_cast<int>(std::ceil(y1)));
    const int64_t t1 = t0 + step;
    for (int y = iy0; y <= iy1; ++y) {
      for (int x = ix0; x <= ix1; ++x) {
        const size_t i = static_cast<size_t>(y) * static_cast<size_t>(w_) + static_cast<size_t>(x);
        if (t1 - last_[i] < refractory_) continue;
        const double d = log_intensity(x, y, scene) - ref_[i];
        if (std::abs(d) < thr_[i]) continue;
        const int n = static_cast<int>(std::floor(std::abs(d) / thr_[i]));
        const int k = std::min(n, 3);
        const uint8_t p = d > 0 ? 1 : 0;
        for (int j = 0; j < k; ++j)
          out.push_back(t0 + step * (j + 1) / (k + 1), static_cast<uint16_t>(x), static_cast<uint16_t>(y), p);
        ref_[i] += (d > 0 ? 1 : -1) * n * thr_[i];
        last_[i] = t1;
      }
    }
  }

 private:
  int w_, h_;
  double bg_;
  int64_t refractory_;
  std::vector<double> ref_, thr_;
  std::vector<int64_t> last_;
};

void validate(const SynthOptions& o) {
  if (o.users < 2)
    throw std::invalid_argument("synth: users must be >= 2 (train and test users), got " + std::to_string(o.users));
  if (o.users > 99) throw std::invalid_argument("synth: users must be <= 99");
  if (o.test_users < 0 || o.test_users >= o.users)
    throw std::invalid_argument("synth: test_users must be in [0, users)");
  if (o.lightings.empty()) throw std::invalid_argument("synth: at least one lighting is needed");
  if (o.width < 64 || o.height < 64 || o.width > 1024 || o.height > 1024)
    throw std::invalid_argument("synth: sensor size must be within 64..1024");
  if (o.step_us <= 0 || o.gesture_seconds <= 0.2 || o.pause_seconds < 0 || o.repeats < 1 || o.threshold <= 0)
    throw std::invalid_argument(
        "synth: step_us, gesture_seconds (> 0.2), pause_seconds, repeats and threshold must be positive");
}

}  // namespace

SynthRecording synthesize_recording(const SynthOptions& o, int user, int lighting) {
  validate(o);
  Rng user_rng(mix(o.seed, static_cast<uint64_t>(user)));
  UserStyle style{user_rng.uniform(-8, 8), user_rng.uniform(-6, 6), user_rng.uniform(0.85, 1.2),
                  user_rng.uniform(0.8, 1.25)};
  Rng rng(mix(mix(o.seed, static_cast<uint64_t>(user)), 1000 + static_cast<uint64_t>(lighting)));
  const Lighting light = lighting_of(lighting);
  Sensor sensor(o, light.background, rng);

  // Gesture order: every class `repeats` times, shuffled.
  std::vector<int> order;
  for (int r = 0; r < o.repeats; ++r)
    for (int c = 0; c < kGestureClasses; ++c) order.push_back(c);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);

  SynthRecording rec;
  std::vector<Gesture> gestures;
  int64_t cursor = static_cast<int64_t>(o.pause_seconds * 1e6);
  for (int label : order) {
    Gesture g = make_gesture(label, style, o.gesture_seconds, o.width, o.height, rng);
    g.contrast *= light.contrast;
    const int64_t start = cursor, end = cursor + static_cast<int64_t>(g.duration * 1e6);
    rec.segments.push_back({label, start, end});
    gestures.push_back(g);
    cursor = end + static_cast<int64_t>(o.pause_seconds * 1e6);
  }
  const int64_t total = cursor;
  const double noise_per_step = o.noise_hz * light.noise * o.width * o.height * static_cast<double>(o.step_us) * 1e-6;

  std::vector<Blob> scene, previous;
  Events step_events;
  rec.events.reserve(static_cast<size_t>(total / 1000) * 20);
  size_t g_index = 0;
  for (int64_t t0 = 0; t0 < total; t0 += o.step_us) {
    const int64_t t1 = t0 + o.step_us;
    const double ts = static_cast<double>(t1) * 1e-6;
    scene.clear();
    // Body: a dim disc swaying slowly.
    const double bx = o.width / 2.0 + style.dx + 1.5 * std::sin(2 * kPi * 0.4 * ts);
    scene.push_back({bx, o.height / 2.0 + 34 + style.dy, 16 * style.size, 0.5 * light.contrast});
    while (g_index < gestures.size() && rec.segments[g_index].end_us <= t1) ++g_index;
    if (g_index < gestures.size() && rec.segments[g_index].start_us <= t1)
      limbs(gestures[g_index], static_cast<double>(t1 - rec.segments[g_index].start_us) * 1e-6, scene);
    step_events.clear();
    const bool paired = previous.size() == scene.size();
    for (size_t b = 0; b < scene.size(); ++b)
      sensor.update_box(scene[b], paired ? &previous[b] : nullptr, scene, t0, o.step_us, step_events);
    if (!paired)
      for (const Blob& b : previous) sensor.update_box(b, nullptr, scene, t0, o.step_us, step_events);
    const int noise = rng.poisson(noise_per_step);
    for (int k = 0; k < noise; ++k)
      step_events.push_back(t0 + static_cast<int64_t>(rng.below(static_cast<uint64_t>(o.step_us))),
                            static_cast<uint16_t>(rng.below(static_cast<uint64_t>(o.width))),
                            static_cast<uint16_t>(rng.below(static_cast<uint64_t>(o.height))),
                            static_cast<uint8_t>(rng.below(2)));
    step_events.sort_by_time();
    rec.events.append(step_events, 0, step_events.size());
    previous = scene;
  }
  return rec;
}

SynthReport write_synthetic_gestures(const std::string& out_dir, const SynthOptions& options) {
  validate(options);
  namespace fs = std::filesystem;
  const fs::path folder = fs::path(out_dir) / "DvsGesture";
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) throw std::runtime_error(folder.string() + ": cannot create folder (" + ec.message() + ")");
  const int test_users = options.test_users > 0 ? options.test_users : std::max(1, options.users / 3);
  const int lightings = static_cast<int>(options.lightings.size());
  const int jobs = options.users * lightings;
  std::vector<std::string> names(static_cast<size_t>(jobs));
  std::vector<size_t> events(static_cast<size_t>(jobs)), bytes(static_cast<size_t>(jobs)),
      samples(static_cast<size_t>(jobs));
  parallel_tasks(static_cast<size_t>(jobs), options.threads, [&](size_t u) {
    const int j = static_cast<int>(u);
    const int user = j / lightings + 1, light = j % lightings;
    char stem[64];
    std::snprintf(stem, sizeof(stem), "user%02d_", user);
    const std::string name = stem + options.lightings[static_cast<size_t>(light)];
    SynthRecording rec = synthesize_recording(options, user, light);
    const auto encoded = encode_aedat3(rec.events);
    write_file_atomic((folder / (name + ".aedat")).string(), encoded);
    write_gesture_labels((folder / (name + "_labels.csv")).string(), rec.segments);
    names[u] = name + ".aedat";
    events[u] = rec.events.size();
    bytes[u] = encoded.size();
    samples[u] = rec.segments.size();
  });

  SynthReport report;
  report.folder = folder.string();
  std::string train, test;
  for (int j = 0; j < jobs; ++j) {
    const auto u = static_cast<size_t>(j);
    const bool is_test = j / lightings + 1 > options.users - test_users;
    (is_test ? test : train) += names[u] + "\n";
    (is_test ? report.test_samples : report.train_samples) += samples[u];
    report.events += events[u];
    report.bytes += bytes[u];
    ++report.recordings;
  }
  write_file_atomic((folder / "trials_to_train.txt").string(), std::vector<uint8_t>(train.begin(), train.end()));
  write_file_atomic((folder / "trials_to_test.txt").string(), std::vector<uint8_t>(test.begin(), test.end()));
  return report;
}

}  // namespace masnn::data
