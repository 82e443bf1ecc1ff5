// TensorBoard event files: TFRecord framing around hand-encoded protobuf Event messages (see the header).
#include "train/tensorboard.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include <fmt/core.h>

namespace masnn::train {

namespace {

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

// Protobuf wire encoding (wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (field << 3) | wire_type);
}

void put_le(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void put_double(std::string& out, uint32_t field, double value) {
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, 1);
  put_le(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float value) {
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  put_key(out, field, 5);
  put_le(out, bits, 4);
}

void put_int(std::string& out, uint32_t field, uint64_t value) {
  put_key(out, field, 0);
  put_varint(out, value);
}

void put_bytes(std::string& out, uint32_t field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event { 1 wall_time, 2 step, 5 summary }.
std::string summary_event(const std::string& summary_value, int64_t step, double wall_time) {
  std::string summary;
  put_bytes(summary, 1, summary_value);  // Summary.value
  std::string event;
  put_double(event, 1, wall_time);
  put_int(event, 2, static_cast<uint64_t>(step));
  put_bytes(event, 5, summary);
  return event;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0 || buffer[0] == '\0') return "localhost";
  std::string name(buffer.data());
  for (char& c : name)
    if (c == '/') c = '_';
  return name;
}

}  // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = kCrc32cTable[(crc ^ bytes[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

uint32_t mask_crc32c(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord_frame(const std::string& data) {
  std::string length;
  put_le(length, data.size(), 8);
  std::string frame = length;
  put_le(frame, mask_crc32c(crc32c(length.data(), length.size())), 4);
  frame += data;
  put_le(frame, mask_crc32c(crc32c(data.data(), data.size())), 4);
  return frame;
}

TensorBoardWriter::TensorBoardWriter(const std::string& log_dir) {
  namespace fs = std::filesystem;
  const fs::path dir = log_dir.empty() ? fs::path(".") : fs::path(log_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw std::runtime_error(fmt::format("TensorBoard log directory {}: cannot create it ({})", dir.string(),
                                         ec ? ec.message() : "not a directory"));
  }
  const double wall_time = now_seconds();
  const std::string base = fmt::format("events.out.tfevents.{}.{}.masnn", static_cast<int64_t>(wall_time), host_name());
  fs::path file = dir / base;
  for (int n = 1; fs::exists(file); ++n) file = dir / fmt::format("{}.{}", base, n);
  path_ = file.string();

  file_.open(path_, std::ios::binary | std::ios::out | std::ios::trunc);
  if (!file_) {
    throw std::runtime_error(
        fmt::format("TensorBoard event file {}: cannot create it ({})", path_, std::strerror(errno)));
  }
  std::string event;
  put_double(event, 1, wall_time);
  put_bytes(event, 3, "brain.Event:2");  // Event.file_version
  write_event(event);
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    flush();
  } catch (...) {  // A destructor must not throw; the failure was reported by the add_* call that hit it.
  }
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  add_scalar(tag, value, step, now_seconds());
}

void TensorBoardWriter::add_scalar(const std::string& tag, double value, int64_t step, double wall_time) {
  std::string summary_value;
  put_bytes(summary_value, 1, tag);                        // Value.tag
  put_float(summary_value, 2, static_cast<float>(value));  // Value.simple_value
  write_event(summary_event(summary_value, step, wall_time));
}

void TensorBoardWriter::add_text(const std::string& tag, const std::string& text, int64_t step) {
  // SummaryMetadata { 1 plugin_data PluginData { 1 plugin_name "text" } }
  std::string plugin_data;
  put_bytes(plugin_data, 1, "text");
  std::string metadata;
  put_bytes(metadata, 1, plugin_data);
  // TensorProto { 1 dtype DT_STRING (7), 2 tensor_shape { 2 dim { 1 size 1 } }, 8 string_val text }
  std::string dim;
  put_int(dim, 1, 1);
  std::string shape;
  put_bytes(shape, 2, dim);
  std::string tensor;
  put_int(tensor, 1, 7);
  put_bytes(tensor, 2, shape);
  put_bytes(tensor, 8, text);
  std::string summary_value;
  put_bytes(summary_value, 1, tag);       // Value.tag
  put_bytes(summary_value, 9, metadata);  // Value.metadata
  put_bytes(summary_value, 8, tensor);    // Value.tensor
  write_event(summary_event(summary_value, step, now_seconds()));
}

void TensorBoardWriter::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  file_.flush();
  if (!file_) throw std::runtime_error(fmt::format("TensorBoard event file {}: write failed", path_));
}

void TensorBoardWriter::write_event(const std::string& event) {
  const std::string frame = tfrecord_frame(event);
  std::lock_guard<std::mutex> lock(mutex_);
  file_.write(frame.data(), static_cast<std::streamsize>(frame.size()));
  file_.flush();
  if (!file_) {
    throw std::runtime_error(fmt::format("TensorBoard event file {}: write failed ({})", path_, std::strerror(errno)));
  }
}

}  // namespace masnn::train
