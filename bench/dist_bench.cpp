#include "dist_bench.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "bench_util.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/registry.h"
#include "masnn/train/distributed.h"
#include "train/sync_batch_norm.h"

extern char** environ;

namespace masnn::bench {
namespace {

namespace fs = std::filesystem;

ModelSpec model_spec(const DistBenchConfig& c) {
  ModelSpec s = default_model_spec(c.model);
  if (is_res_snn(s.name))
    throw std::invalid_argument("bench dist: --model: a DVS network (gesture, gait, small), got '" + c.model + "'");
  s.attention = AttentionType::parse(c.attention);
  s.steps = c.steps;
  return s;
}

// A network with its optimiser and one batch of random spike input (5% of positions set), seeded.
struct Setup {
  torch::nn::AnyModule model;
  std::unique_ptr<torch::optim::Adam> optimizer;
  torch::Tensor x, target;
};

Setup make_setup(const ModelSpec& spec, int64_t steps, int64_t batch, uint64_t seed, uint64_t data_seed) {
  Setup s;
  torch::manual_seed(seed);
  s.model = build_model(spec);
  s.model.ptr()->train();
  s.optimizer = std::make_unique<torch::optim::Adam>(s.model.ptr()->parameters(), torch::optim::AdamOptions(1e-3));
  torch::manual_seed(data_seed);
  s.x = (torch::rand({steps, batch, spec.in_channels, spec.input_size, spec.input_size}) < 0.05).to(torch::kFloat) * 2;
  s.target =
      torch::one_hot(torch::randint(spec.num_classes, {batch}, torch::kLong), spec.num_classes).to(torch::kFloat);
  return s;
}

// Times warmup + iterations training steps; `dp` (may be null) synchronises the gradients.
StepTimes time_steps(Setup& s, train::DataParallel* dp, int warmup, int iterations, std::vector<double>* before_ms) {
  std::vector<double> ms;
  for (int i = 0; i < warmup + iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    s.optimizer->zero_grad();
    if (dp) {
      const auto tb = std::chrono::steady_clock::now();
      dp->before_forward();
      if (before_ms && i >= warmup) before_ms->push_back(ms_since(tb));
    }
    const torch::Tensor loss = torch::mse_loss(s.model.forward(s.x), s.target);
    if (dp)
      dp->backward(loss);
    else
      loss.backward();
    s.optimizer->step();
    if (i >= warmup) ms.push_back(ms_since(t0));
  }
  StepTimes t;
  t.step_ms = median(ms);
  t.min_ms = *std::min_element(ms.begin(), ms.end());
  t.max_ms = *std::max_element(ms.begin(), ms.end());
  t.threads = torch::get_num_threads();
  return t;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("bench dist: cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bench dist: cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

StepTimes times_from_json(const nlohmann::json& j) {
  StepTimes t;
  t.step_ms = j.at("step_ms");
  t.min_ms = j.at("min_ms");
  t.max_ms = j.at("max_ms");
  t.batch = j.at("batch");
  t.threads = j.at("threads");
  return t;
}

nlohmann::json times_to_json(const StepTimes& t) {
  return {
      {"step_ms", t.step_ms}, {"min_ms", t.min_ms}, {"max_ms", t.max_ms}, {"batch", t.batch}, {"threads", t.threads}};
}

}  // namespace

std::string dist_bench_config_to_json(const DistBenchConfig& c) {
  return nlohmann::json{
      {"model", c.model},         {"attention", c.attention},   {"steps", c.steps},   {"batch", c.batch},
      {"procs", c.procs},         {"iterations", c.iterations}, {"warmup", c.warmup}, {"sync_bn", c.sync_bn},
      {"bucket_mb", c.bucket_mb}, {"timeout_s", c.timeout_s},   {"seed", c.seed}}
      .dump();
}

DistBenchConfig dist_bench_config_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  DistBenchConfig c;
  c.model = j.at("model");
  c.attention = j.at("attention");
  c.steps = j.at("steps");
  c.batch = j.at("batch");
  c.procs = j.at("procs");
  c.iterations = j.at("iterations");
  c.warmup = j.at("warmup");
  c.sync_bn = j.at("sync_bn");
  c.bucket_mb = j.at("bucket_mb");
  c.timeout_s = j.at("timeout_s");
  c.seed = j.at("seed");
  return c;
}

void run_dist_bench_worker(const DistBenchConfig& c, const std::string& out_path) {
  const train::DistEnv env = train::read_dist_env();
  auto comm = train::Communicator::join(env, train::DistBackend::Gloo,
                                        std::chrono::milliseconds(static_cast<int64_t>(c.timeout_s * 1000)));
  const ModelSpec spec = model_spec(c);
  // Synchronised: rank 0's weights on every rank, each its own data.
  Setup synced = make_setup(spec, c.steps, c.batch, c.seed, c.seed + 1 + static_cast<uint64_t>(comm->rank()));
  if (c.sync_bn) train::convert_sync_batch_norm(*synced.model.ptr(), comm);
  train::DataParallel dp(*synced.model.ptr(), comm,
                         train::DataParallelOptions()
                             .bucket_bytes(static_cast<int64_t>(c.bucket_mb * 1024 * 1024))
                             .broadcast_buffers(!c.sync_bn));
  comm->barrier("the start of the timed steps");
  std::vector<double> before_ms;
  StepTimes ranks = time_steps(synced, &dp, c.warmup, c.iterations, &before_ms);
  ranks.batch = c.batch * comm->world_size();
  const auto buckets = static_cast<int64_t>(dp.bucket_bytes().size());

  // The same work without synchronisation, every rank at the same time.
  Setup alone = make_setup(spec, c.steps, c.batch, c.seed, c.seed + 1 + static_cast<uint64_t>(comm->rank()));
  comm->barrier("the start of the steps without synchronisation");
  StepTimes no_sync = time_steps(alone, nullptr, c.warmup, c.iterations, nullptr);
  no_sync.batch = ranks.batch;

  // One all-reduce of every gradient at once.
  int64_t numel = 0;
  for (const auto& p : synced.model.ptr()->parameters()) numel += p.numel();
  torch::Tensor flat = torch::ones({numel});
  comm->barrier("the start of the all-reduce timing");
  std::vector<double> allreduce;
  for (int i = 0; i < c.warmup + c.iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    comm->all_reduce_sum(flat, "the all-reduce timing");
    if (i >= c.warmup) allreduce.push_back(ms_since(t0));
  }
  comm->barrier("the end of the benchmark");
  if (comm->is_main()) {
    nlohmann::json j{{"ranks", times_to_json(ranks)},
                     {"ranks_no_sync", times_to_json(no_sync)},
                     {"allreduce_ms", median(allreduce)},
                     {"allreduce_min_ms", *std::min_element(allreduce.begin(), allreduce.end())},
                     {"before_forward_ms", median(before_ms)},
                     {"buckets", buckets},
                     {"params", numel}};
    std::ofstream out(out_path);
    out << j.dump() << "\n";
    if (!out) throw std::runtime_error("bench dist: cannot write " + out_path);
  }
}

DistBenchResult run_dist_bench(const DistBenchConfig& c, const std::string& exe) {
  if (c.procs < 2) throw std::invalid_argument(fmt::format("bench dist: --procs must be >= 2, got {}", c.procs));
  if (c.steps < 1) throw std::invalid_argument(fmt::format("bench dist: --T must be >= 1, got {}", c.steps));
  if (c.batch < 1) throw std::invalid_argument(fmt::format("bench dist: --batch must be >= 1, got {}", c.batch));
  if (c.iterations < 1)
    throw std::invalid_argument(fmt::format("bench dist: --steps must be >= 1, got {}", c.iterations));
  if (c.warmup < 0) throw std::invalid_argument(fmt::format("bench dist: --warmup must be >= 0, got {}", c.warmup));
  if (!(c.bucket_mb > 0)) throw std::invalid_argument("bench dist: --bucket-mb must be > 0");
  const ModelSpec spec = model_spec(c);
  DistBenchResult r;
  r.model = spec.name;
  r.input_size = spec.input_size;
  r.in_channels = spec.in_channels;

  // One process: as many threads as ranks on the global batch, then one thread on one rank's batch.
  const int threads = torch::get_num_threads();
  {
    torch::set_num_threads(c.procs);
    Setup s = make_setup(spec, c.steps, c.batch * c.procs, c.seed, c.seed + 1);
    r.one_process = time_steps(s, nullptr, c.warmup, c.iterations, nullptr);
    r.one_process.batch = c.batch * c.procs;
    r.params = count_parameters(*s.model.ptr());
    r.gradient_mib = static_cast<double>(r.params) * 4 / (1024.0 * 1024.0);
  }
  {
    torch::set_num_threads(1);
    Setup s = make_setup(spec, c.steps, c.batch, c.seed, c.seed + 1);
    r.one_thread = time_steps(s, nullptr, c.warmup, c.iterations, nullptr);
    r.one_thread.batch = c.batch;
  }
  torch::set_num_threads(threads);

  // The ranks: this program again, one thread each.
  const fs::path dir = fs::temp_directory_path() / fmt::format("masnn_bench_dist_{}", ::getpid());
  fs::create_directories(dir);
  const std::string out_path = (dir / "rank0.json").string();
  const int port = free_port();
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (int rank = 0; rank < c.procs; ++rank) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string entry(*e), name = entry.substr(0, entry.find('='));
      if (name == "RANK" || name == "WORLD_SIZE" || name == "LOCAL_RANK" || name == "LOCAL_WORLD_SIZE" ||
          name == "MASTER_ADDR" || name == "MASTER_PORT" || name == "OMP_NUM_THREADS" || name == "MASNN_DIST_TIMEOUT")
        continue;
      env.push_back(entry);
    }
    for (const std::string& v :
         {fmt::format("RANK={}", rank), fmt::format("WORLD_SIZE={}", c.procs), fmt::format("LOCAL_RANK={}", rank),
          fmt::format("LOCAL_WORLD_SIZE={}", c.procs), std::string("MASTER_ADDR=127.0.0.1"),
          fmt::format("MASTER_PORT={}", port), std::string("OMP_NUM_THREADS=1"),
          "MASNN_BENCH_DIST_CONFIG=" + dist_bench_config_to_json(c)})
      env.push_back(v);
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = {exe, "--threads", "1", "bench", "dist", "--worker-out", out_path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    logs.push_back((dir / fmt::format("rank{}.log", rank)).string());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, logs.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      for (pid_t p : pids) ::kill(p, SIGKILL);
      throw std::runtime_error(fmt::format("bench dist: cannot start {} ({})", exe, std::strerror(rc)));
    }
    pids.push_back(pid);
  }
  // Every rank must finish; the first failure stops the others.
  std::string failure;
  std::vector<bool> done(pids.size(), false);
  for (size_t left = pids.size(); left > 0;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    const auto it = std::find(pids.begin(), pids.end(), pid);
    if (it == pids.end()) continue;
    const auto k = static_cast<size_t>(it - pids.begin());
    done[k] = true;
    --left;
    if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0) && failure.empty()) {
      failure = fmt::format("rank {} failed:\n{}", k, read_text(logs[k]));
      for (size_t o = 0; o < pids.size(); ++o)
        if (!done[o]) ::kill(pids[o], SIGTERM);
    }
  }
  if (!failure.empty()) {
    fs::remove_all(dir);
    throw std::runtime_error("bench dist: " + failure);
  }
  const auto j = nlohmann::json::parse(read_text(out_path));
  fs::remove_all(dir);
  r.ranks = times_from_json(j.at("ranks"));
  r.ranks_no_sync = times_from_json(j.at("ranks_no_sync"));
  r.allreduce_ms = j.at("allreduce_ms");
  r.allreduce_min_ms = j.at("allreduce_min_ms");
  r.before_forward_ms = j.at("before_forward_ms");
  r.buckets = j.at("buckets");
  return r;
}

}  // namespace masnn::bench
