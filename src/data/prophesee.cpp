// Prophesee RAW (EVT 2.0, EVT 3.0) and DAT decoders and encoders.
#include "masnn/data/prophesee.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <iterator>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "byte_order.h"
#include "record_decoder.h"

namespace masnn::data {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The `%` lines of a header: key (lower case) and value.
struct HeaderLines {
  std::vector<std::pair<std::string, std::string>> entries;
  size_t length = RecordDecoder::kNeedMore;  ///< bytes through the header, or kNeedMore
  bool unterminated = false;                 ///< the input ended inside a `%` line

  const std::string* find(const std::string& key) const {
    for (const auto& [k, v] : entries)
      if (k == key) return &v;
    return nullptr;
  }
};

// The header ends at `% end` or before the first line that does not start with '%'.
HeaderLines parse_lines(const uint8_t* head, size_t size, bool at_end) {
  HeaderLines h;
  size_t pos = 0;
  for (;;) {
    if (pos == size) {
      if (at_end) h.length = pos;
      return h;
    }
    // A header line starts with "% "; the first line that does not is data (openeb's rule).
    if (head[pos] != '%' || (pos + 1 < size && head[pos + 1] != ' ' && head[pos + 1] != '\n')) {
      h.length = pos;
      return h;
    }
    if (pos + 1 == size) {
      if (at_end) h.length = pos;
      return h;
    }
    const auto* nl = static_cast<const uint8_t*>(std::memchr(head + pos, '\n', size - pos));
    if (nl == nullptr) {
      h.unterminated = at_end;
      return h;
    }
    const size_t end = static_cast<size_t>(nl - head);
    std::string line(reinterpret_cast<const char*>(head) + pos + 1, end - pos - 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t k0 = line.find_first_not_of(" \t");
    pos = end + 1;
    if (k0 == std::string::npos) continue;
    const size_t k1 = std::min(line.find_first_of(" \t", k0), line.size());
    const size_t v0 = std::min(line.find_first_not_of(" \t", k1), line.size());
    std::string key = lower(line.substr(k0, k1 - k0)), value = line.substr(v0);
    if (key == "end") {
      h.length = pos;
      return h;
    }
    h.entries.emplace_back(std::move(key), std::move(value));
  }
}

// A side length of the sensor: 1 .. 16384 (DAT addresses hold 14 bits, EVT 11).
bool parse_side(const std::string& text, int& out) {
  int v = 0;
  const char* end = text.data() + text.size();
  auto [next, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || next != end || v < 1 || v > 16384) return false;
  out = v;
  return true;
}

// Geometry from `% geometry WxH`, `% format EVT3;height=H;width=W` or `% Width W` / `% Height H`.
// Returns false when a stated geometry cannot be read.
bool header_geometry(const HeaderLines& h, int& width, int& height) {
  if (const std::string* g = h.find("geometry")) {
    const size_t x = g->find('x');
    return x != std::string::npos && parse_side(g->substr(0, x), width) && parse_side(g->substr(x + 1), height);
  }
  if (const std::string* f = h.find("format")) {
    bool ok = true;
    for (size_t pos = f->find(';'); pos != std::string::npos; pos = f->find(';', pos + 1)) {
      const size_t end = std::min(f->find(';', pos + 1), f->size());
      const std::string item = lower(f->substr(pos + 1, end - pos - 1));
      if (item.rfind("width=", 0) == 0) ok = ok && parse_side(item.substr(6), width);
      if (item.rfind("height=", 0) == 0) ok = ok && parse_side(item.substr(7), height);
    }
    return ok;
  }
  const std::string* w = h.find("width");
  const std::string* hh = h.find("height");
  if (w && !parse_side(*w, width)) return false;
  if (hh && !parse_side(*hh, height)) return false;
  return true;
}

// The geometry of a RAW file that states none (recordings of older Prophesee software), from the sensor generation
// or the camera's system id, as Prophesee's own reader infers it: Gen3 sensors are 640x480, Gen4 and IMX636 1280x720.
void legacy_geometry(const HeaderLines& h, int& width, int& height) {
  int generation = 0;
  if (const std::string* g = h.find("sensor_generation")) generation = std::atoi(g->c_str());
  if (generation == 0)
    if (const std::string* id = h.find("system_id")) {
      static const int gen3[] = {0x15, 0x17, 0x19, 0x1D, 0x21, 0x1C, 0x22, 0x23, 0x28, 0x29};
      static const int gen4[] = {0x1A, 0x1E, 0x1F, 0x27, 0x2E, 0x30, 0x31, 0x32};
      const int v = std::atoi(id->c_str());
      if (std::find(std::begin(gen3), std::end(gen3), v) != std::end(gen3)) generation = 3;
      if (std::find(std::begin(gen4), std::end(gen4), v) != std::end(gen4)) generation = 4;
    }
  if (generation == 3) width = 640, height = 480;
  if (generation == 4) width = 1280, height = 720;
}

// The encoding a RAW header names: "evt 3.0", "format EVT3;...".
std::string raw_encoding(const HeaderLines& h) {
  if (const std::string* f = h.find("format")) return lower(f->substr(0, f->find(';')));
  if (const std::string* e = h.find("evt")) return "evt" + lower(*e);
  return "";
}

// Shared by the three decoders: the header, the geometry it states, and the check of coordinates against it.
class PropheseeDecoder : public RecordDecoder {
 protected:
  using RecordDecoder::RecordDecoder;

  HeaderLines read_header(const uint8_t* head, size_t size, bool at_end) {
    HeaderLines h = parse_lines(head, size, at_end);
    if (h.unterminated) fail(size, "the input ended inside a header line");
    if (h.length == kNeedMore) return h;
    int width = 0, height = 0;
    if (!header_geometry(h, width, height))
      fail(0, "the header's geometry cannot be read (expected '% geometry WxH' with sides 1..16384)");
    if (width == 0 && format_ != EventFormat::Dat) legacy_geometry(h, width, height);
    stats_.sensor_width = width;
    stats_.sensor_height = height;
    width_ = width > 0 ? static_cast<uint32_t>(width) : 0xFFFFFFFFu;
    height_ = height > 0 ? static_cast<uint32_t>(height) : 0xFFFFFFFFu;
    return h;
  }

  // Appends the event after checking it against the stated geometry.
  void emit(int64_t t, uint32_t x, uint32_t y, uint8_t p, uint64_t offset, EventAppender& out) {
    if (__builtin_expect(x >= width_ || y >= height_, 0)) fail_outside_sensor(x, y, offset);
    out.push(t, x, y, p);
  }

  [[noreturn]] void unknown_word(uint32_t type, uint64_t offset) const {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%X", type);
    fail(offset, std::string("word of unknown type ") + hex);
  }

  uint32_t width_ = 0xFFFFFFFFu, height_ = 0xFFFFFFFFu;
};

class Evt2Decoder final : public PropheseeDecoder {
 public:
  Evt2Decoder(const std::string& name, const EventReadOptions& options)
      : PropheseeDecoder(EventFormat::Evt2, name, options, 4) {}

 protected:
  size_t parse_header(const uint8_t* head, size_t size, bool at_end) override {
    return read_header(head, size, at_end).length;
  }

  void decode(const uint8_t* data, size_t count, uint64_t offset, Events& events) override {
    EventAppender out(events, count, options_, stats_);
    for (size_t i = 0; i < count; ++i) {
      const uint32_t w = le32(data + 4 * i);
      switch (w >> 28) {
        case 0x0:
        case 0x1:
          if (!have_high_) {
            ++stats_.invalid_dropped;
            break;
          }
          emit(high_ | ((w >> 22) & 0x3F), (w >> 11) & 0x7FF, w & 0x7FF, static_cast<uint8_t>(w >> 28), offset + 4 * i,
               out);
          break;
        case 0x8: {
          const uint32_t raw = w & 0x0FFFFFFF;
          // A wrap: the counter fell by at least its range less 10 ms (openeb's rule); a smaller step back is a
          // late word, kept as the time it states.
          if (have_high_ && raw < last_raw_ &&
              (static_cast<int64_t>(last_raw_ - raw) << 6) >= (int64_t{1} << 34) - 1 - 10000) {
            loop_ += int64_t{1} << 34;
            ++stats_.timestamp_wraps;
          }
          last_raw_ = raw;
          high_ = loop_ + (static_cast<int64_t>(raw) << 6);
          have_high_ = true;
          break;
        }
        case 0xA: ++stats_.triggers; break;
        case 0xE:
        case 0xF: ++stats_.other_words; break;
        default: unknown_word(w >> 28, offset + 4 * i);
      }
    }
  }

 private:
  bool have_high_ = false;
  uint32_t last_raw_ = 0;
  int64_t loop_ = 0, high_ = 0;
};

// `type == K ? a : b` as a compare and a conditional move: the compilers turn the plain expression into a
// branch, which mispredicts on a third of the words of random data.
template <uint32_t K, typename T>
inline T select_if_type(uint32_t type, T a, T b) {
#if defined(__x86_64__)
  asm("cmp %[k], %[type]\n\tcmove %[a], %[b]" : [b] "+r"(b) : [type] "r"(type), [k] "i"(K), [a] "r"(a) : "cc");
  return b;
#else
  return type == K ? a : b;
#endif
}

class Evt3Decoder final : public PropheseeDecoder {
 public:
  Evt3Decoder(const std::string& name, const EventReadOptions& options)
      : PropheseeDecoder(EventFormat::Evt3, name, options, 2) {}
  // Counted in a small input; in a large one, estimated from 8 samples spread over it, by the densest with a
  // quarter more (the arrays are not zeroed: an overestimate costs address space; an underestimate, a copy when
  // they grow). A vector word holds up to 12 events, so the number of words is no estimate.
  size_t expected_events(uint64_t size, const InputSampler& sample) const override {
    constexpr size_t kSample = 16384;
    const uint64_t words = size / 2;
    std::vector<uint8_t> bytes(2 * static_cast<size_t>(std::min<uint64_t>(words, 8 * kSample)));
    if (words <= 8 * kSample) return count_events(bytes.data(), sample(0, bytes.data(), bytes.size()) / 2);
    size_t densest = 0;
    for (uint64_t k = 0; k < 8; ++k) {
      const size_t got = sample(2 * ((words - kSample) * k / 7), bytes.data(), 2 * kSample);
      densest = std::max(densest, count_events(bytes.data(), got / 2));
    }
    return static_cast<size_t>((words / kSample + 1) * (densest + densest / 4));
  }

 protected:
  size_t parse_header(const uint8_t* head, size_t size, bool at_end) override {
    return read_header(head, size, at_end).length;
  }

  // The events `count` words hold: one per ADDR_X word, one per set bit of a vector word. With 16-bit lanes and
  // a bit-parallel population count, which the compiler vectorises.
  static size_t count_events(const uint8_t* data, size_t count) {
    size_t n = 0;
    for (size_t i = 0; i < count; ++i) {
      const uint16_t w = le16(data + 2 * i), type = static_cast<uint16_t>(w >> 12);
      uint16_t m = static_cast<uint16_t>(type == 0x4 ? w & 0xFFF : type == 0x5 ? w & 0xFF : type == 0x2 ? 1 : 0);
      m = static_cast<uint16_t>(m - ((m >> 1) & 0x5555));
      m = static_cast<uint16_t>((m & 0x3333) + ((m >> 2) & 0x3333));
      m = static_cast<uint16_t>((m + (m >> 4)) & 0x0F0F);
      n += static_cast<uint16_t>((m + (m >> 8)) & 0x1F);
    }
    return n;
  }

  // A bound on the events `count` words hold: at most one per word, twelve per vector word (VECT_12 and VECT_8,
  // types 0x4 and 0x5). A count of vector words that the compiler vectorises; the room is not zeroed, so an
  // overestimate costs nothing.
  static size_t most_events(const uint8_t* data, size_t count) {
    uint32_t vectors = 0;  // count <= kChunkRecords
    for (size_t i = 0; i < count; ++i) vectors += (data[2 * i + 1] >> 5) == 0x2;
    return count + 11 * size_t{vectors};
  }

  // A chunk of words is decoded optimistically first, by decode_fast; in the rare chunk where an event falls
  // outside the limits (or before the first TIME_HIGH), the chunk is decoded again by decode_checked, which checks
  // each event as it comes and so drops it or names its offset.
  void decode(const uint8_t* data, size_t count, uint64_t offset, Events& events) override {
    EventAppender out(events, most_events(data, count), options_, stats_);
    State s = state_;
    Counts c;
    if (s.have_high && decode_fast(s, c, data, count, out)) return commit(s, c);
    s = state_;
    c = Counts();
    decode_checked(s, c, data, count, offset, out);
    commit(s, c);
  }

 private:
  // The decoding state carried from word to word (and from chunk to chunk).
  struct State {
    bool have_high = false;  // a TIME_HIGH has been seen: events have a time
    uint32_t last_raw = 0, y = 0, base_x = 0;
    uint8_t polarity = 0;
    int64_t loop = 0, high = 0, time = 0;
  };
  // What a chunk adds to the statistics, committed with its state.
  struct Counts {
    size_t timestamp_wraps = 0, triggers = 0, other_words = 0, invalid_dropped = 0;
  };

  void commit(const State& s, const Counts& c) {
    state_ = s;
    stats_.timestamp_wraps += c.timestamp_wraps;
    stats_.triggers += c.triggers;
    stats_.other_words += c.other_words;
    stats_.invalid_dropped += c.invalid_dropped;
  }

  // The words that are neither events nor addresses: TIME_HIGH, triggers, others. False for a word of unknown type.
  static bool control_word(uint32_t w, State& s, Counts& c, int64_t& high, int64_t& time) {
    const uint32_t type = w >> 12;
    switch (type) {
      case 0x8: {
        const uint32_t raw = w & 0xFFF;
        // A wrap: the 12-bit counter fell by half its range or more (openeb's rule); a smaller step back is a
        // late word, kept as the time it states.
        if (s.have_high && raw < s.last_raw && s.last_raw - raw >= (1u << 11)) {
          s.loop += int64_t{1} << 24;
          ++c.timestamp_wraps;
        }
        s.last_raw = raw;
        high = s.loop + (static_cast<int64_t>(raw) << 12);
        time = high;
        s.have_high = true;
        break;
      }
      case 0xA: ++c.triggers; break;
      case 0x7:
      case 0xE:
      case 0xF: ++c.other_words; break;
      default: return false;
    }
    return true;
  }

  // Decodes without a check per event, into the time array and a staging array of packed x | y << 16 | p << 31
  // (two stores per word instead of four: the stores bound this loop), then checks the chunk's events at once
  // and unpacks them. False, with nothing appended, when an event lies outside the limits or a word is unknown.
  bool decode_fast(State& s, Counts& c, const uint8_t* data, size_t count, EventAppender& out) {
    uint32_t y = s.y, base_x = s.base_x;
    int64_t high = s.high, time = s.time;
    const EventAppender::Slots slot = out.slots();
    int64_t* t = slot.t + slot.n;
    staged_.resize(out.room());
    uint32_t* xyp = staged_.data();
    size_t n = 0;
    for (size_t i = 0; i < count; ++i) {
      const uint32_t w = le16(data + 2 * i), type = w >> 12;
      if ((0x45u >> type) & 1) {
        // ADDR_Y (0x0), ADDR_X (0x2), TIME_LOW (0x6), the bulk of a recording, in random order: decoded without
        // branches (the event is written to the next slot and counted only for an ADDR_X), since a mispredicted
        // branch per word would cost more than the decoding.
        const uint32_t v = w & 0x7FF;
        y = select_if_type<0x0>(type, v, y);
        time = select_if_type<0x6>(type, high | (w & 0xFFF), time);
        t[n] = time;
        xyp[n] = v | (y << 16) | ((w & 0x800) << 20);
        n += type == 0x2;
      } else if (type == 0x4 || type == 0x5) {
        // VECT_12 / VECT_8: one event per set bit. An x past 16 bits (base_x grows with every vector word) would
        // not survive the packing: the checked decoding reports it.
        if (__builtin_expect(base_x > 0xFFF0, 0)) return false;
        for (uint32_t mask = type == 0x4 ? w & 0xFFF : w & 0xFF; mask != 0; mask &= mask - 1, ++n) {
          t[n] = time;
          xyp[n] = (base_x + static_cast<uint32_t>(__builtin_ctz(mask))) | (y << 16) | (uint32_t{s.polarity} << 31);
        }
        base_x += type == 0x4 ? 12 : 8;
      } else if (type == 0x3) {
        base_x = w & 0x7FF;
        s.polarity = static_cast<uint8_t>((w >> 11) & 1);
      } else if (!control_word(w, s, c, high, time)) {
        return false;  // the checked decoding names the first error of the chunk
      }
    }
    const uint32_t limit_x = std::min({width_, out.width(), 0x10000u}), limit_y = std::min(height_, out.height());
    uint32_t outside = 0;
    for (size_t k = 0; k < n; ++k) outside |= ((xyp[k] & 0xFFFF) >= limit_x) | (((xyp[k] >> 16) & 0x7FFF) >= limit_y);
    if (outside != 0) return false;
    for (size_t k = 0; k < n; ++k) {
      slot.x[slot.n + k] = static_cast<uint16_t>(xyp[k]);
      slot.y[slot.n + k] = static_cast<uint16_t>((xyp[k] >> 16) & 0x7FFF);
      slot.p[slot.n + k] = static_cast<uint8_t>(xyp[k] >> 31);
    }
    out.set_count(slot.n + n);
    s.y = y;
    s.base_x = base_x;
    s.high = high;
    s.time = time;
    return true;
  }

  // Decodes with a check of each event against the sensor (an error) and the options (dropped).
  void decode_checked(State& s, Counts& c, const uint8_t* data, size_t count, uint64_t offset, EventAppender& out) {
    uint32_t y = s.y, base_x = s.base_x;
    int64_t high = s.high, time = s.time;
    for (size_t i = 0; i < count; ++i) {
      const uint32_t w = le16(data + 2 * i), type = w >> 12;
      if (type == 0x0) {
        y = w & 0x7FF;
      } else if (type == 0x6) {
        time = high | (w & 0xFFF);
      } else if (type == 0x2) {
        if (!s.have_high)
          ++c.invalid_dropped;  // its time is unknown
        else
          emit(time, w & 0x7FF, y, static_cast<uint8_t>((w >> 11) & 1), offset + 2 * i, out);
      } else if (type == 0x4 || type == 0x5) {
        uint32_t mask = type == 0x4 ? w & 0xFFF : w & 0xFF;
        if (!s.have_high)
          c.invalid_dropped += static_cast<size_t>(__builtin_popcount(mask));
        else
          for (; mask != 0; mask &= mask - 1)
            emit(time, base_x + static_cast<uint32_t>(__builtin_ctz(mask)), y, s.polarity, offset + 2 * i, out);
        base_x += type == 0x4 ? 12 : 8;
      } else if (type == 0x3) {
        base_x = w & 0x7FF;
        s.polarity = static_cast<uint8_t>((w >> 11) & 1);
      } else if (!control_word(w, s, c, high, time)) {
        unknown_word(type, offset + 2 * i);
      }
    }
    s.y = y;
    s.base_x = base_x;
    s.high = high;
    s.time = time;
  }

  std::vector<uint32_t> staged_;  // decode_fast's packed x, y and polarity
  State state_;
};

class DatDecoder final : public PropheseeDecoder {
 public:
  DatDecoder(const std::string& name, const EventReadOptions& options)
      : PropheseeDecoder(EventFormat::Dat, name, options, 8) {}

 protected:
  size_t parse_header(const uint8_t* head, size_t size, bool at_end) override {
    const HeaderLines h = read_header(head, size, at_end);
    if (h.length == kNeedMore) return kNeedMore;
    if (h.length == 0) return 0;  // no header at all: no type and size bytes either; CD records of 8 bytes
    if (const std::string* v = h.find("version")) {
      int version = 0;
      const char* end = v->data() + v->size();
      auto [next, ec] = std::from_chars(v->data(), end, version);
      if (ec != std::errc() || next != end || version < 0) fail(0, "header line '% Version " + *v + "' (expected a number)");
      version_ = version;
    }
    if (size - h.length < 2) {
      if (at_end) fail(h.length, "the input ended before the event type and size bytes");
      return kNeedMore;
    }
    const uint8_t type = head[h.length], event_size = head[h.length + 1];
    if (type != kEvent2d && type != kEventCd && type != kTrigger)
      fail(h.length, "event type " + std::to_string(type) + " (0 or 12 for CD events, 14 for triggers expected)");
    if (event_size != 8) fail(h.length + 1, "event size " + std::to_string(event_size) + " (8 expected)");
    triggers_ = type == kTrigger;
    return h.length + 2;
  }

  void decode(const uint8_t* data, size_t count, uint64_t offset, Events& out) override {
    if (triggers_) {
      stats_.triggers += count;
      return;
    }
    const bool v2 = version_ >= 2;
    EventAppender append(out, count, options_, stats_);
    for (size_t i = 0; i < count; ++i, data += record_size_) {
      const uint32_t ts = le32(data), a = le32(data + 4);
      if (ts < previous_ && previous_ - ts > 0x80000000u) {
        loop_ += int64_t{1} << 32;
        ++stats_.timestamp_wraps;
      }
      previous_ = ts;
      const uint32_t x = v2 ? a & 0x3FFF : a & 0x1FF, y = v2 ? (a >> 14) & 0x3FFF : (a >> 9) & 0xFF;
      const uint8_t p = static_cast<uint8_t>(v2 ? (a >> 28) & 1 : (a >> 17) & 1);  // bit 28: Prophesee's readers
      emit(loop_ + ts, x, y, p, offset + i * record_size_, append);
    }
  }

 private:
  static constexpr uint8_t kEvent2d = 0x00, kEventCd = 0x0C, kTrigger = 0x0E;
  int version_ = 2;  // files without a version line are read as version 2
  bool triggers_ = false;  // a file of trigger records: counted, no polarity events
  uint32_t previous_ = 0;
  int64_t loop_ = 0;
};

std::string raw_header(const char* evt, const char* format, const PropheseeGeometry& g) {
  return std::string("% evt ") + evt + "\n% format " + format + ";height=" + std::to_string(g.height) +
         ";width=" + std::to_string(g.width) + "\n% geometry " + std::to_string(g.width) + "x" +
         std::to_string(g.height) + "\n% integrator_name masnn\n% end\n";
}

void check_encodable(const Events& events, const PropheseeGeometry& g, const char* what) {
  for (size_t i = 0; i < events.size(); ++i) {
    if (events.t[i] < 0 || (i > 0 && events.t[i] < events.t[i - 1]) || events.x[i] >= g.width ||
        events.y[i] >= g.height)
      throw std::invalid_argument(std::string(what) + ": event " + std::to_string(i) +
                                  " cannot be written (timestamps >= 0 and non-decreasing, x < " +
                                  std::to_string(g.width) + ", y < " + std::to_string(g.height) + " expected)");
  }
  if (g.width < 1 || g.width > 2048 || g.height < 1 || g.height > 2048)
    throw std::invalid_argument(std::string(what) + ": geometry sides must be 1..2048");
}

void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v));
  out.push_back(static_cast<uint8_t>(v >> 8));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

}  // namespace

