// Events container and summaries.
#include "masnn/data/events.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace masnn::data {

namespace {

// Asks for transparent huge pages for an array of many MB: its first touch then costs one page fault per 2 MB
// instead of one per 4 KB (a fresh recording of 20 M events spent more time in page faults than in decoding).
template <typename T>
void prefer_huge_pages(const EventArray<T>& v) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<uintptr_t>(v.data());
  const uintptr_t end = begin + v.capacity() * sizeof(T);
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1), last = end & ~(kHuge - 1);
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

// Grows `v` to hold n elements: the new array is asked for huge pages before the old elements are copied in (a
// plain reserve would copy first, touching every page at 4 KB).
template <typename T>
void grow(EventArray<T>& v, size_t n) {
  if (n <= v.capacity()) return;
  EventArray<T> bigger;
  bigger.reserve(n);
  if (n * sizeof(T) >= (size_t{4} << 20)) prefer_huge_pages(bigger);
  bigger.insert(bigger.end(), v.begin(), v.end());
  v.swap(bigger);
}

}  // namespace

void Events::reserve(size_t n) {
  grow(t, n);
  grow(x, n);
  grow(y, n);
  grow(p, n);
}

void Events::clear() {
  t.clear();
  x.clear();
  y.clear();
  p.clear();
}

void Events::append(const Events& other, size_t begin, size_t end) {
  end = std::min(end, other.size());
  if (begin >= end) return;
  t.insert(t.end(), other.t.begin() + static_cast<std::ptrdiff_t>(begin),
           other.t.begin() + static_cast<std::ptrdiff_t>(end));
  x.insert(x.end(), other.x.begin() + static_cast<std::ptrdiff_t>(begin),
           other.x.begin() + static_cast<std::ptrdiff_t>(end));
  y.insert(y.end(), other.y.begin() + static_cast<std::ptrdiff_t>(begin),
           other.y.begin() + static_cast<std::ptrdiff_t>(end));
  p.insert(p.end(), other.p.begin() + static_cast<std::ptrdiff_t>(begin),
           other.p.begin() + static_cast<std::ptrdiff_t>(end));
}

Events Events::slice(size_t begin, size_t end) const {
  Events out;
  end = std::min(end, size());
  if (begin < end) {
    out.reserve(end - begin);
    out.append(*this, begin, end);
  }
  return out;
}

size_t Events::lower_bound(int64_t time) const {
  return static_cast<size_t>(std::lower_bound(t.begin(), t.end(), time) - t.begin());
}

bool Events::is_time_sorted() const {
  return std::is_sorted(t.begin(), t.end());
}

void Events::keep_where(const std::vector<uint8_t>& keep) {
  size_t n = 0;
  for (size_t i = 0; i < size(); ++i) {
    if (!keep[i]) continue;
    t[n] = t[i];
    x[n] = x[i];
    y[n] = y[i];
    p[n] = p[i];
    ++n;
  }
  t.resize(n);
  x.resize(n);
  y.resize(n);
  p.resize(n);
}

void Events::sort_by_time() {
  if (is_time_sorted()) return;
  std::vector<size_t> order(size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [this](size_t a, size_t b) { return t[a] < t[b]; });
  Events sorted;
  sorted.t.resize(size());
  sorted.x.resize(size());
  sorted.y.resize(size());
  sorted.p.resize(size());
  for (size_t i = 0; i < order.size(); ++i) {
    sorted.t[i] = t[order[i]];
    sorted.x[i] = x[order[i]];
    sorted.y[i] = y[order[i]];
    sorted.p[i] = p[order[i]];
  }
  *this = std::move(sorted);
}

size_t count_backwards(const Events& events, size_t begin, size_t end) {
  // a < b as the sign of a - b corrected for overflow, in unsigned arithmetic: the compiler vectorises this (a
  // plain comparison of 64-bit integers it does not, without SSE4.2), and it runs after every decoded chunk.
  const auto* t = reinterpret_cast<const uint64_t*>(events.t.data());
  uint64_t backwards = 0;
  for (size_t i = std::max<size_t>(begin, 1); i < end; ++i) {
    const uint64_t a = t[i], b = t[i - 1], d = a - b;
    backwards += (d ^ ((a ^ b) & (a ^ d))) >> 63;
  }
  return static_cast<size_t>(backwards);
}

void finish_read(Events& events, const EventReadOptions& options, EventReadStats& stats) {
  if (stats.backwards > 0 && options.sort_by_time) events.sort_by_time();
  stats.events = events.size();
}

EventSummary summarize(const Events& events) {
  EventSummary s;
  s.count = events.size();
  if (events.empty()) return s;
  s.t_first = *std::min_element(events.t.begin(), events.t.end());
  s.t_last = *std::max_element(events.t.begin(), events.t.end());
  int max_x = 0, max_y = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    max_x = std::max<int>(max_x, events.x[i]);
    max_y = std::max<int>(max_y, events.y[i]);
    s.on += events.p[i] != 0;
  }
  s.off = s.count - s.on;
  s.width_seen = max_x + 1;
  s.height_seen = max_y + 1;
  return s;
}

}  // namespace masnn::data
