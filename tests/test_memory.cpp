// The CPU allocators of include/masnn/util/memory.h: counting, and huge pages for large tensors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <limits>

#include "masnn/util/memory.h"

using namespace masnn;

TEST(Memory, HugePageBlocksAndDefaultBlocksAreCountedAndFreedWhicheverSettingAllocatedThem) {
  memory::use_huge_pages(true);  // before the counting wrapper, so that both apply
  memory::track_cpu_allocations();
  constexpr int64_t kLarge = 40ll << 20, kSmall = 1 << 20;  // bytes
  const int64_t before = memory::cpu_bytes_in_use();

  torch::Tensor large = torch::empty({kLarge / 4}, torch::kFloat);
  EXPECT_EQ(memory::cpu_bytes_in_use() - before, kLarge);
  // Its own mapping: the data sits right after the two 64-byte headers at the start of a page.
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data_ptr()) % 4096, 128u);
  large.fill_(1.5);
  EXPECT_DOUBLE_EQ(large.sum().item<double>(), 1.5 * (kLarge / 4));
  torch::Tensor small = torch::ones({kSmall / 4});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small.data_ptr()) % 64, 0u);

  // Turned off, large tensors take the default path; blocks from before are still freed by their own kind.
  memory::use_huge_pages(false);
  EXPECT_FALSE(memory::huge_pages_enabled());
  torch::Tensor large_default = torch::zeros({kLarge / 4});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large_default.data_ptr()) % 64, 0u);
  EXPECT_EQ(memory::cpu_bytes_in_use() - before, 2 * kLarge + kSmall);
  large = torch::Tensor();
  small = torch::Tensor();
  large_default = torch::Tensor();
  EXPECT_EQ(memory::cpu_bytes_in_use(), before);
  memory::use_huge_pages(true);
  EXPECT_TRUE(memory::huge_pages_enabled());
}

TEST(Memory, TheLargeBlockCacheReusesAFreedBlockOfTheSameSizeUpToItsCap) {
  memory::use_huge_pages(true);
  constexpr int64_t kMiB = 1 << 20;
  memory::set_large_block_cache(100 * kMiB);
  void* first = nullptr;
  {
    torch::Tensor a = torch::empty({40 * kMiB / 4});
    first = a.data_ptr();
  }
  EXPECT_EQ(memory::large_block_cache_bytes(), 42 * kMiB);  // 40 MiB and the header, in 2 MiB pages
  {
    torch::Tensor b = torch::empty({40 * kMiB / 4});
    EXPECT_EQ(b.data_ptr(), first);  // the same mapping again
    EXPECT_EQ(memory::large_block_cache_bytes(), 0);
    torch::Tensor c = torch::full({60 * kMiB / 4}, 2.0f);  // another size: a new mapping
    EXPECT_NE(c.data_ptr(), first);
    EXPECT_DOUBLE_EQ(c[123].item<double>(), 2.0);
    b = torch::Tensor();  // freed first: the oldest in the cache
    c = torch::Tensor();
  }
  // 42 + 62 MiB freed: over the cap of 100, the oldest (42) goes back to the system.
  EXPECT_EQ(memory::large_block_cache_bytes(), 62 * kMiB);
  memory::set_large_block_cache(0);
  EXPECT_EQ(memory::large_block_cache_bytes(), 0);
  torch::Tensor d = torch::empty({40 * kMiB / 4});  // with the cache off, blocks are unmapped on free
  d = torch::Tensor();
  EXPECT_EQ(memory::large_block_cache_bytes(), 0);
}

// The cache never raises the peak: a miss unmaps cached blocks while live + cached would pass the most ever live.
// (Tensors of 200 and 300 MiB, larger than any other test's, so that this test sets the high-water mark; empty
// tensors are mapped but never touched, so they cost no memory.)
TEST(Memory, TheLargeBlockCacheNeverHoldsMoreThanThePeakOfLiveBlocks) {
  memory::use_huge_pages(true);
  constexpr int64_t kMiB = 1 << 20;
  memory::set_large_block_cache(std::numeric_limits<int64_t>::max());  // no cap: the peak alone bounds it
  torch::Tensor a = torch::empty({200 * kMiB / 4});
  a = torch::Tensor();
  EXPECT_EQ(memory::large_block_cache_bytes(), 202 * kMiB);
  {
    // 202 cached + 302 live would pass the peak (302 from now on): the cached block goes back to the system.
    torch::Tensor b = torch::empty({300 * kMiB / 4});
    EXPECT_EQ(memory::large_block_cache_bytes(), 0);
  }
  EXPECT_EQ(memory::large_block_cache_bytes(), 302 * kMiB);
  {
    // 302 cached + 202 live > 302: unmapped again; live alone stays under the peak.
    torch::Tensor c = torch::empty({200 * kMiB / 4});
    EXPECT_EQ(memory::large_block_cache_bytes(), 0);
    torch::Tensor d = torch::empty({90 * kMiB / 4});  // 202 + 92 live <= 302: nothing to unmap, nothing cached
    EXPECT_EQ(memory::large_block_cache_bytes(), 0);
  }
  EXPECT_EQ(memory::large_block_cache_bytes(), 294 * kMiB);  // both cached: 294 <= 302
  memory::set_large_block_cache(0);
  EXPECT_EQ(memory::large_block_cache_bytes(), 0);
}
