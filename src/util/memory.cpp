#include "masnn/util/memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compat/torch_allocator.h"

namespace masnn::memory {
namespace {

std::atomic<std::int64_t> g_current{0};
std::atomic<std::int64_t> g_peak{0};

void add(std::int64_t n) {
  const std::int64_t now = g_current.fetch_add(n) + n;
  std::int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}

// One allocator in front of LibTorch's default CPU allocator, installed by the first call of track_cpu_allocations or
// use_huge_pages: it counts the bytes of every block, and with huge pages on gives each large block a mapping of its
// own. Small blocks carry their size in a 64-byte header in front of the data (the header keeps the base
// allocator's 64-byte alignment). Large blocks have no header, their data starts the mapping: a header would push a
// tensor of a whole number of 2 MiB pages into one more huge page, 2 MiB of memory per live tensor. Data and
// context are the same pointer, as raw_allocate() requires.
constexpr std::size_t kHeader = 64;
constexpr std::size_t kPage = 4096;

constexpr std::size_t round_up(std::size_t n, std::size_t unit) {
  return (n + unit - 1) / unit * unit;
}
c10::Allocator* g_base = nullptr;

// From 1 MiB: glibc keeps blocks under its (growing) mmap threshold in its heap, which a training step's mix of
// sizes fragments (at T 16 the heap held 90 MiB for 25 MiB of live blocks under 8 MiB).
constexpr std::size_t kMappedThreshold = std::size_t{1} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
std::atomic<bool> g_huge_enabled{false};

// Freed mappings kept for reuse, as PyTorch's CUDA caching allocator keeps its blocks: a request takes the smallest
// cached range that holds it (best fit) and leaves the rest of that range cached; a freed block joins the cached
// ranges on either side of it that came from the same mapping. A training step allocates the same sizes every step,
// but not in the same order; with reuse of equal lengths only, its peak's large blocks were unmapped for the
// smaller ones after it and mapped (and zeroed) again at the next step's peak: some 300 MiB per T 16 step, 8% of
// its time. Two bounds: the mapped total (live + cached) never grows past the highest live total seen so far, so
// the cache never raises the peak (a miss first unmaps cached ranges, oldest first, to make room); and the cache
// holds at most g_cache_cap bytes.
std::atomic<std::size_t> g_cache_cap{SIZE_MAX};

struct CachedRange {
  std::size_t len;
  // The start of the mapping it is part of. Only parts of one mapping are joined: adjacent mappings could be too,
  // but whether two are adjacent is the kernel's choice, and the cache should behave the same in every run.
  std::uintptr_t mapping;
  std::uint64_t freed;     // when it was freed (a counter): the oldest goes back to the system first
};
struct LiveBlock {
  std::size_t bytes;  // asked for
  std::uintptr_t mapping;
};

struct MappingCache {
  std::mutex mutex;
  std::unordered_map<std::uintptr_t, LiveBlock> live_blocks;  // handed out, by data pointer
  std::map<std::uintptr_t, CachedRange> ranges;               // cached, by start
  std::uint64_t frees = 0;
  std::size_t bytes = 0;       // cached
  std::size_t live = 0;        // handed out
  std::size_t high_water = 0;  // the most ever handed out at once
};
// Never destroyed: tensors freed during static destruction at exit may still reach it.
MappingCache& mapping_cache() {
  static auto* cache = new MappingCache;
  return *cache;
}

using Evicted = std::vector<std::pair<std::uintptr_t, std::size_t>>;

// Unmaps the oldest cached ranges while `over()` holds; called with the cache's mutex held, the unmapping is left
// to unmap_all after the lock is released.
template <typename Over>
void evict_oldest(MappingCache& c, Evicted& evicted, const Over& over) {
  while (!c.ranges.empty() && over()) {
    auto oldest = c.ranges.begin();
    for (auto it = c.ranges.begin(); it != c.ranges.end(); ++it)
      if (it->second.freed < oldest->second.freed) oldest = it;
    evicted.emplace_back(oldest->first, oldest->second.len);
    c.bytes -= oldest->second.len;
    c.ranges.erase(oldest);
  }
}

void unmap_all(const Evicted& evicted) {
  for (const auto& [start, len] : evicted) ::munmap(reinterpret_cast<void*>(start), len);
}

// A new mapping of `len` bytes (a whole number of pages) starting on a 2 MiB boundary, huge pages asked for (a hint:
// refused where THP is off), so that every whole 2 MiB of it can be a huge page; null when mmap fails.
void* map_aligned(std::size_t len) {
  const std::size_t span = len + kHugePage - kPage;
  void* m = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(m);
  const std::uintptr_t aligned = round_up(start, kHugePage);
  if (aligned > start) ::munmap(m, aligned - start);
  if (start + span > aligned + len) ::munmap(reinterpret_cast<void*>(aligned + len), start + span - aligned - len);
  void* p = reinterpret_cast<void*>(aligned);
  ::madvise(p, len, MADV_HUGEPAGE);
  return p;
}

// Takes the first `len` bytes of the smallest cached range that holds them (its rest stays cached); 0 when none
// does. Called with the cache's mutex held.
std::uintptr_t take_cached(MappingCache& c, std::size_t len, std::uintptr_t& mapping) {
  auto best = c.ranges.end();
  for (auto it = c.ranges.begin(); it != c.ranges.end(); ++it)
    if (it->second.len >= len && (best == c.ranges.end() || it->second.len < best->second.len)) best = it;
  if (best == c.ranges.end()) return 0;
  const std::uintptr_t start = best->first;
  const CachedRange range = best->second;
  c.ranges.erase(best);
  if (range.len > len) c.ranges.emplace(start + len, CachedRange{range.len - len, range.mapping, range.freed});
  c.bytes -= len;
  mapping = range.mapping;
  return start;
}

// A mapped block for `bytes`: part of a cached range, or a new mapping with huge pages asked for (null: mmap failed).
void* take_mapping(std::size_t bytes) {
  const std::size_t len = round_up(bytes, kPage);
  MappingCache& c = mapping_cache();
  Evicted evicted;
  std::uintptr_t start = 0, mapping = 0;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    start = take_cached(c, len, mapping);
    c.live += len;
    c.high_water = std::max(c.high_water, c.live);
    if (!start) evict_oldest(c, evicted, [&] { return c.live + c.bytes > c.high_water; });
  }
  unmap_all(evicted);
  if (!start) {
    start = reinterpret_cast<std::uintptr_t>(map_aligned(len));
    mapping = start;
    if (!start) {
      std::lock_guard<std::mutex> lock(c.mutex);
      c.live -= len;
      return nullptr;
    }
  }
  std::lock_guard<std::mutex> lock(c.mutex);
  c.live_blocks.emplace(start, LiveBlock{bytes, mapping});
  return reinterpret_cast<void*>(start);
}

// Caches [start, start + len) of `mapping`, joined with the cached ranges of the same mapping that touch it.
// Called with the cache's mutex held.
void cache_range(MappingCache& c, std::uintptr_t start, std::size_t len, std::uintptr_t mapping) {
  c.bytes += len;
  auto next = c.ranges.lower_bound(start);
  if (next != c.ranges.end() && next->first == start + len && next->second.mapping == mapping) {
    len += next->second.len;
    next = c.ranges.erase(next);
  }
  if (next != c.ranges.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len == start && prev->second.mapping == mapping) {
      start = prev->first;
      len += prev->second.len;
      c.ranges.erase(prev);
    }
  }
  c.ranges.emplace(start, CachedRange{len, mapping, ++c.frees});
}

