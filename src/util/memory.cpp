#include "masnn/util/memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <sys/resource.h>

#include <atomic>
#include <mutex>

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
    g_base = c10::GetDefaultCPUAllocator();
    static CountingAllocator counting;
    c10::SetCPUAllocator(&counting, /*priority=*/100);
  });
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
