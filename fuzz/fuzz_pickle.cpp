// libFuzzer target: masnn's pickle interpreter (torch.save's legacy stream starts with pickles) must turn any bytes
// into a value or one clear exception, never a crash, a leak or deep recursion.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "models/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  masnn::pickle::Arena arena;
  try {
    masnn::pickle::Unpickler u("fuzz input", reinterpret_cast<const char*>(data), size, arena,
                               [&](masnn::pickle::Node* pid) {
                                 return masnn::pickle::storage_from_pid("fuzz input", pid, arena);
                               });
    u.run();
  } catch (const std::runtime_error&) {
  }
  return 0;
}