// Returns a block of take_mapping to the cache (or the system); false when `data` is not one.
bool release_mapping(void* data) {
  MappingCache& c = mapping_cache();
  const std::size_t cap = g_cache_cap.load(std::memory_order_relaxed);
  Evicted evicted;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    const auto found = c.live_blocks.find(reinterpret_cast<std::uintptr_t>(data));
    if (found == c.live_blocks.end()) return false;
    const LiveBlock block = found->second;
    const std::size_t len = round_up(block.bytes, kPage);
    c.live_blocks.erase(found);
    g_current.fetch_sub(static_cast<std::int64_t>(block.bytes));
    c.live -= len;
    if (len <= cap) {
      cache_range(c, reinterpret_cast<std::uintptr_t>(data), len, block.mapping);
      evict_oldest(c, evicted, [&] { return c.bytes > cap; });
    } else {
      evicted.emplace_back(reinterpret_cast<std::uintptr_t>(data), len);
    }
  }
  unmap_all(evicted);
  return true;
}

void free_block(void* data) {
  // Mappings start on a page; a header block rarely does, and only then is the map of mappings looked up.
  if (reinterpret_cast<std::uintptr_t>(data) % kPage == 0 && release_mapping(data)) return;
  char* block = static_cast<char*>(data) - kHeader;
  g_current.fetch_sub(*reinterpret_cast<std::int64_t*>(block));
  g_base->raw_deleter()(block);
}

class CountingMappingAllocator final : public compat::CpuAllocatorBase {
 public:
  c10::DataPtr allocate_block(size_t n) const override {
    if (g_huge_enabled.load(std::memory_order_relaxed) && n >= kMappedThreshold) {
      if (void* data = take_mapping(n)) {
        add(static_cast<std::int64_t>(n));
        return {data, data, &free_block, c10::Device(c10::DeviceType::CPU)};
      }
      // mmap failed: the base allocator reports what is wrong (out of memory)
    }
    char* block = static_cast<char*>(g_base->raw_allocate(n + kHeader));
    *reinterpret_cast<std::int64_t*>(block) = static_cast<std::int64_t>(n);
    add(static_cast<std::int64_t>(n));
    void* data = block + kHeader;
    return {data, data, &free_block, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
};

void install_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_base = c10::GetDefaultCPUAllocator();
    static CountingMappingAllocator counting;
    c10::SetCPUAllocator(&counting, /*priority=*/100);
  });
}

}  // namespace

void track_cpu_allocations() {
  install_allocator();
}

void use_huge_pages(bool enabled) {
  install_allocator();
  g_huge_enabled.store(enabled);
}

bool huge_pages_enabled() {
  return g_huge_enabled.load();
}

void set_large_block_cache(std::int64_t bytes) {
  const std::size_t cap = bytes > 0 ? static_cast<std::size_t>(bytes) : 0;
  g_cache_cap.store(cap);
  MappingCache& c = mapping_cache();
  Evicted evicted;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    evict_oldest(c, evicted, [&] { return c.bytes > cap; });
  }
  unmap_all(evicted);
}

std::int64_t large_block_cache_bytes() {
  MappingCache& c = mapping_cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return static_cast<std::int64_t>(c.bytes);
}

std::int64_t cpu_bytes_in_use() {
  return g_current.load();
}
std::int64_t cpu_peak_bytes() {
  return g_peak.load();
}
void reset_cpu_peak() {
  g_peak.store(g_current.load());
}

std::int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace masnn::memory
