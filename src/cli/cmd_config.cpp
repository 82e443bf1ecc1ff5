// `masnn config [--config FILE] [--set key=value]...`: the resolved settings as TOML (every key, after `extends`
// and the overrides), as a run would store them. `masnn config --keys`: the key reference (docs/config.md).
#include <iostream>

#include "command.h"
#include "masnn/train/config.h"

namespace masnn::cli {
namespace {

struct ConfigArgs {
  std::string config;
  std::vector<std::string> sets;
  bool keys = false;
};

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "Print the resolved settings of a config, or the reference of every key");
  auto a = std::make_shared<ConfigArgs>();
  cmd->add_option("--config", a->config, "TOML config (default: every key at its default)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", a->sets, "override a key, e.g. --set train.epochs=10 (repeatable)");
  cmd->add_flag("--keys", a->keys, "print every key with its type, default, allowed values and meaning (Markdown)");
  cmd->callback([a] {
    if (a->keys) {
      std::cout << train::config_reference_markdown();
      return;
    }
    const train::TrainConfig c =
        a->config.empty() ? train::parse_config("", "(defaults)", a->sets) : train::load_config(a->config, a->sets);
    std::cout << train::to_toml(c) << "\n";
  });
});

}  // namespace
}  // namespace masnn::cli
