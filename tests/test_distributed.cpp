// Distributed data-parallel training over loopback with Gloo on CPU. The ranks of a job are processes spawned by
// re-running this test binary (/proc/self/exe, posix_spawn: never a fork of a process running torch threads)
// with a gtest filter selecting DistributedChild.Rank and the job's environment (RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT on a free port). Every job uses a tiny synthetic gesture set made here.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "masnn/apps/demo.h"
#include "masnn/data/batch_loader.h"
#include "masnn/data/synth_gestures.h"
#include "masnn/models/registry.h"
#include "masnn/train/distributed.h"
#include "masnn/train/factory.h"
#include "train/sync_batch_norm.h"
#include "masnn/train/trainer.h"

#include "module_state.h"
#include "test_support.h"

extern char** environ;

// A build without Gloo (-DMASNN_GLOO=OFF) has no CPU process groups: the jobs of this file cannot form.
#define SKIP_WITHOUT_GLOO() \
  if (!masnn::train::gloo_available()) GTEST_SKIP() << "this build leaves out Gloo (-DMASNN_GLOO=OFF)"

namespace fs = std::filesystem;
using masnn::testing::TempDir;
using namespace masnn;
using namespace masnn::train;
using masnn::apps::kDemoConfig;
using Clock = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Processes

// A port nobody listens on now (the kernel's pick for port 0), so that parallel test runs do not collide.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

const std::vector<std::string> kJobVariables = {
    "RANK",         "WORLD_SIZE",   "LOCAL_RANK",    "LOCAL_WORLD_SIZE",   "MASTER_ADDR",    "MASTER_PORT",
    "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "MASNN_DIST_TIMEOUT", "OMP_NUM_THREADS"};

// One rank: this binary running DistributedChild.Rank with `vars` added to the environment; stdout and stderr
// go to `log`.
pid_t spawn_rank(const std::map<std::string, std::string>& vars, const std::string& log) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    if (vars.count(name) || std::find(kJobVariables.begin(), kJobVariables.end(), name) != kJobVariables.end())
      continue;
    if (name.rfind("MASNN_CHILD_", 0) == 0 || name.rfind("GTEST_", 0) == 0) continue;
    env_strings.push_back(entry);
  }
  for (const auto& [k, v] : vars) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe", filter = "--gtest_filter=DistributedChild.Rank";
  std::vector<char*> argv{exe.data(), filter.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "posix_spawn";
  return pid;
}

// Waits for a process at most `seconds`; returns its exit code (128 + signal when killed), or -1 after killing
// it when it did not end in time.
int wait_for(pid_t pid, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -2;
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A job of `world` ranks on loopback; `vars` go to every rank, `per_rank(r)` adds to rank r's.
struct Job {
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
};

Job start_job(int world, const fs::path& dir, std::map<std::string, std::string> vars,
              const std::function<std::map<std::string, std::string>(int)>& per_rank = {}) {
  Job job;
  vars["WORLD_SIZE"] = std::to_string(world);
  vars["MASTER_ADDR"] = "127.0.0.1";
  vars["MASTER_PORT"] = std::to_string(free_port());
  vars["OMP_NUM_THREADS"] = "1";
  for (int r = 0; r < world; ++r) {
    auto v = vars;
    v["RANK"] = v["LOCAL_RANK"] = std::to_string(r);
    if (per_rank)
      for (const auto& [k, x] : per_rank(r)) v[k] = x;
    job.logs.push_back((dir / ("rank" + std::to_string(r) + ".log")).string());
    job.pids.push_back(spawn_rank(v, job.logs.back()));
  }
  return job;
}

// Waits for every rank; each must succeed.
void expect_success(const Job& job, double seconds) {
  for (size_t r = 0; r < job.pids.size(); ++r)
    EXPECT_EQ(wait_for(job.pids[r], seconds), 0) << "rank " << r << " log:\n" << read_text(job.logs[r]);
}

// ---------------------------------------------------------------------------------------------------------------
// Data and settings

// 4 synthetic users, one lighting: 33 train and 11 test samples (as in test_train.cpp).
const fs::path& tiny_data() {
  static const TempDir dir("dist_data");
  static const fs::path root = [] {
    data::SynthOptions s;
    s.users = 4;
    s.test_users = 1;
    s.lightings = {"lab"};
    s.seed = 7;
    s.gesture_seconds = 1.0;
    data::write_synthetic_gestures(dir.path.string(), s);
    return dir.path;
  }();
  return root;
}

// The settings of the jobs: dvs-small on 8x16x16 frames, 32 train samples (a multiple of every global batch
// used), synchronised BN, small gradient buckets (several per step), one loader thread.
std::vector<std::string> job_sets(int64_t batch, int epochs) {
  return {"data.root=\"" + tiny_data().string() + "\"",
          "data.steps=8",
          "data.dt_ms=100",
          "data.ds=8",
          "model.t_ratio=2",
          "data.clips=2",
          "data.limit_train=32",
          "data.workers=1",
          "train.batch_size=" + std::to_string(batch),
          "train.epochs=" + std::to_string(epochs),
          "train.optimizer=\"sgd\"",
          "train.lr=0.05",
          "train.quiet=true",
          "dist.sync_bn=true",
          "dist.bucket_mb=0.1"};
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) v.push_back(line);
  return v;
}

