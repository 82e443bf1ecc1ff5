// The DVS pixel model: thresholds crossed by linearly interpolated log intensity, refractory period, leak and
// shot noise (dvs_simulator.h says what is modelled and what is not).
#include "masnn/data/dvs_simulator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace masnn::data {
namespace {

void require(bool ok, const char* name, double value, const char* expected) {
  if (!ok) throw std::invalid_argument(std::string("simulator: ") + name + " must be " + expected + ", got " + std::to_string(value));
}

// Natural log of x > 0 (normal floats), to about 1e-7 absolute: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh((m - 1) / (m + 1)) by its series to the 9th power. Branch-free, so that the loop over a frame
// vectorises (std::log does not: it costs as much as the rest of the pixel model).
inline float log_positive(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int32_t e = static_cast<int32_t>(bits - 0x3F3504F3u) >> 23;
  const uint32_t mantissa = bits - (static_cast<uint32_t>(e) << 23);
  float m;
  std::memcpy(&m, &mantissa, sizeof m);
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  const float series = 1.0f + s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
  return static_cast<float>(e) * 0.69314718f + 2.0f * s * series;
}

// lin_log as min(i, b) ln(b) / b + ln(max(i, b)) - ln(b), equal to it on both sides of b: without a comparison
// (one that may trap on NaN keeps GCC from vectorising a select), so the loop over a frame vectorises.
inline float lin_log_at(float i, float slope, float linear_below, float log_linear_below) {
  return std::min(i, linear_below) * slope + (log_positive(std::max(i, linear_below)) - log_linear_below);
}

// out[i] = lin_log(in[i]) for a frame, log_b = ln(linear_below) (vectorised; with log_b computed here instead, GCC
// 12 no longer vectorises the loop).
void lin_log_frame(const float* __restrict in, float* __restrict out, size_t n, float linear_below, float log_b) {
  const float slope = log_b / linear_below;
  for (size_t i = 0; i < n; ++i) out[i] = lin_log_at(in[i], slope, linear_below, log_b);
}

// Pass 1 of a frame interval, every pixel (vectorised): the reference drifts down by `leak` ON thresholds; marks
// the pixels whose input has left the band between the thresholds.
void drift_and_mark(float* __restrict reference, const float* __restrict next, const float* __restrict on_thr,
                    const float* __restrict off_thr, uint8_t* __restrict crossing, size_t n, float leak) {
  for (size_t i = 0; i < n; ++i) {
    const float r1 = reference[i] - leak * on_thr[i], d1 = next[i] - r1;
    reference[i] = r1;
    crossing[i] = static_cast<uint8_t>((d1 >= on_thr[i]) | (d1 <= -off_thr[i]));
  }
}

}  // namespace

void DvsSimulatorOptions::validate() const {
  // Written as !(x > 0) so that NaN fails too.
  require(on_threshold > 0 && std::isfinite(on_threshold), "on_threshold", on_threshold, "> 0");
  require(off_threshold > 0 && std::isfinite(off_threshold), "off_threshold", off_threshold, "> 0");
  require(threshold_sigma >= 0 && std::isfinite(threshold_sigma), "threshold_sigma", threshold_sigma, ">= 0");
  require(min_threshold > 0 && std::isfinite(min_threshold), "min_threshold", min_threshold, "> 0");
  require(refractory_us >= 0, "refractory_us", static_cast<double>(refractory_us), ">= 0");
  require(leak_rate_hz >= 0 && std::isfinite(leak_rate_hz), "leak_rate_hz", leak_rate_hz, ">= 0");
  require(shot_noise_rate_hz >= 0 && std::isfinite(shot_noise_rate_hz), "shot_noise_rate_hz", shot_noise_rate_hz,
          ">= 0");
  require(linear_below > 0 && std::isfinite(linear_below), "linear_below", linear_below, "> 0");
}

float lin_log(float i, float linear_below) {
  const float log_b = log_positive(linear_below);
  return lin_log_at(i, log_b / linear_below, linear_below, log_b);
}

DvsSimulator::DvsSimulator(int width, int height, const DvsSimulatorOptions& options)
    : width_(width), height_(height), options_(options), rng_(options.seed) {
  if (width < 1 || height < 1 || width > 65535 || height > 65535)
    throw std::invalid_argument("simulator: the sensor must be 1..65535 pixels wide and high, got " +
                                std::to_string(width) + "x" + std::to_string(height));
  options_.validate();
  const size_t n = static_cast<size_t>(width) * static_cast<size_t>(height);
  on_thr_.resize(n);
  off_thr_.resize(n);
  const double floor = options_.min_threshold, sigma = options_.threshold_sigma;
  for (size_t i = 0; i < n; ++i) {
    on_thr_[i] = static_cast<float>(std::max(floor, options_.on_threshold + sigma * rng_.normal()));
    off_thr_[i] = static_cast<float>(std::max(floor, options_.off_threshold + sigma * rng_.normal()));
  }
  linear_below_ = static_cast<float>(options_.linear_below);
  log_linear_below_ = log_positive(linear_below_);
  log_.assign(n, 0.0f);
  next_log_.assign(n, 0.0f);
  crossing_.assign(n, 0);
  reference_.assign(n, 0.0f);
  last_event_.assign(n, INT64_MIN / 2);
}

