// Streaming inference (src/serve): the incremental AEDAT 3.1 reader, frames on the fly, step-at-a-time networks
// with carried state, the causal attention, the prediction windows, and the whole pipeline from a file and a pipe.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "masnn/data/aedat2.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/event_decoder.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/nmnist_bin.h"
#include "masnn/data/prophesee.h"
#include "masnn/data/frames.h"
#include "masnn/data/synth_gestures.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/res_snn.h"
#include "masnn/serve/frame_binner.h"
#include "masnn/serve/stream_classifier.h"
#include "masnn/serve/stream_runner.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/train/factory.h"
#include "masnn/util/file_io.h"
#include "serve_test_support.h"
#include "test_support.h"

using namespace masnn;
using masnn::testing::expect_error;
using masnn::testing::run_command;
using masnn::testing::TempDir;

namespace {

// A few hundred events over ~0.4 s on a 128x128 sensor, sorted by time.
data::Events random_events(uint64_t seed, size_t n = 600, int64_t t0 = 1000) {
  std::mt19937_64 rng(seed);
  data::Events e;
  int64_t t = t0;
  for (size_t i = 0; i < n; ++i) {
    t += static_cast<int64_t>(rng() % 1400);
    e.push_back(t, static_cast<uint16_t>(rng() % 128), static_cast<uint16_t>(rng() % 128),
                static_cast<uint8_t>(rng() % 2));
  }
  return e;
}

void append_u32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A packet header: type, source 1, event size, ts offset, overflow, capacity, number, valid.
void packet_header(std::vector<uint8_t>& out, uint16_t type, uint32_t size, uint32_t ts_offset, uint32_t overflow,
                   uint32_t capacity, uint32_t number) {
  out.push_back(static_cast<uint8_t>(type));
  out.push_back(static_cast<uint8_t>(type >> 8));
  out.push_back(1);
  out.push_back(0);
  append_u32(out, size);
  append_u32(out, ts_offset);
  append_u32(out, overflow);
  append_u32(out, capacity);
  append_u32(out, number);
  append_u32(out, number);
}

// Feeds `bytes` in pieces of random size (1..max_piece) and returns the events.
data::Events parse_in_pieces(const std::vector<uint8_t>& bytes, size_t max_piece, uint64_t seed,
                             const data::EventReadOptions& options = {}, data::EventReadStats* stats = nullptr) {
  auto parser = data::make_event_decoder(data::EventFormat::Aedat3, "test stream", options);
  std::mt19937_64 rng(seed);
  data::Events out;
  for (size_t i = 0; i < bytes.size();) {
    const size_t n = std::min(bytes.size() - i, 1 + static_cast<size_t>(rng() % max_piece));
    parser->feed(bytes.data() + i, n, out);
    i += n;
  }
  parser->finish(out);
  if (stats) *stats = parser->stats();
  return out;
}

void expect_same_events(const data::Events& a, const data::Events& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a.t, b.t);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.y, b.y);
  EXPECT_EQ(a.p, b.p);
}

// A small DVS network in float64 (convolutions then give the same values whatever the batch size, so step-at-a-
// time and offline results can be compared bit for bit), eval mode, with BN statistics that keep it spiking.
DvsNet small_net(const std::string& attention, int64_t steps,
                 AttentionPlacement placement = AttentionPlacement::ConvPost, bool per_step = false) {
  return masnn::testing::small_spiking_net(attention, steps, 3, torch::kFloat64, placement, per_step);
}

torch::Tensor random_frames(int64_t steps, int64_t batch = 1, uint64_t seed = 5) {
  torch::manual_seed(static_cast<int64_t>(seed));
  return (torch::rand({steps, batch, 2, 16, 16}, torch::kFloat64) < 0.25).to(torch::kFloat64) *
         torch::randint(1, 4, {steps, batch, 2, 16, 16}, torch::kFloat64);
}

// Runs T steps from rest and returns the mean of the output spikes, as forward does.
torch::Tensor stepwise_output(DvsNet& net, const torch::Tensor& x) {
  torch::NoGradGuard ng;
  DvsNetStepState state;
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < x.size(0); ++t) out.push_back(net->forward_step(x[t], state));
  return torch::stack(out).mean(0);
}

data::FrameOptions frame_options16(int64_t steps) {
  return data::FrameOptions().steps(steps).dt_us(25000).width(128).height(128).ds(8);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// The incremental AEDAT 3.1 reader.

TEST(Aedat3Stream, AnySplitOfTheBytesGivesTheEventsOfTheFileReader) {
  data::Events events = random_events(1, 3000);
  data::Aedat3WriteOptions wo;
  wo.events_per_packet = 97;  // many packets, so that splits fall inside headers and bodies
  const std::vector<uint8_t> bytes = data::encode_aedat3(events, wo);
  const data::Events offline = data::parse_aedat3(bytes.data(), bytes.size(), "mem");
  for (size_t piece : {size_t(1), size_t(3), size_t(29), size_t(4096), size_t(1) << 20}) {
    SCOPED_TRACE(piece);
    data::EventReadStats st;
    expect_same_events(parse_in_pieces(bytes, piece, piece, {}, &st), offline);
    EXPECT_EQ(st.events, events.size());
    EXPECT_EQ(st.packets, (events.size() + 96) / 97);
  }
}

TEST(Aedat3Stream, SkipsOtherPacketTypesUnusedCapacityAndInvalidEventsAndDropsOutOfRange) {
  std::vector<uint8_t> b;
  const std::string header = "#!AER-DAT3.1\r\n#Format: RAW\n#!END-HEADER\r\n";
  b.insert(b.end(), header.begin(), header.end());
  packet_header(b, 2, 12, 8, 0, 3, 2);  // a special-event packet: skipped by its size
  b.resize(b.size() + 36, 0xAB);
  packet_header(b, 1, 8, 4, 1, 4, 3);  // polarity, overflow 1, capacity 4 with 3 events
  append_u32(b, (5u << 17) | (6u << 2) | 2u | 1u);
  append_u32(b, 10);
  append_u32(b, (7u << 17) | (8u << 2) | 0u);  // valid bit 0: dropped
  append_u32(b, 11);
  append_u32(b, (200u << 17) | (1u << 2) | 1u);  // x = 200: out of a 128-wide sensor
  append_u32(b, 12);
  b.resize(b.size() + 8, 0xFF);        // unused capacity
  packet_header(b, 1, 8, 4, 0, 0, 0);  // an empty packet
  data::EventReadOptions ro;
  ro.width = 128;
  ro.height = 128;
  data::EventReadStats st;
  const data::Events e = parse_in_pieces(b, 5, 1, ro, &st);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e.t[0], (int64_t(1) << 31) | 10);
  EXPECT_EQ(e.x[0], 5);
  EXPECT_EQ(e.y[0], 6);
  EXPECT_EQ(e.p[0], 1);
  EXPECT_EQ(st.invalid_dropped, 1u);
  EXPECT_EQ(st.out_of_range_dropped, 1u);
  EXPECT_EQ(st.skipped_packets, 1u);
  EXPECT_EQ(st.skipped_events, 2u);
  EXPECT_EQ(st.packets, 3u);
}

