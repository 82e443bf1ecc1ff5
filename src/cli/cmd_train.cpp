// `masnn train --config F.toml [--set key=value]... [--resume CKPT]`
#include <fmt/format.h>

#include <iostream>

#include "command.h"
#include "masnn/train/factory.h"
#include "masnn/train/trainer.h"

namespace masnn::cli {
namespace {

struct TrainArgs {
  std::string config;
  std::vector<std::string> sets;
  std::string resume;
  bool quiet = false;
};

void run_train(const TrainArgs& a) {
  auto overrides = a.sets;
  if (a.quiet) overrides.push_back("train.quiet=true");
  const train::TrainConfig config = train::load_config(a.config, overrides);
  train::check_model_config(config.model);
  train::SplitData train_split = train::open_split(config, data::Split::Train);
  train::SplitData test_split = train::open_split(config, data::Split::Test);
  if (!config.train.quiet)
    std::cerr << fmt::format("train: {} ({} samples) / test: {} ({} samples), {} classes\n", train_split.name,
                             train_split.samples, test_split.name, test_split.samples, train_split.input.num_classes);
  train::Trainer trainer(config, std::move(train_split), std::move(test_split));
  if (!a.resume.empty()) {
    trainer.resume(a.resume);
    if (!config.train.quiet)
      std::cerr << fmt::format("resumed from {} at epoch {}\n", a.resume, trainer.next_epoch() + 1);
  }
  const auto summary = trainer.fit();
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
  cmd->callback([a] { run_train(*a); });
});

}  // namespace
}  // namespace masnn::cli
