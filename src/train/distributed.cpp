// The job's environment, the c10d process group and data-parallel gradient averaging (distributed.h).
#include "masnn/train/distributed.h"

#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <fmt/format.h>
#include <torch/torch.h>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <unordered_map>

#include "compat/torch_c10d.h"
#include "process_groups.h"

namespace masnn::train {
namespace {

// The text of an exception, without LibTorch's C++ backtrace.
std::string message_of(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

std::string seconds_text(std::chrono::milliseconds t) {
  return fmt::format("{:g} s", static_cast<double>(t.count()) / 1000.0);
}

int64_t parse_integer(const std::string& name, const std::string& value, int64_t min, int64_t max) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < min || v > max)
    throw std::invalid_argument(
        fmt::format("environment variable {}: expected an integer in [{}, {}], got '{}'", name, min, max, value));
  return v;
}

// "2(x3),1" (SLURM_NTASKS_PER_NODE, SLURM_TASKS_PER_NODE) -> 2: the count of this job's first node.
int64_t leading_count(const std::string& name, const std::string& value) {
  size_t end = 0;
  while (end < value.size() && std::isdigit(static_cast<unsigned char>(value[end]))) ++end;
  return parse_integer(name, value.substr(0, end), 1, 1 << 20);
}

// The first host of a SLURM node list: "node[03-05,07],gpu1" -> node03, "a1,a2" -> a1.
std::string first_slurm_host(const std::string& list) {
  std::string host;
  for (size_t i = 0; i < list.size(); ++i) {
    const char ch = list[i];
    if (ch == ',') break;
    if (ch == '[') {
      size_t end = i + 1;
      while (end < list.size() && list[end] != ']' && list[end] != ',' && list[end] != '-') ++end;
      host += list.substr(i + 1, end - i - 1);
      const size_t close = list.find(']', i);
      if (close == std::string::npos) return host;
      i = close;
      continue;
    }
    host += ch;
  }
  return host;
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

// A TCP socket bound to the loopback address `addr` (127.x, ::1, localhost) and `port`, listening: the rendezvous
// of a job on one machine stays off the network. Throws naming the address when it cannot be bound.
int listen_on_loopback(const std::string& addr, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(addr == "localhost" ? "127.0.0.1" : addr.c_str(), service.c_str(), &hints, &found) != 0 || !found)
    throw std::runtime_error("cannot resolve " + addr);
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(std::string("cannot listen there: ") + std::strerror(error));
  }
  return fd;
}

}  // namespace

