// TensorBoard event files written directly (no TensorFlow or protobuf library).
//
// File: a sequence of TFRecord frames, each
//   uint64 length (little-endian), uint32 masked CRC32C of the 8 length bytes, `length` data bytes,
//   uint32 masked CRC32C of the data,
// where masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8. Each frame holds one protobuf `Event`
// (tensorflow/core/util/event.proto): 1 wall_time double, 2 step int64, 3 file_version string,
// 5 summary Summary { repeated Value value = 1 { 1 tag string, 2 simple_value float,
// 9 metadata SummaryMetadata, 8 tensor TensorProto } }. The first record is the
// `file_version: "brain.Event:2"` event TensorBoard expects.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <string>

namespace masnn::train {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), continuing from `crc` (0 to start).
/// crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

/// The TFRecord mask of a CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32).
uint32_t mask_crc32c(uint32_t crc);

/// Frames `data` as one TFRecord (length, masked CRC of the length, data, masked CRC of the data).
std::string tfrecord_frame(const std::string& data);

/// Writes scalars (and text) to a TensorBoard event file in `log_dir`. Every record is flushed to the file as it
/// is added, so a killed run keeps what it logged. Thread-safe (one mutex). Not copyable.
class TensorBoardWriter {
 public:
  /// Creates `log_dir` (and parents) if needed and the file
  /// `events.out.tfevents.<unix seconds>.<hostname>.masnn` in it (with a `.<n>` suffix if that name is taken),
  /// then writes the file_version event. Throws std::runtime_error naming the path when the directory or the
  /// file cannot be created or written.
  explicit TensorBoardWriter(const std::string& log_dir);
  /// Flushes; never throws.
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  /// Adds a scalar `value` (stored as float, TensorBoard's simple_value) under `tag` at `step`, stamped now.
  void add_scalar(const std::string& tag, double value, int64_t step);
  /// Same, with an explicit wall time in seconds since the Unix epoch.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time);
  /// Adds `text` (markdown, shown by TensorBoard's text plugin) under `tag` at `step`, stamped now.
  void add_text(const std::string& tag, const std::string& text, int64_t step);
  /// Flushes buffered records to the file. Throws std::runtime_error naming the file on failure.
  void flush();

  /// The event file's path.
  const std::string& path() const { return path_; }

 private:
  void write_event(const std::string& event);
  std::string path_;
  std::ofstream file_;
  std::mutex mutex_;
};

}  // namespace masnn::train
