// `masnn analyze`: a trained network (any of the registry's: DVS networks, Res-SNNs) run over a dataset's test split
// with its spikes and operations counted, giving per spiking layer the firing figures, per layer the operations and
// energy (energy.h), per attention module its weights and the membrane input without and with it, and for chosen
// samples a spike raster, the input frames and the attention maps. Two checkpoints (a base such as the vanilla SNN, and
// a model such as the MA-SNN) analysed on the same data give the reductions in spikes and energy and the paper's rEE.
//
// A "sample" in every per-sample figure is one network input: one clip of T frames (the test split gives
// data.clips clips per dataset sample, each counted as one input), as the paper counts spikes per sample.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/nn/modules/container/any.h>

#include "masnn/analysis/energy.h"
#include "masnn/train/train_data.h"

namespace masnn::analysis {

/// What the detailed figures show (attention weights, raster, frames), beyond the counts.
struct DetailOptions {
  /// Test samples (dataset indices of the test split, 0-based, after data.limit_test) shown one by one:
  /// their first clip's spike raster, input frames, attention weights and maps.
  std::vector<int64_t> sample_indices{0};
  /// At most this many neurons per layer in a raster (a fixed random subset, seed 0, sorted by index).
  int64_t raster_neurons = 128;
  /// At most this many time steps (spread over T) whose input frames and per-step SA maps are shown.
  int64_t frame_steps = 4;
  /// Throws std::invalid_argument naming the field when a value is out of range.
  void validate() const;
};

/// What to analyse.
struct AnalyzeOptions {
  std::string checkpoint;              ///< checkpoint (.pt) from masnn train, demo or import
  std::string data;                    ///< dataset folder, overriding data.root of the checkpoint's config
  std::vector<std::string> overrides;  ///< "section.key=value" applied to the checkpoint's config
  int64_t samples = 0;                 ///< only the first N samples of the test split (0 = all)
  /// A second checkpoint, the base of a comparison (e.g. the vanilla SNN against an MA-SNN in `checkpoint`),
  /// analysed on the same recordings: with `data`, or else the data root of `checkpoint`'s config; the
  /// overrides and `samples` apply to both. Empty: no comparison.
  std::string compare;
  EnergyOptions energy;
  DetailOptions detail;
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
  std::vector<double> firing_rate_per_step;  ///< spikes_per_step / neurons: the fraction firing at each step, [T]
};

/// The energy of one block (convs.i or fcs.i: its conv/linear layer and its attention), per sample.
struct BlockEnergy {
  std::string block;
  double mac_energy_pj = 0;  ///< MACs x E_MAC: real-valued inputs (frames after normalisation) and attention
  double ac_energy_pj = 0;   ///< synaptic operations x E_AC: spike inputs
  double snn_energy_pj = 0;  ///< the sum
  double ann_energy_pj = 0;  ///< the same layers as an ANN: dense MACs x E_MAC
};

/// Mean, standard deviation and the fraction at or above the firing threshold of a set of values.
struct ValueStats {
  double mean = 0;
  double std = 0;              ///< population standard deviation
  double above_threshold = 0;  ///< fraction >= V_th (> V_th for a neuron that fires strictly above)
};

/// What enters the firing decision at one attention module, without and with the attention, over every
/// element (neuron, step) of every analysed sample.
///   conv-post (MultiDimAttention, also TA at activate-pre): the membrane input X (conv -> BN -> pool) before
///     the attention, and X' = ReLU(X x weights) after it (no ReLU at activate-pre), which the LIF integrates;
///   activate-pre (the neuron's CA/SA): the membrane potential U_t = H_{t-1} + X_t of each step before the
///     attention, and U'_t = U_t x weights, on which the neuron fires.
struct MembraneStats {
  std::string name;       ///< the attention module, e.g. convs.0.attention or convs.0.lif (activate-pre)
  std::string block;      ///< convs.i or fcs.i
  std::string attention;  ///< what it applies: TA, CA, SA, CSA, TCSA, ...
  std::string quantity;   ///< "membrane input X" or "membrane potential U"
  double threshold = 0;   ///< V_th of the block's neuron
  int64_t elements = 0;   ///< values per sample (neurons x T)
  ValueStats before, after;
};

/// Mean, smallest and largest of a set of attention weights.
struct WeightSummary {
  double mean = 0, min = 0, max = 0;
};

/// The weights of one attention module: averaged over the analysed samples, or of one sample. A tensor
/// (float64) is undefined when the module has no such attention.
struct AttentionSiteWeights {
  std::string name;        ///< e.g. convs.0.attention, convs.0.lif (CA/SA inside the neuron), fcs.0.attention
  std::string block;       ///< convs.i or fcs.i
  std::string placement;   ///< conv-post, or activate-pre for CA/SA inside the neuron
  torch::Tensor temporal;  ///< TA: [T], the weight of each time step
  torch::Tensor channel;   ///< CA: [S,C], S = 1 (one weight per channel for all T, the reference) or T (per step)
  torch::Tensor spatial;   ///< SA: [S,H,W], S = 1 or T, at the layer's resolution
  WeightSummary temporal_summary, channel_summary, spatial_summary;  ///< over the tensor's values
};

/// Spikes of one layer in one sample, for a raster.
struct RasterLayer {
  std::string name;                               ///< spiking layer, e.g. convs.0.lif
  int64_t neurons = 0;                            ///< neurons of the layer
  std::vector<int64_t> shown;                     ///< flat indices (channel-major) of the neurons shown, ascending
  std::vector<std::vector<int64_t>> spike_times;  ///< per shown neuron, the time steps at which it fired
  double spikes = 0;                              ///< spikes of the whole layer in this sample
};

/// One chosen sample in detail: its first clip (one network input).
struct SampleRecord {
  int64_t index = 0;                 ///< test sample (dataset index)
  int64_t clip = 0;                  ///< the clip shown (0: the first)
  std::string description;           ///< where it comes from (file, segment)
  int64_t label = 0;                 ///< class, 0-based
  int64_t prediction = 0;            ///< the class with the highest output on this clip (lowest index on a tie)
  std::vector<double> output;        ///< the network's output for this clip: firing rate of each class neuron
  std::vector<int64_t> frame_steps;  ///< time steps whose frames (and per-step SA maps) are shown
  torch::Tensor frames;              ///< [frame_steps, C_in, H, W] float64: the input at those steps (event counts),
                                     ///< or the static image [1,C,H,W] (normalised) of an image dataset
  bool frames_are_events = true;     ///< false: frames is an image
  std::vector<RasterLayer> raster;   ///< per spiking layer
  std::vector<AttentionSiteWeights> attention;  ///< this sample's weights, per attention module
};

/// Everything `masnn analyze` prints and writes about one checkpoint.
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
  std::vector<BlockEnergy> energy_blocks;  ///< energy.layers summed per block, in forward order
  std::vector<MembraneStats> membrane;     ///< per attention module, in forward order
  std::vector<AttentionSiteWeights> attention_weights;  ///< per attention module, mean over every sample
  std::vector<SampleRecord> examples;                   ///< the chosen samples (DetailOptions::sample_indices)
};

