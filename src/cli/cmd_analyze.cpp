// `masnn analyze --checkpoint CKPT [--data DIR] [--set key=value]... [--samples N] --report OUT_DIR
// [--compare BASE_CKPT] [--sample-index N]... [--raster-neurons N] [--frame-steps N] [--e-mac PJ] [--e-ac PJ]`:
// spikes, firing rates, operations, energy, membrane statistics and attention weights per layer, and with
// --compare the model against a base (masnn/analysis/analyze.h); prints the summary and writes
// OUT_DIR/analysis.json (every number) and OUT_DIR/analysis.html (the figures).
#include <cmath>
#include <iostream>
#include <string>

#include "checks.h"
#include "command.h"
#include "masnn/analysis/analyze.h"

namespace masnn::cli {
namespace {

// An energy per operation: a finite number >= 0 (pJ).
const CLI::Validator energy_pj(
    [](std::string& text) -> std::string {
      double v = 0;
      try {
        v = std::stod(text);
      } catch (const std::exception&) {
        return "expected an energy in pJ, got '" + text + "'";
      }
      return std::isfinite(v) && v >= 0 ? "" : "expected a finite energy >= 0 (pJ), got " + text;
    },
    "PJ");

struct AnalyzeArgs {
  analysis::AnalyzeOptions options;
  std::string report;
};

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "analyze",
      "Spikes, operations, energy, membrane and attention of a checkpoint (--compare: against a base); report");
  auto a = std::make_shared<AnalyzeArgs>();
  auto& o = a->options;
  cmd->add_option("--checkpoint", o.checkpoint, "checkpoint (.pt) written by masnn train, demo or import")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", o.data, "dataset folder (overrides data.root of the checkpoint's config)");
  cmd->add_option("--set", o.overrides, "override a key of the checkpoint's config (repeatable)");
  cmd->add_option("--samples", o.samples, "analyse only the first N samples of the test split (0 = all)")
      ->check(non_negative());
  cmd->add_option("--report", a->report, "folder for analysis.json and analysis.html")->required();
  cmd->add_option("--compare", o.compare,
                  "a base checkpoint (e.g. the vanilla SNN) analysed on the same data and compared with --checkpoint")
      ->check(CLI::ExistingFile);
  cmd->add_option("--sample-index", o.detail.sample_indices,
                  "test sample shown in detail (raster, frames, attention maps; repeatable)")
      ->check(non_negative())
      ->capture_default_str();
  cmd->add_option("--raster-neurons", o.detail.raster_neurons, "at most N neurons per layer in a spike raster")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--frame-steps", o.detail.frame_steps, "time steps whose input frames and SA maps are shown")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--e-mac", o.energy.e_mac_pj, "energy of a MAC in pJ")->check(energy_pj)->capture_default_str();
  cmd->add_option("--e-ac", o.energy.e_ac_pj, "energy of an accumulate (AC) in pJ")
      ->check(energy_pj)
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", o.quiet, "no progress output");
  cmd->callback([a] {
    const analysis::Report result = analysis::analyze_report(a->options);
    std::cout << analysis::format_report(result);
    analysis::write_report(result, a->report);
    std::cout << "wrote " << a->report << "/analysis.json and " << a->report << "/analysis.html\n";
  });
});

}  // namespace
}  // namespace masnn::cli