TEST(Aedat3Stream, BadBytesGiveAClearErrorWithTheOffset) {
  auto run = [](const std::vector<uint8_t>& bytes) {
    auto p = data::make_event_decoder(data::EventFormat::Aedat3, "cam.aedat");
    data::Events out;
    p->feed(bytes.data(), bytes.size(), out);
    p->finish(out);
  };
  auto text = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  EXPECT_NE(expect_error([&] { run(text("GARBAGE GARBAGE\n")); }).find("cam.aedat: AEDAT 3.1: missing version"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { run(text("#!AER-DAT2.0\r\n")); }).find("missing version line"), std::string::npos);
  EXPECT_NE(expect_error([&] { run(text("#!AER-DAT3.1\nno hash\n")); }).find("does not start with '#'"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { run({}); }).find("empty stream"), std::string::npos);
  EXPECT_NE(expect_error([&] { run(text("#!AER-DAT3.1\n#x\n")); }).find("ended inside the header"), std::string::npos);
  std::vector<uint8_t> ok = text("#!AER-DAT3.1\n#!END-HEADER\n");
  auto bad = ok;
  packet_header(bad, 1, 8, 4, 0, 2, 3);  // number > capacity
  EXPECT_NE(expect_error([&] { run(bad); }).find("eventNumber 3 exceeds eventCapacity 2 at byte 26"),
            std::string::npos);
  bad = ok;
  packet_header(bad, 1, 4, 0, 0, 1, 1);  // polarity events of 4 bytes
  EXPECT_NE(expect_error([&] { run(bad); }).find("polarity packet with eventSize 4"), std::string::npos);
  bad = ok;
  bad.resize(bad.size() + 10, 0);
  EXPECT_NE(expect_error([&] { run(bad); }).find("the input ended inside a packet header (10 of 28 bytes)"), std::string::npos);
  bad = ok;
  packet_header(bad, 1, 8, 4, 0, 2, 2);
  bad.resize(bad.size() + 9, 0);
  EXPECT_NE(expect_error([&] { run(bad); }).find("inside a packet (7 bytes of its body missing) at byte 26"),
            std::string::npos);
  // A header that never ends fails once it passes the limit, not at the end of a possibly endless stream.
  std::vector<uint8_t> endless = text("#!AER-DAT3.1\n");
  const std::string line = "#" + std::string(1000, 'x') + "\n";
  auto p = data::make_event_decoder(data::EventFormat::Aedat3, "cam");
  data::Events out;
  p->feed(endless.data(), endless.size(), out);
  EXPECT_NE(expect_error([&] {
              for (int i = 0; i < 2000; ++i) p->feed(reinterpret_cast<const uint8_t*>(line.data()), line.size(), out);
            }).find("header longer than"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------------
// Frames on the fly.

TEST(FrameBinner, StreamedFramesEqualTheOfflineFramesForEverySetting) {
  const data::Events events = random_events(2, 4000);
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    auto o = frame_options16(20);
    if (variant == 1) o.binary(true).x_major(true);
    if (variant == 2) o.normalization(data::FrameNormalization::MaxPerFrame).dt_us(7000);
    const torch::Tensor offline = data::events_to_frames(events, o, events.t[0]);
    serve::StreamingFrameBinner binner(o);
    std::vector<torch::Tensor> frames;
    for (size_t i = 0; i < events.size(); i += 37) binner.push(events, i, i + 37, frames);
    binner.flush(frames);
    ASSERT_GE(frames.size(), 20u);
    EXPECT_TRUE(torch::equal(torch::stack(frames).slice(0, 0, 20), offline));
    EXPECT_EQ(binner.start_us(), events.t[0]);
  }
}

TEST(FrameBinner, SilentGapsGiveEmptyFramesAndLateEventsAreCounted) {
  serve::StreamingFrameBinner binner(frame_options16(1), 0);
  data::Events e;
  e.push_back(10, 1, 1, 1);
  e.push_back(80000, 2, 2, 0);  // frame 3: frames 0..2 finish (1 and 2 empty)
  e.push_back(30000, 3, 3, 1);  // frame 1, already finished
  std::vector<torch::Tensor> frames;
  binner.push(e, frames);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].sum().item<double>(), 1.0);
  EXPECT_EQ(frames[1].sum().item<double>(), 0.0);
  EXPECT_EQ(binner.stats().late_dropped, 1);
  binner.flush(frames);
  EXPECT_EQ(frames.size(), 4u);
}

