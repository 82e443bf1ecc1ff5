// The `masnn` command. Exceptions from the library are caught here only, printed as one line, exit 1.
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>

#include "command.h"

namespace masnn::cli {

std::vector<CommandSetup>& command_setups() {
  static std::vector<CommandSetup> setups;
  return setups;
}

}  // namespace masnn::cli

int main(int argc, char** argv) {
  CLI::App app{"masnn: attention spiking neural networks (MA-SNN) on LibTorch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "masnn 0.1.0");
  int threads = 0;
  app.add_option("--threads", threads, "CPU threads for LibTorch (default: all cores)")->check(CLI::NonNegativeNumber);
  app.parse_complete_callback([&] {
    if (threads > 0) torch::set_num_threads(threads);
  });
  for (const auto& setup : masnn::cli::command_setups()) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const c10::Error& e) {
    std::cerr << "masnn: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "masnn: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
