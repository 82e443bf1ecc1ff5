// Benchmark of data-parallel training on this machine: samples/s of a DVS network's training step (forward, MSE
// loss, backward, Adam) for
//   - one process with as many threads as there are ranks, on the global batch (ranks x batch),
//   - one process with one thread on one rank's batch (the work of one rank alone),
//   - `procs` processes of one thread each on loopback (Gloo, DataParallel: gradients all-reduced in buckets
//     during the backward pass), each on its batch,
//   - the same processes without gradient synchronisation (each its own step, at the same time),
// and the time of one all-reduce of all the gradients (the communication a step needs). The ranks are this
// program run again (/proc/self/exe) with the job's environment.
#pragma once

#include <cstdint>
#include <string>

namespace masnn::bench {

struct DistBenchConfig {
  std::string model = "small";     ///< gesture, gait, small, or a DVS registry name
  std::string attention = "TCSA";  ///< none, TA, CA, SA, TCA, TSA, CSA, TCSA
  int64_t steps = 16;              ///< T
  int64_t batch = 8;               ///< per rank
  int procs = 2;                   ///< ranks
  int iterations = 10;             ///< timed training steps (median reported)
  int warmup = 2;                  ///< untimed steps first
  bool sync_bn = false;            ///< synchronised BatchNorm in the ranks
  double bucket_mb = 25;           ///< gradient bucket size
  double timeout_s = 120;          ///< rendezvous and collective timeout
  uint64_t seed = 0;
};

/// Median, min and max of a phase's step times.
struct StepTimes {
  double step_ms = 0, min_ms = 0, max_ms = 0;
  int64_t batch = 0;  ///< samples per step (all ranks together)
  int threads = 0;    ///< LibTorch threads per process
  double samples_per_s() const { return step_ms > 0 ? 1000.0 * static_cast<double>(batch) / step_ms : 0.0; }
};

struct DistBenchResult {
  std::string model;
  int64_t input_size = 0, in_channels = 0;
  int64_t params = 0;       ///< trainable parameters
  double gradient_mib = 0;  ///< their gradients, MiB (float32)
  int64_t buckets = 0;      ///< gradient buckets of the reducer (after the rebuild of the first step)
  StepTimes one_process;    ///< 1 process, procs threads, batch procs x batch
  StepTimes one_thread;     ///< 1 process, 1 thread, batch
  StepTimes ranks;          ///< procs processes x 1 thread, DataParallel (rank 0's times)
  StepTimes ranks_no_sync;  ///< the same processes, no gradient synchronisation
  double allreduce_ms = 0, allreduce_min_ms = 0;  ///< one all-reduce of a tensor of every gradient, median / min
  double before_forward_ms = 0;  ///< rank 0's median DataParallel::before_forward (BN buffers from rank 0)
};

/// Runs every phase; the ranks run `exe` (this program) with `bench dist --worker-out FILE`. Throws
/// std::invalid_argument naming the option for a bad setting, std::runtime_error with a rank's log on failure.
DistBenchResult run_dist_bench(const DistBenchConfig& config, const std::string& exe);

/// One rank of the job run_dist_bench starts (its environment names the rank); rank 0 writes its figures to
/// `out_path` as JSON.
void run_dist_bench_worker(const DistBenchConfig& config, const std::string& out_path);

/// The config as JSON text and back (how the ranks get it).
std::string dist_bench_config_to_json(const DistBenchConfig& config);
DistBenchConfig dist_bench_config_from_json(const std::string& json);

}  // namespace masnn::bench
