// Event filters (background activity, refractory period, hot pixels) and augmentations (drops, jitter), and the
// config keys that set them for training, evaluation and streaming.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <vector>

#include "masnn/data/event_filters.h"
#include "masnn/data/events.h"
#include "masnn/train/config.h"
#include "masnn/train/factory.h"

#include "test_support.h"

using namespace masnn::data;

namespace {

Events of(const std::vector<std::array<int64_t, 3>>& txy) {
  Events e;
  for (const auto& [t, x, y] : txy) e.push_back(t, static_cast<uint16_t>(x), static_cast<uint16_t>(y), 1);
  return e;
}

}  // namespace

TEST(EventFilter, BackgroundActivityKeepsEventsWithARecentNeighbour) {
  Events e = of({{100, 5, 5},     // nothing before it: noise
                 {150, 6, 5},     // neighbour (5,5) fired 50 us before: kept
                 {400, 6, 6},     // neighbours fired 250 us and 300 us before: outside the 200 us window, noise
                 {450, 6, 6},     // its own pixel fired 50 us before, but a pixel does not support itself: noise
                 {500, 7, 7}});   // (6,6) fired 50 us before: kept
  EventFilter f(16, 16, EventFilterOptions().denoise_us(200));
  f.apply(e);
  EXPECT_EQ(e.t, (EventArray<int64_t>{150, 500}));
  EXPECT_EQ(f.stats().noise_dropped, 3u);
}

TEST(EventFilter, RefractoryPeriodPerPixel) {
  Events e = of({{0, 1, 1}, {50, 1, 1}, {99, 1, 1}, {100, 1, 1}, {120, 2, 1}, {150, 1, 1}, {200, 1, 1}});
  EventFilter f(4, 4, EventFilterOptions().refractory_us(100));
  f.apply(e);
  EXPECT_EQ(e.t, (EventArray<int64_t>{0, 100, 120, 200}));
  EXPECT_EQ(f.stats().refractory_dropped, 3u);
}

TEST(EventFilter, HotPixelsAreRemovedOverAWholeRecording) {
  std::vector<std::array<int64_t, 3>> txy;
  for (int i = 0; i < 100; ++i) txy.push_back({i * 10, 3, 3});  // a stuck pixel
  for (int x = 0; x < 8; ++x) txy.push_back({1000 + x, x, 0}), txy.push_back({2000 + x, x, 1});
  Events e = of(txy);
  e.sort_by_time();
  EventFilter f(8, 8, EventFilterOptions().hot_pixel_factor(5));
  f.apply(e);
  EXPECT_EQ(e.size(), 16u);
  EXPECT_EQ(f.stats().hot_pixels, 1u);
  EXPECT_EQ(f.stats().hot_dropped, 100u);
  // A stream (whole_recording false) cannot judge pixels: the filter leaves them.
  Events again = of(txy);
  again.sort_by_time();
  EventFilter g(8, 8, EventFilterOptions().hot_pixel_factor(5));
  g.apply(again, false);
  EXPECT_EQ(again.size(), txy.size());
}

TEST(EventFilter, PiecesOfAStreamGiveTheWholeRecordingsResult) {
  std::mt19937_64 rng(3);
  Events e;
  int64_t t = 0;
  for (int i = 0; i < 5000; ++i) {
    t += static_cast<int64_t>(rng() % 40);
    e.push_back(t, static_cast<uint16_t>(rng() % 32), static_cast<uint16_t>(rng() % 32), static_cast<uint8_t>(rng() % 2));
  }
  const auto options = EventFilterOptions().denoise_us(300).refractory_us(150);
  Events whole = e;
  EventFilter(32, 32, options).apply(whole);
  EXPECT_GT(whole.size(), 0u);
  EXPECT_LT(whole.size(), e.size());
  EventFilter stream(32, 32, options);
  Events pieces;
  for (size_t b = 0; b < e.size(); b += 777) {
    Events piece = e.slice(b, b + 777);
    stream.apply(piece, false);
    pieces.append(piece, 0, piece.size());
  }
  EXPECT_EQ(pieces.t, whole.t);
  EXPECT_EQ(pieces.x, whole.x);
  EXPECT_NE(masnn::testing::expect_error([] { EventFilterOptions().denoise_us(-1).validate(); }).find("denoise_us"),
            std::string::npos);
}

