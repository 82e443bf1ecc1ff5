// The `masnn` command. Exceptions from the library are caught here only, printed as one line, exit 1.
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <new>
#include <string>
#include <thread>

#include "checks.h"
#include "command.h"
#include "masnn/util/memory.h"

namespace masnn::cli {

std::vector<CommandSetup>& command_setups() {
  static std::vector<CommandSetup> setups;
  return setups;
}

std::vector<CommandSetup>& bench_setups() {
  static std::vector<CommandSetup> setups;
  return setups;
}

}  // namespace masnn::cli

int main(int argc, char** argv) {
  // Huge pages for large tensors (include/masnn/util/memory.h); MASNN_HUGE_PAGES=0 turns them off.
  const char* huge = std::getenv("MASNN_HUGE_PAGES");
  masnn::memory::use_huge_pages(!huge || std::string(huge) != "0");
  // MASNN_CPU_CACHE_MB=N caps the cache of freed large tensors at N MiB (0: off; default: bounded by the peak).
  if (const char* cache = std::getenv("MASNN_CPU_CACHE_MB")) {
    char* end = nullptr;
    const long long mb = std::strtoll(cache, &end, 10);
    if (end == cache || *end != '\0' || mb < 0) {
      std::cerr << "masnn: error: MASNN_CPU_CACHE_MB='" << cache << "': expected a number of MiB >= 0\n";
      return 1;
    }
    masnn::memory::set_large_block_cache(mb << 20);
  }
  CLI::App app{"masnn: attention spiking neural networks (MA-SNN) on LibTorch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "masnn 0.1.0");
  // LibTorch 1.13 from Debian starts with one intra-op thread here; default to every core the process may use.
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--threads", threads, "CPU threads for LibTorch (default: all cores)")
      ->check(masnn::cli::positive())
      ->capture_default_str();
  app.parse_complete_callback([&] { torch::set_num_threads(threads); });
  for (const auto& setup : masnn::cli::command_setups()) setup(app);
  masnn::cli::guard_option_values(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const c10::Error& e) {
    std::cerr << "masnn: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "masnn: error: out of memory: the settings ask for more than this machine has (a smaller "
                 "train.batch_size, data.steps, data.workers or input size helps)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "masnn: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
