// Readers of current cameras' and datasets' formats on bytes written by hand from the formats' bit layouts:
// Prophesee EVT 2.0, EVT 3.0 and DAT, N-MNIST binary; detection, incremental decoding, and the writers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "masnn/data/aedat3.h"
#include "masnn/data/event_file.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/events.h"
#include "masnn/data/nmnist_bin.h"
#include "masnn/data/prophesee.h"
#include "masnn/util/file_io.h"

#include "test_support.h"

using masnn::testing::expect_error;
using masnn::testing::expect_same_events;
using masnn::testing::TempDir;
using namespace masnn::data;

namespace {

std::vector<uint8_t> text(const std::string& s) { return {s.begin(), s.end()}; }
void le32(std::vector<uint8_t>& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void le16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v));
  b.push_back(static_cast<uint8_t>(v >> 8));
}

struct Ev {
  int64_t t;
  int x, y, p;
};
void expect_events(const Events& e, const std::vector<Ev>& want) {
  ASSERT_EQ(e.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(e.t[i], want[i].t) << "event " << i;
    EXPECT_EQ(e.x[i], want[i].x) << "event " << i;
    EXPECT_EQ(e.y[i], want[i].y) << "event " << i;
    EXPECT_EQ(e.p[i], want[i].p) << "event " << i;
  }
}

// Feeds `bytes` through a decoder in pieces of `piece` bytes.
Events decode_in_pieces(EventFormat format, const std::vector<uint8_t>& bytes, size_t piece) {
  auto decoder = make_event_decoder(format, "pieces");
  Events out;
  for (size_t i = 0; i < bytes.size(); i += piece)
    decoder->feed(bytes.data() + i, std::min(piece, bytes.size() - i), out);
  decoder->finish(out);
  EXPECT_EQ(decoder->stats().events, out.size());
  return out;
}

EventReadOptions unsorted() {
  EventReadOptions o;
  o.sort_by_time = false;
  return o;
}

// EVT 2.0 words (bits 31-28 type): the header, then events transcribed from the layout.
std::vector<uint8_t> evt2_sample() {
  auto b = text("% camera_integrator_name Prophesee\n% evt 2.0\n% format EVT2;height=480;width=640\n% end\n");
  le32(b, (0x1u << 28) | (1u << 22) | (5u << 11) | 6u);      // CD_ON before any TIME_HIGH: time unknown, dropped
  le32(b, 0x80000010u);                                      // TIME_HIGH 0x10: t = 0x10 << 6 = 1024
  le32(b, (0x1u << 28) | (5u << 22) | (100u << 11) | 200u);  // CD_ON  t 1029, x 100, y 200
  le32(b, (0x0u << 28) | (63u << 22) | (639u << 11) | 479u); // CD_OFF t 1087, x 639, y 479
  le32(b, (0xAu << 28) | (3u << 22) | (2u << 8) | 1u);       // EXT_TRIGGER id 2, value 1: counted, not an event
  le32(b, 0xE0000000u);                                      // OTHERS
  le32(b, 0x8000000Fu);                                      // TIME_HIGH one step back: late, not a wrap
  le32(b, (0x0u << 28) | (0u << 22) | (1u << 11) | 2u);      // CD_OFF t 960, x 1, y 2
  le32(b, 0x8FFFFFFFu);                                      // TIME_HIGH at the end of the 28-bit counter
  le32(b, 0x80000000u);                                      // ... and its wrap
  le32(b, (0x1u << 28) | (7u << 22) | (3u << 11) | 4u);      // CD_ON t 2^34 + 7, x 3, y 4
  return b;
}

const std::vector<Ev> kEvt2Events = {
    {1029, 100, 200, 1}, {1087, 639, 479, 0}, {960, 1, 2, 0}, {(int64_t{1} << 34) + 7, 3, 4, 1}};

