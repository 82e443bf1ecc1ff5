// Gloo process groups (CPU collectives).
#include "process_groups.h"

// ProcessGroupGloo's header declares the class only when the build says Gloo is there; LibTorch's CPU and CUDA
// builds for Linux always have it (Debian links libtorch_cpu against libgloo).
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "compat/torch_c10d.h"
#include "masnn/train/distributed.h"

namespace masnn::train {

bool gloo_available() { return true; }

c10::intrusive_ptr<c10d::ProcessGroup> process_groups::gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                            int size, std::chrono::milliseconds timeout,
                                                            bool loopback) {
  auto o = c10d::ProcessGroupGloo::Options::create(timeout);
  if (const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME")) {
    std::string list(ifnames);
    size_t start = 0;
    while (start <= list.size()) {
      const size_t comma = std::min(list.find(',', start), list.size());
      if (comma > start)
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(list.substr(start, comma - start)));
      start = comma + 1;
    }
  } else if (loopback) {
    o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  if (o->devices.empty()) throw std::invalid_argument("GLOO_SOCKET_IFNAME names no interface");
  o->threads = static_cast<int>(o->devices.size()) * 2;
  const auto prefixed = c10::make_intrusive<c10d::PrefixStore>("masnn/gloo", store);
  return compat::process_group_of(prefixed, rank, size,
                                  c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, size, o), "gloo",
                                  c10::kCPU);
}

}  // namespace masnn::train
