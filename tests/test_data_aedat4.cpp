// AEDAT 4.0 on bytes laid out by hand from the format's description (the FlatBuffers tables with their vtables,
// offsets and the 16-byte event struct), its errors, and masnn's writer (every compression) and conversions.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "masnn/data/aedat4.h"
#include "masnn/data/event_convert.h"
#include "masnn/data/event_file.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/events.h"
#include "masnn/util/file_io.h"

#include "test_support.h"

using masnn::testing::expect_error;
using masnn::testing::expect_same_events;
using masnn::testing::TempDir;
using namespace masnn::data;

namespace {

void put(std::vector<uint8_t>& b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t read32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
void put_at(std::vector<uint8_t>& b, size_t at, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

std::string xml(const std::string& streams) {
  return "<dv version=\"2.0\"><node name=\"outInfo\" path=\"/outInfo/\">" + streams + "</node></dv>";
}
std::string stream(int id, const std::string& type, int width, int height, const std::string& source) {
  const std::string n = std::to_string(id);
  return "<node name=\"" + n + "\" path=\"/outInfo/" + n + "/\"><attr key=\"originalOutputName\" type=\"string\">x"
         "</attr><attr key=\"typeIdentifier\" type=\"string\">" + type + "</attr><node name=\"info\" path=\"/outInfo/" +
         n + "/info/\"><attr key=\"sizeX\" type=\"int\">" + std::to_string(width) +
         "</attr><attr key=\"sizeY\" type=\"int\">" + std::to_string(height) +
         "</attr><attr key=\"source\" type=\"string\">" + source + "</attr></node></node>";
}

// The version line and the IOHeader, laid out as iniVation's writer lays it out: size prefix, root offset, "IOHE",
// padding, a vtable of three slots, the table (compression int32, string offset, data table position int64), the
// string.
std::vector<uint8_t> file_header(int32_t compression, int64_t table_position, const std::string& info) {
  const std::string magic = "#!AER-DAT4.0\r\n";
  std::vector<uint8_t> b(magic.begin(), magic.end());
  const size_t prefix = b.size();                  // 14
  put(b, 0, 4);                                    // size prefix, set below
  put(b, 24, 4);                                   // root: table at prefix + 4 + 24 = 42
  b.insert(b.end(), {'I', 'O', 'H', 'E'});         // identifier
  put(b, 0, 6);                                    // padding to the vtable at 32
  for (uint16_t v : {10, 20, 4, 12, 8}) put(b, v, 2);  // vtable: its size, table size, slot 0 @4, slot 1 @12, slot 2 @8
  put(b, 10, 4);                                   // table at 42: soffset back to the vtable at 32
  put(b, static_cast<uint32_t>(compression), 4);   // 46: compression
  put(b, 12, 4);                                   // 50: offset to the string at 62
  put(b, static_cast<uint64_t>(table_position), 8);  // 54: data table position (8-aligned from the prefix)
  put(b, info.size(), 4);                          // 62: string length, bytes, NUL
  b.insert(b.end(), info.begin(), info.end());
  b.push_back(0);
  while ((b.size() - prefix) % 8 != 0) b.push_back(0);
  put_at(b, prefix, b.size() - prefix - 4, 4);
  return b;
}

struct Ev {
  int64_t t;
  int x, y;
  bool on;
};

// An EventPacket FlatBuffer: size prefix, root offset 16, "EVTS", 2 bytes padding, vtable (6, 8, slot 0 @4) at 14,
// table at 20 (soffset 6, offset 4 to the vector at 28), vector length, then 16-byte events from 32.
std::vector<uint8_t> event_packet(const std::vector<Ev>& events, const char* identifier = "EVTS") {
  std::vector<uint8_t> b;
  put(b, 28 + 16 * events.size(), 4);
  put(b, 16, 4);
  b.insert(b.end(), identifier, identifier + 4);
  put(b, 0, 2);
  for (uint16_t v : {6, 8, 4}) put(b, v, 2);
  put(b, 6, 4);
  put(b, 4, 4);
  put(b, events.size(), 4);
  for (const Ev& e : events) {
    put(b, static_cast<uint64_t>(e.t), 8);
    put(b, static_cast<uint16_t>(e.x), 2);
    put(b, static_cast<uint16_t>(e.y), 2);
    b.push_back(e.on ? 1 : 0);
    put(b, 0, 3);
  }
  return b;
}

void packet(std::vector<uint8_t>& file, int32_t stream_id, const std::vector<uint8_t>& body) {
  put(file, static_cast<uint32_t>(stream_id), 4);
  put(file, body.size(), 4);
  file.insert(file.end(), body.begin(), body.end());
}

const int64_t kT0 = 1605537493718345;  // Unix time in microseconds, as DV writes it

}  // namespace

TEST(Aedat4, ReadsHandLaidOutPacketsAndSkipsOtherStreams) {
  auto file = file_header(0, -1, xml(stream(0, "EVTS", 320, 240, "DVXplorer_DXB00010") +
                                     stream(2, "IMUS", 0, 0, "DVXplorer_DXB00010")));
  packet(file, 0, event_packet({{kT0, 154, 204, false}, {kT0 + 7, 319, 0, true}}));
  packet(file, 2, {1, 2, 3, 4, 5});  // an IMU packet: skipped by its size, never decompressed
  packet(file, 0, event_packet({{kT0 + 9, 0, 239, true}}));
  TempDir dir("aedat4");
  const std::string path = dir.write("rec.aedat4", file);
  EXPECT_EQ(detect_format(path), EventFormat::Aedat4);
  EventReadStats stats;
  const Events e = read_events(path, {}, &stats);
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e.t, (EventArray<int64_t>{kT0, kT0 + 7, kT0 + 9}));
  EXPECT_EQ(e.x, (EventArray<uint16_t>{154, 319, 0}));
  EXPECT_EQ(e.y, (EventArray<uint16_t>{204, 0, 239}));
  EXPECT_EQ(e.p, (EventArray<uint8_t>{0, 1, 1}));
  EXPECT_EQ(stats.sensor_width, 320);
  EXPECT_EQ(stats.sensor_height, 240);
  EXPECT_EQ(stats.source, "DVXplorer_DXB00010");
  EXPECT_EQ(stats.packets, 3u);
  EXPECT_EQ(stats.other_streams.at("stream 2 (IMUS)"), 1u);
  // The same bytes in pieces of every size give the same events.
  for (size_t piece : {1, 7, 64}) {
    auto decoder = make_event_decoder(EventFormat::Aedat4, "pieces");
    Events out;
    for (size_t i = 0; i < file.size(); i += piece)
      decoder->feed(file.data() + i, std::min(piece, file.size() - i), out);
    decoder->finish(out);
    EXPECT_EQ(out.t, e.t) << piece;
    EXPECT_EQ(out.x, e.x) << piece;
  }
}

TEST(Aedat4, RefusesMalformedFilesNamingTheOffset) {
  TempDir dir("aedat4_bad");
  const std::string info = xml(stream(0, "EVTS", 64, 48, "cam") + stream(1, "FRME", 64, 48, "cam"));
  const auto header = file_header(0, -1, info);
  const std::string at_packet = "at byte " + std::to_string(header.size());
  auto with = [&](const std::function<void(std::vector<uint8_t>&)>& add) {
    auto f = header;
    add(f);
    return f;
  };
  auto error_of = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    return expect_error([&] { read_events(dir.write(name, bytes)); });
  };
  EXPECT_NE(error_of("a.aedat4", with([](auto& f) { packet(f, 0, event_packet({{1, 64, 0, true}})); }))
                .find("a.aedat4: AEDAT 4.0: event at x 64, y 0 outside the 64 x 48 sensor the header states, in the "
                      "packet " + at_packet),
            std::string::npos);
  EXPECT_NE(error_of("b.aedat4", with([](auto& f) { packet(f, 5, event_packet({})); }))
                .find("packet of stream 5, which the header does not declare " + at_packet),
            std::string::npos);
  EXPECT_NE(error_of("c.aedat4", with([](auto& f) { packet(f, 0, event_packet({{1, 1, 1, true}}, "FRME")); }))
                .find("packet of the event stream holds 'FRME' data, not 'EVTS' " + at_packet),
            std::string::npos);
  auto cut = with([](auto& f) { packet(f, 0, event_packet({{1, 1, 1, true}})); });
  cut.resize(cut.size() - 3);
  EXPECT_NE(error_of("d.aedat4", cut).find("truncated packet (45 of 48 body bytes) " + at_packet), std::string::npos);
  EXPECT_NE(error_of("e.aedat4", with([](auto& f) { put(f, 0, 4), put(f, 0xFFFFFFF0u, 4); }))
                .find("packet body size -16"),
            std::string::npos);
  auto broken = event_packet({{1, 1, 1, true}});
  put_at(broken, 18, 0xFFF0, 2);  // the vtable's slot 0 offset points past the buffer
  EXPECT_NE(error_of("f.aedat4", with([&](auto& f) { packet(f, 0, broken); }))
                .find("packet is not a valid EventPacket FlatBuffer"),
            std::string::npos);
  // Compressed files whose packets do not decompress.
  auto lz4 = file_header(1, -1, info);
  packet(lz4, 0, {0x04, 0x22, 0x4d, 0x18, 0x00, 0x00});
  EXPECT_NE(error_of("g.aedat4", lz4).find("packet body (lz4): "), std::string::npos);
  auto zstd = file_header(3, -1, info);
  packet(zstd, 0, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_NE(error_of("h.aedat4", zstd).find("packet body (zstd): not a Zstd frame"), std::string::npos);
  EXPECT_NE(error_of("i.aedat4", file_header(7, -1, info)).find("unknown packet compression 7"), std::string::npos);
  auto header_only = header;
  header_only.resize(40);
  EXPECT_NE(error_of("j.aedat4", header_only).find("j.aedat4: AEDAT 4.0: the input ended inside the header"),
            std::string::npos);
  auto big = header;
  put_at(big, 14, 0x7FFFFFFF, 4);
  EXPECT_NE(error_of("k.aedat4", big).find("header size 2147483647"), std::string::npos);
  // A decompressed packet whose FlatBuffer size prefix disagrees with its size.
  auto short_prefix = event_packet({{1, 1, 1, true}});
  put_at(short_prefix, 0, 10, 4);
  EXPECT_NE(error_of("m.aedat4", with([&](auto& f) { packet(f, 0, short_prefix); }))
                .find("packet of 48 bytes whose FlatBuffer size prefix disagrees " + at_packet),
            std::string::npos);
  // A packet that runs into the data table the header places.
  auto tabled = file_header(0, static_cast<int64_t>(header.size()) + 20, info);
  packet(tabled, 0, event_packet({{1, 1, 1, true}}));
  EXPECT_NE(error_of("n.aedat4", tabled).find("packet runs past the data table at byte " +
                                              std::to_string(header.size() + 20)),
            std::string::npos);
  // A data table position past the end: the file was cut.
  EXPECT_NE(error_of("l.aedat4", file_header(0, 100000, info)).find("the file ends before the data table"),
            std::string::npos);
}

TEST(Aedat4, WriterRoundTripsEveryCompressionWithADataTable) {
  Events e;
  for (int i = 0; i < 20000; ++i)
    e.push_back(kT0 + i / 3, static_cast<uint16_t>(i % 640), static_cast<uint16_t>((i * 7) % 480), i % 2);
  TempDir dir("aedat4_write");
  for (const char* c : {"none", "lz4", "lz4-high", "zstd", "zstd-high"}) {
    const std::string path = dir.file(std::string(c) + ".aedat4");
    EventWriterOptions o;
    o.compression = c;
    o.source = "cam <1>";
    auto writer = make_event_writer(EventOutputFormat::Aedat4, path, o);
    writer->write(e.slice(0, 5000));
    writer->write(e.slice(5000, e.size()));
    writer->commit();
    EventReadStats stats;
    const Events back = read_events(path, {}, &stats);
    expect_same_events(back, e, c);
    EXPECT_EQ(stats.sensor_width, 640) << c;  // the largest x + 1: no size was given
    EXPECT_EQ(stats.sensor_height, 480) << c;
    EXPECT_EQ(stats.source, "cam <1>") << c;
    EXPECT_EQ(stats.packets, 3u) << c;  // 8192 events per packet
    // The header states where the data table starts, and the table runs to the end of the file.
    const auto bytes = masnn::read_file_bytes(path);
    int64_t table = 0;
    std::memcpy(&table, bytes.data() + 54, 8);
    EXPECT_GT(table, 0) << c;
    EXPECT_LT(static_cast<size_t>(table), bytes.size()) << c;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("none.aedat4.tmp." + std::to_string(::getpid()))));
}

