// `masnn sweep --config F.toml --grid key=v1,v2 --seeds N --out DIR`: a grid of settings times seeds, trained and
// analysed run by run (resumable), aggregated into tables with confidence intervals.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "checks.h"
#include "command.h"
#include "masnn/apps/sweep.h"

namespace {

struct SweepArgs {
  masnn::apps::SweepOptions options;
  std::vector<std::string> grid;
  bool quiet = false;
};

// This program's path, to run its `train` and `analyze` in the child processes.
std::string self_executable() {
  std::vector<char> buffer(4096);
  const ssize_t n = readlink("/proc/self/exe", buffer.data(), buffer.size() - 1);
  if (n <= 0) throw std::runtime_error("sweep: cannot find the masnn executable (/proc/self/exe)");
  return std::string(buffer.data(), static_cast<size_t>(n));
}

masnn::cli::RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  auto& o = a->options;
  auto* sub = app.add_subcommand(
      "sweep", "Train a config over a grid of settings x seeds (resumable), analyse each run, tabulate mean, sd and "
               "95% CI per cell");
  sub->add_option("--config", o.config, "The TOML config every run starts from")->required();
  sub->add_option("--grid", a->grid, "An axis of the grid: key=value1,value2,... (repeatable)");
  sub->add_option("--seeds", o.seeds, "Runs per cell (train.seed = --seed-base + 0, 1, ...)")
      ->check(masnn::cli::positive())
      ->capture_default_str();
  sub->add_option("--seed-base", o.seed_base, "The first seed")->check(masnn::cli::non_negative())->capture_default_str();
  sub->add_option("--set", o.overrides, "Override a key in every run: section.key=value (repeatable)");
  sub->add_option("--out", o.out_dir, "The sweep's folder: runs/<cell>/seed<k>/, table.md, table.csv, table.json, "
                                      "index.html")
      ->required();
  sub->add_option("--jobs", o.jobs, "Runs at once (each with cores / jobs threads)")
      ->check(masnn::cli::positive())
      ->capture_default_str();
  sub->add_option("--baseline", o.baseline,
                  "The cell the energy efficiency rEE is measured against, e.g. model.attention=none");
  sub->add_option("--analyze-samples", o.analyze_samples,
                  "Test samples each run's analysis uses (0 = the whole test split)")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_flag("--quiet", a->quiet, "Print only the summary");
  sub->callback([a] {
    auto o = a->options;
    for (const auto& g : a->grid) o.grid.push_back(masnn::apps::parse_sweep_axis(g));
    o.executable = self_executable();
    if (!a->quiet)
      o.log = [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
      };
    const auto summary = masnn::apps::run_sweep(o);
    std::printf("sweep: %lld runs, %lld finished before, %lld finished now, %zu failed; tables in %s/table.md\n",
                static_cast<long long>(summary.runs), static_cast<long long>(summary.skipped),
                static_cast<long long>(summary.finished), summary.failed.size(), o.out_dir.c_str());
    for (const auto& f : summary.failed) std::printf("failed: %s (run the sweep again to retry it)\n", f.c_str());
    if (!summary.failed.empty()) throw std::runtime_error("sweep: " + std::to_string(summary.failed.size()) + " runs failed");
  });
});

}  // namespace