DistEnv read_dist_env(const std::function<std::optional<std::string>(const std::string&)>& get) {
  DistEnv env;
  const auto rank = get("RANK"), world = get("WORLD_SIZE");
  const auto slurm_rank = get("SLURM_PROCID");
  // The tasks of this srun step (the job's count when srun does not say).
  const auto slurm_world = get("SLURM_STEP_NUM_TASKS") ? get("SLURM_STEP_NUM_TASKS") : get("SLURM_NTASKS");
  constexpr int64_t kMaxRanks = 1 << 20;
  if (rank || world) {
    if (!rank || !world)
      throw std::invalid_argument(std::string("environment: ") +
                                  (rank ? "RANK is set but WORLD_SIZE is not" : "WORLD_SIZE is set but RANK is not") +
                                  "; a launcher sets both (torchrun, scripts/launch.sh)");
    env.launcher = "torchrun";
    env.world_size = static_cast<int>(parse_integer("WORLD_SIZE", *world, 1, kMaxRanks));
    env.rank = static_cast<int>(parse_integer("RANK", *rank, 0, env.world_size - 1));
    if (const auto v = get("LOCAL_RANK"))
      env.local_rank = static_cast<int>(parse_integer("LOCAL_RANK", *v, 0, kMaxRanks));
    env.local_world_size = 0;
    if (const auto v = get("LOCAL_WORLD_SIZE"))
      env.local_world_size = static_cast<int>(parse_integer("LOCAL_WORLD_SIZE", *v, 1, kMaxRanks));
    if (const auto v = get("MASTER_ADDR")) env.master_addr = *v;
    if (const auto v = get("MASTER_PORT")) {
      env.master_port = static_cast<int>(parse_integer("MASTER_PORT", *v, 1, 65535));
    } else if (env.distributed()) {
      throw std::invalid_argument(
          "environment: MASTER_PORT is not set: the port rank 0 serves the rendezvous on (e.g. 29500)");
    }
    if (env.distributed() && env.master_addr.empty())
      throw std::invalid_argument(
          "environment: MASTER_ADDR is not set: the address of rank 0's machine (127.0.0.1 on one machine)");
  } else if (slurm_rank && slurm_world) {
    env.launcher = "slurm";
    env.world_size = static_cast<int>(parse_integer(
        get("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS", *slurm_world, 1, kMaxRanks));
    env.rank = static_cast<int>(parse_integer("SLURM_PROCID", *slurm_rank, 0, env.world_size - 1));
    if (const auto v = get("SLURM_LOCALID"))
      env.local_rank = static_cast<int>(parse_integer("SLURM_LOCALID", *v, 0, kMaxRanks));
    env.local_world_size = 0;
    if (const auto v = get("SLURM_NTASKS_PER_NODE"))
      env.local_world_size = static_cast<int>(leading_count("SLURM_NTASKS_PER_NODE", *v));
    else if (const auto t = get("SLURM_TASKS_PER_NODE"))
      env.local_world_size = static_cast<int>(leading_count("SLURM_TASKS_PER_NODE", *t));
    if (const auto v = get("MASTER_ADDR")) {
      env.master_addr = *v;
    } else if (const auto nodes = get("SLURM_JOB_NODELIST") ? get("SLURM_JOB_NODELIST") : get("SLURM_NODELIST")) {
      env.master_addr = first_slurm_host(*nodes);
    }
    if (const auto v = get("MASTER_PORT")) {
      env.master_port = static_cast<int>(parse_integer("MASTER_PORT", *v, 1, 65535));
    } else if (const auto job = get("SLURM_JOB_ID")) {
      env.master_port = static_cast<int>(20000 + parse_integer("SLURM_JOB_ID", *job, 0, INT64_MAX) % 20000);
    }
    if (env.distributed() && env.master_addr.empty())
      throw std::invalid_argument(
          "environment: MASTER_ADDR is not set and SLURM_JOB_NODELIST names no host: export MASTER_ADDR (the "
          "first node of the job) before srun");
  }
  return env;
}

DistEnv read_dist_env() {
  return read_dist_env([](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  });
}

std::chrono::milliseconds dist_timeout(const DistConfig& config) {
  double seconds = config.timeout_s;
  if (const char* v = std::getenv("MASNN_DIST_TIMEOUT")) {
    size_t used = 0;
    try {
      seconds = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != std::string(v).size() || !(seconds > 0) || seconds > 1e7)
      throw std::invalid_argument(std::string("environment variable MASNN_DIST_TIMEOUT: expected seconds > 0, got '") +
                                  v + "'");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0 + 0.5));
}

int64_t valid_samples(int64_t dataset_size, int rank, int world_size) {
  if (world_size < 1 || rank < 0 || rank >= world_size)
    throw std::invalid_argument(fmt::format("valid_samples: rank {} of {}", rank, world_size));
  if (rank >= dataset_size) return 0;
  return (dataset_size - rank + world_size - 1) / world_size;
}

// ---------------------------------------------------------------------------------------------------------------
// Communicator

struct Communicator::Impl {
  DistEnv env;
  std::string backend;
  std::chrono::milliseconds timeout{0};
  torch::Device device = torch::kCPU;  // where the process group's tensors live
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;

  // Runs one collective to completion; a failure names this rank, the operation and the timeout.
  void run(const std::string& what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) const {
    try {
      start()->wait();
    } catch (const std::exception& e) {
      throw std::runtime_error(failure(what, e));
    }
  }

  std::string failure(const std::string& what, const std::exception& e) const {
    return fmt::format(
        "distributed: rank {} of {} ({}): {} failed: {}. Another rank died, stopped, or fell behind by more than the "
        "timeout ({}; dist.timeout_s or MASNN_DIST_TIMEOUT)",
        env.rank, env.world_size, backend, what, message_of(e), seconds_text(timeout));
  }
};

Communicator::Communicator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Communicator::~Communicator() = default;

