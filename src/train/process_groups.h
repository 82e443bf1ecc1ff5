// The process groups masnn's data-parallel training runs its collectives on, one file per backend so that a build
// leaves out what its LibTorch lacks: process_group_gloo.cpp (Gloo's headers; -DMASNN_GLOO=OFF compiles
// process_group_gloo_absent.cpp) and process_group_nccl.cpp (-DMASNN_NCCL=ON against a CUDA LibTorch; else
// process_group_nccl_absent.cpp). The absent ones throw std::invalid_argument naming the option.
#pragma once

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

namespace masnn::train::process_groups {

/// Gloo on CPU, rank `rank` of `size`, over `store`. Its devices: GLOO_SOCKET_IFNAME's interfaces, else the
/// loopback interface when `loopback`, else the host's default.
c10::intrusive_ptr<c10d::ProcessGroup> gloo(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                            std::chrono::milliseconds timeout, bool loopback);

/// NCCL on CUDA, rank `rank` of `size`, over `store`.
c10::intrusive_ptr<c10d::ProcessGroup> nccl(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                            std::chrono::milliseconds timeout);

}  // namespace masnn::train::process_groups