TEST(EventAugment, DropsAndJitterAreReproducibleFromTheSeedAndKeepTimeOrder) {
  Events e;
  for (int i = 0; i < 20000; ++i) e.push_back(i * 5, static_cast<uint16_t>(i % 64), static_cast<uint16_t>((i / 64) % 64), 1);
  auto run = [&](const EventAugmentOptions& o, uint64_t seed) {
    Events copy = e;
    std::mt19937_64 rng(seed);
    augment_events(copy, 64, 64, o, rng);
    return copy;
  };
  const Events dropped = run(EventAugmentOptions().drop_fraction(0.25), 1);
  EXPECT_NEAR(static_cast<double>(dropped.size()) / e.size(), 0.75, 0.02);
  EXPECT_EQ(run(EventAugmentOptions().drop_fraction(0.25), 1).t, dropped.t);
  EXPECT_NE(run(EventAugmentOptions().drop_fraction(0.25), 2).t, dropped.t);
  // A dropped interval leaves one gap of at least its length.
  const Events gap = run(EventAugmentOptions().drop_time_us(20000), 4);
  int64_t widest = 0;
  for (size_t i = 1; i < gap.size(); ++i) widest = std::max(widest, gap.t[i] - gap.t[i - 1]);
  EXPECT_GE(widest, 20000);
  // A dropped square: the events removed all lie within 8 x 8 pixels.
  const Events area = run(EventAugmentOptions().drop_area(8), 5);
  ASSERT_LT(area.size(), e.size());
  std::vector<int> kept(64 * 64, 0), all(64 * 64, 0);
  for (size_t i = 0; i < e.size(); ++i) ++all[e.y[i] * 64 + e.x[i]];
  for (size_t i = 0; i < area.size(); ++i) ++kept[area.y[i] * 64 + area.x[i]];
  int x0 = 64, x1 = -1, y0 = 64, y1 = -1;
  for (int p = 0; p < 64 * 64; ++p)
    if (kept[p] != all[p]) x0 = std::min(x0, p % 64), x1 = std::max(x1, p % 64), y0 = std::min(y0, p / 64), y1 = std::max(y1, p / 64);
  EXPECT_LE(x1 - x0, 7);
  EXPECT_LE(y1 - y0, 7);
  // Jitter keeps events on the sensor and in time order.
  const Events jittered = run(EventAugmentOptions().time_jitter_us(50).spatial_jitter(1.5), 6);
  EXPECT_TRUE(jittered.is_time_sorted());
  EXPECT_GT(jittered.size(), e.size() * 9 / 10);
  for (size_t i = 0; i < jittered.size(); ++i) ASSERT_TRUE(jittered.x[i] < 64 && jittered.y[i] < 64);
  // Off: nothing is drawn, so the loader's other random choices are those of a run without augmentation.
  std::mt19937_64 a(9), b(9);
  Events copy = e;
  augment_events(copy, 64, 64, EventAugmentOptions(), a);
  EXPECT_EQ(a(), b());
}

TEST(EventFilterConfig, KeysSetTheFiltersAndAreChecked) {
  using namespace masnn::train;
  const TrainConfig c = parse_config("", "x.toml",
                                     {"data.denoise_us=5000", "data.refractory_us=100", "data.drop_fraction=0.1",
                                      "data.time_jitter_us=20"});
  const EventFilterOptions f = event_filter_options(c.data);
  EXPECT_EQ(f.denoise_us(), 5000);
  EXPECT_EQ(f.refractory_us(), 100);
  const std::string e = masnn::testing::expect_error([] { parse_config("", "x.toml", {"data.drop_fraction=1"}); });
  EXPECT_NE(e.find("data.drop_fraction"), std::string::npos) << e;
}