// EVT 3.0 words (bits 15-12 type).
std::vector<uint8_t> evt3_sample() {
  auto b = text("% evt 3.0\n% geometry 1280x720\n% end\n");
  le16(b, 0x2000 | 5);              // ADDR_X before any TIME_HIGH: dropped
  le16(b, 0x8001);                  // TIME_HIGH 1: t = 4096
  le16(b, 0x6005);                  // TIME_LOW 5: t = 4101
  le16(b, 0x0000 | 100);            // ADDR_Y 100
  le16(b, 0x2000 | 0x800 | 10);     // ADDR_X x 10, ON
  le16(b, 0x3000 | 20);             // VECT_BASE_X 20, OFF
  le16(b, 0x4000 | 0x805);          // VECT_12 bits 0, 2, 11: x 20, 22, 31; base -> 32
  le16(b, 0x5000 | 0x81);           // VECT_8 bits 0, 7: x 32, 39; base -> 40
  le16(b, 0xA000 | (2 << 8) | 1);   // EXT_TRIGGER id 2
  le16(b, 0x7000 | 3);              // CONTINUED_4
  le16(b, 0x0800 | 719);            // ADDR_Y 719 (bit 11: the system-type bit, ignored)
  le16(b, 0x2000 | 1279);           // ADDR_X x 1279, OFF
  le16(b, 0x8FFF);                  // TIME_HIGH 0xFFF: t = 0xFFF000
  le16(b, 0x8000);                  // wrap: t = 2^24
  le16(b, 0x6001);                  // t = 2^24 + 1
  le16(b, 0x3800 | 7);              // VECT_BASE_X 7, ON
  le16(b, 0x4000 | 0x001);          // x 7
  le16(b, 0x8000 | 0xFFE);          // far back but not half the range: the counter cannot have wrapped... (see below)
  return b;
}

}  // namespace

TEST(NmnistBin, DecodesTheFortyBitRecords) {
  // The first records of an N-MNIST file, and an overflow marker (y = 240) that shifts later times by 2^13 us.
  const std::vector<uint8_t> bytes = {0x07, 0x0f, 0x80, 0x02, 0x8e,   // x 7, y 15, ON, t 654
                                      0x13, 0x12, 0x00, 0x0b, 0xb7,   // x 19, y 18, OFF, t 2999
                                      0x15, 0x11, 0x00, 0x0b, 0xc9,   // x 21, y 17, OFF, t 3017
                                      0x00, 0xf0, 0x00, 0x00, 0x00,   // overflow marker
                                      0x21, 0x00, 0xff, 0xff, 0xff};  // x 33, y 0, ON, t 2^23 - 1 + 8192
  TempDir dir("nmnist");
  const std::string path = dir.write("00002.bin", bytes);
  EXPECT_EQ(detect_format(path), EventFormat::NmnistBin);
  EventReadStats stats;
  const Events e = read_events(path, {}, &stats);
  expect_events(e, {{654, 7, 15, 1}, {2999, 19, 18, 0}, {3017, 21, 17, 0}, {(1 << 23) - 1 + 8192, 33, 0, 1}});
  EXPECT_EQ(stats.timestamp_wraps, 1u);
  expect_events(decode_in_pieces(EventFormat::NmnistBin, bytes, 3), {{654, 7, 15, 1}, {2999, 19, 18, 0},
                                                                   {3017, 21, 17, 0}, {(1 << 23) - 1 + 8192, 33, 0, 1}});
  const std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + 7);
  EXPECT_NE(expect_error([&] { read_events(dir.write("cut.bin", truncated)); })
                .find("cut.bin: N-MNIST binary: truncated record (2 bytes, 5 expected) at byte 5"),
            std::string::npos);
}

TEST(NmnistBin, EncoderWritesWhatTheReaderReads) {
  Events e;
  e.push_back(0, 0, 0, 1);
  e.push_back(300000, 33, 33, 0);
  const auto bytes = encode_nmnist_bin(e);
  ASSERT_EQ(bytes.size(), 10u);
  EXPECT_EQ(bytes[5], 33);
  EXPECT_EQ(bytes[7], 0x04);  // 300000 = 0x0493E0
  EXPECT_EQ(bytes[8], 0x93);
  EXPECT_EQ(bytes[9], 0xE0);
  const Events back = parse_events(bytes.data(), bytes.size(), EventFormat::NmnistBin, "mem");
  expect_events(back, {{0, 0, 0, 1}, {300000, 33, 33, 0}});
  e.push_back(int64_t{1} << 23, 0, 0, 0);
  EXPECT_NE(expect_error([&] { encode_nmnist_bin(e); }).find("event 2"), std::string::npos);
}

