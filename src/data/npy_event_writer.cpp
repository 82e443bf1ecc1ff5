// NumPy .npy writer of events: version 1.0 header, a packed structured dtype, the shape patched in at commit.
#include "npy_event_writer.h"

#include <cstring>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn::data {
namespace {

constexpr size_t kRecord = 13;      // t 8 + x 2 + y 2 + p 1, packed
constexpr size_t kHeaderSize = 192;  // magic 6 + version 2 + length 2 + the dict padded (any count); a multiple of 64

std::string npy_header(uint64_t count) {
  std::string dict = "{'descr': [('t', '<i8'), ('x', '<i2'), ('y', '<i2'), ('p', '|u1')], 'fortran_order': False, "
                     "'shape': (" + std::to_string(count) + ",), }";
  const size_t room = kHeaderSize - 10;
  if (dict.size() + 1 > room) throw std::logic_error("npy header too long");
  dict.append(room - 1 - dict.size(), ' ');
  dict.push_back('\n');
  std::string header("\x93NUMPY\x01\x00", 8);
  header.push_back(static_cast<char>(room & 0xFF));
  header.push_back(static_cast<char>(room >> 8));
  return header + dict;
}

class NpyEventWriter final : public EventFileWriter {
 public:
  explicit NpyEventWriter(const std::string& path) : out_(path) {
    const std::string header = npy_header(0);
    out_.write(header.data(), header.size());
  }

  void write(const Events& events) override {
    buffer_.resize(events.size() * kRecord);
    uint8_t* b = buffer_.data();
    for (size_t i = 0; i < events.size(); ++i, b += kRecord) {
      if (events.x[i] > 32767 || events.y[i] > 32767)
        throw std::invalid_argument("npy: coordinate above 32767 at event " + std::to_string(count_ + i));
      const int64_t t = events.t[i];
      const auto x = static_cast<int16_t>(events.x[i]), y = static_cast<int16_t>(events.y[i]);
      std::memcpy(b, &t, 8);  // little-endian host (x86-64, arm64)
      std::memcpy(b + 8, &x, 2);
      std::memcpy(b + 10, &y, 2);
      b[12] = events.p[i] != 0;
    }
    out_.write(buffer_.data(), buffer_.size());
    count_ += events.size();
  }

  void commit() override {
    const std::string header = npy_header(count_);
    out_.write_at(0, header.data(), header.size());
    out_.commit();
  }

 private:
  AtomicFileWriter out_;
  std::vector<uint8_t> buffer_;
  uint64_t count_ = 0;
};

}  // namespace

std::unique_ptr<EventFileWriter> make_npy_event_writer(const std::string& path) {
  return std::make_unique<NpyEventWriter>(path);
}

}  // namespace masnn::data
