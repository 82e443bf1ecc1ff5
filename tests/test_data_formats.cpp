// Event-file readers and writers on hand-written bytes: AEDAT 3.1, AEDAT 2.0, Gait text, detection.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "masnn/data/aedat2.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/event_file.h"
#include "masnn/data/events.h"
#include "data/gait_text.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::TempDir;
using masnn::testing::expect_same_events;
using namespace masnn::data;

namespace {

void le32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void le16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}
void be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}
void text(std::vector<uint8_t>& b, const std::string& s) {
  b.insert(b.end(), s.begin(), s.end());
}

void packet_header(std::vector<uint8_t>& b, uint16_t type, uint32_t size, uint32_t overflow, uint32_t capacity,
                   uint32_t number) {
  le16(b, type);
  le16(b, 1);
  le32(b, size);
  le32(b, 4);
  le32(b, overflow);
  le32(b, capacity);
  le32(b, number);
  le32(b, number);
}
uint32_t polarity_word(uint32_t x, uint32_t y, uint32_t p, uint32_t valid = 1) {
  return (x << 17) | (y << 2) | (p << 1) | valid;
}

// Three packets: polarity (one invalid event), a 12-byte type-2 packet to skip, polarity with overflow 1 and
// an unused slot (capacity 2, number 1) holding garbage.
std::vector<uint8_t> sample_aedat3() {
  std::vector<uint8_t> b;
  text(b, "#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n");
  packet_header(b, 1, 8, 0, 3, 3);
  le32(b, polarity_word(5, 7, 1));
  le32(b, 10);
  le32(b, polarity_word(9, 9, 1, 0));  // invalid: dropped
  le32(b, 20);
  le32(b, polarity_word(127, 0, 0));
  le32(b, 0x7FFFFFFF);
  packet_header(b, 2, 12, 0, 2, 1);
  for (int i = 0; i < 24; ++i) b.push_back(0xAB);
  packet_header(b, 1, 8, 1, 2, 1);
  le32(b, polarity_word(100, 64, 1));
  le32(b, 5);
  le32(b, polarity_word(1, 1, 1));  // beyond eventNumber: ignored
  le32(b, 6);
  return b;
}

}  // namespace

TEST(DataAedat3, DecodesPolarityOverflowAndSkipsOtherPackets) {
  TempDir dir("formats");
  const auto path = dir.write("a.aedat", sample_aedat3());
  EventReadStats stats;
  Events ev = read_aedat3(path, {}, &stats);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev.t, (EventArray<int64_t>{10, 0x7FFFFFFF, (int64_t{1} << 31) | 5}));
  EXPECT_EQ(ev.x, (EventArray<uint16_t>{5, 127, 100}));
  EXPECT_EQ(ev.y, (EventArray<uint16_t>{7, 0, 64}));
  EXPECT_EQ(ev.p, (EventArray<uint8_t>{1, 0, 1}));
  EXPECT_EQ(stats.invalid_dropped, 1u);
  EXPECT_EQ(stats.packets, 3u);
  EXPECT_EQ(stats.skipped_packets, 1u);
  EXPECT_EQ(stats.skipped_events, 1u);
  EXPECT_EQ(stats.events, 3u);
  EXPECT_EQ(detect_format(path), EventFormat::Aedat3);
  EXPECT_EQ(read_events(path).t, ev.t);
}

TEST(DataAedat3, OutOfRangeEventsAreDroppedAndCounted) {
  TempDir dir("formats");
  const auto path = dir.write("a.aedat", sample_aedat3());
  EventReadStats stats;
  EventReadOptions options;
  options.width = 100;
  options.height = 100;
  Events ev = read_aedat3(path, options, &stats);
  EXPECT_EQ(ev.size(), 1u);  // x = 127 and x = 100 are outside a 100-wide sensor
  EXPECT_EQ(stats.out_of_range_dropped, 2u);
}