// Packets decompressed by several threads at once are decoded in file order, and a bad one is named as when one
// thread reads them all.
TEST(Aedat4, PacketsDecompressedAtOnceReadAsOneAtATime) {
  Events e;
  for (int i = 0; i < 100000; ++i)
    e.push_back(kT0 + i / 3, static_cast<uint16_t>(i % 640), static_cast<uint16_t>((i * 7) % 480), i % 2);
  TempDir dir("aedat4_threads");
  EventReadOptions one, two, all;
  two.threads = 2;
  all.threads = 0;
  for (const char* c : {"lz4", "zstd"}) {
    SCOPED_TRACE(c);
    const std::string path = dir.file(std::string(c) + ".aedat4");
    EventWriterOptions o;
    o.compression = c;
    auto writer = make_event_writer(EventOutputFormat::Aedat4, path, o);
    writer->write(e);
    writer->commit();
    for (const EventReadOptions& read : {two, all}) {
      EventReadStats stats;
      const Events back = read_events(path, read, &stats);
      expect_same_events(back, e);
      EXPECT_EQ(stats.packets, 13u);  // 8192 events per packet
    }
    // The sixth packet's body spoiled: the same error, naming its offset, however many threads decompress.
    std::vector<uint8_t> bytes = masnn::read_file_bytes(path);
    size_t at = 18 + read32(bytes.data() + 14);
    for (int k = 0; k < 5; ++k) at += 8 + read32(bytes.data() + at + 4);
    for (size_t i = 8; i < 8 + 64; ++i) bytes[at + i] ^= 0x5A;
    const std::string bad = dir.write(std::string("bad-") + c + ".aedat4", bytes);
    const std::string error = expect_error([&] { read_events(bad, one); });
    EXPECT_NE(error.find("byte " + std::to_string(at)), std::string::npos) << error;
    EXPECT_EQ(expect_error([&] { read_events(bad, two); }), error);
  }
  one.threads = -1;
  EXPECT_NE(expect_error([&] { read_events(dir.file("lz4.aedat4"), one); }).find("threads must be >= 0"),
            std::string::npos);
  // Checked for every format, also those that read on one thread.
  const uint8_t none[1] = {0};
  EXPECT_NE(expect_error([&] { parse_events(none, 0, EventFormat::Evt2, "x.raw", one); }).find("x.raw: threads must"),
            std::string::npos);
}