std::vector<torch::Tensor> load_state(const fs::path& p) {
  std::vector<torch::Tensor> w;
  torch::load(w, p.string());
  return w;
}

// A loader whose batches hold the dataset indices of its samples (sample), to watch the sharding.
class IndexLoader : public data::PrefetchingLoader {
 public:
  IndexLoader(size_t n, data::SamplerSettings s) : PrefetchingLoader(n, s) {}
  ~IndexLoader() override { stop(); }
  int columns_per_sample() const override { return 1; }

 private:
  data::Batch build(const std::vector<size_t>& indices, const std::vector<size_t>&, uint64_t) const override {
    data::Batch b;
    std::vector<int64_t> v(indices.begin(), indices.end());
    b.sample = torch::tensor(v, torch::kLong);
    b.labels = b.sample;
    b.x = torch::zeros({static_cast<int64_t>(v.size())});
    return b;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// The rank process: what the jobs above run (skipped in a normal test run).

TEST(DistributedChild, Rank) {
  const char* mode = std::getenv("MASNN_CHILD_MODE");
  if (!mode) GTEST_SKIP() << "a rank of the jobs the other tests of this file start";
  torch::set_num_threads(1);
  const DistEnv env = read_dist_env();
  const std::vector<std::string> sets =
      split_lines(std::getenv("MASNN_CHILD_SETS") ? std::getenv("MASNN_CHILD_SETS") : "");
  TrainConfig config = parse_config(kDemoConfig, "child config", sets);
  try {
    auto comm = Communicator::join(env, config.dist.backend, dist_timeout(config.dist));
    if (std::string(mode) == "join") {
      comm->barrier("the test barrier");
      return;
    }
    const fs::path out = std::getenv("MASNN_CHILD_OUT");
    config.train.out_dir = (out / ("out" + std::to_string(env.rank))).string();
    if (std::getenv("MASNN_CHILD_SHARED_OUT")) config.train.out_dir = (out / "shared").string();
    Trainer trainer(config, make_dataset(config, data::Split::Train), make_dataset(config, data::Split::Test), comm);
    if (const char* resume = std::getenv("MASNN_CHILD_RESUME")) trainer.resume(resume);
    const char* stop = std::getenv("MASNN_CHILD_STOP_AFTER");
    const TrainSummary s = trainer.fit(stop ? std::atoi(stop) : -1);
    torch::save(masnn::testing::state_list(trainer.module()),
                (out / ("weights" + std::to_string(env.rank) + ".pt")).string());
    std::ofstream summary(out / ("summary" + std::to_string(env.rank) + ".txt"));
    summary.precision(17);
    const auto& last = s.epochs.back();
    summary << last.train_loss << " " << last.train_accuracy << " " << last.test->accuracy << " "
            << last.test->vote_accuracy << " " << last.test->samples << " " << last.test->loss << " "
            << last.test->top5_accuracy << " " << last.test->confusion.sum().item<int64_t>() << "\n";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "rank " << env.rank << ": " << e.what();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The job's environment

TEST(DistributedEnv, TorchrunAndSlurmVariables) {
  auto from = [](std::map<std::string, std::string> vars) {
    return read_dist_env([vars](const std::string& k) -> std::optional<std::string> {
      auto it = vars.find(k);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    });
  };
  const DistEnv none = from({});
  EXPECT_FALSE(none.distributed());
  EXPECT_EQ(none.launcher, "none");

  const DistEnv t = from({{"RANK", "3"},
                          {"WORLD_SIZE", "4"},
                          {"LOCAL_RANK", "1"},
                          {"LOCAL_WORLD_SIZE", "2"},
                          {"MASTER_ADDR", "10.0.0.5"},
                          {"MASTER_PORT", "29511"}});
  EXPECT_TRUE(t.distributed());
  EXPECT_EQ(t.launcher, "torchrun");
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.world_size, 4);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.local_world_size, 2);
  EXPECT_EQ(t.master_addr, "10.0.0.5");
  EXPECT_EQ(t.master_port, 29511);

  const DistEnv s = from({{"SLURM_PROCID", "5"},
                          {"SLURM_NTASKS", "8"},
                          {"SLURM_LOCALID", "1"},
                          {"SLURM_NTASKS_PER_NODE", "4(x2)"},
                          {"SLURM_JOB_NODELIST", "gpu[07-08],cpu1"},
                          {"SLURM_JOB_ID", "123456"}});
  EXPECT_EQ(s.launcher, "slurm");
  EXPECT_EQ(s.rank, 5);
  EXPECT_EQ(s.world_size, 8);
  EXPECT_EQ(s.local_rank, 1);
  EXPECT_EQ(s.local_world_size, 4);
  EXPECT_EQ(s.master_addr, "gpu07");
  EXPECT_EQ(s.master_port, 20000 + 123456 % 20000);
  // An srun step of fewer tasks than the job: the step's count.
  EXPECT_EQ(from({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "8"}, {"SLURM_STEP_NUM_TASKS", "2"}, {"MASTER_ADDR", "h"}})
                .world_size,
            2);
  // MASTER_ADDR / MASTER_PORT win over what SLURM's variables suggest; torchrun's variables over SLURM's.
  EXPECT_EQ(from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"MASTER_ADDR", "head"}, {"MASTER_PORT", "1234"}})
                .master_addr,
            "head");
  EXPECT_EQ(from({{"SLURM_PROCID", "0"},
                  {"SLURM_NTASKS", "2"},
                  {"RANK", "1"},
                  {"WORLD_SIZE", "3"},
                  {"MASTER_ADDR", "h"},
                  {"MASTER_PORT", "1"}})
                .world_size,
            3);

  auto error = [&](std::map<std::string, std::string> vars) {
    return masnn::testing::expect_error([&] { from(vars); });
  };
  EXPECT_NE(error({{"RANK", "0"}}).find("WORLD_SIZE"), std::string::npos);
  EXPECT_NE(error({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}).find("RANK"),
            std::string::npos);
  EXPECT_NE(error({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("'x'"), std::string::npos);
  EXPECT_NE(error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}}).find("MASTER_ADDR"),
            std::string::npos);
  EXPECT_NE(error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}}).find("MASTER_PORT"), std::string::npos);
  EXPECT_NE(
      error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}}).find("MASTER_PORT"),
      std::string::npos);
  EXPECT_NE(error({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}}).find("MASTER_ADDR"), std::string::npos);

  // The timeout: dist.timeout_s, or MASNN_DIST_TIMEOUT when set.
  DistConfig d;
  d.timeout_s = 12.5;
  ::unsetenv("MASNN_DIST_TIMEOUT");
  EXPECT_EQ(dist_timeout(d).count(), 12500);
  ::setenv("MASNN_DIST_TIMEOUT", "3", 1);
  EXPECT_EQ(dist_timeout(d).count(), 3000);
  ::setenv("MASNN_DIST_TIMEOUT", "soon", 1);
  EXPECT_NE(masnn::testing::expect_error([&] { dist_timeout(d); }).find("MASNN_DIST_TIMEOUT"), std::string::npos);
  ::unsetenv("MASNN_DIST_TIMEOUT");

  // [dist] keys are read and checked like every other key.
  const TrainConfig c = parse_config("[dist]\nsync_bn = true\nbucket_mb = 4\ntimeout_s = 60\n", "d.toml");
  EXPECT_TRUE(c.dist.sync_bn);
  EXPECT_DOUBLE_EQ(c.dist.bucket_mb, 4);
  EXPECT_DOUBLE_EQ(c.dist.timeout_s, 60);
  EXPECT_EQ(parse_config(to_toml(c), "again").dist.bucket_mb, 4);
  EXPECT_THROW(parse_config("[dist]\nbackend = \"mpi\"\n", "d.toml"), std::invalid_argument);
  EXPECT_THROW(parse_config("[dist]\ntimeout_s = 0\n", "d.toml"), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------------------------
// The sampler's shards

TEST(DistributedSampler, ShardsCoverEverySampleOncePerEpochAndPadByWrappingAround) {
  for (const size_t n : {12u, 13u, 3u}) {
    for (const int world : {1, 2, 3, 4}) {
      SCOPED_TRACE("n=" + std::to_string(n) + " world=" + std::to_string(world));
      for (uint64_t epoch = 0; epoch < 2; ++epoch) {
        std::vector<int> seen(n, 0);
        std::vector<size_t> first_of_epoch;
        size_t per_rank = 0;
        int valid_total = 0;
        for (int r = 0; r < world; ++r) {
          data::SamplerSettings s;
          s.batch_size = 4;
          s.workers = 1;
          s.seed = 5;
          s.rank = r;
          s.world_size = world;
          IndexLoader loader(n, s);
          loader.start_epoch(epoch);
          std::vector<int64_t> mine;
          data::Batch b;
          while (loader.next(b))
            for (int64_t i = 0; i < b.sample.size(0); ++i) mine.push_back(b.sample[i].item<int64_t>());
          if (r == 0) per_rank = mine.size();
          EXPECT_EQ(mine.size(), per_rank) << "every rank gets as many samples";
          EXPECT_EQ(mine.size(), (n + world - 1) / world);
          // The rank's first valid_samples samples are its own; what follows is padding.
          const int64_t valid = valid_samples(static_cast<int64_t>(n), r, world);
          for (int64_t k = 0; k < valid; ++k) ++seen[static_cast<size_t>(mine[static_cast<size_t>(k)])];
          valid_total += static_cast<int>(valid);
          // The padding repeats the epoch's first samples (wrap-around), as DistributedSampler does.
          const auto positions = loader.epoch_positions();
          const auto order = loader.epoch_order(epoch);
          for (size_t k = 0; k < positions.size(); ++k) {
            EXPECT_EQ(positions[k] < n, static_cast<int64_t>(k) < valid);
            if (positions[k] < n) continue;
            data::SamplerSettings s0 = s;
            s0.rank = static_cast<int>((positions[k] - n) % world);
            IndexLoader owner(n, s0);
            EXPECT_EQ(order[k], owner.epoch_order(epoch)[(positions[k] - n) / world]);
          }
        }
        EXPECT_EQ(valid_total, static_cast<int>(n));
        for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i], 1) << "sample " << i << " epoch " << epoch;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Synchronised BatchNorm on a job of one rank equals LibTorch's BatchNorm (values, gradients, statistics)

TEST(DistributedSyncBatchNorm, OneRankEqualsBatchNormAndConvertsTheDvsAndResSnnBlocks) {
  SKIP_WITHOUT_GLOO();
  DistEnv env;
  env.master_addr = "127.0.0.1";
  env.master_port = free_port();
  auto comm = Communicator::join(env, DistBackend::Gloo, std::chrono::seconds(20));
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_EQ(comm->backend(), "gloo");

  for (const bool two_d : {true, false}) {
    SCOPED_TRACE(two_d ? "BatchNorm2d" : "BatchNorm1d");
    torch::manual_seed(3);
    const int64_t C = 5;
    torch::Tensor x = two_d ? torch::randn({6, C, 4, 3}) * 2 + 1 : torch::randn({7, C}) * 3 - 1;
    torch::Tensor x_ref = x.clone().requires_grad_(true), x_sync = x.clone().requires_grad_(true);
    torch::Tensor dy = torch::randn(x.sizes());
    torch::Tensor y_ref, y_sync;
    torch::nn::BatchNorm2d ref2(C), sync2(C);
    torch::nn::BatchNorm1d ref1(C), sync1(C);
    if (two_d) {
      torch::NoGradGuard g;
      ref2->weight.uniform_(0.5, 1.5);
      ref2->bias.uniform_(-0.5, 0.5);
      sync2->weight.copy_(ref2->weight);
      sync2->bias.copy_(ref2->bias);
    }
    for (int step = 0; step < 2; ++step) {
      x_ref.mutable_grad() = torch::Tensor();
      x_sync.mutable_grad() = torch::Tensor();
      if (two_d) {
        y_ref = ref2(x_ref);
        y_sync = sync_batch_norm(x_sync, sync2->weight, sync2->bias, sync2->running_mean, sync2->running_var,
                                 sync2->num_batches_tracked, 0.1, 1e-5, comm);
      } else {
        y_ref = ref1(x_ref);
        y_sync = sync_batch_norm(x_sync, sync1->weight, sync1->bias, sync1->running_mean, sync1->running_var,
                                 sync1->num_batches_tracked, 0.1, 1e-5, comm);
      }
      (y_ref * dy).sum().backward();
      (y_sync * dy).sum().backward();
      EXPECT_TRUE(torch::allclose(y_sync, y_ref, 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(x_sync.grad(), x_ref.grad(), 1e-4, 1e-5));
    }
    auto& rp = two_d ? static_cast<torch::nn::Module&>(*ref2) : static_cast<torch::nn::Module&>(*ref1);
    auto& sp = two_d ? static_cast<torch::nn::Module&>(*sync2) : static_cast<torch::nn::Module&>(*sync1);
    const auto ra = masnn::testing::state_list(rp), sa = masnn::testing::state_list(sp);
    for (size_t i = 0; i < ra.size(); ++i) EXPECT_TRUE(torch::allclose(sa[i], ra[i], 1e-5, 1e-6)) << "state " << i;
    const auto rg = rp.parameters(), sg = sp.parameters();
    for (size_t i = 0; i < rg.size(); ++i)
      EXPECT_TRUE(torch::allclose(sg[i].grad(), rg[i].grad(), 1e-4, 1e-5)) << "grad " << i;
  }

  // The DVS networks: every BN is in a block and is converted; a converted network in eval mode is unchanged.
  ModelSpec spec = default_model_spec("dvs-small");
  spec.steps = 4;
  spec.input_size = 16;
  torch::manual_seed(1);
  auto net = build_model(spec);
  torch::manual_seed(1);
  auto plain = build_model(spec);
  EXPECT_EQ(convert_sync_batch_norm(*net.ptr(), comm), 4);
  const torch::Tensor frames = (torch::rand({4, 3, 2, 16, 16}) < 0.2).to(torch::kFloat);
  net.ptr()->train();
  plain.ptr()->train();
  EXPECT_TRUE(torch::allclose(net.forward(frames), plain.forward(frames), 1e-5, 1e-6));
  net.ptr()->eval();
  plain.ptr()->eval();
  EXPECT_TRUE(torch::allclose(net.forward(frames), plain.forward(frames), 1e-5, 1e-6));
  // A Res-SNN: the stem's BN and every block's (two, plus the projection shortcut's) are converted.
  torch::manual_seed(2);
  auto res = build_model(default_model_spec("res-snn-mini"));
  torch::manual_seed(2);
  auto res_plain = build_model(default_model_spec("res-snn-mini"));
  const auto keys = res.ptr()->named_buffers().keys();
  EXPECT_EQ(convert_sync_batch_norm(*res.ptr(), comm), 1 + 3 * 2 + 2);
  EXPECT_EQ(convert_sync_batch_norm(*res.ptr(), comm), 0);  // converted already
  EXPECT_EQ(res.ptr()->named_buffers().keys(), keys);      // the same state-dict names: checkpoints unchanged
  std::ostringstream shown;
  res.ptr()->pretty_print(shown);
  res.ptr()->named_modules()["stages.0.0.bn1"]->pretty_print(shown);
  EXPECT_NE(shown.str().find("masnn::train::Sync"), std::string::npos) << shown.str();
  const torch::Tensor images = torch::randn({3, 1, 28, 28});
  res.ptr()->train();
  res_plain.ptr()->train();
  torch::manual_seed(4);  // the same dropout masks
  const torch::Tensor out_sync = res.forward(images);
  torch::manual_seed(4);
  const torch::Tensor out_plain = res_plain.forward(images);
  EXPECT_TRUE(torch::allclose(out_sync, out_plain, 1e-4, 1e-5)) << (out_sync - out_plain).abs().max();
  // A BN layer outside such blocks: a clear error rather than a silently unsynchronised BN.
  torch::nn::Sequential other(torch::nn::Conv2d(2, 3, 3), torch::nn::BatchNorm2d(3));
  const std::string e = masnn::testing::expect_error([&] { convert_sync_batch_norm(*other.ptr(), comm); });
  EXPECT_NE(e.find("dist.sync_bn"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------------------------
// Two ranks train like one process with the doubled batch; a resumed job continues where it stopped

TEST(DistributedTraining, TwoRanksMatchOneProcessWithTheDoubledBatchAndResume) {
  SKIP_WITHOUT_GLOO();
  const TempDir dir("dist_train");
  const int epochs = 2;
  // One process, batch 4 (and one thread, like each rank).
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  TrainConfig single = parse_config(kDemoConfig, "single", job_sets(4, epochs));
  single.train.out_dir = (dir.path / "single").string();
  auto train_set = make_dataset(single, data::Split::Train);
  auto test_set = make_dataset(single, data::Split::Test);
  ASSERT_EQ(train_set->size(), 32u);
  ASSERT_EQ(test_set->size(), 11u) << "odd: the second rank's test shard ends with one padded sample";
  Trainer reference(single, train_set, test_set);
  const TrainSummary rs = reference.fit();
  const auto w_single = masnn::testing::state_list(reference.module());
  torch::set_num_threads(threads);

  // Two ranks of batch 2, straight through.
  const fs::path straight = dir.path / "straight";
  fs::create_directories(straight);
  const std::map<std::string, std::string> vars = {{"MASNN_CHILD_MODE", "train"},
                                                   {"MASNN_CHILD_SETS", join_lines(job_sets(2, epochs))},
                                                   {"MASNN_DIST_TIMEOUT", "60"}};
  auto with_out = [&](const fs::path& out) {
    auto v = vars;
    v["MASNN_CHILD_OUT"] = out.string();
    return v;
  };
  expect_success(start_job(2, straight, with_out(straight)), 180);
  const auto w0 = load_state(straight / "weights0.pt"), w1 = load_state(straight / "weights1.pt");
  ASSERT_EQ(w0.size(), w_single.size());
  // Same weights and buffers on both ranks, bit for bit.
  for (size_t i = 0; i < w0.size(); ++i) EXPECT_TRUE(torch::equal(w0[i], w1[i])) << "tensor " << i;
  // Equal to one process with the doubled batch up to float rounding: synchronised BN gives both the statistics
  // of the 4 samples; what differs is the order of float additions (each rank's convolution gradients over its 2
  // samples, then averaged), and a spike that flips on such a difference passes it on. Every tensor, weights
  // and buffers, within 1e-3 (relative to its size when larger), and the weights moved by training far more.
  torch::manual_seed(single.train.seed);
  const auto w_init = masnn::testing::state_list(*build_model(model_spec(single, *train_set)).ptr());
  const size_t n_params = reference.module().parameters().size();
  double diff = 0, moved = 0;
  for (size_t i = 0; i < w0.size(); ++i) {
    EXPECT_TRUE(torch::allclose(w0[i], w_single[i], 1e-3, 1e-4)) << "tensor " << i;
    const double d = (w0[i] - w_single[i]).abs().max().item<double>();
    if (i < n_params) {
      diff = std::max(diff, d);
      moved = std::max(moved, (w_single[i] - w_init[i]).abs().max().item<double>());
    }
  }
  EXPECT_GT(moved, 100 * diff) << "training moved the weights far more than the two runs differ";
  std::cerr << "after " << epochs << " epochs: max |2 ranks - 1 process| over the weights " << diff
            << ", max |trained - initial| " << moved << "\n";

  // Metrics: the train loss over both ranks equals the single run's; the test evaluation covers the 11
  // samples once and equals evaluating rank 0's final weights in one process.
  std::ifstream summary(straight / "summary0.txt");
  double train_loss, train_acc, test_acc, test_vote, test_samples, test_loss, test_top5, confusion_sum;
  summary >> train_loss >> train_acc >> test_acc >> test_vote >> test_samples >> test_loss >> test_top5 >>
      confusion_sum;
  EXPECT_NEAR(train_loss, rs.epochs.back().train_loss, 1e-4);
  EXPECT_NEAR(train_acc, rs.epochs.back().train_accuracy, 1.0 / 32 + 1e-9);
  EXPECT_EQ(test_samples, 11);
  {
    torch::NoGradGuard g;
    auto params = reference.module().parameters();
    auto buffers = reference.module().buffers();
    size_t i = 0;
    for (auto& p : params) p.copy_(w0[i++]);
    for (auto& b : buffers) b.copy_(w0[i++]);
  }
  const Evaluation e =
      evaluate_model(reference.model(), test_set, loader_options(single, *test_set, data::ClipMode::Test),
                     LossKind::Mse, true);
  EXPECT_EQ(e.samples, 11);
  EXPECT_DOUBLE_EQ(test_acc, e.accuracy);
  EXPECT_DOUBLE_EQ(test_vote, e.vote_accuracy);
  EXPECT_NEAR(test_loss, e.loss, 1e-6);
  EXPECT_DOUBLE_EQ(test_top5, e.top5_accuracy);
  EXPECT_EQ(confusion_sum, 11);
  // Only rank 0 wrote its output folder.
  EXPECT_TRUE(fs::exists(straight / "out0" / "last.pt"));
  EXPECT_TRUE(fs::exists(straight / "out0" / "metrics.csv"));
  EXPECT_TRUE(fs::exists(straight / "out0" / "tensorboard"));
  EXPECT_FALSE(fs::exists(straight / "out1"));
  EXPECT_EQ(split_lines(read_text(straight / "out0" / "metrics.csv")).size(), 1u + epochs);

  // The same job stopped after one epoch, then resumed by every rank from rank 0's last.pt.
  const fs::path resumed = dir.path / "resumed";
  fs::create_directories(resumed);
  auto first = with_out(resumed);
  first["MASNN_CHILD_STOP_AFTER"] = "1";
  first["MASNN_CHILD_SHARED_OUT"] = "1";
  expect_success(start_job(2, resumed, first), 180);
  auto second = with_out(resumed);
  second["MASNN_CHILD_SHARED_OUT"] = "1";
  second["MASNN_CHILD_RESUME"] = (resumed / "shared" / "last.pt").string();
  expect_success(start_job(2, resumed, second), 180);
  const auto r0 = load_state(resumed / "weights0.pt"), r1 = load_state(resumed / "weights1.pt");
  for (size_t i = 0; i < w0.size(); ++i) {
    EXPECT_TRUE(torch::equal(r0[i], r1[i])) << "tensor " << i;
    EXPECT_TRUE(torch::allclose(r0[i], w0[i], 1e-6, 1e-7)) << "tensor " << i;
  }
  EXPECT_EQ(split_lines(read_text(resumed / "shared" / "metrics.csv")).size(), 1u + epochs);
}

// ---------------------------------------------------------------------------------------------------------------
// Failures end the job with a message, in time

TEST(DistributedFailure, AKilledOrStoppedRankMakesTheOtherExitWithAnErrorInTime) {
  SKIP_WITHOUT_GLOO();
  const TempDir dir("dist_fail");
  for (const int signal : {SIGKILL, SIGSTOP}) {
    SCOPED_TRACE(signal == SIGKILL ? "killed" : "stopped");
    const fs::path d = dir.path / (signal == SIGKILL ? "killed" : "stopped");
    fs::create_directories(d);
    const double timeout = 3;
    const Job job = start_job(2, d,
                              {{"MASNN_CHILD_MODE", "train"},
                               {"MASNN_CHILD_SETS", join_lines(job_sets(2, 1000))},
                               {"MASNN_CHILD_OUT", d.string()},
                               {"MASNN_DIST_TIMEOUT", std::to_string(timeout)}});
    // Once rank 0 has finished an epoch, the job is training: take rank 1 away.
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (!fs::exists(d / "out0" / "last.pt") && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(fs::exists(d / "out0" / "last.pt")) << read_text(job.logs[0]);
    ::kill(job.pids[1], signal);
    const auto t0 = Clock::now();
    const int rc = wait_for(job.pids[0], 60);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    ::kill(job.pids[1], SIGKILL);
    wait_for(job.pids[1], 10);
    const std::string log = read_text(job.logs[0]);
    EXPECT_NE(rc, 0) << log;
    EXPECT_NE(rc, -1) << "rank 0 did not stop within 60 s";
    EXPECT_NE(log.find("distributed: rank 0 of 2 (gloo)"), std::string::npos) << log;
    EXPECT_NE(log.find("failed"), std::string::npos) << log;
    // A dead peer is noticed at once (its sockets close); a stopped one after the timeout.
    EXPECT_LT(seconds, timeout + 10) << log;
    std::cerr << (signal == SIGKILL ? "killed" : "stopped") << " rank 1: rank 0 exited after " << seconds
              << " s (timeout " << timeout << " s)\n";
  }
}

// The local addresses that listen on TCP port `port` (/proc/net/tcp and tcp6: hex address:port, state 0A =
// LISTEN), as "any" (0.0.0.0 or ::) or the hex address.
std::vector<std::string> listening_addresses(int port) {
  std::vector<std::string> found;
  char port_hex[8];
  std::snprintf(port_hex, sizeof port_hex, ":%04X", port);
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream s(line);
      std::string slot, local, remote, state;
      s >> slot >> local >> remote >> state;
      const size_t colon = local.find(':');
      if (state != "0A" || colon == std::string::npos || local.substr(colon) != port_hex) continue;
      const std::string address = local.substr(0, colon);
      found.push_back(address.find_first_not_of('0') == std::string::npos ? "any" : address);
    }
  }
  return found;
}

// With MASTER_ADDR on loopback the rendezvous store listens on 127.0.0.1 only (LibTorch 2.x takes a socket masnn
// binds; 1.13's store listens on every interface, as docs/training.md says).
TEST(DistributedEnv, ALoopbackRendezvousListensOnLoopbackOnly) {
  SKIP_WITHOUT_GLOO();
  const int port = free_port();
  const std::map<std::string, std::string> vars = {{"RANK", "0"},
                                                   {"WORLD_SIZE", "1"},
                                                   {"MASTER_ADDR", "127.0.0.1"},
                                                   {"MASTER_PORT", std::to_string(port)}};
  const DistEnv env = read_dist_env([&](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  });
  const auto comm = Communicator::join(env, DistBackend::Gloo, std::chrono::seconds(20));
  ASSERT_EQ(comm->world_size(), 1);
  const auto addresses = listening_addresses(port);
  ASSERT_EQ(addresses.size(), 1u);
  EXPECT_EQ(addresses[0], TORCH_VERSION_MAJOR >= 2 ? "0100007F" : "any");  // 127.0.0.1 (little-endian hex)
}

TEST(DistributedFailure, ARankThatCannotConnectStopsWithTheAddressInTime) {
  SKIP_WITHOUT_GLOO();
  const TempDir dir("dist_connect");
  // Rank 1 alone: nobody serves the rendezvous. Rank 0 alone: nobody joins it.
  for (const int rank : {1, 0}) {
    const fs::path d = dir.path / ("alone" + std::to_string(rank));
    fs::create_directories(d);
    const int port = free_port();
    const auto t0 = Clock::now();
    const pid_t pid = spawn_rank({{"MASNN_CHILD_MODE", "join"},
                                  {"RANK", std::to_string(rank)},
                                  {"WORLD_SIZE", "2"},
                                  {"MASTER_ADDR", "127.0.0.1"},
                                  {"MASTER_PORT", std::to_string(port)},
                                  {"MASNN_DIST_TIMEOUT", "2"}},
                                 (d / "log").string());
    const int rc = wait_for(pid, 60);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const std::string log = read_text(d / "log");
    EXPECT_NE(rc, 0) << log;
    EXPECT_NE(rc, -1) << "no exit within 60 s";
    EXPECT_LT(seconds, 20) << log;
    EXPECT_NE(log.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << log;
    EXPECT_NE(log.find(rank == 1 ? "could not join the rendezvous" : "1 of 2 ranks joined the rendezvous"),
              std::string::npos)
        << log;
  }
}
