// Frames, clip placement and the loader, on hand-placed events and a tiny in-memory dataset.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include "data/clips.h"
#include "masnn/data/event_dataset.h"
#include "masnn/data/frames.h"
#include "masnn/data/loader.h"

using namespace masnn::data;

namespace {

FrameOptions tiny(int64_t steps, int64_t dt, int64_t ds) {
  return FrameOptions().steps(steps).dt_us(dt).width(4).height(4).ds(ds);
}

// The reference placement of REFERENCE.md 4.1, transliterated from the reference code's sample_test.
std::vector<int64_t> reference_starts(int64_t duration, int64_t T, int64_t dt, int64_t clip) {
  std::vector<int64_t> start_point;
  const int64_t end_time = duration, start_time = 0;
  if (clip * T * dt - (end_time - start_time) > 0) {
    const auto overlap =
        static_cast<int64_t>(std::floor(double(clip * T * dt - (end_time - start_time)) / double(clip)));
    for (int64_t j = 0; j < clip; ++j) {
      start_point.push_back(j * (T * dt - overlap));
      if (start_point.back() + T * dt > end_time) start_point.back() -= start_point.back() + T * dt - end_time;
    }
  } else {
    const auto overlap =
        static_cast<int64_t>(std::floor(double((end_time - start_time) - clip * T * dt) / double(clip)));
    for (int64_t j = 0; j < clip; ++j) {
      start_point.push_back(j * (T * dt + overlap));
      if (start_point.back() + T * dt > end_time) start_point.back() -= start_point.back() + T * dt - end_time;
    }
  }
  return start_point;
}

class ToyDataset : public EventDataset {
 public:
  explicit ToyDataset(size_t n, bool fail_on_7 = false) : n_(n), fail_(fail_on_7) {}
  size_t size() const override { return n_; }
  int label(size_t i) const override { return static_cast<int>(i % 3); }
  Events events(size_t i) const override {
    if (fail_ && i == 7) throw std::runtime_error("toy sample 7 is broken");
    ++reads;
    Events ev;
    // Sample i: one event per 100 us for 2000 us at pixel (i % 4, i / 4 % 4), ON/OFF alternating.
    for (int k = 0; k < 20; ++k)
      ev.push_back(1000 * static_cast<int64_t>(i) + 100 * k, static_cast<uint16_t>(i % 4),
                   static_cast<uint16_t>(i / 4 % 4), static_cast<uint8_t>(k % 2));
    return ev;
  }
  int num_classes() const override { return 3; }
  int width() const override { return 4; }
  int height() const override { return 4; }
  std::string name() const override { return "toy"; }
  std::string describe(size_t i) const override { return "toy " + std::to_string(i); }
  std::vector<SourceFile> source_files() const override { return {}; }
  mutable std::atomic<int> reads{0};

 private:
  size_t n_;
  bool fail_;
};

}  // namespace

TEST(DataFrames, TimeWindowCountsExactly) {
  Events ev;
  ev.push_back(95, 0, 0, 1);   // before the start: dropped
  ev.push_back(100, 0, 0, 1);  // frame 0, ON, cell (0,0)
  ev.push_back(105, 1, 1, 1);  // frame 0, ON, cell (0,0) with ds 2
  ev.push_back(109, 3, 0, 0);  // frame 0, OFF, row 0 col 1
  ev.push_back(110, 2, 3, 1);  // frame 1 (window boundary), ON, row 1 col 1
  ev.push_back(129, 0, 3, 0);  // frame 2, OFF, row 1 col 0
  ev.push_back(130, 0, 0, 1);  // after T * dt: dropped
  const torch::Tensor f = events_to_frames(ev, tiny(3, 10, 2), 100);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{3, 2, 2, 2}));
  torch::Tensor expected = torch::zeros({3, 2, 2, 2});
  expected[0][1][0][0] = 2;
  expected[0][0][0][1] = 1;
  expected[1][1][1][1] = 1;
  expected[2][0][1][0] = 1;
  EXPECT_TRUE(torch::equal(f, expected)) << f;
  // Binary, normalised, and the reference's (p, x, y) layout.
  EXPECT_EQ(events_to_frames(ev, tiny(3, 10, 2).binary(true), 100)[0][1][0][0].item<float>(), 1.0f);
  const auto norm = events_to_frames(ev, tiny(3, 10, 2).normalization(FrameNormalization::MaxPerFrame), 100);
  EXPECT_FLOAT_EQ(norm[0][0][0][1].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(norm[0][1][0][0].item<float>(), 1.0f);
  const auto xm = events_to_frames(ev, tiny(3, 10, 2).x_major(true), 100);
  EXPECT_TRUE(torch::equal(xm, f.transpose(2, 3)));
}