TEST(PropheseeDat, DecodesAnNCarsSample) {
  // The start of an N-CARS sample: its header (no geometry, no '% end'), type 0 (Event2d), size 8, records.
  auto b = text("% Data file containing N9Chronocam7Event2dE events.\n% Version 2\n% Date 2017-10-31 11:29:21\n");
  b.push_back(0x00);
  b.push_back(0x08);
  for (uint8_t v : {0x00, 0x00, 0x00, 0x00, 0x19, 0x00, 0x02, 0x00,   // t 0, x 25, y 8, OFF
                    0x23, 0x00, 0x00, 0x00, 0x43, 0xc0, 0x08, 0x00,   // t 35, x 67, y 35, OFF
                    0x98, 0x00, 0x00, 0x00, 0x38, 0xc0, 0x06, 0x10})  // t 152, x 56, y 27, ON
    b.push_back(v);
  TempDir dir("dat");
  const std::string path = dir.write("obj_004396_td.dat", b);
  EXPECT_EQ(detect_format(path), EventFormat::Dat);
  EventReadStats stats;
  expect_events(read_events(path, {}, &stats), {{0, 25, 8, 0}, {35, 67, 35, 0}, {152, 56, 27, 1}});
  EXPECT_EQ(stats.sensor_width, 0);  // N-CARS states none
  expect_events(decode_in_pieces(EventFormat::Dat, b, 5), {{0, 25, 8, 0}, {35, 67, 35, 0}, {152, 56, 27, 1}});
}

TEST(PropheseeDat, RefusesWhatItCannotRead) {
  TempDir dir("dat_bad");
  auto header = text("% Data file containing CD events.\n% Version 2\n% Width 64\n% Height 48\n");
  auto with = [&](uint8_t type, uint8_t size, std::vector<uint8_t> records) {
    auto b = header;
    b.push_back(type);
    b.push_back(size);
    b.insert(b.end(), records.begin(), records.end());
    return b;
  };
  std::vector<uint8_t> outside;
  le32(outside, 10);
  le32(outside, (47u << 14) | 64u);  // x 64 on a 64-wide sensor
  EXPECT_NE(expect_error([&] { read_events(dir.write("a.dat", with(0x0C, 8, outside))); })
                .find("a.dat: Prophesee DAT: event at x 64, y 47 outside the 64 x 48 sensor the header states at byte " +
                      std::to_string(header.size() + 2)),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_events(dir.write("b.dat", with(0x05, 8, {}))); })
                .find("b.dat: Prophesee DAT: event type 5"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_events(dir.write("c.dat", with(0x00, 12, {}))); })
                .find("event size 12 (8 expected)"),
            std::string::npos);
  // A file of trigger records (type 14) holds no polarity events; its triggers are counted.
  std::vector<uint8_t> trigger;
  le32(trigger, 5);
  le32(trigger, (3u << 26) | 1u);
  EventReadStats stats;
  EXPECT_TRUE(read_events(dir.write("d.dat", with(0x0E, 8, trigger)), {}, &stats).empty());
  EXPECT_EQ(stats.triggers, 1u);
  EXPECT_EQ(stats.sensor_width, 64);
  EXPECT_EQ(stats.sensor_height, 48);
}

TEST(PropheseeEvt2, DecodesWordsTranscribedFromTheLayout) {
  TempDir dir("evt2");
  const auto bytes = evt2_sample();
  const std::string path = dir.write("rec.raw", bytes);
  EXPECT_EQ(detect_format(path), EventFormat::Evt2);
  EventReadStats stats;
  expect_events(read_events(path, unsorted(), &stats), kEvt2Events);
  EXPECT_EQ(stats.sensor_width, 640);
  EXPECT_EQ(stats.sensor_height, 480);
  EXPECT_EQ(stats.triggers, 1u);
  EXPECT_EQ(stats.other_words, 1u);
  EXPECT_EQ(stats.invalid_dropped, 1u);   // the event before the first TIME_HIGH
  EXPECT_EQ(stats.timestamp_wraps, 1u);
  EXPECT_EQ(stats.backwards, 1u);         // t 960 after 1087
  for (size_t piece : {1, 3, 7}) expect_events(decode_in_pieces(EventFormat::Evt2, bytes, piece), kEvt2Events);
  // Sorted by default: the late event moves before the others.
  EXPECT_EQ(read_events(path).t.front(), 960);
}

