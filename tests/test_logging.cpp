// Training logs: TensorBoard event files (read back by an independent decoder), the metrics CSV, and the
// progress display with an injected clock.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "train/metrics_csv.h"
#include "train/progress.h"
#include "train/tensorboard.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::TempDir;
using namespace masnn::train;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_all(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

uint64_t read_le(const std::string& bytes, size_t offset, int count) {
  uint64_t value = 0;
  for (int i = 0; i < count; ++i) value |= uint64_t(uint8_t(bytes.at(offset + i))) << (8 * i);
  return value;
}

// Bitwise CRC-32C, independent of the table-driven one under test.
uint32_t crc32c_bitwise(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

/// Splits a TFRecord file into its records, checking both CRCs of every frame.
std::vector<std::string> read_tfrecords(const std::string& file) {
  std::vector<std::string> records;
  size_t pos = 0;
  while (pos < file.size()) {
    EXPECT_LE(pos + 12, file.size()) << "truncated frame header";
    const uint64_t length = read_le(file, pos, 8);
    const uint32_t length_crc = uint32_t(read_le(file, pos + 8, 4));
    EXPECT_EQ(length_crc, mask_crc32c(crc32c_bitwise(file.substr(pos, 8))));
    EXPECT_LE(pos + 12 + length + 4, file.size()) << "truncated frame";
    const std::string data = file.substr(pos + 12, length);
    const uint32_t data_crc = uint32_t(read_le(file, pos + 12 + length, 4));
    EXPECT_EQ(data_crc, mask_crc32c(crc32c_bitwise(data)));
    records.push_back(data);
    pos += 12 + length + 4;
  }
  EXPECT_EQ(pos, file.size());
  return records;
}

/// One protobuf field: its number, wire type, and value (varint / fixed bits) or bytes.
struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t value = 0;
  std::string bytes;
};

uint64_t read_varint(const std::string& data, size_t& pos) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const uint8_t byte = uint8_t(data.at(pos++));
    value |= uint64_t(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return value;
  }
  throw std::runtime_error("varint too long");
}

std::vector<Field> decode_message(const std::string& data) {
  std::vector<Field> fields;
  size_t pos = 0;
  while (pos < data.size()) {
    const uint64_t key = read_varint(data, pos);
    Field field;
    field.number = uint32_t(key >> 3);
    field.wire_type = uint32_t(key & 7);
    switch (field.wire_type) {
      case 0: field.value = read_varint(data, pos); break;
      case 1: field.value = read_le(data, pos, 8), pos += 8; break;
      case 5: field.value = read_le(data, pos, 4), pos += 4; break;
      case 2: {
        const uint64_t length = read_varint(data, pos);
        field.bytes = data.substr(pos, length);
        if (pos + length > data.size()) throw std::runtime_error("field runs past the message");
        pos += length;
        break;
      }
      default: throw std::runtime_error("unexpected wire type " + std::to_string(field.wire_type));
    }
    fields.push_back(field);
  }
  return fields;
}

const Field* find_field(const std::vector<Field>& fields, uint32_t number) {
  for (const auto& field : fields)
    if (field.number == number) return &field;
  return nullptr;
}

double as_double(uint64_t bits) {
  double value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

float as_float(uint64_t bits) {
  const uint32_t bits32 = uint32_t(bits);
  float value;
  std::memcpy(&value, &bits32, sizeof value);
  return value;
}

struct Scalar {
  std::string tag;
  int64_t step;
  float value;
  double wall_time;
};

/// The one event file in `dir`.
fs::path only_event_file(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  EXPECT_EQ(files.size(), 1u);
  return files.empty() ? fs::path() : files.front();
}

}  // namespace

// ---------------------------------------------------------------------------------------------- CRC32C, framing

