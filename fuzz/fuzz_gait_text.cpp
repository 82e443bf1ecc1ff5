// libFuzzer target: the gait_text reader must turn any bytes into events or one clear exception, never a crash.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "data/gait_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto events = masnn::data::parse_gait_text(reinterpret_cast<const char*>(data), size, "fuzz input");
    (void)events;
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
