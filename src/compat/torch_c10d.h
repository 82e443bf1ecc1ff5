// c10d, LibTorch's distributed layer, across its versions (tested with 1.13 and 2.6):
// - From 2.0 a process group holds one backend per device type: ProcessGroupGloo and ProcessGroupNCCL became
//   Backends that a ProcessGroup wraps (process_group_of below). Up to 1.13 they were process groups themselves.
// - From 2.4 TCPStore's server uses libuv by default; Debian's LibTorch is built without it, so masnn asks for the
//   classic server wherever the option exists (tcp_store_options below).
// - 2.x's TCPStore server can take a socket the caller bound and listens on (masterListenFd), so masnn can keep a
//   loopback rendezvous off the network; 1.13's always listens on every interface (give_listening_socket below).
// Include after the c10d headers the caller uses (ProcessGroupGloo.hpp / ProcessGroupNCCL.hpp).
#pragma once

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <string>
#include <type_traits>
#include <utility>

#include "compat/torch_version.h"

#if MASNN_TORCH_VERSION >= 200 && MASNN_TORCH_VERSION < 205
#error "masnn supports LibTorch 1.13 and 2.5 or newer (c10d's ProcessGroup constructor changed in between)"
#endif

namespace masnn::compat {
namespace detail {
template <typename O>
auto disable_libuv(O& options, int) -> decltype(options.useLibUV = false, void()) {
  options.useLibUV = false;
}
template <typename O>
void disable_libuv(O&, long) {}
template <typename O, typename = void>
struct takes_listen_fd : std::false_type {};
template <typename O>
struct takes_listen_fd<O, std::void_t<decltype(std::declval<O&>().masterListenFd = 0)>> : std::true_type {};
}  // namespace detail

/// Whether the store's server can be given a listening socket (LibTorch 2.x).
constexpr bool kStoreTakesListeningSocket = detail::takes_listen_fd<c10d::TCPStoreOptions>::value;

/// Gives the store's server `fd`, a socket bound and listening on one interface, which it then owns (only where
/// kStoreTakesListeningSocket).
template <typename O>
void give_listening_socket(O& options, int fd) {
  if constexpr (detail::takes_listen_fd<O>::value) options.masterListenFd = fd;
}

/// TCPStore options with LibTorch's defaults, the classic (non-libuv) server where the choice exists.
inline c10d::TCPStoreOptions tcp_store_options() {
  c10d::TCPStoreOptions options;
  detail::disable_libuv(options, 0);
  return options;
}

/// The process group of rank `rank` of `size` that runs its collectives on `backend` ("gloo" or "nccl", made by
/// the caller for `device`).
template <typename BackendT>
c10::intrusive_ptr<c10d::ProcessGroup> process_group_of(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                        int size, c10::intrusive_ptr<BackendT> backend,
                                                        const std::string& name, c10::DeviceType device) {
#if MASNN_TORCH_VERSION < 200
  (void)store, (void)rank, (void)size, (void)name, (void)device;
  return backend;
#else
  auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, size);
  const auto type = c10d::ProcessGroup::strToBackendType(name);
  group->setDefaultBackend(type);
  group->setBackend(device, type, c10::intrusive_ptr<c10d::Backend>(std::move(backend)));
  return group;
#endif
}

}  // namespace masnn::compat
