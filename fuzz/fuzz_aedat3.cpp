// libFuzzer target: the aedat3 reader must turn any bytes into events or one clear exception, never a crash.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "masnn/data/aedat3.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto events = masnn::data::parse_aedat3(data, size, "fuzz input");
    (void)events;
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