TEST(PropheseeEvt3, DecodesWordsTranscribedFromTheLayout) {
  TempDir dir("evt3");
  auto bytes = evt3_sample();
  bytes.resize(bytes.size() - 2);  // without the last TIME_HIGH (see the wrap test)
  const std::string path = dir.write("rec.raw", bytes);
  EXPECT_EQ(detect_format(path), EventFormat::Evt3);
  EventReadStats stats;
  const std::vector<Ev> want = {{4101, 10, 100, 1}, {4101, 20, 100, 0}, {4101, 22, 100, 0},
                                {4101, 31, 100, 0}, {4101, 32, 100, 0}, {4101, 39, 100, 0},
                                {4101, 1279, 719, 0}, {(int64_t{1} << 24) + 1, 7, 719, 1}};
  expect_events(read_events(path, unsorted(), &stats), want);
  EXPECT_EQ(stats.sensor_width, 1280);
  EXPECT_EQ(stats.sensor_height, 720);
  EXPECT_EQ(stats.triggers, 1u);
  EXPECT_EQ(stats.other_words, 1u);
  EXPECT_EQ(stats.invalid_dropped, 1u);
  EXPECT_EQ(stats.timestamp_wraps, 1u);
  for (size_t piece : {1, 2, 5}) expect_events(decode_in_pieces(EventFormat::Evt3, bytes, piece), want);
}

TEST(PropheseeEvt3, TellsAWrapFromALateWord) {
  // After 2^24 + 1: TIME_HIGH 0xFFE is a fall of 0xFFE counts (>= half the range): a second wrap.
  // A fall of less than half the range is a late word, kept as the time it states.
  auto bytes = evt3_sample();
  le16(bytes, 0x2000 | 1);  // ADDR_X after TIME_HIGH 0xFFE... the fall from 0 to 0xFFE is a rise: no wrap
  le16(bytes, 0x8000 | 0x7FE);
  le16(bytes, 0x2000 | 2);  // a fall of 0x800 counts: half the range, a wrap
  le16(bytes, 0x8000 | 0x7FF);
  le16(bytes, 0x8000 | 0x7FD);
  le16(bytes, 0x2000 | 3);  // a fall of 2 counts: late
  EventReadStats stats;
  const Events e = parse_events(bytes.data(), bytes.size(), EventFormat::Evt3, "mem", unsorted(), &stats);
  ASSERT_EQ(e.size(), 11u);
  const int64_t loop = int64_t{1} << 24;
  EXPECT_EQ(e.t[8], loop + (0xFFEll << 12));
  EXPECT_EQ(e.t[9], 2 * loop + (0x7FEll << 12));
  EXPECT_EQ(e.t[10], 2 * loop + (0x7FDll << 12));
  EXPECT_EQ(stats.timestamp_wraps, 2u);
}