TEST(Crc32c, StandardTestVector) {
  const std::string data = "123456789";
  EXPECT_EQ(crc32c(data.data(), data.size()), 0xE3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  // Continuing from a previous CRC equals the CRC of the concatenation.
  EXPECT_EQ(crc32c(data.data() + 4, 5, crc32c(data.data(), 4)), 0xE3069283u);
  // 32 zero bytes (RFC 3720 B.4).
  const std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  // Agrees with a bitwise implementation on arbitrary bytes.
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(char((i * 37 + 11) & 0xFF));
  EXPECT_EQ(crc32c(bytes.data(), bytes.size()), crc32c_bitwise(bytes));
}

TEST(Crc32c, Mask) {
  EXPECT_EQ(mask_crc32c(0), 0xa282ead8u);
  // rotate right by 15 then add the constant, modulo 2^32.
  EXPECT_EQ(mask_crc32c(0xE3069283u), uint32_t(((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u));
  EXPECT_EQ(mask_crc32c(0x00008000u), 0xa282ead9u);  // bit 15 rotates to bit 0
  EXPECT_EQ(mask_crc32c(0x00000001u), 0xa284ead8u);  // bit 0 rotates to bit 17
}

TEST(TfRecord, FrameLayout) {
  const std::string data = "hello";
  const std::string frame = tfrecord_frame(data);
  ASSERT_EQ(frame.size(), 8u + 4u + data.size() + 4u);
  EXPECT_EQ(read_le(frame, 0, 8), data.size());
  EXPECT_EQ(frame.substr(12, data.size()), data);
  const auto records = read_tfrecords(frame);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], data);
}

// ---------------------------------------------------------------------------------------------- TensorBoard

TEST(TensorBoardWriter, ScalarsReadBack) {
  TempDir tmp("logging");
  const fs::path dir = tmp.path / "runs" / "exp1";  // created by the writer, parents included
  const std::vector<Scalar> written = {
      {"train/loss", 0, 2.302585f, 1700000000.25}, {"train/loss", 1, 1.5f, 1700000001.5},
      {"val/acc", 1, 0.8125f, 1700000002.0},       {"lr", 123456789012LL, 1e-4f, 1700000003.0},
      {"neg_step", -3, -7.25f, 1700000004.0},
  };
  std::string path;
  {
    TensorBoardWriter writer(dir.string());
    path = writer.path();
    for (const auto& s : written) writer.add_scalar(s.tag, double(s.value), s.step, s.wall_time);
    writer.add_scalar("now", 3.0, 7);  // wall time taken from the clock
    writer.flush();
  }
  EXPECT_EQ(fs::path(path).parent_path(), dir);
  EXPECT_EQ(only_event_file(dir), fs::path(path));
  const std::string name = fs::path(path).filename().string();
  EXPECT_EQ(name.rfind("events.out.tfevents.", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 6), ".masnn") << name;

  const auto records = read_tfrecords(read_all(path));
  ASSERT_EQ(records.size(), 1 + written.size() + 1);

  // First record: file_version.
  const auto first = decode_message(records[0]);
  const Field* version = find_field(first, 3);
  ASSERT_NE(version, nullptr);
  EXPECT_EQ(version->wire_type, 2u);
  EXPECT_EQ(version->bytes, "brain.Event:2");
  const Field* first_time = find_field(first, 1);
  ASSERT_NE(first_time, nullptr);
  EXPECT_GT(as_double(first_time->value), 1.6e9);

  for (size_t i = 0; i < written.size() + 1; ++i) {
    const auto event = decode_message(records[i + 1]);
    const Field* wall = find_field(event, 1);
    const Field* step = find_field(event, 2);
    const Field* summary = find_field(event, 5);
    ASSERT_TRUE(wall && step && summary) << "record " << i + 1;
    EXPECT_EQ(wall->wire_type, 1u);
    EXPECT_EQ(step->wire_type, 0u);
    EXPECT_EQ(find_field(event, 3), nullptr);
    const auto values = decode_message(summary->bytes);
    ASSERT_EQ(values.size(), 1u);
    EXPECT_EQ(values[0].number, 1u);
    const auto value = decode_message(values[0].bytes);
    const Field* tag = find_field(value, 1);
    const Field* simple = find_field(value, 2);
    ASSERT_TRUE(tag && simple);
    EXPECT_EQ(simple->wire_type, 5u);
    if (i < written.size()) {
      EXPECT_EQ(tag->bytes, written[i].tag);
      EXPECT_EQ(int64_t(step->value), written[i].step);
      EXPECT_EQ(as_float(simple->value), written[i].value);
      EXPECT_EQ(as_double(wall->value), written[i].wall_time);
    } else {
      EXPECT_EQ(tag->bytes, "now");
      EXPECT_EQ(int64_t(step->value), 7);
      EXPECT_EQ(as_float(simple->value), 3.0f);
      EXPECT_GE(as_double(wall->value), as_double(first_time->value));
    }
  }
}

TEST(TensorBoardWriter, RecordsReachTheFileBeforeTheWriterCloses) {
  TempDir tmp("logging");
  TensorBoardWriter writer(tmp.path.string());
  writer.add_scalar("loss", 0.5, 1, 1.0);
  const auto records = read_tfrecords(read_all(writer.path()));
  EXPECT_EQ(records.size(), 2u);
}

TEST(TensorBoardWriter, TextSummary) {
  TempDir tmp("logging");
  std::string path;
  {
    TensorBoardWriter writer(tmp.path.string());
    path = writer.path();
    writer.add_text("config", "lr = 0.1\nmodel = `ma_snn`", 0);
  }
  const auto records = read_tfrecords(read_all(path));
  ASSERT_EQ(records.size(), 2u);
  const auto event = decode_message(records[1]);
  const Field* summary = find_field(event, 5);
  ASSERT_NE(summary, nullptr);
  const auto value = decode_message(decode_message(summary->bytes).at(0).bytes);
  ASSERT_NE(find_field(value, 1), nullptr);
  EXPECT_EQ(find_field(value, 1)->bytes, "config");
  // metadata.plugin_data.plugin_name == "text"
  const Field* metadata = find_field(value, 9);
  ASSERT_NE(metadata, nullptr);
  EXPECT_EQ(decode_message(decode_message(metadata->bytes).at(0).bytes).at(0).bytes, "text");
  // tensor: dtype DT_STRING (7), string_val the text
  const Field* tensor = find_field(value, 8);
  ASSERT_NE(tensor, nullptr);
  const auto tensor_fields = decode_message(tensor->bytes);
  ASSERT_NE(find_field(tensor_fields, 1), nullptr);
  EXPECT_EQ(find_field(tensor_fields, 1)->value, 7u);
  ASSERT_NE(find_field(tensor_fields, 8), nullptr);
  EXPECT_EQ(find_field(tensor_fields, 8)->bytes, "lr = 0.1\nmodel = `ma_snn`");
}

TEST(TensorBoardWriter, TwoWritersInOneDirectoryGetTwoFiles) {
  TempDir tmp("logging");
  TensorBoardWriter a(tmp.path.string());
  TensorBoardWriter b(tmp.path.string());
  EXPECT_NE(a.path(), b.path());
  a.add_scalar("x", 1.0, 0, 0.0);
  EXPECT_EQ(read_tfrecords(read_all(a.path())).size(), 2u);
  EXPECT_EQ(read_tfrecords(read_all(b.path())).size(), 1u);
}

TEST(TensorBoardWriter, DirectoryThatCannotBeCreatedNamesThePath) {
  TempDir tmp("logging");
  const fs::path blocker = tmp.path / "a_file";
  write_all(blocker, "x");
  const std::string bad = (blocker / "logs").string();
  try {
    TensorBoardWriter writer(bad);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------- metrics CSV

TEST(MetricsCsv, HeaderRowsAndMissingValues) {
  TempDir tmp("logging");
  const fs::path path = tmp.path / "sub" / "metrics.csv";  // parent created
  {
    MetricsCsv csv(path.string(), {"epoch", "train_loss", "val_acc"}, false);
    csv.write_row({{"epoch", 1}, {"train_loss", 0.1}, {"val_acc", 0.8125}});
    // The row is on disk before the writer closes.
    EXPECT_EQ(read_all(path), "epoch,train_loss,val_acc\n1,0.1,0.8125\n");
    csv.write_row({{"epoch", 2}, {"val_acc", 0.9}});  // train_loss missing
    csv.write_row({{"train_loss", 1.0 / 3.0}});
  }
  const std::string text = read_all(path);
  EXPECT_EQ(text, "epoch,train_loss,val_acc\n1,0.1,0.8125\n2,,0.9\n,0.3333333333333333,\n");
  // Round trip of the printed numbers.
  EXPECT_EQ(std::stod("0.3333333333333333"), 1.0 / 3.0);
}

TEST(MetricsCsv, ReadGivesBackWhatWasWrittenAndNamesBadLines) {
  TempDir tmp("logging");
  const fs::path path = tmp.path / "metrics.csv";
  {
    MetricsCsv csv(path.string(), {"epoch", "loss", "acc"}, false);
    csv.write_row({{"epoch", 1}, {"loss", 1.0 / 3.0}, {"acc", 0.8125}});
    csv.write_row({{"epoch", 2}, {"loss", std::nan("")}});  // acc missing, loss NaN
  }
  const MetricsTable t = MetricsCsv::read(path.string());
  EXPECT_EQ(t.columns, (std::vector<std::string>{"epoch", "loss", "acc"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<double>{1, 1.0 / 3.0, 0.8125}));
  EXPECT_EQ(t.rows[1][0], 2);
  EXPECT_TRUE(std::isnan(t.rows[1][1]));
  EXPECT_TRUE(std::isnan(t.rows[1][2]));
  EXPECT_EQ(t.column("acc"), 2u);
  auto error_of = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of([&] { t.column("seconds"); }).find("no column 'seconds'"), std::string::npos);
  std::ofstream(tmp.path / "short.csv") << "epoch,loss\n1,0.5\n2\n";
  EXPECT_NE(error_of([&] { MetricsCsv::read((tmp.path / "short.csv").string()); }).find("short.csv: line 3 has 1 fields"),
            std::string::npos);
  std::ofstream(tmp.path / "text.csv") << "epoch,loss\n1,abc\n";
  EXPECT_NE(error_of([&] { MetricsCsv::read((tmp.path / "text.csv").string()); }).find("line 2: 'abc' is not a number"),
            std::string::npos);
  std::ofstream(tmp.path / "empty.csv") << "";
  EXPECT_NE(error_of([&] { MetricsCsv::read((tmp.path / "empty.csv").string()); }).find("empty.csv: empty"),
            std::string::npos);
}

TEST(MetricsCsv, UnknownKeyThrowsNamingItAndWritesNothing) {
  TempDir tmp("logging");
  const fs::path path = tmp.path / "m.csv";
  MetricsCsv csv(path.string(), {"epoch", "loss"}, false);
  try {
    csv.write_row({{"epoch", 1}, {"accuracy", 0.5}});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("accuracy"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(path), "epoch,loss\n");
}

TEST(MetricsCsv, AppendWithMatchingHeaderKeepsRows) {
  TempDir tmp("logging");
  const fs::path path = tmp.path / "m.csv";
  {
    MetricsCsv csv(path.string(), {"epoch", "loss"}, false);
    csv.write_row({{"epoch", 1}, {"loss", 0.5}});
  }
  {
    MetricsCsv csv(path.string(), {"epoch", "loss"}, true);
    csv.write_row({{"epoch", 2}, {"loss", 0.25}});
  }
  EXPECT_EQ(read_all(path), "epoch,loss\n1,0.5\n2,0.25\n");
  // Appending to a file that does not exist yet writes the header.
  const fs::path fresh = tmp.path / "fresh.csv";
  {
    MetricsCsv csv(fresh.string(), {"epoch"}, true);
    csv.write_row({{"epoch", 1}});
  }
  EXPECT_EQ(read_all(fresh), "epoch\n1\n");
  // Without append the file starts over.
  { MetricsCsv csv(path.string(), {"epoch", "loss"}, false); }
  EXPECT_EQ(read_all(path), "epoch,loss\n");
}

TEST(MetricsCsv, AppendAfterACutRowStartsANewLine) {
  TempDir tmp("logging");
  const fs::path path = tmp.path / "m.csv";
  write_all(path, "epoch,loss\n1,0.5\n2,0.2");  // killed in the middle of row 2
  {
    MetricsCsv csv(path.string(), {"epoch", "loss"}, true);
    csv.write_row({{"epoch", 3}, {"loss", 0.125}});
  }
  EXPECT_EQ(read_all(path), "epoch,loss\n1,0.5\n2,0.2\n3,0.125\n");
}

TEST(MetricsCsv, AppendWithDifferentHeaderThrows) {
  TempDir tmp("logging");
  const fs::path path = tmp.path / "m.csv";
  write_all(path, "epoch,loss\n1,0.5\n");
  try {
    MetricsCsv csv(path.string(), {"epoch", "loss", "acc"}, true);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("epoch,loss,acc"), std::string::npos) << message;
  }
  EXPECT_EQ(read_all(path), "epoch,loss\n1,0.5\n");  // untouched
}

TEST(MetricsCsv, BadColumnsAndUnwritablePath) {
  TempDir tmp("logging");
  const std::string path = (tmp.path / "m.csv").string();
  EXPECT_THROW(MetricsCsv(path, {}, false), std::invalid_argument);
  EXPECT_THROW(MetricsCsv(path, {"a", "a"}, false), std::invalid_argument);
  EXPECT_THROW(MetricsCsv(path, {"a,b"}, false), std::invalid_argument);
  const fs::path blocker = tmp.path / "a_file";
  write_all(blocker, "x");
  const std::string bad = (blocker / "m.csv").string();
  try {
    MetricsCsv csv(bad, {"epoch"}, false);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------- progress

TEST(Progress, FormatDuration) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(13.4), "0:13");
  EXPECT_EQ(format_duration(59.6), "1:00");
  EXPECT_EQ(format_duration(754), "12:34");
  EXPECT_EQ(format_duration(3600), "1:00:00");
  EXPECT_EQ(format_duration(3 * 3600 + 5 * 60 + 7), "3:05:07");
  EXPECT_EQ(format_duration(-5), "0:00");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "--:--");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::quiet_NaN()), "--:--");
}