/// One spiking layer in both analyses of a comparison.
struct LayerComparison {
  std::string name;                          ///< e.g. convs.0.lif
  double base_spikes = 0, model_spikes = 0;  ///< per sample
  double base_firing_rate = 0, model_firing_rate = 0;
  double spikes_reduction = 0;  ///< 1 - model / base (NaN when the base layer is silent)
};

/// A model against a base on the same data (REFERENCE.md 6): reductions are fractions (0.849 = -84.9%).
struct Comparison {
  double accuracy_change = 0;           ///< model - base accuracy (fraction; x 100 = points)
  double spikes_reduction = 0;          ///< 1 - model / base spikes per sample (NaN when the base is silent)
  double firing_rate_reduction = 0;     ///< 1 - model / base network firing rate
  double synaptic_ops_reduction = 0;    ///< 1 - model / base ACs (exact synaptic operations)
  double energy_reduction = 0;          ///< 1 - model / base SNN energy (exact, compute only)
  double energy_with_memory_reduction = 0;  ///< the same with memory accesses
  EnergyComparison energy;              ///< dMAC, dAC, dE, rEE (exact and with the paper's estimate)
  std::vector<LayerComparison> layers;  ///< the spiking layers both networks have (by name), in the model's order
};

/// What `masnn analyze` reports: one analysis, or a model and its base side by side (--compare).
struct Report {
  Analysis model;                        ///< --checkpoint
  std::optional<Analysis> base;          ///< --compare
  std::optional<Comparison> comparison;  ///< model against base, present with base
};

/// Runs `model` (any network of masnn/models/registry.h; eval mode, no autograd, its training flag restored) over
/// the test split `data` (event frames or images), with monitors attached (masnn/util/monitor.h) counting spikes,
/// the inputs and operations of every synaptic layer and accuracy, recording attention weights and membrane
/// statistics and the chosen samples, then applies the energy model. A chosen sample beyond the dataset throws
/// std::invalid_argument naming --sample-index. Fills every field but the checkpoint's names (checkpoint, model,
/// attention, placement).
Analysis analyze_network(const torch::nn::AnyModule& model, train::SplitData& data, const EnergyOptions& energy,
                         bool quiet, const DetailOptions& detail = {});

/// Loads the checkpoint, builds its test set from its config (with options.data, options.overrides and
/// options.samples applied) and analyses it (options.compare is ignored). Errors name the checkpoint, the
/// config key or the argument.
Analysis analyze_checkpoint(const AnalyzeOptions& options);

/// analyze_checkpoint, and with options.compare the base checkpoint on the same recordings, compared.
Report analyze_report(const AnalyzeOptions& options);

/// `model` against `base`. Throws std::invalid_argument when they were analysed on different data (dataset,
/// samples, clips) or with different energy settings.
Comparison compare_analyses(const Analysis& base, const Analysis& model);

/// A report of `model` alone, or against `base` (compare_analyses).
Report make_report(Analysis model, std::optional<Analysis> base = std::nullopt);

/// Every number of `analysis` as JSON text (doubles at full precision; NaN and infinity are written as null).
std::string analysis_json(const Analysis& analysis);
/// Every number of the report: analysis_json of the model, with "comparison" holding the base's analysis
/// ("base") and the comparison's numbers when there is a base.
std::string report_json(const Report& report);

/// The terminal summary: per spiking layer, per layer operations and energy, membrane statistics, attention
/// weights, and the totals.
std::string format_analysis(const Analysis& analysis);
/// format_analysis of the model, then with a base: the base's summary and the comparison table.
std::string format_report(const Report& report);

/// A self-contained HTML page (inline SVG charts and PNG data URIs; no external resources; a small inline script
/// only checks that every figure rendered and marks <body data-figures-rendered="n/n">): the comparison, firing
/// rate per layer, spikes over time, spike rasters, attention weights over time and per channel, spatial maps
/// beside the input frames, membrane statistics, the energy breakdown per layer (MAC vs AC) and tables.
std::string report_html(const Report& report);

/// Writes out_dir/analysis.json (report_json) and out_dir/analysis.html (report_html), each atomically;
/// creates out_dir. Throws naming the file.
void write_report(const Report& report, const std::string& out_dir);
/// write_report of `analysis` alone.
void write_analysis(const Analysis& analysis, const std::string& out_dir);

}  // namespace masnn::analysis