TEST(PropheseeRaw, RefusesWhatItCannotRead) {
  TempDir dir("raw_bad");
  auto evt3 = text("% format EVT3;height=720;width=1280\n% end\n");
  auto with3 = [&](std::vector<uint16_t> words) {
    auto b = evt3;
    for (uint16_t w : words) le16(b, w);
    return b;
  };
  const size_t data = evt3.size();
  EXPECT_NE(expect_error([&] { read_events(dir.write("a.raw", with3({0x8000, 0x1000}))); })
                .find("a.raw: Prophesee EVT 3.0: word of unknown type 0x1 at byte " + std::to_string(data + 2)),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_events(dir.write("b.raw", with3({0x8000, 0x0000 | 720, 0x2000}))); })
                .find("event at x 0, y 720 outside the 1280 x 720 sensor the header states at byte " +
                      std::to_string(data + 4)),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_events(dir.write("c.raw", with3({0x8000, 0x3000 | 1275, 0x4000 | 0x020}))); })
                .find("event at x 1280"),
            std::string::npos);
  // Empty vector words move the base far past the sensor (and past 16 bits) before one holds an event; after a
  // first chunk of words (8192), so that the chunk is decoded optimistically first.
  std::vector<uint16_t> far = {0x8000};
  far.insert(far.end(), 8200, 0xE000);
  far.push_back(0x3000);
  far.insert(far.end(), 5500, 0x4000);
  far.push_back(0x4000 | 0x001);
  EXPECT_NE(expect_error([&] { read_events(dir.write("far.raw", with3(far))); }).find("event at x 66000"),
            std::string::npos);
  auto odd = with3({0x8000});
  odd.push_back(0x12);
  EXPECT_NE(expect_error([&] { read_events(dir.write("d.raw", odd)); })
                .find("truncated record (1 bytes, 2 expected) at byte " + std::to_string(data + 2)),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_events(dir.write("e.raw", text("% evt 2.1\n% end\n"))); })
                .find("e.raw: Prophesee RAW encoding 'evt2.1' is not read"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_events(dir.write("f.raw", text("% date 2024-01-01\n% end\n"))); })
                .find("f.raw: a '%' header that names no format"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_events(dir.write("g.raw", text("% evt 3.0\n% geometry 0x720\n% end\n"))); })
                .find("g.raw: Prophesee EVT 3.0: the header's geometry cannot be read"),
            std::string::npos);
  auto evt2 = text("% evt 2.0\n% end\n");
  le32(evt2, 0x30000000u);
  EXPECT_NE(expect_error([&] { read_events(dir.write("h.raw", evt2)); })
                .find("h.raw: Prophesee EVT 2.0: word of unknown type 0x3 at byte 16"),
            std::string::npos);
  // A header without a geometry: a Gen3 camera's system id gives 640 x 480.
  EventReadStats stats;
  read_events(dir.write("i.raw", text("% evt 2.0\n% system_ID 28\n% end\n")), {}, &stats);
  EXPECT_EQ(stats.sensor_width, 640);
  EXPECT_EQ(stats.sensor_height, 480);
}

TEST(PropheseeRaw, EncodersWriteWhatTheReadersRead) {
  Events e;
  // A row of one time and polarity (one vector group in EVT 3.0), single events, and gaps across both counters'
  // wraps (EVT 3.0: 2^24 us; EVT 2.0: 2^34 us).
  for (int x = 3; x < 30; x += 2) e.push_back(5000, static_cast<uint16_t>(x), 9, 1);
  e.push_back(5001, 1279, 719, 0);
  e.push_back(40'000'000, 0, 0, 1);
  e.push_back((int64_t{1} << 34) + 12345, 640, 360, 0);
  for (auto [encode, format] : {std::pair{&encode_evt2, EventFormat::Evt2}, std::pair{&encode_evt3, EventFormat::Evt3}}) {
    const auto bytes = encode(e, PropheseeGeometry{});
    const Events back = parse_events(bytes.data(), bytes.size(), format, "mem", unsorted());
    ASSERT_EQ(back.size(), e.size()) << format_name(format);
    expect_same_events(back, e, format_name(format));
  }
  const auto evt3 = encode_evt3(e.slice(0, 14), {});
  // 14 events of one row: TIME_HIGH, TIME_LOW, ADDR_Y, and one group of VECT_BASE_X, VECT_12, VECT_12, VECT_8.
  EXPECT_EQ(evt3.size(), std::string("% evt 3.0\n% format EVT3;height=720;width=1280\n% geometry 1280x720\n"
                                     "% integrator_name masnn\n% end\n")
                                 .size() +
                             7 * 2);
  Events small;
  small.push_back(1, 0, 0, 1);
  small.push_back(2, 303, 239, 0);
  PropheseeGeometry atis;
  atis.width = 304;
  atis.height = 240;
  const auto dat = encode_dat(small, atis);
  const Events back = parse_events(dat.data(), dat.size(), EventFormat::Dat, "mem");
  expect_events(back, {{1, 0, 0, 1}, {2, 303, 239, 0}});
  small.push_back(3, 304, 0, 1);
  EXPECT_NE(expect_error([&] { encode_dat(small, atis); }).find("event 2"), std::string::npos);
}

TEST(EventFormats, KeysNameEveryFormat) {
  for (EventFormat f : all_event_formats()) EXPECT_EQ(parse_format_key(format_key(f)), f);
  EXPECT_NE(expect_error([] { parse_format_key("evt4"); }).find("expected one of aedat3, aedat2"), std::string::npos);
  EXPECT_EQ(output_format_for("a/b.NPY"), EventOutputFormat::Npy);
  EXPECT_EQ(output_format_for("x.aedat4"), EventOutputFormat::Aedat4);
  EXPECT_EQ(output_format_for("x.aedat"), EventOutputFormat::Aedat3);
  EXPECT_NE(expect_error([] { output_format_for("x.csv"); }).find("x.csv: cannot tell the output format"),
            std::string::npos);
}