// A 24-day jump in timestamps (an AEDAT 3.1 packet with a large overflow count) at 25 ms frames would be 83
// million empty frames: a silence gives max_silent_steps of them, the rest is skipped and counted, frames go to
// the sink one at a time, and frame times stay those of the recording.
TEST(FrameBinner, ALongSilenceGivesAtMostMaxSilentStepsThenSkips) {
  const int64_t day_us = 86400LL * 1000000;
  serve::StreamingFrameBinner binner(frame_options16(1), 0, 4);
  data::Events e;
  e.push_back(10, 1, 1, 1);
  e.push_back(24 * day_us + 30000, 2, 2, 0);
  e.push_back(24 * day_us + 80000, 3, 3, 1);
  int64_t given = 0;
  binner.push(e, 0, e.size(), [&](const torch::Tensor& f) {
    EXPECT_EQ(f.sum().item<double>(), given == 0 ? 1.0 : given == 5 ? 1.0 : 0.0) << given;
    ++given;
  });
  EXPECT_EQ(given, 1 + 4 + 1 + 1);  // the first frame, 4 silent ones, the frame of 24 days, one empty after it
  EXPECT_EQ(binner.stats().gaps, 1);
  EXPECT_EQ(binner.stats().skipped_steps, (24 * day_us + 30000) / 25000 - 5);
  EXPECT_EQ(binner.frame_begin_us(3), 3 * 25000);
  EXPECT_EQ(binner.frame_begin_us(5), 24 * day_us + 25000);
  EXPECT_EQ(binner.frame_begin_us(7), 24 * day_us + 75000);
  // A silence of exactly max_silent_steps frames is not cut.
  serve::StreamingFrameBinner exact(frame_options16(1), 0, 4);
  data::Events f;
  f.push_back(10, 1, 1, 1);
  f.push_back(5 * 25000 + 10, 1, 1, 1);
  std::vector<torch::Tensor> frames;
  exact.push(f, frames);
  EXPECT_EQ(frames.size(), 5u);
  EXPECT_EQ(exact.stats().gaps, 0);
  EXPECT_NE(expect_error([] { serve::StreamingFrameBinner(frame_options16(1), 0, 0); }).find("max_silent_steps"),
            std::string::npos);
}