std::optional<EventFormat> sniff_prophesee(const uint8_t* head, size_t size, const std::string& name) {
  if (size == 0 || head[0] != '%') return std::nullopt;
  const HeaderLines h = parse_lines(head, size, true);
  const std::string encoding = raw_encoding(h);
  if (encoding == "evt2" || encoding == "evt2.0") return EventFormat::Evt2;
  if (encoding == "evt3" || encoding == "evt3.0") return EventFormat::Evt3;
  if (!encoding.empty())
    throw std::runtime_error(name + ": Prophesee RAW encoding '" + encoding +
                             "' is not read (EVT 2.0 and EVT 3.0 are; see docs/data.md)");
  if (h.find("version") || h.find("data") || h.find("width") || h.find("height")) return EventFormat::Dat;
  throw std::runtime_error(name + ": a '%' header that names no format (expected '% evt 2.0', '% evt 3.0' or a "
                                  "DAT header with '% Version')");
}

std::unique_ptr<EventDecoder> make_evt2_decoder(const std::string& name, const EventReadOptions& options) {
  return std::make_unique<Evt2Decoder>(name, options);
}
std::unique_ptr<EventDecoder> make_evt3_decoder(const std::string& name, const EventReadOptions& options) {
  return std::make_unique<Evt3Decoder>(name, options);
}
std::unique_ptr<EventDecoder> make_dat_decoder(const std::string& name, const EventReadOptions& options) {
  return std::make_unique<DatDecoder>(name, options);
}

