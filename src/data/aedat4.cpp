// AEDAT 4.0 decoder and writer.
#include "masnn/data/aedat4.h"

#include <flatbuffers/flatbuffers.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <vector>

#include "aedat4/events_generated.h"
#include "aedat4/file_data_table_generated.h"
#include "aedat4/ioheader_generated.h"
#include "byte_order.h"
#include "masnn/util/file_io.h"
#include "packet_compression.h"
#include "record_decoder.h"

namespace masnn::data {
namespace fb = masnn::aedat4;
namespace {

int32_t int32_at(const uint8_t* b) { return static_cast<int32_t>(le32(b)); }

constexpr char kMagic[] = "#!AER-DAT4.0\r\n";
constexpr size_t kMagicSize = sizeof(kMagic) - 1;  // 14
constexpr size_t kMaxHeaderBytes = size_t{16} << 20;
constexpr size_t kEventsPerPacket = 8192;


// What the header's XML says of one stream.
struct StreamInfo {
  std::string type;    // typeIdentifier: EVTS, FRME, IMUS, TRIG, ...
  std::string source;  // info/source: the camera
  int width = 0, height = 0;
};

std::string xml_unescape(std::string s) {
  static const std::pair<const char*, char> entities[] = {
      {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&amp;", '&'}};
  for (const auto& [entity, c] : entities)
    for (size_t pos = 0; (pos = s.find(entity, pos)) != std::string::npos; ++pos)
      s.replace(pos, std::strlen(entity), 1, c);
  return s;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The value of attribute `name` inside the tag text `tag`, or "".
std::string tag_attribute(const std::string& tag, const std::string& name) {
  const std::string key = name + "=\"";
  const size_t pos = tag.find(key);
  if (pos == std::string::npos) return "";
  const size_t end = tag.find('"', pos + key.size());
  return end == std::string::npos ? "" : xml_unescape(tag.substr(pos + key.size(), end - pos - key.size()));
}

int parse_int(const std::string& s) {
  try {
    size_t used = 0;
    const int v = std::stoi(s, &used);
    return used == s.size() && v > 0 && v <= 32768 ? v : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

// The streams of the XML description: <node name="outInfo"> holds one <node name="ID"> per stream with
// <attr key="typeIdentifier"> and an <node name="info"> with sizeX, sizeY and source.
std::map<int, StreamInfo> parse_streams(const std::string& xml) {
  std::map<int, StreamInfo> streams;
  std::vector<std::string> nodes;
  size_t pos = 0;
  while ((pos = xml.find('<', pos)) != std::string::npos) {
    const size_t end = xml.find('>', pos);
    if (end == std::string::npos) break;
    const std::string tag = xml.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (tag.rfind("/node", 0) == 0) {
      if (!nodes.empty()) nodes.pop_back();
    } else if (tag.rfind("node", 0) == 0 && tag.size() > 4 && std::isspace(static_cast<unsigned char>(tag[4]))) {
      if (tag.back() != '/') nodes.push_back(tag_attribute(tag, "name"));
    } else if (tag.rfind("attr", 0) == 0 && nodes.size() >= 2 && nodes[0] == "outInfo") {
      const size_t close = xml.find("</attr>", pos);
      if (close == std::string::npos) break;
      const std::string key = tag_attribute(tag, "key"), value = xml_unescape(xml.substr(pos, close - pos));
      pos = close + 7;
      const std::string& id = nodes[1];
      if (id.empty() || id.size() > 9 || id.find_first_not_of("0123456789") != std::string::npos) continue;
      StreamInfo& s = streams[std::stoi(id)];
      if (nodes.size() == 2 && key == "typeIdentifier") s.type = value;
      if (nodes.size() == 3 && nodes[2] == "info") {
        if (key == "sizeX") s.width = parse_int(value);
        if (key == "sizeY") s.height = parse_int(value);
        if (key == "source") s.source = value;
      }
    }
  }
  return streams;
}

class Aedat4Decoder final : public EventDecoder {
 public:
  Aedat4Decoder(const std::string& name, const EventReadOptions& options)
      : EventDecoder(EventFormat::Aedat4, name, options) {}

  bool header_done() const override { return phase_ != Phase::Header; }
  // 16 bytes per event, compressed up to 4:1 (reserving address space is cheap; a reallocation copies everything).
  size_t expected_events(uint64_t size, const InputSampler&) const override { return size / 4; }

  void feed(const uint8_t* data, size_t size, Events& out) override {
    const size_t before = out.size();
    while (size > 0) {
      size_t used = 0;
      switch (phase_) {
        case Phase::Header: used = feed_header(data, size); break;
        case Phase::PacketHeader:
          used = feed_packets_at_once(data, size, out);
          if (used == 0) used = feed_packet_header(data, size);
          break;
        case Phase::Body: used = feed_body(data, size, out); break;
        case Phase::Table: used = size; break;  // the data table: an index masnn does not need
      }
      data += used;
      size -= used;
      offset_ += used;
    }
    stats_.events += out.size() - before;
  }

  void finish(Events&) override {
    switch (phase_) {
      case Phase::Header: fail(offset_, "the input ended inside the header");
      case Phase::PacketHeader:
        if (!pending_.empty())
          fail(packet_start_, "truncated packet header (" + std::to_string(pending_.size()) + " bytes, 8 expected)");
        if (table_position_ >= 0 && offset_ < static_cast<uint64_t>(table_position_))
          fail(offset_, "the file ends before the data table the header places at byte " +
                            std::to_string(table_position_) + " (truncated)");
        break;
      case Phase::Body:
        fail(packet_start_, "truncated packet (" + std::to_string(pending_.size()) + " of " +
                                std::to_string(body_size_) + " body bytes)");
      case Phase::Table: break;
    }
  }

 private:
  enum class Phase { Header, PacketHeader, Body, Table };

  // Collects the version line and the size-prefixed IOHeader; returns the bytes used.
  size_t feed_header(const uint8_t* data, size_t size) {
    size_t want = kMagicSize + 4;
    if (pending_.size() >= want) want += le32(pending_.data() + kMagicSize);
    const size_t take = std::min(size, want - pending_.size());
    pending_.insert(pending_.end(), data, data + take);
    if (pending_.size() >= kMagicSize && std::memcmp(pending_.data(), kMagic, kMagicSize) != 0)
      fail(0, "missing version line '#!AER-DAT4.0' (not an AEDAT 4.0 file)");
    if (pending_.size() == kMagicSize + 4) {
      const auto header_size = le32(pending_.data() + kMagicSize);
      if (header_size < 8 || header_size > kMaxHeaderBytes)
        fail(kMagicSize, "header size " + std::to_string(header_size) + " (8 .. " + std::to_string(kMaxHeaderBytes) +
                             " bytes expected)");
      return take;
    }
    if (pending_.size() < want) return take;
    parse_io_header();
    pending_.clear();
    phase_ = Phase::PacketHeader;
    return take;
  }

  void parse_io_header() {
    // Verified with its size prefix: FlatBuffers aligns a size-prefixed buffer from the prefix.
    std::vector<uint8_t> buffer(pending_.begin() + kMagicSize, pending_.end());
    flatbuffers::Verifier verifier(buffer.data(), buffer.size());
    if (!fb::VerifySizePrefixedIOHeaderBuffer(verifier))
      fail(kMagicSize, "the header is not a valid IOHeader FlatBuffer");
    const fb::IOHeader* header = fb::GetSizePrefixedIOHeader(buffer.data());
    const auto c = static_cast<int32_t>(header->compression());
    if (c < 0 || c > 4) fail(kMagicSize, "unknown packet compression " + std::to_string(c) + " (0 .. 4 expected)");
    compression_ = static_cast<PacketCompression>(c);
    table_position_ = header->data_table_position();
    const uint64_t packets_start = kMagicSize + buffer.size();
    if (table_position_ >= 0 && static_cast<uint64_t>(table_position_) < packets_start)
      fail(kMagicSize, "data table position " + std::to_string(table_position_) + " inside the header");
    if (header->info_node()) streams_ = parse_streams(header->info_node()->str());
    for (const auto& [id, s] : streams_) {
      if (s.type != "EVTS") continue;
      event_stream_ = id;
      stats_.sensor_width = s.width;
      stats_.sensor_height = s.height;
      stats_.source = s.source;
      break;
    }
  }

  size_t feed_packet_header(const uint8_t* data, size_t size) {
    if (pending_.empty()) {
      packet_start_ = offset_;
      if (table_position_ >= 0 && offset_ >= static_cast<uint64_t>(table_position_)) {
        phase_ = Phase::Table;
        return 0;
      }
    }
    const size_t take = std::min(size, 8 - pending_.size());
    pending_.insert(pending_.end(), data, data + take);
    if (pending_.size() < 8) return take;
    stream_ = int32_at(pending_.data());
    const int32_t body = int32_at(pending_.data() + 4);
    pending_.clear();
    if (body < 0 || static_cast<size_t>(body) > kAedat4MaxPacketBytes)
      fail(packet_start_, "packet body size " + std::to_string(body) + " (0 .. " +
                              std::to_string(kAedat4MaxPacketBytes) + " expected)");
    if (streams_.count(stream_) == 0)
      fail(packet_start_, "packet of stream " + std::to_string(stream_) + ", which the header does not declare");
    body_size_ = static_cast<size_t>(body);
    const uint64_t end = packet_start_ + 8 + body_size_;
    if (table_position_ >= 0 && end > static_cast<uint64_t>(table_position_))
      fail(packet_start_, "packet runs past the data table at byte " + std::to_string(table_position_));
    phase_ = Phase::Body;
    return take;
  }

  size_t feed_body(const uint8_t* data, size_t size, Events& out) {
    if (pending_.empty() && size >= body_size_) {  // the whole body in this piece: decode in place
      packet(data, out);
      phase_ = Phase::PacketHeader;
      return body_size_;
    }
    const size_t take = std::min(size, body_size_ - pending_.size());
    pending_.insert(pending_.end(), data, data + take);
    if (pending_.size() == body_size_) {
      packet(pending_.data(), out);
      pending_.clear();
      phase_ = Phase::PacketHeader;
    }
    return take;
  }

  // With several threads and compressed packets: the event-stream packets that lie whole in this piece are
  // decompressed at once, then decoded in file order as one at a time would. Stops before anything the
  // one-at-a-time path must judge (a bad or other-stream header, the data table, a packet cut by the piece's end).
  // Returns the bytes used (0: fewer than two such packets, left to the one-at-a-time path).
  // (Decoding each packet while the next ones were decompressed measured 2x slower on the 2-core virtual machine
  // of docs/data.md's figures, so the two phases are kept apart.)
  size_t feed_packets_at_once(const uint8_t* data, size_t size, Events& out) {
    if (options_.threads == 1 || compression_ == PacketCompression::None || event_stream_ < 0 || !pending_.empty())
      return 0;
    struct Ahead {
      uint64_t start;
      const uint8_t* body;
      size_t size;
      std::string error;
    };
    constexpr size_t kMaxBatch = 32;  // a buffer and a context kept per slot: bounded for files of small packets
    std::vector<Ahead> batch;
    size_t pos = 0;
    while (batch.size() < kMaxBatch && pos + 8 <= size) {
      const uint64_t start = offset_ + pos;
      const int32_t body = int32_at(data + pos + 4);
      if (int32_at(data + pos) != event_stream_ || body < 0 || static_cast<size_t>(body) > kAedat4MaxPacketBytes ||
          pos + 8 + static_cast<size_t>(body) > size)
        break;
      if (table_position_ >= 0 && start + 8 + static_cast<uint64_t>(body) > static_cast<uint64_t>(table_position_))
        break;
      batch.push_back({start, data + pos + 8, static_cast<size_t>(body), {}});
      pos += 8 + static_cast<size_t>(body);
    }
    if (batch.size() < 2) return 0;
    while (ahead_.size() < batch.size()) ahead_.push_back(std::make_unique<PacketInflater>(kAedat4MaxPacketBytes));
#ifdef _OPENMP  // (the fuzzing build has no OpenMP: the same batches, decompressed one after another)
    const int threads = options_.threads > 0 ? options_.threads : omp_get_max_threads();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
#endif
    for (size_t i = 0; i < batch.size(); ++i) {
      try {  // nothing may leave an OpenMP region: an error is kept for its packet's turn
        batch[i].error = ahead_[i]->inflate(compression_, batch[i].body, batch[i].size);
      } catch (const std::exception& e) {
        batch[i].error = e.what();
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      packet_start_ = batch[i].start;
      stream_ = event_stream_;
      body_size_ = batch[i].size;
      ++stats_.packets;
      if (!batch[i].error.empty()) fail_inflate(batch[i].error);
      decode_events(*ahead_[i], out);
    }
    return pos;
  }

  [[noreturn]] void fail_inflate(const std::string& error) const {
    fail(packet_start_, "packet body (" + compression_name(compression_) + "): " + error);
  }

  void packet(const uint8_t* body, Events& out) {
    ++stats_.packets;
    if (stream_ != event_stream_) {
      const StreamInfo& s = streams_.at(stream_);
      ++stats_.skipped_packets;
      ++stats_.other_streams["stream " + std::to_string(stream_) + " (" + (s.type.empty() ? "no type" : s.type) + ")"];
      return;
    }
    const std::string error = inflater_.inflate(compression_, body, body_size_);
    if (!error.empty()) fail_inflate(error);
    decode_events(inflater_, out);
  }

  // Checks one decompressed event packet and appends its events.
  void decode_events(const PacketInflater& inflater, Events& out) {
    const uint64_t at = packet_start_;
    const uint8_t* inflated = inflater.data();
    const size_t n = inflater.size();
    if (n < 12 || static_cast<uint64_t>(le32(inflated)) + 4 != n)
      fail(at, "packet of " + std::to_string(n) + " bytes whose FlatBuffer size prefix disagrees");
    if (std::memcmp(inflated + 8, "EVTS", 4) != 0)
      fail(at, "packet of the event stream holds '" + std::string(reinterpret_cast<const char*>(inflated) + 8, 4) +
                   "' data, not 'EVTS'");
    flatbuffers::Verifier verifier(inflated, n);
    if (!fb::VerifySizePrefixedEventPacketBuffer(verifier)) fail(at, "packet is not a valid EventPacket FlatBuffer");
    const auto* events = fb::GetSizePrefixedEventPacket(inflated)->events();
    if (events == nullptr) return;
    const auto width = static_cast<uint32_t>(stats_.sensor_width > 0 ? stats_.sensor_width : 32768);
    const auto height = static_cast<uint32_t>(stats_.sensor_height > 0 ? stats_.sensor_height : 32768);
    EventAppender append(out, events->size(), options_, stats_);
    // Sensor and options checked at once (signed coordinates as unsigned: a negative one is huge). First without
    // a branch per event, the packet copied and checked as a whole; in the rare packet where an event fails,
    // again with a check per event, which drops it or names it.
    const uint32_t limit_x = std::min(width, append.width()), limit_y = std::min(height, append.height());
    EventAppender::Slots slot = append.slots();
    // The structs read as bytes (t at 0, x at 8, y at 10, on at 12, little-endian), through local pointers the
    // compiler need not reload after each store. Coordinates compared as uint16: a negative one is >= 32768, and
    // the limits are at most that.
    static_assert(sizeof(fb::Event) == 16 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "AEDAT 4 event layout");
    const auto* raw = reinterpret_cast<const uint8_t*>(events->data());
    const size_t count = events->size();
    int64_t* t = slot.t + slot.n;
    uint16_t* xs = slot.x + slot.n;
    uint16_t* ys = slot.y + slot.n;
    uint8_t* ps = slot.p + slot.n;
    uint32_t outside = 0;
    size_t backwards = 0;
    int64_t previous = slot.n > 0 ? slot.t[slot.n - 1] : std::numeric_limits<int64_t>::min();
    for (size_t i = 0; i < count; ++i, raw += sizeof(fb::Event)) {
      int64_t time;
      uint16_t x, y;
      std::memcpy(&time, raw, 8);
      std::memcpy(&x, raw + 8, 2);
      std::memcpy(&y, raw + 10, 2);
      outside |= (x >= limit_x) | (y >= limit_y);
      backwards += time < previous;
      previous = time;
      t[i] = time;
      xs[i] = x;
      ys[i] = y;
      ps[i] = raw[12] != 0;
    }
    if (outside == 0) return append.set_count(slot.n + count, backwards);
    for (const fb::Event* e : *events) {
      const auto x = static_cast<uint32_t>(static_cast<int32_t>(e->x()));
      const auto y = static_cast<uint32_t>(static_cast<int32_t>(e->y()));
      if (__builtin_expect(x >= limit_x || y >= limit_y, 0)) {
        if (x >= width || y >= height) fail_outside_sensor(e->x(), e->y(), at, ", in the packet");
        ++stats_.out_of_range_dropped;  // outside the options' sensor
        continue;
      }
      slot.t[slot.n] = e->t();
      slot.x[slot.n] = static_cast<uint16_t>(x);
      slot.y[slot.n] = static_cast<uint16_t>(y);
      slot.p[slot.n] = static_cast<uint8_t>(e->on());
      ++slot.n;
    }
    append.set_count(slot.n);
  }

  Phase phase_ = Phase::Header;
  std::vector<uint8_t> pending_;   // bytes of the header, packet header or body being collected
  PacketInflater inflater_{kAedat4MaxPacketBytes};  // the decompressed packet
  std::vector<std::unique_ptr<PacketInflater>> ahead_;  // packets decompressed at once (feed_packets_at_once)
  PacketCompression compression_ = PacketCompression::None;
  int64_t table_position_ = -1;
  std::map<int, StreamInfo> streams_;
  int event_stream_ = -1;  // the event stream read: the lowest id of type EVTS
  uint64_t packet_start_ = 0;
  int32_t stream_ = 0;
  size_t body_size_ = 0;
};

// The XML description of one event stream, padded with trailing spaces to `length` (when given) so that the
// header written at the start keeps its size when rewritten at the end.
std::string stream_xml(int width, int height, const std::string& source, PacketCompression c, size_t length) {
  std::string xml = "<dv version=\"2.0\">\n    <node name=\"outInfo\" path=\"/outInfo/\">\n"
                    "        <node name=\"0\" path=\"/outInfo/0/\">\n"
                    "            <attr key=\"compression\" type=\"string\">";
  static const char* names[] = {"NONE", "LZ4", "LZ4_HIGH", "ZSTD", "ZSTD_HIGH"};
  xml += names[static_cast<int>(c)];
  xml += "</attr>\n            <attr key=\"originalModuleName\" type=\"string\">masnn</attr>\n"
         "            <attr key=\"originalOutputName\" type=\"string\">events</attr>\n"
         "            <attr key=\"typeDescription\" type=\"string\">Array of events (polarity ON/OFF).</attr>\n"
         "            <attr key=\"typeIdentifier\" type=\"string\">EVTS</attr>\n"
         "            <node name=\"info\" path=\"/outInfo/0/info/\">\n"
         "                <attr key=\"sizeX\" type=\"int\">" + std::to_string(width) + "</attr>\n"
         "                <attr key=\"sizeY\" type=\"int\">" + std::to_string(height) + "</attr>\n"
         "                <attr key=\"source\" type=\"string\">" + xml_escape(source) + "</attr>\n"
         "            </node>\n        </node>\n    </node>\n</dv>\n";
  if (length > xml.size()) xml.append(length - xml.size(), ' ');
  return xml;
}

class Aedat4EventWriter final : public EventFileWriter {
 public:
  Aedat4EventWriter(const std::string& path, const EventWriterOptions& options)
      : out_(path), options_(options), compression_(parse_compression(options.compression)) {
    if (options.width < 0 || options.width > 32767 || options.height < 0 || options.height > 32767)
      throw std::invalid_argument(path + ": sensor size must be 0 .. 32767");
    // Room for any sensor size in the rewritten header.
    xml_length_ = stream_xml(32767, 32767, options_.source, compression_, 0).size();
    out_.write(kMagic, kMagicSize);
    const auto header = io_header(-1);
    header_size_ = header.size();
    out_.write(header.data(), header.size());
  }

  void write(const Events& events) override {
    for (size_t i = 0; i < events.size(); ++i) {
      if (events.x[i] > 32767 || events.y[i] > 32767)
        throw std::invalid_argument("AEDAT 4.0: coordinate above 32767 at event " + std::to_string(written_ + i));
      max_x_ = std::max<int>(max_x_, events.x[i]);
      max_y_ = std::max<int>(max_y_, events.y[i]);
      pending_.emplace_back(events.t[i], static_cast<int16_t>(events.x[i]), static_cast<int16_t>(events.y[i]),
                            events.p[i] != 0);
      if (pending_.size() == kEventsPerPacket) flush();
    }
    written_ += events.size();
  }

  void commit() override {
    flush();
    const int64_t table_position = static_cast<int64_t>(out_.size());
    flatbuffers::FlatBufferBuilder b;
    std::vector<flatbuffers::Offset<fb::PacketEntry>> entries;
    entries.reserve(table_.size());
    for (const Entry& e : table_) {
      const fb::PacketHeader h(0, e.size);
      entries.push_back(fb::CreatePacketEntry(b, e.body_offset, &h, e.elements, e.t_first, e.t_last));
    }
    fb::FinishSizePrefixedFileDataTableBuffer(b, fb::CreateFileDataTable(b, b.CreateVector(entries)));
    compressed_.clear();
    compress_packet(compression_, b.GetBufferPointer(), b.GetSize(), compressed_);
    out_.write(compressed_.data(), compressed_.size());
    const auto header = io_header(table_position);
    if (header.size() != header_size_) throw std::logic_error("AEDAT 4.0 header changed size");
    out_.write_at(kMagicSize, header.data(), header.size());
    out_.commit();
  }

 private:
  struct Entry {
    int64_t body_offset;
    int32_t size;
    int64_t elements, t_first, t_last;
  };

  std::vector<uint8_t> io_header(int64_t table_position) const {
    const int width = options_.width > 0 ? options_.width : max_x_ + 1;
    const int height = options_.height > 0 ? options_.height : max_y_ + 1;
    flatbuffers::FlatBufferBuilder b;
    b.ForceDefaults(true);  // the same size whatever the values: the header is rewritten in place
    const auto xml = b.CreateString(stream_xml(width, height, options_.source, compression_, xml_length_));
    fb::FinishSizePrefixedIOHeaderBuffer(
        b, fb::CreateIOHeader(b, static_cast<fb::Compression>(compression_), table_position, xml));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
  }

  void flush() {
    if (pending_.empty()) return;
    flatbuffers::FlatBufferBuilder b(pending_.size() * sizeof(fb::Event) + 64);
    fb::FinishSizePrefixedEventPacketBuffer(b, fb::CreateEventPacket(b, b.CreateVectorOfStructs(pending_)));
    compressed_.clear();
    compress_packet(compression_, b.GetBufferPointer(), b.GetSize(), compressed_);
    uint8_t header[8];
    const int32_t stream = 0, size = static_cast<int32_t>(compressed_.size());
    std::memcpy(header, &stream, 4);  // little-endian host (as the FlatBuffers themselves)
    std::memcpy(header + 4, &size, 4);
    out_.write(header, 8);
    table_.push_back({static_cast<int64_t>(out_.size()), size, static_cast<int64_t>(pending_.size()),
                      pending_.front().t(), pending_.back().t()});
    out_.write(compressed_.data(), compressed_.size());
    pending_.clear();
  }

  AtomicFileWriter out_;
  EventWriterOptions options_;
  PacketCompression compression_;
  size_t xml_length_ = 0, header_size_ = 0;
  std::vector<fb::Event> pending_;
  std::vector<uint8_t> compressed_;
  std::vector<Entry> table_;
  uint64_t written_ = 0;
  int max_x_ = 0, max_y_ = 0;
};

}  // namespace

std::unique_ptr<EventDecoder> make_aedat4_decoder(const std::string& name, const EventReadOptions& options) {
  return std::make_unique<Aedat4Decoder>(name, options);
}

std::unique_ptr<EventFileWriter> make_aedat4_event_writer(const std::string& path, const EventWriterOptions& options) {
  return std::make_unique<Aedat4EventWriter>(path, options);
}

}  // namespace masnn::data