void DvsSimulator::add_frame(const float* intensity, int64_t t_us, Events& out) {
  const size_t n = log_.size();
  if (frames_ > 0 && t_us <= time_)
    throw std::invalid_argument("simulator: frame times must increase, got " + std::to_string(t_us) + " us after " +
                                std::to_string(time_) + " us");
  float* next = next_log_.data();
  lin_log_frame(intensity, next, n, linear_below_, log_linear_below_);
  if (frames_ == 0) {
    for (size_t i = 0; i < n; ++i) {
      log_[i] = next[i];
      // Pixels were last reset at random times, so their leak events do not all come at once.
      reference_[i] = next[i] - (options_.leak_rate_hz > 0 ? static_cast<float>(rng_.uniform()) * on_thr_[i] : 0.0f);
    }
    time_ = t_us;
    frames_ = 1;
    return;
  }
  const int64_t t0 = time_, dt = t_us - t0;
  const float leak = static_cast<float>(options_.leak_rate_hz * static_cast<double>(dt) * 1e-6);
  const int64_t refractory = options_.refractory_us;
  const double dt_d = static_cast<double>(dt);
  float* reference = reference_.data();
  const float *on_thr = on_thr_.data(), *off_thr = off_thr_.data();
  const uint8_t* crossing = crossing_.data();
  drift_and_mark(reference, next, on_thr, off_thr, crossing_.data(), n, leak);
  // Pass 2, the marked pixels: their events at the interpolated crossing times. Over the interval the input minus
  // the reference moves linearly, d(s) = d0 + (d1 - d0) s, s in [0, 1]; the k-th event comes at d(s) = k thr.
  pending_.clear();
  for (size_t i = 0; i < n; ++i) {
    if (!crossing[i]) continue;
    const float r1 = reference[i], d0 = log_[i] - (r1 + leak * on_thr[i]), d1 = next[i] - r1;
    const bool on = d1 >= on_thr[i];
    const float thr = on ? on_thr[i] : -off_thr[i];
    const int crossings = static_cast<int>(d1 / thr);
    reference[i] = r1 + static_cast<float>(crossings) * thr;
    const float inverse_slope = 1.0f / (d1 - d0);  // d1 - d0 != 0: d0 is inside the thresholds, d1 outside
    for (int k = 1; k <= crossings; ++k) {
      const float s = std::clamp((static_cast<float>(k) * thr - d0) * inverse_slope, 0.0f, 1.0f);
      const int64_t t = t0 + std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(s) * dt_d + 0.5));
      if (t - last_event_[i] < refractory) continue;
      last_event_[i] = t;
      pending_.emplace_back(t, i << 1 | (on ? 1 : 0));
    }
  }
  log_.swap(next_log_);
  add_shot_noise(t0, dt);
  // Sorted by time, stably (ties keep the order above: signal events in pixel order, then noise events): a counting
  // sort into 256 time buckets, then an insertion sort, which has little left to do.
  const size_t count = pending_.size();
  constexpr size_t kBuckets = 256;
  slot_.assign(kBuckets + 1, 0);
  const auto bucket = [&](int64_t t) {
    return static_cast<size_t>(static_cast<uint64_t>(t - t0 - 1) * kBuckets / static_cast<uint64_t>(dt));
  };
  for (const auto& e : pending_) ++slot_[bucket(e.first) + 1];
  for (size_t k = 1; k <= kBuckets; ++k) slot_[k] += slot_[k - 1];
  sorted_.resize(count);
  for (const auto& e : pending_) sorted_[slot_[bucket(e.first)]++] = e;
  for (size_t k = 1; k < count; ++k) {
    const auto e = sorted_[k];
    size_t j = k;
    for (; j > 0 && sorted_[j - 1].first > e.first; --j) sorted_[j] = sorted_[j - 1];
    sorted_[j] = e;
  }
  const size_t base = out.size(), w = static_cast<size_t>(width_);
  out.t.resize(base + count);
  out.x.resize(base + count);
  out.y.resize(base + count);
  out.p.resize(base + count);
  for (size_t k = 0; k < count; ++k) {
    const size_t pixel = sorted_[k].second >> 1;
    out.t[base + k] = sorted_[k].first;
    out.x[base + k] = static_cast<uint16_t>(pixel % w);
    out.y[base + k] = static_cast<uint16_t>(pixel / w);
    out.p[base + k] = static_cast<uint8_t>(sorted_[k].second & 1);
  }
  time_ = t_us;
  ++frames_;
}

void DvsSimulator::add_shot_noise(int64_t t0, int64_t dt) {
  if (options_.shot_noise_rate_hz <= 0) return;
  const size_t n = log_.size();
  const int count = rng_.poisson(options_.shot_noise_rate_hz * static_cast<double>(n) * static_cast<double>(dt) * 1e-6);
  for (int j = 0; j < count; ++j) {
    const size_t i = static_cast<size_t>(rng_.below(n));
    const int64_t t = t0 + 1 + static_cast<int64_t>(rng_.below(static_cast<uint64_t>(dt)));
    const bool on = rng_.uniform() < 0.5;
    pending_.emplace_back(t, i << 1 | (on ? 1 : 0));
  }
}

}  // namespace masnn::data
