// Writing events to a file in pieces (a converted recording need not fit in memory): NumPy .npy, AEDAT 3.1,
// AEDAT 4.0 and the N-MNIST binary format. The file appears atomically on commit(); an error or a writer destroyed before commit() leaves any
// previous file unchanged and no temporary behind.
#pragma once

#include <memory>
#include <string>

#include "masnn/data/events.h"

namespace masnn::data {

/// The formats masnn writes.
enum class EventOutputFormat {
  Npy,     ///< NumPy .npy structured array: t <i8 (us), x <i2, y <i2, p |u1 (1 = ON), 13 bytes per event
  Aedat3,  ///< AEDAT 3.1 polarity packets
  Aedat4,  ///< AEDAT 4.0, one polarity-event stream
  NmnistBin,  ///< N-MNIST / N-Caltech101 binary (nmnist_bin.h): 5 bytes per event, t < 2^23 us, x < 256, y < 240
};

/// Settings shared by the writers.
struct EventWriterOptions {
  int width = 0;                    ///< sensor width stated in the file (AEDAT 4); 0 = the largest x + 1 seen
  int height = 0;                   ///< sensor height stated in the file (AEDAT 4); 0 = the largest y + 1 seen
  std::string source = "masnn";     ///< camera / source name stated in the file
  std::string compression = "lz4";  ///< AEDAT 4 packet compression: none, lz4, lz4-high, zstd, zstd-high
};

class EventFileWriter {
 public:
  virtual ~EventFileWriter() = default;
  /// Appends `events` (pieces in file order). Throws std::invalid_argument naming the event that the format
  /// cannot hold, std::runtime_error naming the file when writing fails.
  virtual void write(const Events& events) = 0;
  /// Completes the file and puts it in place.
  virtual void commit() = 0;
};

/// A writer of `format` to `path`.
std::unique_ptr<EventFileWriter> make_event_writer(EventOutputFormat format, const std::string& path,
                                                   const EventWriterOptions& options = {});

/// Writes a whole recording to `path` in `format` (atomically); returns the file's size in bytes.
uint64_t write_event_file(const std::string& path, const Events& events, EventOutputFormat format,
                          const EventWriterOptions& options = {});
/// The output format a file name implies: `.npy`, `.aedat4`, `.aedat` (AEDAT 3.1), `.bin` (N-MNIST). Throws
/// std::invalid_argument naming the path otherwise.
EventOutputFormat output_format_for(const std::string& path);
/// The format a name given by the user names: npy, aedat3, aedat4, nmnist-bin. Throws std::invalid_argument
/// otherwise.
EventOutputFormat parse_output_format(const std::string& name);
/// The file extension of a format, with its dot: ".npy", ".aedat", ".aedat4", ".bin".
std::string output_extension(EventOutputFormat format);

}  // namespace masnn::data