TEST(DataAedat3, TruncatedFileNamesFileAndOffset) {
  TempDir dir("formats");
  auto bytes = sample_aedat3();
  const size_t full = bytes.size();
  bytes.resize(full - 3);  // cuts into the last packet's body
  const auto path = dir.write("cut.aedat", bytes);
  try {
    read_aedat3(path);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cut.aedat"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the input ended inside a packet (3 bytes of its body missing)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("at byte " + std::to_string(full - 28 - 16)), std::string::npos) << msg;
  }
  bytes.resize(full - 16 - 10);  // cuts into the last packet's header
  const auto path2 = dir.write("cut2.aedat", bytes);
  EXPECT_THROW(
      {
        try {
          read_aedat3(path2);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("ended inside a packet header (18 of 28 bytes)"), std::string::npos) << e.what();
          throw;
        }
      },
      std::runtime_error);
}

TEST(DataAedat3, BadHeadersAreRejected) {
  TempDir dir("formats");
  std::vector<uint8_t> no_end;
  text(no_end, "#!AER-DAT3.1\r\n#Format: RAW\r\n");
  EXPECT_THROW(read_aedat3(dir.write("noend.aedat", no_end)), std::runtime_error);
  std::vector<uint8_t> wrong;
  text(wrong, "#!AER-DAT2.0\r\n");
  EXPECT_THROW(read_aedat3(dir.write("v2.aedat", wrong)), std::runtime_error);
  EXPECT_THROW(read_aedat3((dir.path / "missing.aedat").string()), std::runtime_error);
  // A polarity packet claiming an 8-byte event size of 0 with a huge count must not allocate or loop.
  std::vector<uint8_t> evil;
  text(evil, "#!AER-DAT3.1\r\n#!END-HEADER\r\n");
  packet_header(evil, 1, 0, 0, 0xFFFFFFFFu, 0xFFFFFFFFu);
  EXPECT_THROW(read_aedat3(dir.write("evil.aedat", evil)), std::runtime_error);
}

TEST(DataAedat3, WriterRoundTripWithOverflowAndManyPackets) {
  Events ev;
  for (int i = 0; i < 1000; ++i)
    ev.push_back(int64_t{i} * 7000000 + (i % 3), static_cast<uint16_t>(i % 128), static_cast<uint16_t>((i * 7) % 128),
                 static_cast<uint8_t>(i % 2));
  Aedat3WriteOptions options;
  options.events_per_packet = 64;
  const auto bytes = encode_aedat3(ev, options);
  EventReadStats stats;
  Events back = parse_aedat3(bytes.data(), bytes.size(), "mem", {}, &stats);
  expect_same_events(back, ev);
  EXPECT_GT(stats.packets, 1000u / 64);  // split by size and whenever t >> 31 changes
  EXPECT_GT(ev.t.back(), int64_t{1} << 32);
  // Events keep their order (a converted recording keeps the sensor's few late events where they were).
  Events late;
  late.push_back(5, 0, 0, 1);
  late.push_back(4, 1, 0, 1);
  const auto late_bytes = encode_aedat3(late);
  EventReadOptions as_written;
  as_written.sort_by_time = false;
  EXPECT_EQ(parse_aedat3(late_bytes.data(), late_bytes.size(), "mem", as_written).t, (EventArray<int64_t>{5, 4}));
  Events negative;
  negative.push_back(-1, 0, 0, 1);
  EXPECT_THROW(encode_aedat3(negative), std::invalid_argument);
}

