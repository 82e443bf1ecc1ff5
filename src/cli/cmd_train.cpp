// `masnn train --config F.toml [--set key=value]... [--resume CKPT]`
// Run under a launcher (scripts/launch.sh, torchrun, srun) it is one rank of a data-parallel job: see
// masnn/train/distributed.h for the environment it reads.
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include "command.h"
#include "masnn/train/distributed.h"
#include "masnn/train/factory.h"
#include "masnn/train/trainer.h"

namespace masnn::cli {
namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string resume;
  std::string synapses;
  bool quiet = false;
};

// Several ranks on one machine share its cores: unless --threads was given, each takes OMP_NUM_THREADS (as
// torchrun and scripts/launch.sh set it) or its share of the cores.
int rank_threads(const train::DistEnv& env) {
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(omp);
    if (n >= 1) return n;
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, env.local_world_size > 0 ? cores / env.local_world_size : cores);
}

void run_train(const TrainArgs& a, bool threads_given) {
  auto overrides = a.sets;
  if (a.quiet) overrides.push_back("train.quiet=true");
  if (!a.synapses.empty()) overrides.push_back(train::config_assignment("train.synapses", a.synapses));
  train::TrainConfig config = train::load_config(a.config, overrides);
  train::check_model_config(config.model);
  train::training_device(config.train);  // before any data is read or generated

  const train::DistEnv env = train::read_dist_env();
  std::shared_ptr<train::Communicator> comm;
  if (env.distributed()) {
    if (!threads_given) torch::set_num_threads(rank_threads(env));
    // One GPU per rank, as torchrun jobs do: "cuda" means this machine's GPU number LOCAL_RANK.
    if (config.train.device == "cuda") config.train.device = "cuda:" + std::to_string(env.local_rank);
    comm = train::Communicator::join(env, config.dist.backend, train::dist_timeout(config.dist),
                                     torch::Device(config.train.device));
    if (!config.train.quiet && comm->is_main())
      std::cerr << fmt::format(
          "distributed: {} ranks (from {}), {} backend, rendezvous {}:{}; batch {} per rank, {} per step; "
          "{} threads per rank{}\n",
          comm->world_size(), env.launcher == "slurm" ? "SLURM's variables" : "RANK, WORLD_SIZE", comm->backend(),
          env.master_addr, env.master_port, config.train.batch_size, config.train.batch_size * comm->world_size(),
          torch::get_num_threads(), config.dist.sync_bn ? "; synchronised BatchNorm" : "");
  }
  const bool main = !comm || comm->is_main();
  const train::Shard shard = train::shard_of(comm.get());
  // Rank 0 prepares the data first (generates the synthetic set, converts the event caches); the others then
  // open what it made instead of racing it.
  train::SplitData train_split, test_split;
  auto open = [&] {
    train_split = train::open_split(config, data::Split::Train, shard);
    test_split = train::open_split(config, data::Split::Test, shard);
  };
  if (main) open();
  if (comm) comm->barrier("waiting for rank 0 to prepare the dataset");
  if (!main) open();
  if (!config.train.quiet && main)
    std::cerr << fmt::format("train: {} ({} samples) / test: {} ({} samples), {} classes\n", train_split.name,
                             train_split.samples, test_split.name, test_split.samples, train_split.input.num_classes);
  train::Trainer trainer(config, std::move(train_split), std::move(test_split), comm);
  if (!a.resume.empty()) {
    trainer.resume(a.resume);
    if (!config.train.quiet && main)
      std::cerr << fmt::format("resumed from {} at epoch {}\n", a.resume, trainer.next_epoch() + 1);
  }
  const auto summary = trainer.fit();
  if (main)
    std::cout << fmt::format("best test accuracy {:.2f}% at epoch {}; checkpoints and metrics in {}\n",
                             100 * summary.best_accuracy, summary.best_epoch + 1, config.train.out_dir);
}

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train a network as a TOML config describes");
  auto a = std::make_shared<TrainArgs>();
  cmd->add_option("--config,-c", a->config, "TOML config (see configs/)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", a->sets, "override a key, e.g. --set train.epochs=10 (repeatable)");
  cmd->add_option("--resume", a->resume, "continue a run from its checkpoint (last.pt)")->check(CLI::ExistingFile);
  cmd->add_flag("--quiet,-q", a->quiet, "no progress output");
  cmd->add_option("--synapses", a->synapses,
                  "spike-input convolutions and linear layers: dense, sparse or auto (sets train.synapses; docs/benchmarks.md)");
  cmd->footer(
      "Distributed: run one process per rank with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and LOCAL_RANK) set, "
      "as scripts/launch.sh, torchrun or srun do; train.batch_size is per rank.");
  cmd->callback([a, &app] { run_train(*a, app.count("--threads") > 0); });
});

}  // namespace
}  // namespace masnn::cli
