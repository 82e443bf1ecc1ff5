// Event-camera events in a compact struct-of-arrays container, plus the options and counters that every
// event-file reader shares.
//
// An event is (t, x, y, p): t in microseconds (int64), x in [0, width), y in [0, height) with y = 0 the
// top row of the sensor, p = 1 for ON (brighter) and 0 for OFF (darker).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace masnn::data {

/// std::allocator, except that a vector's resize() leaves new elements of trivial types uninitialised instead of
/// zeroing them: decoders grow the event arrays and then write every element, and the zero-fill cost as much as
/// a fifth of decoding a fast format.
template <typename T>
struct UninitializedAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() noexcept = default;
  template <typename U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  /// Default-initialises (for int64_t and friends: leaves as is) where std::allocator value-initialises.
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

/// One array of an Events container: a std::vector whose resize() does not zero (see UninitializedAllocator).
template <typename T>
using EventArray = std::vector<T, UninitializedAllocator<T>>;

/// Events as four parallel arrays (struct of arrays): element i of t, x, y, p is event i.
/// Readers append in file order; the datasets keep them sorted by t (see EventReadOptions::sort_by_time).
struct Events {
  EventArray<int64_t> t;   ///< timestamps, microseconds
  EventArray<uint16_t> x;  ///< column, 0 = left
  EventArray<uint16_t> y;  ///< row, 0 = top
  EventArray<uint8_t> p;   ///< polarity: 1 = ON, 0 = OFF

  /// Number of events.
  size_t size() const { return t.size(); }
  /// True when there are no events.
  bool empty() const { return t.empty(); }
  /// Reserves room for n events in each array.
  void reserve(size_t n);
  /// Removes all events.
  void clear();
  /// Appends one event.
  void push_back(int64_t time, uint16_t col, uint16_t row, uint8_t polarity) {
    t.push_back(time);
    x.push_back(col);
    y.push_back(row);
    p.push_back(polarity);
  }
  /// Appends events [begin, end) of `other`.
  void append(const Events& other, size_t begin, size_t end);
  /// A copy of events [begin, end) (clamped to size()).
  Events slice(size_t begin, size_t end) const;
  /// Index of the first event with t >= time (binary search; requires events sorted by t).
  size_t lower_bound(int64_t time) const;
  /// True when t never decreases.
  bool is_time_sorted() const;
  /// Keeps the events i where keep[i] != 0 (keep.size() == size()), in their order.
  void keep_where(const std::vector<uint8_t>& keep);
  /// Sorts the events by t, keeping the file order of equal timestamps (stable).
  void sort_by_time();
};

/// What a reader does with questionable events. Defaults keep everything the file holds and sort by time.
struct EventReadOptions {
  /// Sensor width; events with x >= width are dropped and counted. 0 = no check.
  int width = 0;
  /// Sensor height; events with y >= height are dropped and counted. 0 = no check.
  int height = 0;
  /// Events whose timestamp goes backwards are counted; with this set the result is stably sorted by t.
  bool sort_by_time = true;
  /// Threads that decompress the packets of a compressed AEDAT 4 file at once (the events are still decoded in
  /// file order, and errors name the same packet): 1 = the calling thread only, 0 = OpenMP's thread count. The
  /// datasets keep 1 (they read several files at once); one large file read alone gains (docs/data.md).
  int threads = 1;
};

/// Counters a reader fills in: what it decoded, skipped and repaired.
struct EventReadStats {
  size_t events = 0;                ///< events returned
  size_t invalid_dropped = 0;       ///< events marked invalid in the file (AEDAT 3.1 valid bit 0)
  size_t out_of_range_dropped = 0;  ///< events outside EventReadOptions::width x height
  size_t backwards = 0;             ///< events whose timestamp is smaller than the previous event's
  size_t packets = 0;               ///< AEDAT 3.1 packets walked
  size_t skipped_packets = 0;       ///< AEDAT 3.1 packets of other event types (skipped by their size)
  size_t skipped_events = 0;        ///< events inside skipped packets
  size_t timestamp_wraps = 0;       ///< timestamp wrap-arounds unwrapped (AEDAT 2.0 32-bit, EVT 2.0/3.0, DAT)
  std::string source;               ///< the camera the file names (AEDAT 4 stream source), empty if none
  int sensor_width = 0;             ///< sensor width the file states (0 = not stated)
  int sensor_height = 0;            ///< sensor height the file states (0 = not stated)
  size_t triggers = 0;              ///< external-trigger events (EVT 2.0/3.0, AEDAT 4), counted, not returned
  size_t other_words = 0;           ///< EVT 2.0/3.0 words of other kinds (OTHERS, CONTINUED) skipped
  /// Streams of other kinds skipped (AEDAT 4 frames, IMU, triggers...): a description -> packets skipped.
  std::map<std::string, size_t> other_streams;
};

/// Number of events i in [begin, end), i >= 1, whose timestamp is smaller than that of event i - 1.
size_t count_backwards(const Events& events, size_t begin, size_t end);

/// The last step of every reader, once stats.backwards counts the timestamps that went backwards (decoders count
/// them block by block, while the events are in the cache): sorts by time when options.sort_by_time and some
/// did, and sets stats.events.
void finish_read(Events& events, const EventReadOptions& options, EventReadStats& stats);

/// A summary of an event stream, as `masnn inspect` prints it.
struct EventSummary {
  size_t count = 0;     ///< number of events
  int64_t t_first = 0;  ///< smallest timestamp (us); 0 when empty
  int64_t t_last = 0;   ///< largest timestamp (us); 0 when empty
  int width_seen = 0;   ///< max x + 1 (0 when empty)
  int height_seen = 0;  ///< max y + 1 (0 when empty)
  size_t on = 0;        ///< events with p = 1
  size_t off = 0;       ///< events with p = 0
  /// Duration t_last - t_first in microseconds.
  int64_t duration() const { return t_last - t_first; }
};

/// Counts, time span, resolution seen and polarity balance of `events`.
EventSummary summarize(const Events& events);

}  // namespace masnn::data