TEST(EventCommands, InspectAndConvertAnyFormat) {
  // The commands end to end: inspect --json of an EVT 3.0 file, convert to .npy and AEDAT 4.0 and back.
  TempDir dir("event_commands");
  const std::string raw = dir.write("rec.raw", evt3_sample());
  const std::string cli = MASNN_CLI;
  ASSERT_EQ(std::system((cli + " inspect " + raw + " --json " + dir.file("info.json") + " > " + dir.file("inspect.txt")).c_str()), 0);
  const auto info = masnn::read_file_bytes(dir.file("info.json"));
  const std::string json(info.begin(), info.end());
  for (const char* field : {"\"format\": \"Prophesee EVT 3.0\"", "\"events\": 8", "\"sensor_width\": 1280",
                            "\"triggers\": 1", "\"timestamp_wraps\": 1", "\"t_first_us\": 4101"})
    EXPECT_NE(json.find(field), std::string::npos) << field << " in " << json;
  ASSERT_EQ(std::system((cli + " convert " + raw + " " + dir.file("rec.aedat4") + " --compression zstd > /dev/null").c_str()), 0);
  ASSERT_EQ(std::system((cli + " convert " + dir.file("rec.aedat4") + " " + dir.file("rec.npy") + " > /dev/null").c_str()), 0);
  EventReadStats stats;
  EventReadOptions as_written;
  as_written.sort_by_time = false;
  const Events back = read_events(dir.file("rec.aedat4"), as_written, &stats);
  EXPECT_EQ(back.t, read_events(raw, as_written).t);
  EXPECT_EQ(stats.sensor_width, 1280);  // the input's stated sensor carried over
  EXPECT_EQ(masnn::read_file_bytes(dir.file("rec.npy")).size(), 192u + 8 * 13);
  // A bad input is one error naming it, and no output is left behind.
  const std::string bad = dir.write("bad.raw", text("% evt 3.0\n% end\n\x01\x10"));
  EXPECT_NE(std::system((cli + " convert " + bad + " " + dir.file("bad.npy") + " 2> " + dir.file("err.txt")).c_str()), 0);
  const auto err = masnn::read_file_bytes(dir.file("err.txt"));
  EXPECT_NE(std::string(err.begin(), err.end()).find("bad.raw: Prophesee EVT 3.0: word of unknown type 0x1 at byte 16"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.file("bad.npy")));
}

namespace {

// A recording long enough for many of the decoders' chunks (8192 words or records): single events at random
// places and rows of one time (EVT 3.0 vector words); with `step_back`, timestamps that step back now and then.
Events long_recording(int64_t max_t, int width, int height, bool step_back) {
  Events e;
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ull + 1442695040888963407ull, state >> 33; };
  int64_t t = 100;
  while (e.size() < 60000) {
    t += static_cast<int64_t>(next() % 40);
    if (step_back && next() % 50 == 0) t -= 7;
    if (t >= max_t) break;
    if (next() % 20 == 0) {
      const auto y = static_cast<uint16_t>(next() % height), x0 = static_cast<uint16_t>(next() % (width - 20));
      for (uint16_t k = 0; k < 20; k += 1 + next() % 2) e.push_back(t, static_cast<uint16_t>(x0 + k), y, 1);
    } else {
      e.push_back(t, static_cast<uint16_t>(next() % width), static_cast<uint16_t>(next() % height),
                  static_cast<uint8_t>(next() & 1));
    }
  }
  return e;
}

std::vector<uint8_t> aedat4_bytes(const Events& e, const std::string& compression, const TempDir& dir) {
  const std::string path = dir.file(compression + ".aedat4");
  EventWriterOptions o;
  o.compression = compression;
  auto writer = make_event_writer(EventOutputFormat::Aedat4, path, o);
  writer->write(e);
  writer->commit();
  return masnn::read_file_bytes(path);
}

}  // namespace