TEST(DataFrames, MatchesDirectLoopOnRandomEvents) {
  std::mt19937_64 rng(7);
  Events ev;
  int64_t t = 0;
  for (int i = 0; i < 5000; ++i) {
    t += static_cast<int64_t>(rng() % 40);
    ev.push_back(t, static_cast<uint16_t>(rng() % 128), static_cast<uint16_t>(rng() % 128),
                 static_cast<uint8_t>(rng() % 2));
  }
  const auto o = FrameOptions().steps(8).dt_us(5000).ds(4);
  const int64_t start = 17000;
  const auto f = events_to_frames(ev, o, start);
  std::vector<float> ref(8 * 2 * 32 * 32, 0.0f);
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev.t[i] < start || ev.t[i] >= start + 8 * 5000) continue;
    const int64_t k = (ev.t[i] - start) / 5000;
    ref[static_cast<size_t>(((k * 2 + ev.p[i]) * 32 + ev.y[i] / 4) * 32 + ev.x[i] / 4)] += 1;
  }
  EXPECT_TRUE(torch::equal(f, torch::from_blob(ref.data(), {8, 2, 32, 32}).clone()));
}

TEST(DataFrames, EventCountAndTimeBins) {
  Events ev;
  for (int i = 0; i < 6; ++i) ev.push_back(i * i * 10, static_cast<uint16_t>(i % 4), 0, 1);  // t: 0,10,40,90,160,250
  const auto counts = events_to_frames(ev, tiny(3, 1, 1).slicing(FrameSlicing::EventCount), 0);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(counts[k].sum().item<float>(), 2.0f) << k;
  EXPECT_EQ(counts[0][1][0][0].item<float>(), 1.0f);  // event 0 at x 0
  EXPECT_EQ(counts[0][1][0][1].item<float>(), 1.0f);  // event 1 at x 1
  // Time bins over [0, 250]: bin = t * 3 / 251 -> 0,0,0,1,1,2.
  const auto bins = events_to_frames(ev, tiny(3, 1, 1).slicing(FrameSlicing::TimeBins), 0);
  EXPECT_EQ(bins[0].sum().item<float>(), 3.0f);
  EXPECT_EQ(bins[1].sum().item<float>(), 2.0f);
  EXPECT_EQ(bins[2].sum().item<float>(), 1.0f);
}

TEST(DataFrames, SpatialTransformShiftsAndFlips) {
  Events ev;
  ev.push_back(0, 0, 0, 1);
  ev.push_back(0, 3, 3, 1);
  SpatialTransform shift{1, 0, false};
  const auto f = events_to_frames(ev, tiny(1, 10, 1), 0, shift);
  EXPECT_EQ(f[0][1][0][1].item<float>(), 1.0f);  // (0,0) -> (1,0)
  EXPECT_EQ(f.sum().item<float>(), 1.0f);        // (3,3) -> (4,3) left the sensor
  SpatialTransform flip{0, 0, true};
  const auto g = events_to_frames(ev, tiny(1, 10, 1), 0, flip);
  EXPECT_EQ(g[0][1][0][3].item<float>(), 1.0f);
  EXPECT_EQ(g[0][1][3][0].item<float>(), 1.0f);
  EXPECT_THROW(events_to_frames(ev, tiny(1, 10, 3), 0), std::invalid_argument);  // 3 does not divide 4
}