std::vector<uint8_t> encode_evt2(const Events& events, const PropheseeGeometry& geometry) {
  check_encodable(events, geometry, "encode_evt2");
  const std::string header = raw_header("2.0", "EVT2", geometry);
  std::vector<uint8_t> out(header.begin(), header.end());
  out.reserve(out.size() + events.size() * 4 + 64);
  auto time_high = [&out](int64_t h) { put32(out, (0x8u << 28) | static_cast<uint32_t>(h & 0x0FFFFFFF)); };
  int64_t high = -1;  // bits 33-6 and above of the last TIME_HIGH written
  for (size_t i = 0; i < events.size(); ++i) {
    const int64_t target = events.t[i] >> 6;
    if (target != high) {
      // Across a wrap of the 28-bit counter: its last value, then 0, as a camera's words would show it.
      for (; high >= 0 && (high >> 28) < (target >> 28); high = ((high >> 28) + 1) << 28) {
        time_high(high | 0x0FFFFFFF);
        time_high(0);
      }
      time_high(target);
      high = target;
    }
    put32(out, (static_cast<uint32_t>(events.p[i] != 0) << 28) | (static_cast<uint32_t>(events.t[i] & 0x3F) << 22) |
                   (static_cast<uint32_t>(events.x[i]) << 11) | events.y[i]);
  }
  return out;
}

