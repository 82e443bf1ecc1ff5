// Data-parallel training across processes and machines on LibTorch's distributed engine (c10d), the way
// torch.distributed and DistributedDataParallel do it:
//   - a process learns its place in the job from its environment, as torchrun (RANK, WORLD_SIZE, LOCAL_RANK,
//     MASTER_ADDR, MASTER_PORT) or SLURM (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) set it;
//   - Communicator: a TCPStore rendezvous (rank 0 hosts it at MASTER_ADDR:MASTER_PORT) and a c10d process group,
//     Gloo on CPU (NCCL on CUDA when masnn is built with MASNN_NCCL against a CUDA LibTorch), every wait bounded
//     by a timeout so that a rank that dies, stops or never comes makes the others fail with a message;
//   - DataParallel: rank 0's parameters and buffers on every rank, and the gradients of each backward pass
//     averaged across the ranks by c10d::Reducer, in buckets all-reduced as soon as their gradients are ready
//     (overlapping the rest of the backward pass).
// The data side (each rank loads its shard of every epoch) is PrefetchingLoader's (masnn/data/batch_loader.h);
// synchronised BatchNorm is in sync_batch_norm.h; the Trainer (trainer.h) puts the pieces together.
#pragma once

#include <c10/util/intrusive_ptr.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "masnn/train/config.h"
#include "masnn/train/metrics.h"

namespace c10d {
class ProcessGroup;
}  // namespace c10d

namespace masnn::train {

/// Where this process stands in a job, as its launcher's environment says.
struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;             ///< rank among the processes of this machine
  int local_world_size = 1;       ///< processes on this machine (LOCAL_WORLD_SIZE, SLURM_NTASKS_PER_NODE), 0 = unknown
  std::string master_addr;        ///< host of rank 0, which serves the rendezvous store
  int master_port = 29500;        ///< its port
  std::string launcher = "none";  ///< "torchrun" (RANK/WORLD_SIZE set), "slurm" (SLURM_PROCID/SLURM_NTASKS) or "none"
  /// True for a job of more than one process.
  bool distributed() const { return world_size > 1; }
};

/// Reads the launcher's variables through `get` (the value of a variable, or nullopt when it is unset):
///   RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun; RANK and WORLD_SIZE
///   go together), else SLURM_PROCID, SLURM_STEP_NUM_TASKS (or SLURM_NTASKS), SLURM_LOCALID,
///   SLURM_NTASKS_PER_NODE (srun), where
///   MASTER_ADDR defaults to the first host of SLURM_JOB_NODELIST (a plain host or a simple bracket range
///   like node[03-05]) and MASTER_PORT to 29500 + SLURM_JOB_ID % 1000 (a job gets its own port).
/// No variable set: a single process. Throws std::invalid_argument naming the variable for a value that is
/// not a number or out of range, or a missing MASTER_ADDR in a job of more than one process.
DistEnv read_dist_env(const std::function<std::optional<std::string>(const std::string&)>& get);
/// The same on the process environment.
DistEnv read_dist_env();

/// The timeout of rendezvous and collectives: env MASNN_DIST_TIMEOUT (seconds) when set, else dist.timeout_s.
/// Throws std::invalid_argument naming the variable for a bad value.
std::chrono::milliseconds dist_timeout(const DistConfig& config);

/// True when this build of masnn can make NCCL process groups (built with MASNN_NCCL).
bool nccl_available();
/// True when this build of masnn can make Gloo process groups (all builds but -DMASNN_GLOO=OFF).
bool gloo_available();

/// One process's membership in a job: the rendezvous store and the c10d process group. Every collective
/// waits at most the timeout; a failure (a rank died, stopped or is too slow) is a std::runtime_error naming
/// this rank, the operation and the timeout.
class Communicator {
 public:
  /// Joins the job `env` describes: rank 0 serves a TCPStore at master_addr:master_port and waits for the
  /// others to connect; the others connect to it (retrying until the timeout). Then the process group:
  /// backend Gloo, NCCL, or Auto (NCCL when `device` is CUDA and the build has it, else Gloo). Gloo uses
  /// the network interfaces named by GLOO_SOCKET_IFNAME when set, loopback when master_addr is a loopback
  /// address, else the address this machine's hostname resolves to. Throws std::runtime_error naming the
  /// address, the rank and the timeout when the job cannot be formed in time.
  static std::shared_ptr<Communicator> join(const DistEnv& env, DistBackend backend, std::chrono::milliseconds timeout,
                                            const torch::Device& device = torch::kCPU);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int world_size() const;
  /// Rank 0, the one that writes checkpoints and logs.
  bool is_main() const { return rank() == 0; }
  /// "gloo" or "nccl".
  const std::string& backend() const;
  std::chrono::milliseconds timeout() const;
  const DistEnv& env() const;