TEST(DataClips, TestStartsFollowTheReferenceForLongAndShortSamples) {
  // Long sample: 10 clips of 5 ms over 100 ms, gaps of 5 ms.
  EXPECT_EQ(test_clip_starts(1000, 101000, 5000, 10),
            (std::vector<int64_t>{1000, 11000, 21000, 31000, 41000, 51000, 61000, 71000, 81000, 91000}));
  // Short sample (30 ms): overlapping clips, the last moved back to end at the sample's end.
  EXPECT_EQ(test_clip_starts(0, 30000, 5000, 10),
            (std::vector<int64_t>{0, 3000, 6000, 9000, 12000, 15000, 18000, 21000, 24000, 25000}));
  // Shorter than one clip: every clip starts before the sample (and takes all of it).
  EXPECT_EQ(test_clip_starts(500, 3500, 5000, 3), (std::vector<int64_t>{-1500, -1500, -1500}));
  for (int64_t d : {0, 1, 999, 4999, 5000, 29999, 49999, 50000, 50001, 123457, 1000003}) {
    for (int clips : {1, 3, 10}) {
      const auto ref = reference_starts(d, 50, 100, clips);
      const auto got = test_clip_starts(0, d, 5000, clips);
      EXPECT_EQ(got, ref) << "duration " << d << " clips " << clips;
    }
  }
  EXPECT_THROW(test_clip_starts(0, 10, 5, 0), std::invalid_argument);
}

TEST(DataClips, RandomStartStaysInRange) {
  std::mt19937_64 rng(3);
  std::set<int64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const int64_t s = random_clip_start(100, 160, 50, rng());
    EXPECT_GE(s, 100);
    EXPECT_LE(s, 110);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 11u);                             // every start of [100, 110] is drawn
  EXPECT_EQ(random_clip_start(100, 120, 50, 12345), 100);  // sample shorter than the window
}

TEST(DataClips, TrainAndTestClipShapes) {
  ToyDataset toy(1);
  const Events ev = toy.events(0);
  const auto o = tiny(4, 500, 1);
  std::mt19937_64 rng(1);
  EXPECT_EQ(train_clip(ev, o, rng).sizes(), (std::vector<int64_t>{4, 2, 4, 4}));
  const auto clips = test_clips(ev, o, 3);
  EXPECT_EQ(clips.sizes(), (std::vector<int64_t>{3, 4, 2, 4, 4}));
  // Sample spans [0, 1900]; window 2000 > duration: every clip covers all 20 events.
  for (int j = 0; j < 3; ++j) EXPECT_EQ(clips[j].sum().item<float>(), 20.0f);
}

TEST(DataLoader, EachSampleOncePerEpochAndDeterministicAcrossWorkers) {
  auto ds = std::make_shared<ToyDataset>(23);
  auto options = LoaderOptions().batch_size(5).seed(11).frames(tiny(4, 300, 1)).augment(AugmentOptions().max_shift(1));
  std::vector<std::vector<torch::Tensor>> runs;
  for (int workers : {0, 1, 3}) {
    EventLoader loader(ds, LoaderOptions(options).workers(workers).prefetch(2));
    EXPECT_EQ(loader.batches_per_epoch(), 5u);
    std::vector<torch::Tensor> tensors;
    for (uint64_t epoch : {0, 1}) {
      loader.start_epoch(epoch);
      std::multiset<int64_t> seen;
      Batch b;
      size_t batches = 0;
      while (loader.next(b)) {
        ++batches;
        EXPECT_EQ(b.x.size(0), 4);
        EXPECT_EQ(b.x.size(1), b.labels.size(0));
        for (int64_t k = 0; k < b.sample.size(0); ++k) {
          seen.insert(b.sample[k].item<int64_t>());
          EXPECT_EQ(b.labels[k].item<int64_t>(), b.sample[k].item<int64_t>() % 3);
        }
        tensors.push_back(b.x);
        tensors.push_back(b.sample);
      }
      EXPECT_EQ(batches, 5u);
      ASSERT_EQ(seen.size(), 23u);
      EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 23u);
    }
    runs.push_back(tensors);
  }
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i)
      EXPECT_TRUE(torch::equal(runs[r][i], runs[0][i])) << "run " << r << " tensor " << i;
  }
  // Epochs 0 and 1 are shuffled differently.
  EventLoader loader(ds, options);
  EXPECT_NE(loader.epoch_order(0), loader.epoch_order(1));
  EXPECT_EQ(loader.epoch_order(1), loader.epoch_order(1));
}

