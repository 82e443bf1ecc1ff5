// The CPU allocators of include/masnn/util/memory.h: counting, and huge pages for large tensors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <limits>

#include "masnn/util/memory.h"

using namespace masnn;

TEST(Memory, HugePageBlocksAndDefaultBlocksAreCountedAndFreedWhicheverSettingAllocatedThem) {
  memory::use_huge_pages(true);
  memory::track_cpu_allocations();
  constexpr int64_t kLarge = 40ll << 20, kSmall = 1 << 20;  // bytes
  const int64_t before = memory::cpu_bytes_in_use();

  torch::Tensor large = torch::empty({kLarge / 4}, torch::kFloat);
  EXPECT_EQ(memory::cpu_bytes_in_use() - before, kLarge);
  // Its own mapping, the data at its start, on a 2 MiB boundary (every whole 2 MiB can be a huge page).
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(large.data_ptr()) % (2 << 20), 0u);
  large.fill_(1.5);
  EXPECT_DOUBLE_EQ(large.sum().item<double>(), 1.5 * (kLarge / 4));
  torch::Tensor small = torch::ones({kSmall / 4});  // 1 MiB: mapped too
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small.data_ptr()) % (2 << 20), 0u);
  EXPECT_DOUBLE_EQ(small.sum().item<double>(), kSmall / 4);
  torch::Tensor tiny = torch::ones({1000});  // under 1 MiB: the default allocator's, behind a size header
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(tiny.data_ptr()) % 64, 0u);
  EXPECT_NE(reinterpret_cast<std::uintptr_t>(tiny.data_ptr()) % 4096, 0u);
  EXPECT_EQ(memory::cpu_bytes_in_use() - before, kLarge + kSmall + 4000);
  tiny = torch::Tensor();

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

TEST(Memory, TheLargeBlockCacheReusesFreedBlocksWholeOrInPartsUpToItsCap) {
  memory::use_huge_pages(true);
  constexpr int64_t kMiB = 1 << 20;
  memory::set_large_block_cache(0);  // empty: nothing from the test before
  memory::set_large_block_cache(100 * kMiB);
  char* first = nullptr;
  {
    torch::Tensor a = torch::empty({40 * kMiB / 4});
    first = static_cast<char*>(a.data_ptr());
  }
  EXPECT_EQ(memory::large_block_cache_bytes(), 40 * kMiB);
  {
    torch::Tensor b = torch::empty({40 * kMiB / 4});
    EXPECT_EQ(b.data_ptr(), first);  // the same mapping again
    EXPECT_EQ(memory::large_block_cache_bytes(), 0);
    torch::Tensor c = torch::full({60 * kMiB / 4}, 2.0f);  // larger than anything cached: a new mapping
    EXPECT_NE(c.data_ptr(), first);
    EXPECT_DOUBLE_EQ(c[123].item<double>(), 2.0);
    b = torch::Tensor();  // freed first: the oldest in the cache
    c = torch::Tensor();
  }
  EXPECT_EQ(memory::large_block_cache_bytes(), 100 * kMiB);  // 40 + 60, not over the cap
  {
    // 10 MiB and 4 bytes, as whole pages: the start of the smallest cached block that holds it (the 40), whose rest
    // stays cached; a second one follows it.
    torch::Tensor e = torch::ones({10 * kMiB / 4 + 1});
    EXPECT_EQ(e.data_ptr(), first);
    torch::Tensor f = torch::ones({10 * kMiB / 4 + 1});
    EXPECT_EQ(f.data_ptr(), first + 10 * kMiB + 4096);
    EXPECT_EQ(memory::large_block_cache_bytes(), 80 * kMiB - 8192);
    EXPECT_DOUBLE_EQ(e.sum().item<double>() + f.sum().item<double>(), 2 * (10 * kMiB / 4 + 1));
  }
  // Freed, the parts join the rest of their mapping again: the whole 40 serves a 40 again.
  EXPECT_EQ(memory::large_block_cache_bytes(), 100 * kMiB);
  {
    torch::Tensor g = torch::empty({40 * kMiB / 4});
    EXPECT_EQ(g.data_ptr(), first);
  }
  memory::set_large_block_cache(65 * kMiB);  // a lower cap releases the oldest (the 60) at once
  EXPECT_EQ(memory::large_block_cache_bytes(), 40 * kMiB);
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
  EXPECT_EQ(memory::large_block_cache_bytes(), 200 * kMiB);
  {
    // 200 cached + 300 live would pass the peak (300 from now on): the cached block goes back to the system.
    torch::Tensor b = torch::empty({300 * kMiB / 4});
    EXPECT_EQ(memory::large_block_cache_bytes(), 0);
  }
  EXPECT_EQ(memory::large_block_cache_bytes(), 300 * kMiB);
  {
    // Parts of the cached 300: 200 + 90 live, 10 cached.
    torch::Tensor c = torch::empty({200 * kMiB / 4});
    torch::Tensor d = torch::empty({90 * kMiB / 4});
    EXPECT_EQ(static_cast<char*>(d.data_ptr()), static_cast<char*>(c.data_ptr()) + 200 * kMiB);
    EXPECT_EQ(memory::large_block_cache_bytes(), 10 * kMiB);
    // 50 more fits no cached part: mapped anew, and 340 live + 10 cached would pass the new peak (340), so the 10
    // goes back to the system.
    torch::Tensor e = torch::empty({50 * kMiB / 4});
    EXPECT_EQ(memory::large_block_cache_bytes(), 0);
  }
  EXPECT_EQ(memory::large_block_cache_bytes(), 340 * kMiB);
  memory::set_large_block_cache(0);
  EXPECT_EQ(memory::large_block_cache_bytes(), 0);
}