TEST(FrameBinner, RejectsSettingsThatNeedTheWholeSample) {
  EXPECT_NE(expect_error([] {
              serve::StreamingFrameBinner(frame_options16(4).slicing(data::FrameSlicing::EventCount));
            }).find("time-window"),
            std::string::npos);
  EXPECT_NE(expect_error([] {
              serve::StreamingFrameBinner(frame_options16(4).normalization(data::FrameNormalization::MaxPerSample));
            }).find("max-per-sample"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------------
// Step-at-a-time networks.

TEST(StepInference, EqualsTheOfflineForwardExactlyWhenNoAttentionPoolsOverTime) {
  struct Case {
    const char* attention;
    AttentionPlacement placement;
    bool per_step;
  };
  for (const Case& c :
       {Case{"none", AttentionPlacement::ConvPost, false}, Case{"CSA", AttentionPlacement::ConvPost, true},
        Case{"CSA", AttentionPlacement::ActivatePre, false}}) {
    SCOPED_TRACE(std::string(c.attention) + " " + to_string(c.placement) + (c.per_step ? " per-step" : ""));
    DvsNet net = small_net(c.attention, 12, c.placement, c.per_step);
    const torch::Tensor x = random_frames(12, 3);
    torch::NoGradGuard ng;
    const torch::Tensor offline = net->forward(x);
    EXPECT_GT(offline.sum().item<double>(), 0.0);  // the network spikes, so the comparison means something
    EXPECT_TRUE(torch::equal(stepwise_output(net, x), offline));
  }
}

TEST(StepInference, ChunksCarryTheStateAcrossCalls) {
  DvsNet net = small_net("none", 10);
  const torch::Tensor x = random_frames(10, 2);
  torch::NoGradGuard ng;
  DvsNetStepState state;
  std::vector<torch::Tensor> a, b;
  for (int64_t t = 0; t < 10; ++t) a.push_back(net->forward_step(x[t], state));
  state.reset(1);  // row 1 starts again from rest; row 0 goes on
  for (int64_t t = 0; t < 4; ++t) b.push_back(net->forward_step(x[t], state));
  DvsNetStepState fresh;
  std::vector<torch::Tensor> c;
  for (int64_t t = 0; t < 4; ++t) c.push_back(net->forward_step(x[t].slice(0, 1, 2), fresh));
  EXPECT_TRUE(torch::equal(torch::stack(b).select(1, 1), torch::stack(c).select(1, 0)));
  EXPECT_NE(expect_error([&] { net->forward_step(x[0].slice(0, 0, 1), state); }).find("holds 2 rows"),
            std::string::npos);
  net->train();
  EXPECT_NE(expect_error([&] { net->forward_step(x[0], state); }).find("eval mode"), std::string::npos);
}

TEST(CausalAttention, IsTheOfflineAttentionOnTheWindowSeenSoFar) {
  // forward_causal over the first n steps = forward over those steps padded with zero steps (TA's descriptors of
  // unseen steps are 0, CA and SA pool over the n steps); with n = T it is the last row of forward.
  torch::manual_seed(4);
  const int64_t T = 6;
  MultiDimAttention att(MultiDimAttentionOptions(AttentionType::parse("TCSA"), T, 8).t_ratio(2).c_ratio(2));
  att->to(torch::kFloat64);
  const torch::Tensor x = torch::randn({T, 2, 8, 5, 5}, torch::kFloat64);
  torch::NoGradGuard ng;
  const torch::Tensor full = att->forward(x);
  EXPECT_TRUE(torch::allclose(att->forward_causal(x), full[T - 1], 1e-12, 1e-12));
  for (int64_t n = 1; n < T; ++n) {
    SCOPED_TRACE(n);
    const torch::Tensor w = x.slice(0, 0, n);
    const torch::Tensor padded = torch::cat({w, torch::zeros({T - n, 2, 8, 5, 5}, torch::kFloat64)});
    const torch::Tensor wt = att->ta->forward(padded).slice(0, 0, n);
    EXPECT_TRUE(torch::allclose(att->ta->forward_prefix(w), wt, 1e-12, 1e-12));
    torch::Tensor out = w * wt;
    out = out * att->ca->forward(out);
    out = torch::relu(out * att->sa->forward(out));
    EXPECT_TRUE(torch::allclose(att->forward_causal(w), out[n - 1], 1e-12, 1e-12));
  }
  EXPECT_NE(expect_error([&] {
              att->ta->forward_prefix(torch::zeros({T + 1, 1, 8, 5, 5}));
            }).find("1..6 steps"),
            std::string::npos);
}

TEST(CausalAttention, TheCachedStatisticsGiveTheDefinition) {
  // What step-at-a-time inference runs (statistics of each step kept, forward_causal_cached) equals the
  // definition (forward_causal on the window) for every composite, pooled over T or per step, conv and fc forms.
  const int64_t T = 5;
  for (const char* name : {"TA", "CA", "SA", "TCA", "TSA", "CSA", "TCSA"}) {
    for (bool per_step : {false, true}) {
      SCOPED_TRACE(std::string(name) + (per_step ? " per step" : ""));
      torch::manual_seed(6);
      MultiDimAttention att(
          MultiDimAttentionOptions(AttentionType::parse(name), T, 8).t_ratio(2).c_ratio(2).per_step(per_step));
      att->to(torch::kFloat64);
      const torch::Tensor x = torch::randn({T, 3, 8, 4, 6}, torch::kFloat64);
      torch::NoGradGuard ng;
      std::vector<CausalStepStatistics> st;
      for (int64_t n = 1; n <= T; ++n) {
        st.push_back(att->causal_statistics(x[n - 1]));
        auto stacked = [&](torch::Tensor CausalStepStatistics::*m) {
          if (!(st[0].*m).defined()) return torch::Tensor();
          std::vector<torch::Tensor> v;
          for (const auto& s : st) v.push_back(s.*m);
          return torch::stack(v);
        };
        const torch::Tensor w = x.slice(0, 0, n);
        const torch::Tensor cached = att->forward_causal_cached(
            w, stacked(&CausalStepStatistics::mean), stacked(&CausalStepStatistics::max),
            stacked(&CausalStepStatistics::channel_sum), stacked(&CausalStepStatistics::channel_max));
        EXPECT_TRUE(torch::allclose(cached, att->forward_causal(w), 1e-10, 1e-12)) << n;
      }
    }
  }
  torch::manual_seed(6);
  MultiDimAttention fc(MultiDimAttentionOptions(AttentionType::parse("TA"), T, 0).t_ratio(2));
  fc->to(torch::kFloat64);
  const torch::Tensor f = torch::randn({3, 2, 7}, torch::kFloat64);
  torch::NoGradGuard ng;
  std::vector<torch::Tensor> mean, max;
  for (int64_t t = 0; t < 3; ++t) {
    const auto s = fc->causal_statistics(f[t]);
    mean.push_back(s.mean);
    max.push_back(s.max);
  }
  EXPECT_TRUE(torch::allclose(fc->forward_causal_cached(f, torch::stack(mean), torch::stack(max), {}, {}),
                              fc->forward_causal(f), 1e-10, 1e-12));
}

TEST(StepInference, RowsStartedAtDifferentStepsEachRunTheirOwnCausalWindow) {
  // The window policy runs staggered rows in one batch; each row must give what a network started alone at that
  // row's start gives (rings, per-row window lengths and row resets).
  DvsNet net = small_net("TCSA", 6);
  const torch::Tensor x = random_frames(20, 1, 13);
  torch::NoGradGuard ng;
  serve::StreamClassifier staggered(torch::nn::AnyModule(net),
                                    {6, 2, serve::StatePolicy::Window, serve::AttentionMode::Causal});
  EXPECT_EQ(staggered.rows(), 3);
  int64_t checked = 0;
  for (int64_t t = 0; t < 20; ++t) {
    auto p = staggered.step(x[t][0]);
    if (!p) continue;
    serve::StreamClassifier alone(torch::nn::AnyModule(net),
                                  {6, 6, serve::StatePolicy::Window, serve::AttentionMode::Causal});
    std::optional<serve::Prediction> q;
    for (int64_t k = p->first_step; k <= p->last_step; ++k) q = alone.step(x[k][0]);
    ASSERT_TRUE(q.has_value());
    EXPECT_TRUE(torch::allclose(p->rates, q->rates)) << p->index;
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

TEST(StepInference, TemporalAttentionIsCausalButTheLastStepSeesTheWholeWindow) {
  // With TA the weight of step t depends on steps t+1.. offline; step-at-a-time it cannot. The block's attention
  // output at the last step of a T-step window from rest equals the offline one; earlier steps differ.
  DvsNet net = small_net("TA", 8);
  auto block = net->convs[0]->as<SpikingConvBlock>();
  const torch::Tensor x = random_frames(8, 1);
  torch::NoGradGuard ng;
  const torch::Tensor pre = block->bn(block->conv(x.flatten(0, 1))).view({8, 1, 8, 16, 16});  // pool 1
  const torch::Tensor offline = block->attention->forward(pre);
  torch::Tensor last;
  // Replays the attention part of forward_step through the ring: forward_causal over the window so far.
  std::vector<torch::Tensor> seen;
  for (int64_t t = 0; t < 8; ++t) {
    seen.push_back(pre[t]);
    last = block->attention->forward_causal(torch::stack(seen));
    if (t < 7) {
      EXPECT_FALSE(torch::allclose(last, offline[t]));
    }
  }
  EXPECT_TRUE(torch::allclose(last, offline[7], 1e-12, 1e-12));
  // The network runs with it and gives rates in [0,1].
  const torch::Tensor y = stepwise_output(net, random_frames(20, 2));
  EXPECT_GE(y.min().item<double>(), 0.0);
  EXPECT_LE(y.max().item<double>(), 1.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Prediction windows.

TEST(StreamClassifier, ContinuousFirstWindowAndEveryWindowOfTheWindowPolicyEqualOffline) {
  DvsNet net = small_net("none", 8);
  const torch::Tensor x = random_frames(30, 1, 9);  // one stream of 30 frames
  torch::NoGradGuard ng;
  auto offline = [&](int64_t first) { return net->forward(x.slice(0, first, first + 8))[0]; };
  {
    serve::StreamClassifier sc(torch::nn::AnyModule(net),
                               {8, 3, serve::StatePolicy::Continuous, serve::AttentionMode::Causal});
    std::vector<serve::Prediction> preds;
    for (int64_t t = 0; t < 30; ++t)
      if (auto p = sc.step(x[t][0].to(torch::kFloat32))) preds.push_back(*p);
    ASSERT_EQ(preds.size(), 8u);  // windows end at steps 7, 10, ..., 28
    EXPECT_EQ(preds[1].first_step, 3);
    EXPECT_EQ(preds[1].last_step, 10);
    EXPECT_TRUE(torch::equal(preds[0].rates, offline(0)));
    EXPECT_GT(preds[0].rates.sum().item<double>(), 0.0);
  }
  serve::StreamClassifier sc(torch::nn::AnyModule(net),
                             {8, 3, serve::StatePolicy::Window, serve::AttentionMode::Causal});
  EXPECT_EQ(sc.rows(), 3);
  int64_t windows = 0;
  for (int64_t t = 0; t < 30; ++t) {
    if (auto p = sc.step(x[t][0])) {
      SCOPED_TRACE(p->index);
      EXPECT_EQ(p->first_step, 3 * p->index);
      EXPECT_TRUE(torch::equal(p->rates, offline(p->first_step)));
      const torch::Tensor r = p->rates;
      EXPECT_EQ(p->confidence, r.max().item<double>());
      if (p->label >= 0) {
        EXPECT_EQ(r[p->label].item<double>(), p->confidence);
      }
      ++windows;
    }
  }
  EXPECT_EQ(windows, 8);
}

// A Res-SNN on event frames streams as the DVS networks do: its logits over each window.
TEST(StreamClassifier, AResSnnStreamsItsOfflineLogits) {
  torch::manual_seed(4);
  const int64_t T = 4;
  ResSnnOptions o = ResSnnOptions::mini().in_channels(2).num_classes(5).steps(T).dropout(0.0);
  LayerAttention none = o.attention();
  none.type = AttentionType::parse("none");
  ResSnn plain(ResSnnOptions(o).attention(none));
  ResSnn csa(o);  // the reference's CSA, pooled over T: causal step by step, exact in Batch mode
  for (ResSnn* net : {&plain, &csa}) {
    torch::NoGradGuard ng;
    for (auto& p : (*net)->named_parameters())  // BN scales that make every layer fire
      if (p.key().find("bn") != std::string::npos)
        p.value().fill_(p.key().find(".weight") != std::string::npos ? 2.0 : 0.2);
    (*net)->to(torch::kDouble);
    (*net)->eval();
  }
  const torch::Tensor x = random_frames(10, 1, 11);  // [10,1,2,16,16], event counts
  torch::NoGradGuard ng;
  for (ResSnn* net : {&plain, &csa}) {  // the head fired: the logits are not the bias alone
    const torch::Tensor logits = (*net)->forward(x.slice(0, 0, T));
    EXPECT_GT((logits - (*net)->fc->bias).abs().max().item<double>(), 1e-3);
  }
  serve::StreamClassifier causal(torch::nn::AnyModule(plain),
                                 {T, 2, serve::StatePolicy::Window, serve::AttentionMode::Causal});
  serve::StreamClassifier batch(torch::nn::AnyModule(csa),
                                {0, 3, serve::StatePolicy::Continuous, serve::AttentionMode::Batch});
  // A first frame of the wrong planes is refused and does not fix the side.
  EXPECT_NE(expect_error([&] { batch.step(torch::zeros({3, 8, 8}, torch::kDouble)); }).find("a frame must be [2,H,H], got [3, 8, 8]"),
            std::string::npos);
  int64_t windows = 0;
  for (int64_t t = 0; t < 10; ++t) {
    if (auto p = causal.step(x[t][0])) {
      const torch::Tensor offline = plain->forward(x.slice(0, p->first_step, p->first_step + T))[0];
      EXPECT_LE((p->rates - offline).abs().max().item<double>(), 1e-10) << "window " << p->index;
      EXPECT_GE(p->label, 0);  // logits: a decision even when no neuron fired
      const torch::Tensor probabilities = offline.softmax(0);  // the confidences are the softmax's
      EXPECT_NEAR(p->confidence, probabilities[p->label].item<double>(), 1e-12);
      EXPECT_NEAR(p->runner_up_rate, probabilities[p->runner_up].item<double>(), 1e-12);
      EXPECT_EQ(p->label, offline.argmax().item<int64_t>());
      ++windows;
    }
    if (auto p = batch.step(x[t][0])) {
      EXPECT_TRUE(torch::equal(p->rates, csa->forward(x.slice(0, p->first_step, p->first_step + T))[0]));
    }
  }
  EXPECT_EQ(windows, 4);  // windows end at steps 3, 5, 7, 9
  // The side is the first frame's; another side later is refused.
  EXPECT_NE(expect_error([&] { causal.step(torch::zeros({2, 8, 8}, torch::kDouble)); })
                .find("a frame must be [2,16,16]"),
            std::string::npos);
}

TEST(StreamClassifier, BatchModeEqualsOfflineForEveryAttentionType) {
  for (const char* attention : {"TA", "TCSA"}) {
    SCOPED_TRACE(attention);
    DvsNet net = small_net(attention, 6);
    const torch::Tensor x = random_frames(15, 1, 11);
    torch::NoGradGuard ng;
    serve::StreamClassifier sc(torch::nn::AnyModule(net),
                               {0, 2, serve::StatePolicy::Continuous, serve::AttentionMode::Batch});
    EXPECT_EQ(sc.window(), 6);
    int64_t windows = 0;
    for (int64_t t = 0; t < 15; ++t) {
      if (auto p = sc.step(x[t][0])) {
        EXPECT_TRUE(torch::equal(p->rates, net->forward(x.slice(0, p->first_step, p->first_step + 6))[0]));
        ++windows;
      }
    }
    EXPECT_EQ(windows, 5);
    // The causal variant over a window of the full sample ends with the same attention at its last step, but
    // its earlier steps saw less: it is a different (causal) network output, still rates in [0,1].
    serve::StreamClassifier causal(torch::nn::AnyModule(net),
                                   {6, 6, serve::StatePolicy::Window, serve::AttentionMode::Causal});
    for (int64_t t = 0; t < 6; ++t) {
      auto p = causal.step(x[t][0]);
      if (t == 5) {
        ASSERT_TRUE(p.has_value());
        EXPECT_LE(p->rates.max().item<double>(), 1.0);
      }
    }
  }
  DvsNet ta = small_net("TA", 6);
  EXPECT_NE(expect_error([&] {
              serve::StreamClassifier(torch::nn::AnyModule(ta),
                                      {8, 0, serve::StatePolicy::Continuous, serve::AttentionMode::Batch});
            }).find("needs --window equal to the model's T (6)"),
            std::string::npos);
  EXPECT_NE(expect_error([&] {
              serve::StreamClassifier(torch::nn::AnyModule(ta),
                                      {4, 5, serve::StatePolicy::Continuous, serve::AttentionMode::Causal});
            }).find("--hop 5 is longer than the window 4"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------------------------
// The pipeline.

namespace {

struct RunResult {
  std::vector<serve::WindowReport> windows;
  serve::StreamSummary summary;
};

RunResult run_pipeline(DvsNet net, const serve::StreamRunOptions& ro, int64_t window, int64_t hop) {
  serve::StreamClassifier sc(torch::nn::AnyModule(net),
                             {window, hop, serve::StatePolicy::Continuous, serve::AttentionMode::Causal});
  serve::StreamingFrameBinner binner(frame_options16(window), -1, window);
  RunResult r;
  r.summary = serve::run_stream(sc, binner, ro, {}, [&](const serve::WindowReport& w) { r.windows.push_back(w); });
  return r;
}

}  // namespace

TEST(StreamPipeline, AFileStreamEqualsTheOfflineEvaluationOfTheSameSample) {
  TempDir dir("serve_stream");
  const data::Events events = random_events(7, 3000);
  const std::string path = dir.file("sample.aedat");
  data::Aedat3WriteOptions wo;
  wo.events_per_packet = 50;
  data::write_aedat3(path, events, wo);
  DvsNet net = small_net("none", 8);
  serve::StreamRunOptions ro;
  ro.input = path;
  ro.chunk_bytes = 333;
  const RunResult r = run_pipeline(net, ro, 8, 4);
  ASSERT_GE(r.windows.size(), 2u);
  torch::NoGradGuard ng;
  const torch::Tensor frames = data::events_to_frames(events, frame_options16(8), events.t[0]);
  EXPECT_TRUE(torch::equal(r.windows[0].prediction.rates, net->forward(frames.unsqueeze(1).to(torch::kFloat64))[0]));
  EXPECT_EQ(r.windows[0].t_begin_us, events.t[0]);
  EXPECT_EQ(r.windows[0].t_end_us, events.t[0] + 8 * 25000);
  EXPECT_EQ(r.summary.parser.events, events.size());
  EXPECT_EQ(r.summary.steps, static_cast<int64_t>(r.summary.step_times.count()));
  EXPECT_EQ(r.summary.windows, static_cast<int64_t>(r.windows.size()));
  EXPECT_GT(r.summary.median_ms(), 0.0);
  // max_steps stops early.
  ro.max_steps = 9;
  EXPECT_EQ(run_pipeline(net, ro, 8, 4).summary.steps, 9);
}

// One packet 24 days after the others (its timestamp-overflow count jumps): the stream runs the window's steps of
// silence, skips the rest, and reports the later windows at the recording's times.
TEST(StreamPipeline, AJumpOfDaysInTimestampsCostsAWindowOfStepsNotBillions) {
  TempDir dir("serve_stream");
  const int64_t jump = 24LL * 86400 * 1000000;
  data::Events events = random_events(7, 600);
  const int64_t t_last = events.t.back();
  const data::Events later = random_events(8, 600);
  for (size_t i = 0; i < later.size(); ++i)
    events.push_back(later.t[i] - later.t[0] + t_last + jump, later.x[i], later.y[i], later.p[i]);
  const std::string path = dir.file("jump.aedat");
  data::write_aedat3(path, events, {});
  serve::StreamRunOptions ro;
  ro.input = path;
  const RunResult r = run_pipeline(small_net("none", 8), ro, 8, 4);
  EXPECT_EQ(r.summary.binner.gaps, 1);
  EXPECT_GT(r.summary.binner.skipped_steps, 80000000);
  EXPECT_LT(r.summary.steps, 200);
  ASSERT_FALSE(r.windows.empty());
  EXPECT_GE(r.windows.back().t_begin_us, t_last + jump - 8 * 25000);
  EXPECT_EQ(r.windows.back().t_end_us - r.windows.back().t_begin_us, 8 * 25000);
}

TEST(StreamPipeline, APipeFedInPiecesGivesTheSameWindowsAndAClosedPipeEndsTheStream) {
  const data::Events events = random_events(8, 2000);
  const std::vector<uint8_t> bytes = data::encode_aedat3(events);
  DvsNet net = small_net("none", 8);
  TempDir dir("serve_stream");
  write_file_atomic(dir.file("s.aedat"), bytes);
  serve::StreamRunOptions file_ro;
  file_ro.input = dir.file("s.aedat");
  const RunResult from_file = run_pipeline(net, file_ro, 8, 8);

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int saved_stdin = ::dup(STDIN_FILENO);
  ::dup2(fds[0], STDIN_FILENO);
  ::close(fds[0]);
  std::thread writer([&] {
    for (size_t i = 0; i < bytes.size(); i += 1000) {
      const size_t n = std::min<size_t>(1000, bytes.size() - i);
      EXPECT_EQ(::write(fds[1], bytes.data() + i, n), static_cast<ssize_t>(n));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::close(fds[1]);
  });
  serve::StreamRunOptions ro;
  ro.input = "-";
  ro.idle_timeout_s = 10;
  const RunResult from_pipe = run_pipeline(net, ro, 8, 8);
  writer.join();
  ::dup2(saved_stdin, STDIN_FILENO);
  ::close(saved_stdin);
  EXPECT_FALSE(from_pipe.summary.idle_timeout);
  ASSERT_EQ(from_pipe.windows.size(), from_file.windows.size());
  for (size_t i = 0; i < from_file.windows.size(); ++i)
    EXPECT_TRUE(torch::equal(from_pipe.windows[i].prediction.rates, from_file.windows[i].prediction.rates));
}

TEST(StreamPipeline, ASilentOpenInputEndsAfterTheIdleTimeoutAndATruncatedOneIsAnErrorAfterItsWindows) {
  DvsNet net = small_net("none", 4);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int saved_stdin = ::dup(STDIN_FILENO);
  ::dup2(fds[0], STDIN_FILENO);
  ::close(fds[0]);
  serve::StreamRunOptions ro;
  ro.input = "-";
  ro.idle_timeout_s = 0.2;
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = run_pipeline(net, ro, 4, 4);
  EXPECT_TRUE(r.summary.idle_timeout);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
  ::close(fds[1]);
  ::dup2(saved_stdin, STDIN_FILENO);
  ::close(saved_stdin);

  TempDir dir("serve_stream");
  std::vector<uint8_t> bytes = data::encode_aedat3(random_events(9, 2000));
  bytes.resize(bytes.size() - 5);  // cut inside the last event
  write_file_atomic(dir.file("cut.aedat"), bytes);
  serve::StreamClassifier sc(torch::nn::AnyModule(net),
                             {4, 4, serve::StatePolicy::Continuous, serve::AttentionMode::Causal});
  serve::StreamingFrameBinner binner(frame_options16(4));
  serve::StreamRunOptions fro;
  fro.input = dir.file("cut.aedat");
  int64_t windows = 0;
  const std::string msg =
      expect_error([&] { serve::run_stream(sc, binner, fro, {}, [&](const serve::WindowReport&) { ++windows; }); });
  EXPECT_NE(msg.find("cut.aedat: AEDAT 3.1: the input ended inside a packet"), std::string::npos) << msg;
  EXPECT_GT(windows, 0);
  fro.input = dir.file("missing.aedat");
  EXPECT_NE(expect_error([&] {
              serve::run_stream(sc, binner, fro, {}, [](const serve::WindowReport&) {});
            }).find("missing.aedat: cannot open"),
            std::string::npos);
}

TEST(StreamPipeline, EveryFormatStreamsTheSamePredictions) {
  // One recording in every format masnn streams: the same events, hence the same frames and predictions.
  TempDir dir("serve_stream_formats");
  const data::Events events = random_events(11, 1500);
  DvsNet net = small_net("none", 4);
  serve::StreamRunOptions ro;
  ro.chunk_bytes = 1000;
  ro.input = dir.file("ref.aedat");
  data::write_aedat3(ro.input, events);
  const RunResult reference = run_pipeline(net, ro, 4, 4);
  ASSERT_GE(reference.windows.size(), 2u);
  data::PropheseeGeometry g;
  g.width = g.height = 128;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files = {
      {"rec_evt2.raw", data::encode_evt2(events, g)},
      {"rec_evt3.raw", data::encode_evt3(events, g)},
      {"rec.dat", data::encode_dat(events, g)},
      {"rec.aedat2", data::encode_aedat2(events)},
      {"rec.bin", data::encode_nmnist_bin(events)}};
  for (const auto& [name, bytes] : files) write_file_atomic(dir.file(name), bytes);
  {
    auto w = data::make_event_writer(data::EventOutputFormat::Aedat4, dir.file("rec.aedat4"));
    w->write(events);
    w->commit();
    files.push_back({"rec.aedat4", {}});
  }
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    ro.input = dir.file(name);
    const RunResult r = run_pipeline(net, ro, 4, 4);
    EXPECT_EQ(r.summary.parser.events, events.size());
    ASSERT_EQ(r.windows.size(), reference.windows.size());
    for (size_t k = 0; k < r.windows.size(); ++k)
      EXPECT_TRUE(torch::equal(r.windows[k].prediction.rates, reference.windows[k].prediction.rates));
  }
  // Headerless N-MNIST bytes on standard input need the format named.
  ro.input = dir.file("rec.bin");
  ro.format = "aedat3";
  EXPECT_NE(expect_error([&] { run_pipeline(net, ro, 4, 4); }).find("rec.bin: AEDAT 3.1: missing version line"),
            std::string::npos);
}

TEST(StreamPipeline, FollowsAFileStillBeingWritten) {
  TempDir dir("serve_stream_follow");
  const data::Events events = random_events(12, 1200);
  const std::vector<uint8_t> bytes = data::encode_evt3(events, data::PropheseeGeometry{});
  const std::string path = dir.file("live.raw");
  // The camera's first half is on disk when the stream starts; the rest comes 300 ms later.
  const size_t half = bytes.size() / 2 + 1;  // inside a word: the decoder waits for its other byte
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(half));
  }
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out.write(reinterpret_cast<const char*>(bytes.data() + half), static_cast<std::streamsize>(bytes.size() - half));
  });
  DvsNet net = small_net("none", 4);
  serve::StreamRunOptions ro;
  ro.input = path;
  ro.follow = true;
  ro.idle_timeout_s = 1.0;
  const RunResult r = run_pipeline(net, ro, 4, 4);
  writer.join();
  EXPECT_TRUE(r.summary.idle_timeout);
  EXPECT_EQ(r.summary.parser.events, events.size());
  EXPECT_EQ(r.summary.format, data::EventFormat::Evt3);
  EXPECT_EQ(r.summary.bytes, bytes.size());
}

// `masnn stream` end to end, on a DVS network (a checkpoint of an earlier build) and on a Res-SNN trained on events:
// three windows of four steps, each naming a class with a confidence in [0,1], and the summary.
TEST(StreamCommand, StreamsADvsNetworkAndAResSnnFromTheirCheckpoints) {
  TempDir dir("serve_stream_command");
  const std::string input = dir.file("recording.aedat");
  data::write_aedat3(input, random_events(13, 3000));
  const train::TrainConfig config = train::parse_config(
      "", "stream test", {"model.name=res-snn-mini", "data.steps=4", "data.ds=4", "data.dt_ms=25"});
  train::CheckpointInfo info;
  info.config_toml = train::to_toml(config);
  info.spec = train::model_spec(config, 128, 128, 11);
  torch::manual_seed(3);
  auto res_snn = build_model(info.spec);
  const std::string res_checkpoint = dir.file("res_snn.pt");
  train::save_checkpoint(res_checkpoint, *res_snn.ptr(), nullptr, info);
  const std::string dvs_checkpoint = std::string(MASNN_SOURCE_DIR) + "/tests/fixtures/checkpoints/dvs_checkpoint_1.13.pt";
  for (const std::string& checkpoint : {dvs_checkpoint, res_checkpoint}) {
    SCOPED_TRACE(checkpoint);
    int status = 0;
    const std::string out = run_command(std::string(MASNN_CLI) + " stream --checkpoint " + checkpoint + " --input " +
                                            input + " --window 4 --max-steps 12 --json --quiet",
                                        status);
    ASSERT_EQ(status, 0) << out;
    std::istringstream lines(out);
    std::string line;
    std::vector<nlohmann::json> windows;
    nlohmann::json summary;
    while (std::getline(lines, line)) {
      if (line.rfind("masnn: note:", 0) == 0) continue;  // the fixture, of a build before tensor checksums
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j.contains("summary")) summary = j["summary"];
      else windows.push_back(j);
    }
    ASSERT_EQ(windows.size(), 3u) << out;
    for (const auto& w : windows) {
      EXPECT_EQ(w["rates"].size(), 11u);
      EXPECT_GE(w["label"].get<int64_t>(), checkpoint == res_checkpoint ? 0 : -1);  // a DVS network may be silent
      EXPECT_LT(w["label"].get<int64_t>(), 11);
      EXPECT_GE(w["confidence"].get<double>(), w["runner_up_rate"].get<double>());
      EXPECT_LE(w["confidence"].get<double>(), 1.0);
      EXPECT_EQ(w["last_step"].get<int64_t>() - w["first_step"].get<int64_t>(), 3);
    }
    EXPECT_EQ(summary["steps"], 12);
    EXPECT_EQ(summary["windows"], 3);
    EXPECT_GT(summary["events"].get<int64_t>(), 0);
  }
}

TEST(StepTimes, PercentilesWithinOnePercentInBoundedMemory) {
  serve::StepTimes times(4);
  std::vector<double> all;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 100000; ++i) {
    const double ms = 0.05 + static_cast<double>(rng() % 100000) * 1e-4;  // 0.05 .. 10 ms
    times.add(ms);
    all.push_back(ms);
  }
  std::vector<double> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  for (double q : {0.5, 0.9, 0.99}) {
    const double exact = sorted[static_cast<size_t>(std::ceil(q * sorted.size())) - 1];
    EXPECT_NEAR(times.percentile_ms(q), exact, exact * 0.01) << q;
  }
  EXPECT_DOUBLE_EQ(times.max_ms(), sorted.back());
  EXPECT_NEAR(times.mean_ms(), std::accumulate(all.begin(), all.end(), 0.0) / all.size(), 1e-9);
  EXPECT_DOUBLE_EQ(times.last_ms(), all.back());
  EXPECT_NEAR(times.recent_mean_ms(3), (all[99997] + all[99998] + all[99999]) / 3, 1e-12);
  EXPECT_NEAR(times.recent_mean_ms(10), (all[99996] + all[99997] + all[99998] + all[99999]) / 4, 1e-12);  // keeps 4
  EXPECT_EQ(serve::StepTimes().percentile_ms(0.5), 0.0);
}
