// The demo: synthetic DVS gestures, a vanilla SNN and an MA-SNN (TCSA) of the same architecture trained with the
// same seed and budget, both evaluated, side by side.
#pragma once

#include <string>
#include <vector>

#include "masnn/train/config.h"

namespace masnn::apps {

/// The demo's settings (configs/demo.toml holds the same text).
extern const char* const kDemoConfig;

struct DemoRun {
  std::string attention;
  double accuracy = 0;  ///< test accuracy (reference voting rule)
  double vote_accuracy = 0;
  double spikes_per_sample = 0;  ///< all spiking layers, one test clip of T steps
  double firing_rate = 0;        ///< spikes / neuron-steps over all spiking layers
  double energy_uj = 0;          ///< SNN energy per sample (exact synaptic operations; REFERENCE.md 5), compute only
  double ann_energy_uj = 0;      ///< the same network as an ANN (all MACs), compute only
  double energy_with_memory_uj = 0;      ///< SNN, compute + memory accesses (docs/energy.md)
  double ann_energy_with_memory_uj = 0;  ///< ANN, compute + memory accesses
  double dense_macs = 0;         ///< dense-equivalent MACs per sample
  int64_t parameters = 0;
  double train_seconds = 0;
  std::string checkpoint;  ///< best.pt of the run
};

struct DemoResult {
  std::vector<DemoRun> runs;       ///< vanilla first, then MA
  double relative_efficiency = 0;  ///< the paper's rEE of MA vs vanilla (E_vanilla / E_MA)
  double spikes_reduction = 0;     ///< 1 - MA / vanilla spikes per sample
  double energy_reduction = 0;     ///< 1 - MA / vanilla SNN energy per sample
  std::string report_dir;          ///< the comparison report (analysis.html, analysis.json): out_dir/report
  std::string out_dir;
  int64_t train_samples = 0, test_samples = 0;
};

/// Runs the demo into out_dir (data in out_dir/synthetic-gesture, runs in out_dir/none and out_dir/TCSA, each with
/// its analysis report in analysis/, and the comparison report of both in out_dir/report), with
/// `overrides` ("key=value") applied to the demo config of both runs.
DemoResult run_demo(const std::string& out_dir, const std::vector<std::string>& overrides, bool quiet);

}  // namespace masnn::apps