TEST(DataLoader, RanksShardAnEpochWithoutOverlapAndSameAugmentation) {
  auto ds = std::make_shared<ToyDataset>(12);
  auto options =
      LoaderOptions().batch_size(4).seed(5).workers(0).frames(tiny(2, 300, 1)).augment(AugmentOptions().max_shift(1));
  // The samples and tensors one process sees, keyed by sample.
  auto epoch = [&](int rank, int world) {
    EventLoader loader(ds, LoaderOptions(options).rank(rank).world_size(world));
    loader.start_epoch(3);
    std::vector<std::pair<int64_t, torch::Tensor>> out;
    Batch b;
    while (loader.next(b))
      for (int64_t k = 0; k < b.sample.size(0); ++k) out.emplace_back(b.sample[k].item<int64_t>(), b.x.select(1, k));
    return out;
  };
  const auto whole = epoch(0, 1);
  std::map<int64_t, torch::Tensor> by_sample(whole.begin(), whole.end());
  std::multiset<int64_t> seen;
  for (int rank : {0, 1, 2}) {
    const auto part = epoch(rank, 3);
    EXPECT_EQ(part.size(), 4u);
    for (const auto& [sample, x] : part) {
      seen.insert(sample);
      // A sample's random clip and shift follow its position in the whole epoch, not the rank.
      EXPECT_TRUE(torch::equal(x, by_sample.at(sample))) << "rank " << rank << " sample " << sample;
    }
  }
  EXPECT_EQ(seen, std::multiset<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  // 12 samples over 5 ranks: padded to 15 by wrapping around, 3 per rank, every sample at least once.
  std::multiset<int64_t> padded;
  for (int rank = 0; rank < 5; ++rank) {
    EventLoader loader(ds, LoaderOptions(options).rank(rank).world_size(5));
    EXPECT_EQ(loader.epoch_order(0).size(), 3u);
    for (size_t i : loader.epoch_order(0)) padded.insert(static_cast<int64_t>(i));
  }
  EXPECT_EQ(padded.size(), 15u);
  EXPECT_EQ(std::set<int64_t>(padded.begin(), padded.end()).size(), 12u);
  EXPECT_THROW(EventLoader(ds, LoaderOptions(options).rank(2).world_size(2)), std::invalid_argument);
}

TEST(DataLoader, TestModeGivesClipsPerSampleInOrder) {
  auto ds = std::make_shared<ToyDataset>(4);
  EventLoader loader(
      ds, LoaderOptions().batch_size(3).shuffle(false).mode(ClipMode::Test).test_clips(2).frames(tiny(2, 100, 2)));
  loader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.x.sizes(), (std::vector<int64_t>{2, 6, 2, 2, 2}));
  EXPECT_TRUE(torch::equal(b.sample, torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.clip, torch::tensor({0, 1, 0, 1, 0, 1}, torch::kInt64)));
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.x.size(1), 2);
  EXPECT_FALSE(loader.next(b));
}

TEST(DataLoader, WorkerErrorsReachTheConsumerAndShutdownDoesNotHang) {
  auto ds = std::make_shared<ToyDataset>(20, true);
  {
    EventLoader loader(ds, LoaderOptions().batch_size(4).shuffle(false).workers(2).frames(tiny(2, 100, 1)));
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));                       // samples 0-3
    EXPECT_THROW(loader.next(b), std::runtime_error);  // samples 4-7
  }
  auto big = std::make_shared<ToyDataset>(400);
  for (int i = 0; i < 3; ++i) {
    EventLoader loader(big, LoaderOptions().batch_size(2).workers(3).prefetch(2).frames(tiny(2, 100, 1)));
    loader.start_epoch(0);
    Batch b;
    ASSERT_TRUE(loader.next(b));
    // Destroyed mid-epoch: workers stop after at most prefetch batches.
  }
  EXPECT_LE(big->reads.load(), 3 * 2 * 3);  // per loader: 1 delivered + 2 prefetched batches of 2
}