TEST(EventConvert, NpyHoldsTheStructuredArrayPythonToolsRead) {
  TempDir dir("convert");
  Events e;
  e.push_back(100, 1, 2, 1);
  e.push_back(90, 3, 4, 0);  // a late event keeps its place
  e.push_back(300, 5, 6, 1);
  auto file = file_header(0, -1, xml(stream(0, "EVTS", 8, 8, "cam")));
  packet(file, 0, event_packet({{100, 1, 2, true}, {90, 3, 4, false}, {300, 5, 6, true}}));
  const std::string in = dir.write("in.aedat4", file);
  const ConvertSummary s = convert_events(in, dir.file("out.npy"));
  EXPECT_EQ(s.events_written, 3u);
  const auto npy = masnn::read_file_bytes(dir.file("out.npy"));
  ASSERT_EQ(npy.size(), 192u + 3 * 13);
  const std::string header(npy.begin(), npy.begin() + 192);
  EXPECT_EQ(header.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(header.find("'descr': [('t', '<i8'), ('x', '<i2'), ('y', '<i2'), ('p', '|u1')]"), std::string::npos);
  EXPECT_NE(header.find("'shape': (3,)"), std::string::npos);
  EXPECT_EQ(header.back(), '\n');
  int64_t t1 = 0;
  std::memcpy(&t1, npy.data() + 192 + 13, 8);
  EXPECT_EQ(t1, 90);
  EXPECT_EQ(npy[192 + 13 + 8], 3);       // x of the second event
  EXPECT_EQ(npy[192 + 3 * 13 - 1], 1);   // p of the third
  // Cut and rebased, to AEDAT 3.1 and back.
  ConvertOptions o;
  o.from_us = 95;
  o.rebase = true;
  const ConvertSummary cut = convert_events(in, dir.file("out.aedat"), o);
  EXPECT_EQ(cut.events_written, 2u);
  const Events back = read_events(dir.file("out.aedat"));
  EXPECT_EQ(back.t, (EventArray<int64_t>{0, 200}));
  EXPECT_EQ(back.x, (EventArray<uint16_t>{1, 5}));
  EXPECT_NE(expect_error([&] { convert_events(in, dir.file("x.csv")); }).find("cannot tell the output format"),
            std::string::npos);
  o.to_us = 95;
  EXPECT_NE(expect_error([&] { convert_events(in, dir.file("y.npy"), o); }).find("must be below --to-us"),
            std::string::npos);
  if (std::string(MASNN_TORCH_PYTHON).empty()) return;
  // NumPy itself reads the file (Debian's python3-numpy, beside python3-torch).
  const std::string cmd = std::string(MASNN_TORCH_PYTHON) + " -c \"import numpy as n; a = n.load('" +
                          dir.file("out.npy") + "'); assert a.shape == (3,) and list(a['t']) == [100, 90, 300] and " +
                          "list(a['x']) == [1, 3, 5] and list(a['p']) == [1, 0, 1], a\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}