TEST(Progress, LineShowsStepMetricsRateAndEta) {
  double now = 100.0;
  std::ostringstream out;
  ProgressBar bar("epoch 3/20", 100, false, out, [&] { return now; });
  EXPECT_FALSE(bar.interactive());  // an ostringstream is not a terminal
  now = 110.0;                      // 10 s for 45 of 100 steps, 4500 samples
  bar.update(45, 4500, {{"loss", 0.0312}, {"acc%", 0.812}});
  const std::string text = out.str();
  EXPECT_EQ(text, "epoch 3/20 45/100 loss 0.0312 acc 81.2% 450.0 samples/s ETA 0:12\n");  // 10 * 55 / 45 = 12.2 s
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(Progress, InteractiveRedrawsInPlaceWithBar) {
  double now = 0.0;
  std::ostringstream out;
  ProgressBar bar("epoch 1/2", 10, false, out, [&] { return now; });
  bar.set_interactive(true);
  now = 2.0;
  bar.update(5, 160, {{"loss", 1.5}});
  EXPECT_EQ(out.str(), "\repoch 1/2 [=========>          ] 5/10 loss 1.5 80.0 samples/s ETA 0:02");
  now = 2.05;  // within 0.1 s of the last draw: skipped
  bar.update(6, 192, {{"loss", 1.4}});
  EXPECT_EQ(out.str().find("6/10"), std::string::npos);
  now = 4.0;
  bar.update(10, 320, {{"loss", 1.25}});
  EXPECT_NE(out.str().find("\repoch 1/2 [====================] 10/10 loss 1.25 80.0 samples/s ETA 0:00"),
            std::string::npos)
      << out.str();
  out.str("");
  now = 5.0;
  bar.finish({{"loss", 1.2}, {"acc%", 0.5}});
  const std::string final_text = out.str();
  // The shorter final line blanks the rest of the longer previous one, then ends the line.
  const std::string prev = "epoch 1/2 [====================] 10/10 loss 1.25 80.0 samples/s ETA 0:00";
  const std::string last = "epoch 1/2 10/10 loss 1.2 acc 50.0% 64.0 samples/s in 0:05";
  ASSERT_LT(last.size(), prev.size());
  EXPECT_EQ(final_text, "\r" + last + std::string(prev.size() - last.size(), ' ') + "\n");
}

TEST(Progress, PlainOutputPrintsABoundedNumberOfLines) {
  double now = 0.0;
  std::ostringstream out;
  {
    ProgressBar bar("epoch 1/1", 1000, false, out, [&] { return now; });
    for (int64_t step = 1; step <= 1000; ++step) {
      now += 0.01;
      bar.update(step, step * 8, {{"loss", 1.0 / double(step)}});
    }
    bar.finish({{"loss", 0.001}});
  }
  const std::string text = out.str();
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 10u) << text;  // 10%, 20%, ..., 90%, then the final line
  EXPECT_EQ(lines[0].rfind("epoch 1/1 100/1000 loss 0.01 800.0 samples/s ETA 0:09", 0), 0u) << lines[0];
  EXPECT_EQ(lines[8].rfind("epoch 1/1 900/1000 ", 0), 0u) << lines[8];
  EXPECT_EQ(lines[9], "epoch 1/1 1000/1000 loss 0.001 800.0 samples/s in 0:10");
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(Progress, UnknownTotalPrintsEveryTenSeconds) {
  double now = 0.0;
  std::ostringstream out;
  ProgressBar bar("eval", 0, false, out, [&] { return now; });
  for (int step = 1; step <= 25; ++step) {
    now += 1.0;
    bar.update(step, step, {});
  }
  EXPECT_EQ(out.str(), "eval 10 1.0 samples/s\neval 20 1.0 samples/s\n");
}

TEST(Progress, QuietPrintsNothing) {
  double now = 0.0;
  std::ostringstream out;
  {
    ProgressBar bar("epoch 1/1", 10, true, out, [&] { return now; });
    bar.set_interactive(true);
    for (int step = 1; step <= 10; ++step) {
      now += 1.0;
      bar.update(step, step, {{"loss", 1.0}});
    }
    bar.finish({{"loss", 1.0}});
  }
  EXPECT_TRUE(out.str().empty());
}

TEST(Progress, UnfinishedInteractiveLineIsEndedByTheDestructor) {
  std::ostringstream out;
  {
    ProgressBar bar("epoch 1/1", 10, false, out, [] { return 1.0; });
    bar.set_interactive(true);
    bar.update(1, 1, {});
  }
  ASSERT_FALSE(out.str().empty());
  EXPECT_EQ(out.str().back(), '\n');
}