std::shared_ptr<Communicator> Communicator::join(const DistEnv& env, DistBackend backend,
                                                 std::chrono::milliseconds timeout, const torch::Device& device) {
  if (env.world_size < 1 || env.rank < 0 || env.rank >= env.world_size)
    throw std::invalid_argument(
        fmt::format("distributed: rank {} of {} is not a place in a job", env.rank, env.world_size));
  if (timeout.count() <= 0) throw std::invalid_argument("distributed: the timeout must be > 0");
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->timeout = timeout;
  if (backend == DistBackend::Auto)
    backend = device.is_cuda() && nccl_available() ? DistBackend::Nccl : DistBackend::Gloo;
  impl->backend = to_string(backend);
  if (impl->backend == "nccl" && !nccl_available())
    throw std::invalid_argument(
        "dist.backend: this masnn was built without NCCL; build it against a CUDA LibTorch with "
        "-DMASNN_NCCL=ON, or use gloo");
  if (impl->backend == "gloo" && !gloo_available())
    throw std::invalid_argument(
        "dist.backend: this masnn was built without Gloo (-DMASNN_GLOO=OFF); rebuild it with Gloo's headers "
        "(Debian: libgloo-dev) to train on several CPU processes, or use nccl on CUDA");
  if (impl->backend == "nccl" && !device.is_cuda())
    throw std::invalid_argument("dist.backend: nccl needs the model on CUDA; use gloo on CPU");
  const std::string where = fmt::format("{}:{}", env.master_addr, env.master_port);
  // A write to the socket of a rank that died must fail with an error the collective reports, not kill this
  // process with SIGPIPE before it can say what happened (Python, where PyTorch usually runs, ignores SIGPIPE too).
  std::signal(SIGPIPE, SIG_IGN);

  // Rendezvous: rank 0 serves the store and waits for every rank to connect; the others retry connecting.
  c10d::TCPStoreOptions options = compat::tcp_store_options();
  options.port = static_cast<std::uint16_t>(env.master_port);
  options.isServer = env.rank == 0;
  options.numWorkers = static_cast<size_t>(env.world_size);
  options.waitWorkers = false;  // counted below, with a message that says who is missing
  options.timeout = timeout;
  try {
    // On one machine the store listens on the loopback address only (LibTorch 2.x; 1.13 listens on every one).
    if (compat::kStoreTakesListeningSocket && options.isServer && is_loopback(env.master_addr))
      compat::give_listening_socket(options, listen_on_loopback(env.master_addr, env.master_port));
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "distributed: rank {} of {} could not {} the rendezvous at {} within the timeout ({}; dist.timeout_s or "
        "MASNN_DIST_TIMEOUT): {}",
        env.rank, env.world_size, env.rank == 0 ? "serve" : "join", where, seconds_text(timeout), message_of(e)));
  }
  // Two processes started with the same RANK would make the process group fail obscurely: say so.
  if (impl->store->add("masnn/rank/" + std::to_string(env.rank), 1) != 1)
    throw std::runtime_error(
        fmt::format("distributed: rank {} joined the rendezvous at {} twice (check RANK)", env.rank, where));
  // Every rank waits until all have joined: the last one to come opens the gate.
  if (impl->store->add("masnn/joined", 1) == env.world_size)
    impl->store->set("masnn/all-joined", std::vector<uint8_t>{1});
  try {
    impl->store->wait({"masnn/all-joined"}, timeout);
  } catch (const std::exception& e) {
    int64_t joined = -1;
    try {
      joined = impl->store->add("masnn/joined", 0);
    } catch (const std::exception&) {
    }
    throw std::runtime_error(
        fmt::format("distributed: rank {} of {}: {} of {} ranks joined the rendezvous at {} within the timeout ({}; "
                    "dist.timeout_s or MASNN_DIST_TIMEOUT): {}",
                    env.rank, env.world_size, joined >= 0 ? std::to_string(joined) : "not all", env.world_size, where,
                    seconds_text(timeout), message_of(e)));
  }

  try {
    if (impl->backend == "gloo") {
      impl->group =
          process_groups::gloo(impl->store, env.rank, env.world_size, timeout, is_loopback(env.master_addr));
      impl->device = torch::kCPU;
    } else {
      impl->group = process_groups::nccl(impl->store, env.rank, env.world_size, timeout);
      impl->device = device;
    }
  } catch (const std::exception& e) {
    throw std::runtime_error(
        fmt::format("distributed: rank {} of {} could not form the {} process group via {} "
                    "within the timeout ({}): {}",
                    env.rank, env.world_size, impl->backend, where, seconds_text(timeout), message_of(e)));
  }
  return std::shared_ptr<Communicator>(new Communicator(std::move(impl)));
}