TEST(DataAedat2, DecodesDvs128AddressesBigEndian) {
  TempDir dir("formats");
  std::vector<uint8_t> b;
  text(b, "#!AER-DAT2.0\r\n# comment\r\n");
  // addr: y in bits 8-14, (127 - x) in bits 1-7, p in bit 0.
  be32(b, (3u << 8) | ((127u - 10u) << 1) | 1u);
  be32(b, 1000);
  be32(b, (127u << 8) | (0u << 1) | 0u);  // x = 127, y = 127, OFF
  be32(b, 0xFFFFFFF0u);
  be32(b, (0u << 8) | (127u << 1) | 1u);  // x = 0 after a timestamp wrap
  be32(b, 16);
  const auto path = dir.write("c.aedat", b);
  EXPECT_EQ(detect_format(path), EventFormat::Aedat2);
  EventReadStats stats;
  Events ev = read_aedat2(path, {}, &stats);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev.x, (EventArray<uint16_t>{10, 127, 0}));
  EXPECT_EQ(ev.y, (EventArray<uint16_t>{3, 127, 0}));
  EXPECT_EQ(ev.p, (EventArray<uint8_t>{1, 0, 1}));
  EXPECT_EQ(ev.t, (EventArray<int64_t>{1000, 0xFFFFFFF0ll, (int64_t{1} << 32) + 16}));
  EXPECT_EQ(stats.timestamp_wraps, 1u);
  const auto round = encode_aedat2(ev);
  EXPECT_EQ(parse_aedat2(round.data(), round.size(), "mem").x, ev.x);
  b.pop_back();
  try {
    read_aedat2(dir.write("cut.aedat", b));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.aedat"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("byte"), std::string::npos);
  }
}

TEST(DataGaitText, ParsesLinesAndReportsBadLine) {
  TempDir dir("formats");
  std::vector<uint8_t> b;
  text(b, "# t x y p\n100 1 2 1\r\n\n200\t3\t4\t0\n300,5,6,-1\n");
  const auto path = dir.write("g.txt", b);
  EXPECT_EQ(detect_format(path), EventFormat::GaitText);
  Events ev = read_events(path);
  EXPECT_EQ(ev.t, (EventArray<int64_t>{100, 200, 300}));
  EXPECT_EQ(ev.x, (EventArray<uint16_t>{1, 3, 5}));
  EXPECT_EQ(ev.y, (EventArray<uint16_t>{2, 4, 6}));
  EXPECT_EQ(ev.p, (EventArray<uint8_t>{1, 0, 0}));
  text(b, "400 1 2\n");
  try {
    read_gait_text(dir.write("bad.txt", b));
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.txt: line 6"), std::string::npos) << e.what();
  }
}

TEST(DataGaitText, BackwardsTimestampsAreCountedAndSorted) {
  const std::string s = "300 1 1 1\n100 2 2 0\n200 3 3 1\n";
  EventReadStats stats;
  Events ev = parse_gait_text(s.data(), s.size(), "mem", {}, &stats);
  EXPECT_EQ(stats.backwards, 1u);
  EXPECT_EQ(ev.t, (EventArray<int64_t>{100, 200, 300}));
  EXPECT_EQ(ev.x, (EventArray<uint16_t>{2, 3, 1}));
}

TEST(DataEventFile, UnknownFormatIsAnError) {
  TempDir dir("formats");
  std::vector<uint8_t> b;
  text(b, "hello world\n");
  EXPECT_THROW(detect_format(dir.write("x.events", b)), std::runtime_error);
}

TEST(DataEvents, SummaryAndSlicing) {
  Events ev;
  ev.push_back(10, 3, 4, 1);
  ev.push_back(20, 9, 1, 0);
  ev.push_back(30, 0, 12, 1);
  const EventSummary s = summarize(ev);
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.duration(), 20);
  EXPECT_EQ(s.width_seen, 10);
  EXPECT_EQ(s.height_seen, 13);
  EXPECT_EQ(s.on, 2u);
  EXPECT_EQ(s.off, 1u);
  EXPECT_EQ(ev.lower_bound(20), 1u);
  EXPECT_EQ(ev.lower_bound(21), 2u);
  EXPECT_EQ(ev.slice(1, 9).t, (EventArray<int64_t>{20, 30}));
}
