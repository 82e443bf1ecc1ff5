// Event filters (background activity, refractory period, hot pixels) and augmentations (drops, jitter).
#include "masnn/data/event_filters.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace masnn::data {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::min() / 2;

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0); }

}  // namespace

void EventFilterOptions::validate() const {
  if (denoise_us_ < 0) throw std::invalid_argument("denoise_us must be >= 0");
  if (refractory_us_ < 0) throw std::invalid_argument("refractory_us must be >= 0");
  if (!(hot_pixel_factor_ >= 0) || !std::isfinite(hot_pixel_factor_))
    throw std::invalid_argument("hot_pixel_factor must be a finite number >= 0");
}

void EventAugmentOptions::validate() const {
  if (!(drop_fraction_ >= 0 && drop_fraction_ < 1)) throw std::invalid_argument("drop_fraction must be in [0, 1)");
  if (drop_time_us_ < 0) throw std::invalid_argument("drop_time_us must be >= 0");
  if (drop_area_ < 0) throw std::invalid_argument("drop_area must be >= 0");
  if (!(time_jitter_us_ >= 0) || !std::isfinite(time_jitter_us_))
    throw std::invalid_argument("time_jitter_us must be a finite number >= 0");
  if (!(spatial_jitter_ >= 0) || !std::isfinite(spatial_jitter_))
    throw std::invalid_argument("spatial_jitter must be a finite number >= 0");
}

EventFilter::EventFilter(int width, int height, const EventFilterOptions& options)
    : width_(width), height_(height), options_(options) {
  options_.validate();
  if (width < 1 || height < 1) throw std::invalid_argument("event filter: sensor size must be positive");
  const auto pixels = static_cast<size_t>(width) * static_cast<size_t>(height);
  if (options_.refractory_us() > 0) last_kept_.assign(pixels, kNever);
  if (options_.denoise_us() > 0) neighbours_.assign(pixels, kNever);
}

void EventFilter::apply(Events& events, bool whole_recording) {
  if (!options_.any() || events.empty()) return;
  std::vector<uint8_t> keep(events.size(), 1);
  for (size_t i = 0; i < events.size(); ++i)
    if (events.x[i] >= width_ || events.y[i] >= height_)
      throw std::invalid_argument("event filter: event at x " + std::to_string(events.x[i]) + ", y " +
                                  std::to_string(events.y[i]) + " outside the " + std::to_string(width_) + " x " +
                                  std::to_string(height_) + " sensor");
  if (options_.hot_pixel_factor() > 0 && whole_recording) {
    std::vector<uint32_t> count(static_cast<size_t>(width_) * static_cast<size_t>(height_), 0);
    for (size_t i = 0; i < events.size(); ++i) ++count[static_cast<size_t>(events.y[i]) * width_ + events.x[i]];
    size_t active = 0;
    for (uint32_t c : count) active += c > 0;
    const double limit = options_.hot_pixel_factor() * static_cast<double>(events.size()) / static_cast<double>(active);
    for (uint32_t& c : count) {
      const bool hot = c > limit;
      stats_.hot_pixels += hot;
      c = hot ? 1 : 0;  // now: the pixel is hot
    }
    for (size_t i = 0; i < events.size(); ++i)
      if (count[static_cast<size_t>(events.y[i]) * width_ + events.x[i]]) keep[i] = 0, ++stats_.hot_dropped;
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (!keep[i]) continue;
    const int64_t t = events.t[i];
    const int x = events.x[i], y = events.y[i];
    const size_t pixel = static_cast<size_t>(y) * width_ + x;
    if (options_.denoise_us() > 0) {
      // Supported when a neighbour fired within the window; every event (kept or not) supports its neighbours.
      const bool supported = t - neighbours_[pixel] <= options_.denoise_us();
      for (int dy = -1; dy <= 1; ++dy)
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if ((dx != 0 || dy != 0) && nx >= 0 && ny >= 0 && nx < width_ && ny < height_)
            neighbours_[static_cast<size_t>(ny) * width_ + nx] = t;
        }
      if (!supported) {
        keep[i] = 0;
        ++stats_.noise_dropped;
        continue;
      }
    }
    if (options_.refractory_us() > 0) {
      if (t - last_kept_[pixel] < options_.refractory_us()) {
        keep[i] = 0;
        ++stats_.refractory_dropped;
        continue;
      }
      last_kept_[pixel] = t;
    }
  }
  events.keep_where(keep);
}

void augment_events(Events& events, int width, int height, const EventAugmentOptions& o, std::mt19937_64& rng) {
  if (!o.any() || events.empty()) return;
  std::vector<uint8_t> keep(events.size(), 1);
  if (o.drop_fraction() > 0)
    for (size_t i = 0; i < events.size(); ++i)
      if (uniform01(rng) < o.drop_fraction()) keep[i] = 0;
  if (o.drop_time_us() > 0) {
    const int64_t first = events.t.front() - o.drop_time_us(), span = events.t.back() - first + 1;
    const int64_t begin = first + static_cast<int64_t>(uniform01(rng) * static_cast<double>(span));
    for (size_t i = 0; i < events.size(); ++i)
      if (events.t[i] >= begin && events.t[i] < begin + o.drop_time_us()) keep[i] = 0;
  }
  if (o.drop_area() > 0) {
    const int x0 = static_cast<int>(rng() % static_cast<uint64_t>(width + o.drop_area())) - o.drop_area();
    const int y0 = static_cast<int>(rng() % static_cast<uint64_t>(height + o.drop_area())) - o.drop_area();
    for (size_t i = 0; i < events.size(); ++i)
      if (events.x[i] >= x0 && events.x[i] < x0 + o.drop_area() && events.y[i] >= y0 &&
          events.y[i] < y0 + o.drop_area())
        keep[i] = 0;
  }
  if (o.spatial_jitter() > 0) {
    std::normal_distribution<double> jitter(0.0, o.spatial_jitter());
    for (size_t i = 0; i < events.size(); ++i) {
      const long x = std::lround(events.x[i] + jitter(rng)), y = std::lround(events.y[i] + jitter(rng));
      if (x < 0 || y < 0 || x >= width || y >= height) {
        keep[i] = 0;
        continue;
      }
      events.x[i] = static_cast<uint16_t>(x);
      events.y[i] = static_cast<uint16_t>(y);
    }
  }
  if (o.time_jitter_us() > 0) {
    std::normal_distribution<double> jitter(0.0, o.time_jitter_us());
    for (size_t i = 0; i < events.size(); ++i) events.t[i] += static_cast<int64_t>(std::llround(jitter(rng)));
  }
  events.keep_where(keep);
  if (o.time_jitter_us() > 0) events.sort_by_time();
}

}  // namespace masnn::data