int Communicator::rank() const {
  return impl_->env.rank;
}
int Communicator::world_size() const {
  return impl_->env.world_size;
}
const std::string& Communicator::backend() const {
  return impl_->backend;
}
std::chrono::milliseconds Communicator::timeout() const {
  return impl_->timeout;
}
const DistEnv& Communicator::env() const {
  return impl_->env;
}
c10::intrusive_ptr<c10d::ProcessGroup> Communicator::group() const {
  return impl_->group;
}

void Communicator::all_reduce_sum(torch::Tensor& tensor, const std::string& what) {
  torch::NoGradGuard no_grad;
  const bool direct = tensor.is_contiguous() && tensor.device() == impl_->device;
  std::vector<torch::Tensor> buffer{direct ? tensor : tensor.to(impl_->device).contiguous()};
  impl_->run(what, [&] { return impl_->group->allreduce(buffer); });
  if (!direct) tensor.copy_(buffer[0]);
}

std::vector<double> Communicator::all_reduce_sum(const std::vector<double>& values, const std::string& what) {
  if (values.empty()) return {};
  torch::Tensor t = torch::tensor(values, torch::kDouble).to(impl_->device);
  all_reduce_sum(t, what);
  t = t.cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void Communicator::broadcast(std::vector<torch::Tensor> tensors, int root, const std::string& what) {
  if (tensors.empty()) return;
  torch::NoGradGuard no_grad;
  try {
    c10d::broadcast_coalesced(impl_->group, tensors, /*buffer_size=*/256 * 1024 * 1024, root);
  } catch (const std::exception& e) {
    throw std::runtime_error(impl_->failure(what, e));
  }
}

void Communicator::barrier(const std::string& what) {
  impl_->run(what, [&] { return impl_->group->barrier(); });
}

Evaluation reduce_evaluation(const Evaluation& local, Communicator& comm) {
  // Evaluation keeps rates; the counts behind them are rate x samples (or clips), exact after rounding.
  const bool any = local.samples > 0 && local.clips > 0;
  auto count = [&](double rate, int64_t of) { return any ? std::round(rate * static_cast<double>(of)) : 0.0; };
  const std::vector<double> sums = comm.all_reduce_sum(
      {static_cast<double>(local.samples), static_cast<double>(local.clips), any ? local.loss * local.clips : 0.0,
       count(local.clip_accuracy, local.clips), count(local.accuracy, local.samples),
       count(local.vote_accuracy, local.samples), count(local.top5_accuracy, local.samples)},
      "the reduction of the test metrics");
  Evaluation e;
  e.samples = static_cast<int64_t>(sums[0]);
  e.clips = static_cast<int64_t>(sums[1]);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  e.loss = e.clips ? sums[2] / e.clips : nan;
  e.clip_accuracy = e.clips ? sums[3] / e.clips : nan;
  e.accuracy = e.samples ? sums[4] / e.samples : nan;
  e.vote_accuracy = e.samples ? sums[5] / e.samples : nan;
  e.top5_accuracy = e.samples ? sums[6] / e.samples : nan;
  if (local.confusion.defined()) {
    e.confusion = local.confusion.to(torch::kDouble);  // counts far below 2^53: exact
    comm.all_reduce_sum(e.confusion, "the reduction of the confusion matrix");
    e.confusion = e.confusion.round().to(torch::kLong);
    for (int64_t c = 0; c < e.confusion.size(0); ++c) {
      const int64_t total = e.confusion[c].sum().item<int64_t>();
      e.per_class_accuracy.push_back(total ? static_cast<double>(e.confusion[c][c].item<int64_t>()) / total : nan);
    }
  }
  return e;
}

// ---------------------------------------------------------------------------------------------------------------
// DataParallel

struct DataParallel::Impl {
  std::vector<torch::Tensor> params;  // parameters that require gradients, in module order
  std::vector<std::string> names;     // their names
  // The nodes the reducer hooks, one per parameter: a parameter re-pointed to new storage (Module::load uses
  // Tensor::set_) gets a new one, and its gradients would silently no longer be averaged.
  std::vector<const torch::autograd::Node*> accumulators;
  std::vector<torch::Tensor> state;    // every parameter and buffer
  std::vector<torch::Tensor> buffers;  // buffers only
  std::unique_ptr<c10d::Reducer> reducer;
};

DataParallel::DataParallel(torch::nn::Module& module, std::shared_ptr<Communicator> comm, DataParallelOptions options)
    : module_(module), comm_(std::move(comm)), options_(options), impl_(std::make_unique<Impl>()) {
  if (!comm_) throw std::invalid_argument("DataParallel: no communicator");
  if (options_.bucket_bytes() < 1) throw std::invalid_argument("DataParallel: bucket_bytes must be >= 1");
  std::unordered_map<size_t, std::string> names;
  for (const auto& item : module_.named_parameters()) {
    impl_->state.push_back(item.value());
    if (!item.value().requires_grad()) continue;
    names[impl_->params.size()] = item.key();
    impl_->names.push_back(item.key());
    impl_->params.push_back(item.value());
  }
  for (const auto& b : module_.buffers()) {
    impl_->state.push_back(b);
    impl_->buffers.push_back(b);
  }
  if (impl_->params.empty()) throw std::invalid_argument("DataParallel: the module has no trainable parameters");
  const Communicator& c = *comm_;
  try {
    c10d::verify_params_across_processes(comm_->group(), impl_->params, c10::nullopt);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("distributed: rank {} of {}: the ranks built different networks: {}", c.rank(),
                                         c.world_size(), message_of(e)));
  }
  broadcast_state();
  // Buckets in reverse parameter order: gradients become ready roughly from the last layer to the first.
  const std::vector<bool> sparse(impl_->params.size(), false);
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      impl_->params,
      {static_cast<size_t>(c10d::kDefaultFirstBucketBytes), static_cast<size_t>(options_.bucket_bytes())}, sparse);
  std::reverse(buckets.begin(), buckets.end());
  std::reverse(limits.begin(), limits.end());
  impl_->reducer = std::make_unique<c10d::Reducer>(impl_->params, std::move(buckets), std::move(limits), comm_->group(),
                                                   sparse, options_.bucket_bytes(), options_.find_unused_parameters(),
                                                   /*gradient_as_bucket_view=*/false, std::move(names),
                                                   static_cast<int64_t>(c10d::kDefaultFirstBucketBytes));
  for (const auto& p : impl_->params) impl_->accumulators.push_back(torch::autograd::impl::grad_accumulator(p).get());
}

