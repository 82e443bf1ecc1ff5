// `masnn analyze`: a trained network run over a dataset's test split with its spikes and operations counted,
// giving per spiking layer the firing figures and per layer the operations and energy (energy.h).
//
// A "sample" in every per-sample figure is one network input: one clip of T frames (the test split gives
// data.clips clips per dataset sample, each counted as one input), as the paper counts spikes per sample.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "masnn/analysis/energy.h"
#include "masnn/data/event_dataset.h"
#include "masnn/data/loader.h"
#include "masnn/models/dvs_net.h"

namespace masnn::analysis {

/// What to analyse.
struct AnalyzeOptions {
  std::string checkpoint;              ///< checkpoint (.pt) from masnn train, demo or import
  std::string data;                    ///< dataset folder, overriding data.root of the checkpoint's config
  std::vector<std::string> overrides;  ///< "section.key=value" applied to the checkpoint's config
  int64_t samples = 0;                 ///< only the first N samples of the test split (0 = all)
  EnergyOptions energy;
  bool quiet = false;  ///< no progress output
};

/// Spikes leaving one spiking layer (a LIF), per sample.
struct SpikingLayerStats {
  std::string name;                     ///< module path, e.g. convs.0.lif
  int64_t neurons = 0;                  ///< neurons of the layer
  int64_t steps = 0;                    ///< T
  double spikes_per_sample = 0;         ///< spikes over the T steps
  double firing_rate = 0;               ///< spikes / (neurons x T)
  double silent_fraction = 0;           ///< mean over samples of the fraction of neurons that stay silent all T steps
  double dead_fraction = 0;             ///< fraction of neurons that never fire on any analysed sample
  std::vector<double> spikes_per_step;  ///< spikes at each time step, [T]
};

/// Everything `masnn analyze` prints and writes.
struct Analysis {
  std::string checkpoint;
  std::string dataset;          ///< e.g. synthetic-gesture/test
  std::string model;            ///< registry name
  std::string attention;        ///< none, TA, ..., TCSA
  std::string placement;        ///< conv-post or activate-pre
  int64_t steps = 0;            ///< T
  int64_t dataset_samples = 0;  ///< test samples analysed
  int64_t clips = 0;            ///< clips per test sample
  int64_t samples = 0;          ///< network inputs analysed (dataset_samples x clips): what "per sample" means
  double accuracy = 0;          ///< a dataset sample is right when more than half its clips are
  double vote_accuracy = 0;     ///< the highest mean output over the clips is right
  double clip_accuracy = 0;     ///< fraction of clips right
  std::vector<SpikingLayerStats> spiking;  ///< per spiking layer, in forward order
  SpikingLayerStats spiking_total;         ///< all spiking layers together (name "total"; no per-step split
                                           ///< beyond the sum, dead_fraction over all neurons)
  EnergyReport energy;                     ///< per conv/linear/attention layer, per sample
};

/// Runs `net` (eval mode, no autograd; its training flag is restored) over `dataset` with `loader` (test
/// clips), counting spikes, the inputs of every layer and accuracy, then applies the energy model. The spike
/// counts are checked against the spiking layers' own counters (spike_monitor.h): a mismatch means DvsNet's
/// wiring changed without DvsNetRecorder, and throws std::logic_error. Fills every field but the checkpoint's
/// names (checkpoint, model, attention, placement).
Analysis analyze_network(DvsNetImpl& net, const std::shared_ptr<const data::EventDataset>& dataset,
                         const data::LoaderOptions& loader, const EnergyOptions& energy, bool quiet);

/// Loads the checkpoint, builds its test set from its config (with options.data, options.overrides and
/// options.samples applied) and analyses it. Errors name the checkpoint, the config key or the argument.
Analysis analyze_checkpoint(const AnalyzeOptions& options);

/// Every number of `analysis` as JSON text (doubles at full precision; NaN and infinity are written as null).
std::string analysis_json(const Analysis& analysis);

/// The terminal summary: per spiking layer, per layer operations and energy, and the totals.
std::string format_analysis(const Analysis& analysis);

/// Writes out_dir/analysis.json (analysis_json) and out_dir/analysis.html (a page with an inline SVG chart of
/// the firing rate per layer and the energy table), each atomically; creates out_dir. Throws naming the file.
void write_analysis(const Analysis& analysis, const std::string& out_dir);

}  // namespace masnn::analysis
