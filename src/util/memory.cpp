#include "masnn/util/memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

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

// Each block carries its size in a header in front of the data; the header keeps the base allocator's
// 64-byte alignment. Data and context are the same pointer, as raw_allocate() requires.
constexpr std::size_t kHeader = 64;
c10::Allocator* g_base = nullptr;

void free_block(void* data) {
  char* block = static_cast<char*>(data) - kHeader;
  g_current.fetch_sub(*reinterpret_cast<std::int64_t*>(block));
  g_base->raw_deleter()(block);
}

// Blocks of the huge-page allocator carry the length of their own mapping in a header (0: a block of the base
// allocator), so one deleter frees both kinds, whichever setting was on when they were allocated.
constexpr std::size_t kHugeThreshold = std::size_t{8} << 20;
std::atomic<bool> g_huge_enabled{false};
c10::Allocator* g_huge_base = nullptr;

// Freed mappings kept for reuse by a later allocation of the same (2 MiB-rounded) length. Two bounds: the mapped
// total (live + cached) never grows past the highest live total seen so far, so the cache never raises the peak
// (a miss first unmaps cached blocks, oldest first, to make room); and the cache holds at most g_cache_cap bytes.
// A training step allocates the same sizes every step, so most of its large blocks are reused.
std::atomic<std::size_t> g_cache_cap{SIZE_MAX};

struct MappingCache {
  std::mutex mutex;
  std::deque<std::pair<std::size_t, void*>> blocks;  // oldest first
  std::size_t bytes = 0;       // cached
  std::size_t live = 0;        // handed out
  std::size_t high_water = 0;  // the most ever handed out at once
};
// Never destroyed: tensors freed during static destruction at exit may still reach it.
MappingCache& mapping_cache() {
  static auto* cache = new MappingCache;
  return *cache;
}

using Evicted = std::vector<std::pair<std::size_t, void*>>;

// Unmaps the oldest cached blocks while `over()` holds; called with the cache's mutex held, the unmapping is left
// to unmap_all after the lock is released.
template <typename Over>
void evict_oldest(MappingCache& c, Evicted& evicted, const Over& over) {
  while (!c.blocks.empty() && over()) {
    evicted.push_back(c.blocks.front());
    c.bytes -= c.blocks.front().first;
    c.blocks.pop_front();
  }
}

void unmap_all(const Evicted& evicted) {
  for (const auto& [len, p] : evicted) ::munmap(p, len);
}

// A mapping of `len` bytes: a cached one of that length, or a new one with huge pages asked for (null: mmap failed).
void* take_mapping(std::size_t len) {
  MappingCache& c = mapping_cache();
  Evicted evicted;
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    for (auto it = c.blocks.rbegin(); it != c.blocks.rend(); ++it) {
      if (it->first == len) {
        p = it->second;
        c.blocks.erase(std::next(it).base());
        c.bytes -= len;
        break;
      }
    }
    c.live += len;
    c.high_water = std::max(c.high_water, c.live);
    if (!p) evict_oldest(c, evicted, [&] { return c.live + c.bytes > c.high_water; });
  }
  unmap_all(evicted);
  if (p) return p;
  p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.live -= len;
    return nullptr;
  }
  ::madvise(p, len, MADV_HUGEPAGE);  // a hint: refused where THP is off
  return p;
}

void release_mapping(void* block, std::size_t len) {
  MappingCache& c = mapping_cache();
  const std::size_t cap = g_cache_cap.load(std::memory_order_relaxed);
  Evicted evicted;
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.live -= len;
    if (len <= cap) {
      c.blocks.emplace_back(len, block);
      c.bytes += len;
      evict_oldest(c, evicted, [&] { return c.bytes > cap; });
    } else {
      evicted.emplace_back(len, block);
    }
  }
  unmap_all(evicted);
}

void free_huge_or_base(void* data) {
  char* block = static_cast<char*>(data) - kHeader;
  const std::size_t mapped = *reinterpret_cast<std::size_t*>(block);
  if (mapped > 0)
    release_mapping(block, mapped);
  else
    g_huge_base->raw_deleter()(block);
}

class HugePageAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    char* block = nullptr;
    std::size_t mapped = 0;
    if (g_huge_enabled.load(std::memory_order_relaxed) && n >= kHugeThreshold) {
      constexpr std::size_t kHugePage = std::size_t{2} << 20;
      mapped = (n + kHeader + kHugePage - 1) / kHugePage * kHugePage;
      block = static_cast<char*>(take_mapping(mapped));
      if (!block) mapped = 0;  // the base allocator reports what is wrong (out of memory)
    }
    if (!block) block = static_cast<char*>(g_huge_base->raw_allocate(n + kHeader));
    *reinterpret_cast<std::size_t*>(block) = mapped;
    void* data = block + kHeader;
    return {data, data, &free_huge_or_base, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &free_huge_or_base; }
};

class CountingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    char* block = static_cast<char*>(g_base->raw_allocate(n + kHeader));
    *reinterpret_cast<std::int64_t*>(block) = static_cast<std::int64_t>(n);
    add(static_cast<std::int64_t>(n));
    void* data = block + kHeader;
    return {data, data, &free_block, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }
};

}  // namespace

void track_cpu_allocations() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_base = c10::GetCPUAllocator();  // the default, or the huge-page allocator when it came first
    static CountingAllocator counting;
    c10::SetCPUAllocator(&counting, /*priority=*/100);
  });
}

void use_huge_pages(bool enabled) {
  static std::once_flag once;
  std::call_once(once, [] {
    g_huge_base = c10::GetDefaultCPUAllocator();
    static HugePageAllocator huge;
    c10::SetCPUAllocator(&huge, /*priority=*/50);
  });
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