// The fast paths (EVT 3.0's optimistic chunks, AEDAT 4's packet copy, the chunked record decoders) against the
// plain expectation on a recording of many chunks: events outside the options' sensor dropped and counted exactly
// once, the order kept, every backward step counted.
TEST(EventDecoders, LongRecordingsKeepEveryEventAndCountEveryDrop) {
  TempDir dir("long");
  for (bool step_back : {false, true}) {
    const Events e = long_recording(int64_t{1} << 23, 240, 180, step_back);
    ASSERT_GT(e.size(), 50000u);
    EventReadOptions narrow = unsorted();
    narrow.width = 200;
    Events want;
    size_t dropped = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      if (e.x[i] < 200)
        want.push_back(e.t[i], e.x[i], e.y[i], e.p[i]);
      else
        ++dropped;
    }
    ASSERT_GT(dropped, 1000u);
    ASSERT_EQ(count_backwards(e, 0, e.size()) > 100, step_back);
    // The Prophesee encoders write time-sorted events only.
    std::vector<std::pair<std::string, std::vector<uint8_t>>> files = {
        {"rec.bin", encode_nmnist_bin(e)}, {"rec.aedat", encode_aedat3(e)},
        {"none.aedat4", aedat4_bytes(e, "none", dir)}, {"lz4.aedat4", aedat4_bytes(e, "lz4", dir)}};
    if (!step_back) {
      files.emplace_back("evt3.raw", encode_evt3(e));
      files.emplace_back("evt2.raw", encode_evt2(e));
      files.emplace_back("cd.dat", encode_dat(e));
    }
    for (const auto& [name, bytes] : files) {
      SCOPED_TRACE(name + (step_back ? ", stepping back" : ""));
      const std::string path = dir.write(name, bytes);
      EventReadStats stats;
      const Events all = read_events(path, unsorted(), &stats);
      EXPECT_EQ(all.t, e.t);
      EXPECT_EQ(all.x, e.x);
      EXPECT_EQ(stats.backwards, count_backwards(e, 0, e.size()));
      const Events kept = read_events(path, narrow, &stats);
      expect_same_events(kept, want);
      EXPECT_EQ(stats.out_of_range_dropped, dropped);
      EXPECT_EQ(stats.backwards, count_backwards(want, 0, want.size()));
      // In pieces, as `stream` and `convert` feed them; from the file in small chunks; with two threads (which
      // decompress the packets of a compressed AEDAT 4 file at once).
      const Events pieces = decode_in_pieces(detect_format(path), bytes, 100003);
      EXPECT_EQ(pieces.t, e.t);
      masnn::ChunkedFile small_chunks(path, 4099);
      EXPECT_EQ(read_events(small_chunks, detect_format(path), unsorted()).t, e.t);
      EventReadOptions threaded = narrow;
      threaded.threads = 2;
      EventReadStats threaded_stats;
      const Events kept_threaded = read_events(path, threaded, &threaded_stats);
      expect_same_events(kept_threaded, want);
      EXPECT_EQ(threaded_stats.out_of_range_dropped, dropped);
      EXPECT_EQ(threaded_stats.backwards, stats.backwards);
      EXPECT_EQ(threaded_stats.packets, stats.packets);
    }
  }
}

// An event outside the sensor deep inside a long EVT 3.0 recording (past the first chunks, where decoding is
// optimistic) is still named by its byte offset.
TEST(PropheseeEvt3, NamesTheOffsetOfABadEventInALongRecording) {
  TempDir dir("evt3_long");
  std::vector<uint8_t> bytes = encode_evt3(long_recording(int64_t{1} << 30, 1280, 720, false));
  size_t at = 0;
  for (size_t i = bytes.size() / 2 & ~size_t{1}; i + 1 < bytes.size(); i += 2)
    if ((bytes[i + 1] >> 4) == 0x2) {  // an ADDR_X word, made to say x 2000
      at = i;
      bytes[i] = 2000 & 0xFF;
      bytes[i + 1] = static_cast<uint8_t>((bytes[i + 1] & 0xF8) | (2000 >> 8));
      break;
    }
  ASSERT_GT(at, 40000u);
  const std::string error = expect_error([&] { read_events(dir.write("bad.raw", bytes)); });
  EXPECT_NE(error.find("event at x 2000, y "), std::string::npos) << error;
  EXPECT_NE(error.find("at byte " + std::to_string(at)), std::string::npos) << error;
}
