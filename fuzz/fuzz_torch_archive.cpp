// libFuzzer target: the checks run before LibTorch reads a checkpoint or tensor file (zip entries and CRC-32s,
// pickles, declared storage sizes) must turn any bytes into a pass or one clear exception, never a crash, a leak
// or an allocation of what the bytes declare.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "masnn/models/torch_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    masnn::check_torch_archive("fuzz input", std::vector<uint8_t>(data, data + size));
  } catch (const std::runtime_error&) {
  }
  return 0;
}
