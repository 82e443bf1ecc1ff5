// The CPU allocators of include/masnn/util/memory.h: counting, and huge pages for large tensors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>

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