std::vector<uint8_t> encode_evt3(const Events& events, const PropheseeGeometry& geometry) {
  check_encodable(events, geometry, "encode_evt3");
  const std::string header = raw_header("3.0", "EVT3", geometry);
  std::vector<uint8_t> out(header.begin(), header.end());
  out.reserve(out.size() + events.size() * 2 + 64);
  int64_t high = -1, low = -1;
  int y = -1;
  for (size_t i = 0; i < events.size();) {
    const int64_t t = events.t[i];
    if ((t >> 12) != high) {
      // Steps of at most 1024 counts (4.1 ms x 1024), so that every wrap of the 12-bit counter shows as a fall of
      // half its range or more.
      while (high >= 0 && (t >> 12) - high > 1024) {
        high += 1024;
        put16(out, (0x8u << 12) | static_cast<uint32_t>(high & 0xFFF));
      }
      high = t >> 12;
      put16(out, (0x8u << 12) | static_cast<uint32_t>(high & 0xFFF));
      low = -1;
    }
    if ((t & 0xFFF) != low) {
      low = t & 0xFFF;
      put16(out, (0x6u << 12) | static_cast<uint32_t>(low));
    }
    if (events.y[i] != y) {
      y = events.y[i];
      put16(out, static_cast<uint32_t>(y));
    }
    // A run of one time, row and polarity with x rising within 32 columns is one vector group (VECT_BASE_X,
    // VECT_12, VECT_12, VECT_8: the group Prophesee's own decoder expects); shorter runs are single ADDR_X words.
    const uint32_t x0 = events.x[i];
    const uint32_t p = events.p[i] != 0;
    uint32_t mask = 1;
    size_t j = i + 1;
    while (j < events.size() && events.t[j] == t && events.y[j] == y && (events.p[j] != 0) == (p != 0) &&
           events.x[j] > events.x[j - 1] && events.x[j] < x0 + 32) {
      mask |= 1u << (events.x[j] - x0);
      ++j;
    }
    if (j - i >= 4) {
      put16(out, (0x3u << 12) | (p << 11) | x0);
      put16(out, (0x4u << 12) | (mask & 0xFFF));
      put16(out, (0x4u << 12) | ((mask >> 12) & 0xFFF));
      put16(out, (0x5u << 12) | (mask >> 24));
    } else {
      for (size_t k = i; k < j; ++k) put16(out, (0x2u << 12) | (p << 11) | events.x[k]);
    }
    i = j;
  }
  return out;
}

std::vector<uint8_t> encode_dat(const Events& events, const PropheseeGeometry& geometry) {
  check_encodable(events, geometry, "encode_dat");
  const std::string header = "% Data file containing CD events.\n% Version 2\n% Width " +
                             std::to_string(geometry.width) + "\n% Height " + std::to_string(geometry.height) + "\n";
  std::vector<uint8_t> out(header.begin(), header.end());
  out.push_back(0x00);  // CD events
  out.push_back(8);     // bytes per event
  out.reserve(out.size() + events.size() * 8);
  for (size_t i = 0; i < events.size(); ++i) {
    if (events.t[i] >= (int64_t{1} << 32))
      throw std::invalid_argument("encode_dat: event " + std::to_string(i) + " at " + std::to_string(events.t[i]) +
                                  " us: DAT timestamps hold 32 bits");
    put32(out, static_cast<uint32_t>(events.t[i]));
    put32(out, (static_cast<uint32_t>(events.p[i] != 0) << 28) | (static_cast<uint32_t>(events.y[i]) << 14) |
                   events.x[i]);
  }
  return out;
}

}  // namespace masnn::data