DataParallel::~DataParallel() = default;

void DataParallel::broadcast_state() {
  comm_->broadcast(impl_->state, 0, "broadcast of rank 0's parameters and buffers");
}

void DataParallel::broadcast_buffers() {
  if (!impl_->buffers.empty()) comm_->broadcast(impl_->buffers, 0, "broadcast of rank 0's buffers");
}

void DataParallel::before_forward() {
  for (size_t i = 0; i < impl_->params.size(); ++i)
    if (torch::autograd::impl::grad_accumulator(impl_->params[i]).get() != impl_->accumulators[i])
      throw std::logic_error("DataParallel: parameter '" + impl_->names[i] +
                             "' was replaced after DataParallel was made (Module::load re-points parameters); load "
                             "weights first, or make a new DataParallel after loading");
  if (options_.broadcast_buffers()) broadcast_buffers();
  try {
    impl_->reducer->rebuild_buckets();
    impl_->reducer->prepare_for_forward();
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("distributed: rank {} of {}: preparing the gradient buckets failed: {}",
                                         comm_->rank(), comm_->world_size(), message_of(e)));
  }
}

void DataParallel::backward(const torch::Tensor& loss) {
  try {
    impl_->reducer->prepare_for_backward(options_.find_unused_parameters() ? std::vector<torch::Tensor>{loss}
                                                                           : std::vector<torch::Tensor>{});
    loss.backward();
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "distributed: rank {} of {} ({}): the backward pass with its gradient all-reduce failed: {}. Another rank "
        "died, stopped, or fell behind by more than the timeout ({}; dist.timeout_s or MASNN_DIST_TIMEOUT)",
        comm_->rank(), comm_->world_size(), comm_->backend(), message_of(e), seconds_text(comm_->timeout())));
  }
}

std::vector<int64_t> DataParallel::bucket_bytes() const {
  std::vector<int64_t> sizes;
  for (const auto& bucket : impl_->reducer->get_grad_buckets(/*return_zero_tensors=*/true))
    sizes.push_back(static_cast<int64_t>(bucket.getBuffer().numel() * bucket.getBuffer().element_size()));
  return sizes;
}

}  // namespace masnn::train