  /// Sums `tensor` across the ranks, in place. `what` names the operation in error messages.
  void all_reduce_sum(torch::Tensor& tensor, const std::string& what);
  /// Sums each value across the ranks (in double precision).
  std::vector<double> all_reduce_sum(const std::vector<double>& values, const std::string& what);
  /// Copies rank `root`'s tensors into every rank's, in place (coalesced into few messages).
  void broadcast(std::vector<torch::Tensor> tensors, int root, const std::string& what);
  /// Waits until every rank has reached the same point.
  void barrier(const std::string& what);

  /// The c10d process group, for code that calls c10d itself (include its headers).
  c10::intrusive_ptr<c10d::ProcessGroup> group() const;

 private:
  struct Impl;
  explicit Communicator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Settings of DataParallel.
struct DataParallelOptions {
  /// Gradient bucket size: gradients are all-reduced in buckets of about this many bytes (the first bucket is
  /// 1 MiB so that communication starts early), each as soon as all its gradients are ready.
  TORCH_ARG(int64_t, bucket_bytes) = 25 * 1024 * 1024;
  /// Parameters may get no gradient in some steps (c10d then marks them ready itself; slower).
  TORCH_ARG(bool, find_unused_parameters) = false;
  /// Copy rank 0's buffers (BN running statistics) to every rank before each training forward pass.
  TORCH_ARG(bool, broadcast_buffers) = true;
};

/// Data-parallel training of one module across the ranks of a communicator, as DistributedDataParallel does it.
/// Usage per training step:
///   dp.before_forward(); out = model(x); loss = ...; dp.backward(loss); optimizer.step();
/// after which every rank holds the same gradients: the mean of the ranks' gradients.
class DataParallel {
 public:
  /// Checks that every rank has the same parameters (count, shapes, types), copies rank 0's parameters and
  /// buffers to all, and sets up c10d's Reducer on the parameters that require gradients. The module must
  /// outlive this object.
  DataParallel(torch::nn::Module& module, std::shared_ptr<Communicator> comm, DataParallelOptions options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  /// Copies rank 0's parameters and buffers to every rank (after loading a checkpoint, for instance).
  void broadcast_state();
  /// Copies rank 0's buffers to every rank (before evaluating: each rank's last forward pass updated its own
  /// BN running statistics).
  void broadcast_buffers();
  /// Before each training forward pass: rank 0's buffers (when broadcast_buffers) and, after the first step,
  /// the buckets rebuilt in the order the gradients became ready.
  void before_forward();
  /// loss.backward() with the gradients averaged across the ranks when it returns. Every rank must call it in
  /// the same step. A failed all-reduce (a rank died or timed out) is a std::runtime_error.
  void backward(const torch::Tensor& loss);

  /// Buckets of the current assignment and the bytes of gradient they hold, in all-reduce order.
  std::vector<int64_t> bucket_bytes() const;
  Communicator& communicator() { return *comm_; }

 private:
  struct Impl;
  torch::nn::Module& module_;
  std::shared_ptr<Communicator> comm_;
  DataParallelOptions options_;
  std::unique_ptr<Impl> impl_;
};

/// The evaluation of the whole split from each rank's evaluation of its own samples: counts and loss sums
/// added up, the confusion matrices too; every rank gets the same result.
Evaluation reduce_evaluation(const Evaluation& local, Communicator& comm);

/// How many samples of a split of `dataset_size` samples rank `rank` of `world_size` owns: the loaders pad each
/// rank's share to ceil(dataset_size / world_size) by wrapping around (batch_loader.h), and the padded positions
/// (>= dataset_size) come last in every rank's order. An evaluation counts the first valid_samples of its rank.
int64_t valid_samples(int64_t dataset_size, int rank, int world_size);

}  // namespace masnn::train
