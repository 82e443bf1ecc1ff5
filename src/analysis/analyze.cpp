#include "masnn/analysis/analyze.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>

#include "masnn/analysis/operation_count.h"
#include "masnn/analysis/spike_monitor.h"
#include "masnn/attention/attentive_lif.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"
#include "masnn/train/metrics.h"
#include "train/progress.h"
#include "masnn/util/file_io.h"
#include "report_text.h"
#include "util/training_flag_guard.h"

namespace masnn::analysis {
namespace {

namespace fs = std::filesystem;
using detail::change_string;
using detail::energy_string;
using masnn::detail::TrainingFlagGuard;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------------------------
// Recording

// The neuron whose threshold judges the values at attention module `name`: the module itself at activate-pre, else
// the first neuron of its block, else the network's first neuron (a residual block's attention feeds the next
// block's neuron through the add).
LIFOptions neuron_of(torch::nn::Module& root, const std::string& name) {
  const std::string block = block_of(name);
  std::optional<LIFOptions> first;
  for (const auto& item : root.named_modules()) {
    std::optional<LIFOptions> lif;
    if (const auto* n = dynamic_cast<const LIFImpl*>(item.value().get())) lif = n->options;
    if (const auto* n = dynamic_cast<const AttentiveLIFImpl*>(item.value().get())) lif = n->options.lif();
    if (!lif) continue;
    if (item.key() == name || item.key().rfind(block + ".", 0) == 0) return *lif;
    if (!first) first = lif;
  }
  if (!first) throw std::invalid_argument("analyze: the network has attention at " + name + " but no neuron");
  return *first;
}

// Sums over the analysed samples of what one attention module did.
struct Accumulator {
  double count = 0;                                                // values seen (before == after)
  double sum[2] = {0, 0}, squares[2] = {0, 0}, above[2] = {0, 0};  // [0] before, [1] after the attention
  int64_t samples = 0;
  torch::Tensor temporal, channel, spatial;  // sums over samples: [T], [S,C], [S,H,W]
};

// One attention module: a MultiDimAttention (conv-post; TA at activate-pre) or the CA/SA inside an AttentiveLIF
// (activate-pre), fed by the module's attention events.
class Site {
 public:
  Site(std::string name, bool potential, std::string attention, const LIFOptions& lif)
      : name_(std::move(name)), potential_(potential), attention_(std::move(attention)), lif_(lif) {}

  const std::string& name() const { return name_; }

  // Adds one forward's values and weights to the sums and keeps its weights (per sample: temporal [B,T],
  // channel [B,S,C], spatial [B,S,H,W], float64) for the chosen samples.
  void add(const AttentionEvent& e) {
    TORCH_CHECK(e.before.defined() && e.after.defined(), "analyze: ", name_, " reported no membrane values");
    const torch::Tensor values[2] = {e.before, e.after};
    for (int i = 0; i < 2; ++i) {
      const torch::Tensor v = values[i].to(torch::kDouble);
      acc_.sum[i] += v.sum().item<double>();
      acc_.squares[i] += v.square().sum().item<double>();
      const torch::Tensor fires = lif_.fire_at_equal() ? v.ge(lif_.threshold()) : v.gt(lif_.threshold());
      acc_.above[i] += static_cast<double>(fires.sum(torch::kLong).item<int64_t>());
    }
    acc_.count += static_cast<double>(e.before.numel());
    acc_.samples += e.before.size(1);
    last_ = {};
    if (e.temporal.defined()) last_.temporal = e.temporal.reshape({e.temporal.size(0), e.temporal.size(1)}).t();
    const torch::Tensor &c = e.channel, &s = e.spatial;
    if (c.defined()) last_.channel = c.reshape({c.size(0), c.size(1), c.size(2)}).permute({1, 0, 2});  // [B,S,C]
    if (s.defined()) last_.spatial = s.reshape({s.size(0), s.size(1), s.size(3), s.size(4)}).permute({1, 0, 2, 3});
    for (torch::Tensor* t : {&last_.temporal, &last_.channel, &last_.spatial})
      if (t->defined()) *t = t->to(torch::kDouble).contiguous();
    auto sum = [](torch::Tensor& total, const torch::Tensor& per_sample) {
      if (!per_sample.defined()) return;
      const torch::Tensor s = per_sample.sum(0);
      total = total.defined() ? total + s : s;
    };
    sum(acc_.temporal, last_.temporal);
    sum(acc_.channel, last_.channel);
    sum(acc_.spatial, last_.spatial);
  }

  MembraneStats membrane() const {
    MembraneStats m;
    m.name = name_;
    m.block = block_of(name_);
    m.attention = attention_;
    m.quantity = potential_ ? "membrane potential U" : "membrane input X";
    m.threshold = lif_.threshold();
    const double n = std::max(acc_.count, 1.0);
    m.elements = acc_.samples > 0 ? static_cast<int64_t>(acc_.count) / acc_.samples : 0;
    ValueStats* out[2] = {&m.before, &m.after};
    for (int i = 0; i < 2; ++i) {
      out[i]->mean = acc_.sum[i] / n;
      out[i]->std = std::sqrt(std::max(0.0, acc_.squares[i] / n - out[i]->mean * out[i]->mean));
      out[i]->above_threshold = acc_.above[i] / n;
    }
    return m;
  }

  // The mean weights over every sample seen.
  AttentionSiteWeights mean_weights() const {
    const double n = static_cast<double>(std::max<int64_t>(acc_.samples, 1));
    auto mean = [&](const torch::Tensor& sum) { return sum.defined() ? sum / n : torch::Tensor(); };
    return site_weights(mean(acc_.temporal), mean(acc_.channel), mean(acc_.spatial));
  }

  // The weights of column `column` of the last forward.
  AttentionSiteWeights sample_weights(int64_t column) const {
    auto pick = [&](const torch::Tensor& t) { return t.defined() ? t[column].clone() : torch::Tensor(); };
    return site_weights(pick(last_.temporal), pick(last_.channel), pick(last_.spatial));
  }

 private:
  static WeightSummary summary(const torch::Tensor& t) {
    if (!t.defined() || t.numel() == 0) return {};
    return {t.mean().item<double>(), t.min().item<double>(), t.max().item<double>()};
  }

  AttentionSiteWeights site_weights(torch::Tensor temporal, torch::Tensor channel, torch::Tensor spatial) const {
    AttentionSiteWeights s;
    s.name = name_;
    s.block = block_of(name_);
    s.placement = potential_ ? "activate-pre" : "conv-post";
    s.temporal = std::move(temporal);
    s.channel = std::move(channel);
    s.spatial = std::move(spatial);
    s.temporal_summary = summary(s.temporal);
    s.channel_summary = summary(s.channel);
    s.spatial_summary = summary(s.spatial);
    return s;
  }

  struct Weights {
    torch::Tensor temporal, channel, spatial;
  };
  std::string name_;
  bool potential_;
  std::string attention_;
  LIFOptions lif_;
  Accumulator acc_;
  Weights last_;
};

// Every attention module of the network it is attached to, in the order they first ran.
class AttentionRecorder : public Monitor {
 public:
  explicit AttentionRecorder(torch::nn::Module& root) : root_(root) {}
  bool wants_attention_values() const override { return true; }
  void on_attention(const std::string& name, const AttentionEvent& e) override {
    auto it = std::find_if(sites_.begin(), sites_.end(), [&](const auto& s) { return s->name() == name; });
    if (it == sites_.end()) {
      AttentionType type;
      if (const auto* post = dynamic_cast<const MultiDimAttentionImpl*>(e.module)) type = post->options.type();
      if (const auto* pre = dynamic_cast<const AttentiveLIFImpl*>(e.module)) {
        type.channel = !pre->ca.is_empty();
        type.spatial = !pre->sa.is_empty();
      }
      sites_.push_back(std::make_unique<Site>(name, e.potential, type.name(), neuron_of(root_, name)));
      it = sites_.end() - 1;
    }
    (*it)->add(e);
  }
  const std::vector<std::unique_ptr<Site>>& sites() const { return sites_; }

 private:
  torch::nn::Module& root_;
  std::vector<std::unique_ptr<Site>> sites_;
};

// A fixed random subset (seed 0) of at most `k` of `n` neurons, ascending.
std::vector<int64_t> raster_subset(int64_t n, int64_t k) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[static_cast<size_t>(i)] = i;
  if (n > k) {
    std::mt19937_64 gen(0);
    for (int64_t i = 0; i < k; ++i) {  // partial Fisher-Yates
      std::uniform_int_distribution<int64_t> pick(i, n - 1);
      std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(pick(gen))]);
    }
    all.resize(static_cast<size_t>(k));
    std::sort(all.begin(), all.end());
  }
  return all;
}

// Up to `count` time steps spread evenly over 0..steps-1, first and last included.
std::vector<int64_t> spread_steps(int64_t steps, int64_t count) {
  std::vector<int64_t> out;
  if (count >= steps) {
    for (int64_t t = 0; t < steps; ++t) out.push_back(t);
  } else if (count == 1) {
    out.push_back(steps / 2);
  } else {
    for (int64_t i = 0; i < count; ++i)
      out.push_back(static_cast<int64_t>(std::lround(static_cast<double>(i * (steps - 1)) / (count - 1))));
  }
  return out;
}

SampleRecord record_sample(const train::SplitData& data, const data::Batch& batch, int64_t column,
                           const torch::Tensor& out, const SpikeMonitor& spikes, const AttentionRecorder& attention,
                           const DetailOptions& detail) {
  SampleRecord r;
  r.index = batch.sample[column].item<int64_t>();
  r.clip = std::max<int64_t>(batch.clip[column].item<int64_t>(), 0);
  r.description = data.describe ? data.describe(static_cast<size_t>(r.index)) : std::string();
  r.label = batch.labels[column].item<int64_t>();
  const torch::Tensor o = out[column].to(torch::kDouble).contiguous();
  r.output.assign(o.data_ptr<double>(), o.data_ptr<double>() + o.numel());
  r.prediction = o.argmax().item<int64_t>();
  if (batch.x.dim() == 5) {  // event frames [T,B,C,H,W]
    r.frame_steps = spread_steps(batch.x.size(0), detail.frame_steps);
    r.frames = batch.x.select(1, column).index_select(0, torch::tensor(r.frame_steps)).to(torch::kDouble).contiguous();
  } else {  // a static image [B,C,H,W]: one input for every step
    r.frame_steps = {0};
    r.frames = batch.x[column].unsqueeze(0).to(torch::kDouble).contiguous();
    r.frames_are_events = false;
  }
  const auto& layers = spikes.layers();
  const auto& last = spikes.last();
  for (size_t k = 0; k < last.size(); ++k) {
    RasterLayer l;
    l.name = layers[k].name;
    const torch::Tensor s = last[k].select(1, column).reshape({last[k].size(0), -1}).ne(0);  // [T,N]
    l.neurons = s.size(1);
    l.spikes = static_cast<double>(s.sum(torch::kLong).item<int64_t>());
    l.shown = raster_subset(l.neurons, detail.raster_neurons);
    const torch::Tensor shown = s.index_select(1, torch::tensor(l.shown)).t().contiguous();  // [shown,T]
    const auto acc = shown.accessor<bool, 2>();
    for (int64_t i = 0; i < shown.size(0); ++i) {
      std::vector<int64_t> times;
      for (int64_t t = 0; t < shown.size(1); ++t)
        if (acc[i][t]) times.push_back(t);
      l.spike_times.push_back(std::move(times));
    }
    r.raster.push_back(std::move(l));
  }
  for (const auto& site : attention.sites()) r.attention.push_back(site->sample_weights(column));
  return r;
}

SpikingLayerStats layer_stats(const LayerSpikes& o) {
  SpikingLayerStats s;
  s.name = o.name;
  s.neurons = o.neurons;
  s.steps = o.steps;
  const double n = static_cast<double>(std::max<int64_t>(o.samples, 1));
  s.spikes_per_sample = o.spikes / n;
  s.firing_rate = o.neurons * o.steps > 0 ? s.spikes_per_sample / static_cast<double>(o.neurons * o.steps) : 0.0;
  s.silent_fraction = o.neurons > 0 ? o.silent / (n * static_cast<double>(o.neurons)) : 0.0;
  s.dead_fraction =
      o.neurons > 0 && o.fired.defined()
          ? 1.0 - static_cast<double>(o.fired.sum(torch::kLong).item<int64_t>()) / static_cast<double>(o.neurons)
          : 0.0;
  for (double v : o.spikes_per_step) s.spikes_per_step.push_back(v / n);
  for (double v : s.spikes_per_step)
    s.firing_rate_per_step.push_back(o.neurons > 0 ? v / static_cast<double>(o.neurons) : 0.0);
  return s;
}

SpikingLayerStats total_stats(const std::vector<LayerSpikes>& layers) {
  const LayerSpikes t = total_spikes(layers);
  double dead = 0;
  for (const auto& o : layers)
    if (o.fired.defined()) dead += static_cast<double>(o.neurons - o.fired.sum(torch::kLong).item<int64_t>());
  SpikingLayerStats s = layer_stats(t);
  s.dead_fraction = t.neurons > 0 ? dead / static_cast<double>(t.neurons) : 0.0;
  return s;
}

std::vector<BlockEnergy> block_energies(const EnergyReport& r) {
  std::vector<BlockEnergy> blocks;
  for (const auto& e : r.layers) {
    if (blocks.empty() || blocks.back().block != e.block) {
      blocks.emplace_back();
      blocks.back().block = e.block;
    }
    BlockEnergy& b = blocks.back();
    b.mac_energy_pj += e.macs * r.options.e_mac_pj;
    b.ac_energy_pj += e.synaptic_ops * r.options.e_ac_pj;
    b.snn_energy_pj += e.snn_energy_pj;
    b.ann_energy_pj += e.ann_energy_pj;
  }
  return blocks;
}

// 1 - model / base, NaN when the base is 0 (or either is not a number).
double reduction(double base, double model) {
  return base > 0 && std::isfinite(model) ? 1.0 - model / base : kNaN;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

// A float64 tensor as nested arrays (null when undefined).
nlohmann::json tensor_json(const torch::Tensor& t) {
  if (!t.defined()) return nullptr;
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  if (c.dim() == 0) return number(c.item<double>());
  nlohmann::json j = nlohmann::json::array();
  for (int64_t i = 0; i < c.size(0); ++i) j.push_back(tensor_json(c[i]));
  return j;
}

nlohmann::json to_json(const SpikingLayerStats& s) {
  return {{"name", s.name},
          {"neurons", s.neurons},
          {"steps", s.steps},
          {"spikes_per_sample", number(s.spikes_per_sample)},
          {"firing_rate", number(s.firing_rate)},
          {"silent_fraction", number(s.silent_fraction)},
          {"dead_fraction", number(s.dead_fraction)},
          {"spikes_per_step", s.spikes_per_step},
          {"firing_rate_per_step", s.firing_rate_per_step}};
}

nlohmann::json to_json(const MemoryAccesses& m) {
  return {{"weight_reads", number(m.weight_reads)},
          {"potential_accesses", number(m.potential_accesses)},
          {"activation_accesses", number(m.activation_accesses)},
          {"spike_accesses", number(m.spike_accesses)},
          {"energy_pj", number(m.energy_pj)}};
}

nlohmann::json to_json(const LayerEnergy& e) {
  return {{"name", e.name},
          {"block", e.block},
          {"kind", e.kind},
          {"spike_input", e.spike_input},
          {"dense_macs", number(e.dense_macs)},
          {"input_firing_rate", number(e.input_firing_rate)},
          {"input_spikes", number(e.input_spikes)},
          {"synaptic_ops", number(e.synaptic_ops)},
          {"estimated_ops", number(e.estimated_ops)},
          {"macs", number(e.macs)},
          {"snn_energy_pj", number(e.snn_energy_pj)},
          {"snn_energy_estimate_pj", number(e.snn_energy_estimate_pj)},
          {"ann_energy_pj", number(e.ann_energy_pj)},
          {"snn_memory", to_json(e.snn_memory)},
          {"ann_memory", to_json(e.ann_memory)}};
}

nlohmann::json to_json(const EnergyTotals& t) {
  return {{"dense_macs", number(t.dense_macs)},       {"macs", number(t.macs)},
          {"synaptic_ops", number(t.synaptic_ops)},   {"estimated_ops", number(t.estimated_ops)},
          {"snn_energy_pj", number(t.snn_energy_pj)}, {"snn_energy_estimate_pj", number(t.snn_energy_estimate_pj)},
          {"ann_energy_pj", number(t.ann_energy_pj)}, {"ann_to_snn", number(t.ann_to_snn)},
          {"snn_memory_pj", number(t.snn_memory_pj)}, {"ann_memory_pj", number(t.ann_memory_pj)},
          {"snn_with_memory_pj", number(t.snn_with_memory_pj)},
          {"ann_with_memory_pj", number(t.ann_with_memory_pj)},
          {"ann_to_snn_with_memory", number(t.ann_to_snn_with_memory)}};
}

nlohmann::json to_json(const ValueStats& v) {
  return {{"mean", number(v.mean)}, {"std", number(v.std)}, {"above_threshold", number(v.above_threshold)}};
}

nlohmann::json to_json(const MembraneStats& m) {
  return {{"name", m.name},
          {"block", m.block},
          {"attention", m.attention},
          {"quantity", m.quantity},
          {"threshold", number(m.threshold)},
          {"elements", m.elements},
          {"before", to_json(m.before)},
          {"after", to_json(m.after)}};
}

nlohmann::json to_json(const WeightSummary& w) {
  return {{"mean", number(w.mean)}, {"min", number(w.min)}, {"max", number(w.max)}};
}

nlohmann::json to_json(const AttentionSiteWeights& w) {
  nlohmann::json j = {{"name", w.name}, {"block", w.block}, {"placement", w.placement}};
  j["temporal"] = tensor_json(w.temporal);
  j["channel"] = tensor_json(w.channel);
  j["spatial"] = tensor_json(w.spatial);
  j["temporal_summary"] = w.temporal.defined() ? to_json(w.temporal_summary) : nlohmann::json(nullptr);
  j["channel_summary"] = w.channel.defined() ? to_json(w.channel_summary) : nlohmann::json(nullptr);
  j["spatial_summary"] = w.spatial.defined() ? to_json(w.spatial_summary) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json to_json(const RasterLayer& l) {
  return {{"name", l.name},
          {"neurons", l.neurons},
          {"spikes", number(l.spikes)},
          {"shown", l.shown},
          {"spike_times", l.spike_times}};
}

nlohmann::json to_json(const SampleRecord& r) {
  nlohmann::json j = {
      {"index", r.index},           {"clip", r.clip},     {"description", r.description}, {"label", r.label},
      {"prediction", r.prediction}, {"output", r.output}, {"frame_steps", r.frame_steps}};
  j["frames"] = tensor_json(r.frames);
  j["frames_are_events"] = r.frames_are_events;
  j["raster"] = nlohmann::json::array();
  for (const auto& l : r.raster) j["raster"].push_back(to_json(l));
  j["attention"] = nlohmann::json::array();
  for (const auto& w : r.attention) j["attention"].push_back(to_json(w));
  return j;
}

nlohmann::json to_json(const Analysis& a) {
  nlohmann::json j = {{"checkpoint", a.checkpoint},
                      {"dataset", a.dataset},
                      {"model", a.model},
                      {"attention", a.attention},
                      {"placement", a.placement},
                      {"steps", a.steps},
                      {"dataset_samples", a.dataset_samples},
                      {"clips", a.clips},
                      {"samples", a.samples},
                      {"accuracy", number(a.accuracy)},
                      {"vote_accuracy", number(a.vote_accuracy)},
                      {"clip_accuracy", number(a.clip_accuracy)}};
  j["spiking_layers"] = nlohmann::json::array();
  for (const auto& s : a.spiking) j["spiking_layers"].push_back(to_json(s));
  j["spiking_total"] = to_json(a.spiking_total);
  j["energy"] = {{"e_mac_pj", a.energy.options.e_mac_pj}, {"e_ac_pj", a.energy.options.e_ac_pj}};
  j["energy"]["layers"] = nlohmann::json::array();
  for (const auto& e : a.energy.layers) j["energy"]["layers"].push_back(to_json(e));
  j["energy"]["total"] = to_json(a.energy.total);
  j["energy"]["blocks"] = nlohmann::json::array();
  for (const auto& b : a.energy_blocks)
    j["energy"]["blocks"].push_back({{"block", b.block},
                                     {"mac_energy_pj", number(b.mac_energy_pj)},
                                     {"ac_energy_pj", number(b.ac_energy_pj)},
                                     {"snn_energy_pj", number(b.snn_energy_pj)},
                                     {"ann_energy_pj", number(b.ann_energy_pj)}});
  j["membrane"] = nlohmann::json::array();
  for (const auto& m : a.membrane) j["membrane"].push_back(to_json(m));
  j["attention_weights"] = nlohmann::json::array();
  for (const auto& w : a.attention_weights) j["attention_weights"].push_back(to_json(w));
  j["examples"] = nlohmann::json::array();
  for (const auto& r : a.examples) j["examples"].push_back(to_json(r));
  return j;
}

nlohmann::json to_json(const Comparison& c) {
  nlohmann::json j = {{"accuracy_change", number(c.accuracy_change)},
                      {"spikes_reduction", number(c.spikes_reduction)},
                      {"firing_rate_reduction", number(c.firing_rate_reduction)},
                      {"synaptic_ops_reduction", number(c.synaptic_ops_reduction)},
                      {"energy_reduction", number(c.energy_reduction)},
                      {"energy_with_memory_reduction", number(c.energy_with_memory_reduction)},
                      {"delta_macs", number(c.energy.delta_macs)},
                      {"delta_acs", number(c.energy.delta_acs)},
                      {"delta_energy_pj", number(c.energy.delta_energy_pj)},
                      {"relative_efficiency", number(c.energy.relative_efficiency)},
                      {"relative_efficiency_estimate", number(c.energy.relative_efficiency_estimate)}};
  j["layers"] = nlohmann::json::array();
  for (const auto& l : c.layers)
    j["layers"].push_back({{"name", l.name},
                           {"base_spikes", number(l.base_spikes)},
                           {"model_spikes", number(l.model_spikes)},
                           {"base_firing_rate", number(l.base_firing_rate)},
                           {"model_firing_rate", number(l.model_firing_rate)},
                           {"spikes_reduction", number(l.spikes_reduction)}});
  return j;
}

// ---------------------------------------------------------------------------------------------------------------
// Terminal text

std::string summary_string(const WeightSummary& w) {
  return fmt::format("{:.4f} [{:.4f}, {:.4f}]", w.mean, w.min, w.max);
}

// The resolved dataset folder of a config, as make_dataset finds it (a synthetic set defaults beside the run).
std::string data_root(const train::TrainConfig& config) {
  if (!config.data.root.empty() || config.data.dataset != "synthetic-gesture") return config.data.root;
  return (fs::path(config.train.out_dir) / "synthetic-gesture").string();
}

struct Loaded {
  Analysis analysis;
  std::string root;  // the data root analysed
};

Loaded analyze_one(const AnalyzeOptions& options, const std::string& checkpoint, const std::string& data) {
  train::CheckpointInfo info;
  const auto model = train::load_model(checkpoint, &info);
  auto sets = options.overrides;
  if (!data.empty()) sets.push_back(train::config_assignment("data.root", data));
  if (options.samples > 0) sets.push_back("data.limit_test=" + std::to_string(options.samples));
  if (options.quiet) sets.push_back("train.quiet=true");
  const train::TrainConfig config = train::parse_checkpoint_config(info.config_toml, checkpoint, sets);
  if (config.data.steps != info.spec.steps)
    throw std::invalid_argument(fmt::format("data.steps: the network of {} is built for T = {}, got T = {}", checkpoint,
                                            info.spec.steps, config.data.steps));
  train::SplitData test = train::open_test_split_for(config, info.spec.num_classes, checkpoint);
  Loaded l;
  l.analysis = analyze_network(model, test, options.energy, options.quiet, options.detail);
  l.analysis.checkpoint = checkpoint;
  l.analysis.model = info.spec.name;
  l.analysis.attention = info.spec.attention.name();
  l.analysis.placement = to_string(info.spec.placement);
  l.root = data_root(config);
  return l;
}

void check_options(const AnalyzeOptions& options) {
  if (options.samples < 0)
    throw std::invalid_argument(fmt::format("--samples: expected a count >= 0 (0 = all), got {}", options.samples));
  options.energy.validate();
  options.detail.validate();
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

void DetailOptions::validate() const {
  for (int64_t i : sample_indices)
    if (i < 0) throw std::invalid_argument(fmt::format("--sample-index: expected an index >= 0, got {}", i));
  if (raster_neurons < 1)
    throw std::invalid_argument(fmt::format("--raster-neurons: expected a count >= 1, got {}", raster_neurons));
  if (frame_steps < 1)
    throw std::invalid_argument(fmt::format("--frame-steps: expected a count >= 1, got {}", frame_steps));
}

Analysis analyze_network(const torch::nn::AnyModule& model, train::SplitData& data, const EnergyOptions& energy,
                         bool quiet, const DetailOptions& detail) {
  energy.validate();
  detail.validate();
  if (model.is_empty()) throw std::invalid_argument("analyze: the model is empty");
  if (data.samples == 0) throw std::invalid_argument("analyze: the dataset " + data.name + " is empty");
  for (int64_t i : detail.sample_indices)
    if (i >= static_cast<int64_t>(data.samples))
      throw std::invalid_argument(fmt::format("--sample-index: {} is beyond the {} samples of {} (0..{})", i,
                                              data.samples, data.name, data.samples - 1));
  torch::nn::Module& net = *model.ptr();
  TrainingFlagGuard guard(net);
  net.eval();
  torch::NoGradGuard no_grad;
  torch::nn::AnyModule forward = model;  // AnyModule::forward is not const
  SpikeMonitor spikes(/*keep_last=*/true);
  SynapseRecorder synapses;
  OperationCounter operations(net);
  AttentionRecorder attention(net);
  MonitorScope spikes_scope(spikes, net), synapses_scope(synapses, net), operations_scope(operations, net),
      attention_scope(attention, net);
  data::BatchLoader& loader = *data.loader;
  loader.start_epoch(0);
  const int64_t clips = loader.columns_per_sample();
  train::EvaluationAccumulator accuracy(data.input.num_classes);
  train::ProgressBar bar("analyze", static_cast<int64_t>(loader.batches_per_epoch()), quiet);
  std::vector<std::optional<SampleRecord>> examples(detail.sample_indices.size());
  data::Batch batch;
  int64_t step = 0, inputs = 0;
  while (loader.next(batch)) {
    const torch::Tensor out = forward.forward(batch.x);
    accuracy.add(out, batch.labels, clips, 0.0);
    inputs += out.size(0);
    for (size_t k = 0; k < examples.size(); ++k) {
      if (examples[k]) continue;
      // The first clip of the chosen sample (clip -1: a loader giving one column per sample).
      const torch::Tensor hit = batch.sample.eq(detail.sample_indices[k]).logical_and(batch.clip.le(0)).nonzero();
      if (hit.numel() > 0)
        examples[k] = record_sample(data, batch, hit[0][0].item<int64_t>(), out, spikes, attention, detail);
    }
    bar.update(++step, inputs / clips, {});
  }
  bar.finish({});

  Analysis a;
  a.dataset = data.name;
  a.samples = inputs;
  a.clips = clips;
  a.dataset_samples = inputs / clips;
  const train::Evaluation e = accuracy.result();
  a.accuracy = e.accuracy;
  a.vote_accuracy = e.vote_accuracy;
  a.clip_accuracy = e.clip_accuracy;
  for (const auto& o : spikes.layers()) a.spiking.push_back(layer_stats(o));
  a.spiking_total = total_stats(spikes.layers());
  a.steps = a.spiking_total.steps;
  a.energy = energy_model(operations.layers(), synapses.inputs(), energy);
  a.energy_blocks = block_energies(a.energy);
  for (const auto& site : attention.sites()) {
    a.membrane.push_back(site->membrane());
    a.attention_weights.push_back(site->mean_weights());
  }
  for (size_t k = 0; k < examples.size(); ++k) {
    if (!examples[k])
      throw std::logic_error(
          fmt::format("analyze: the loader never gave the first clip of test sample {}", detail.sample_indices[k]));
    a.examples.push_back(std::move(*examples[k]));
  }
  return a;
}

Analysis analyze_checkpoint(const AnalyzeOptions& options) {
  check_options(options);
  return analyze_one(options, options.checkpoint, options.data).analysis;
}

Report analyze_report(const AnalyzeOptions& options) {
  check_options(options);
  Loaded model = analyze_one(options, options.checkpoint, options.data);
  if (options.compare.empty()) return make_report(std::move(model.analysis));
  // The base reads the very recordings the model read.
  Loaded base = analyze_one(options, options.compare, options.data.empty() ? model.root : options.data);
  try {
    return make_report(std::move(model.analysis), std::move(base.analysis));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--compare: ") + e.what());
  }
}

Comparison compare_analyses(const Analysis& base, const Analysis& model) {
  if (base.dataset != model.dataset || base.dataset_samples != model.dataset_samples || base.clips != model.clips)
    throw std::invalid_argument(fmt::format(
        "{} was analysed on {} ({} samples x {} clips), {} on {} ({} samples x {} clips); compare on the same data",
        base.checkpoint, base.dataset, base.dataset_samples, base.clips, model.checkpoint, model.dataset,
        model.dataset_samples, model.clips));
  const EnergyOptions& o = model.energy.options;
  if (base.energy.options.e_mac_pj != o.e_mac_pj || base.energy.options.e_ac_pj != o.e_ac_pj)
    throw std::invalid_argument("the two analyses use different energies per operation (E_MAC, E_AC)");
  Comparison c;
  c.accuracy_change = model.accuracy - base.accuracy;
  c.spikes_reduction = reduction(base.spiking_total.spikes_per_sample, model.spiking_total.spikes_per_sample);
  c.firing_rate_reduction = reduction(base.spiking_total.firing_rate, model.spiking_total.firing_rate);
  const EnergyTotals &b = base.energy.total, &m = model.energy.total;
  c.synaptic_ops_reduction = reduction(b.synaptic_ops, m.synaptic_ops);
  c.energy_reduction = reduction(b.snn_energy_pj, m.snn_energy_pj);
  c.energy_with_memory_reduction = reduction(b.snn_with_memory_pj, m.snn_with_memory_pj);
  if (m.snn_energy_pj > 0 && m.snn_energy_estimate_pj > 0) {
    c.energy = compare_energy(b, m, o);
  } else {  // a model that costs nothing: rEE is not a number
    c.energy.delta_macs = m.macs - b.macs;
    c.energy.delta_acs = b.synaptic_ops - m.synaptic_ops;
    c.energy.delta_energy_pj = o.e_mac_pj * c.energy.delta_macs - o.e_ac_pj * c.energy.delta_acs;
    c.energy.relative_efficiency = c.energy.relative_efficiency_estimate = kNaN;
  }
  for (const auto& ml : model.spiking)
    for (const auto& bl : base.spiking)
      if (bl.name == ml.name)
        c.layers.push_back({ml.name, bl.spikes_per_sample, ml.spikes_per_sample, bl.firing_rate, ml.firing_rate,
                            reduction(bl.spikes_per_sample, ml.spikes_per_sample)});
  return c;
}

Report make_report(Analysis model, std::optional<Analysis> base) {
  Report r;
  if (base) r.comparison = compare_analyses(*base, model);
  r.model = std::move(model);
  r.base = std::move(base);
  return r;
}

std::string analysis_json(const Analysis& a) {
  return to_json(a).dump(2) + "\n";
}

std::string report_json(const Report& r) {
  nlohmann::json j = to_json(r.model);
  if (r.base && r.comparison) {
    j["comparison"] = to_json(*r.comparison);
    j["comparison"]["base"] = to_json(*r.base);
  }
  return j.dump(2) + "\n";
}

std::string format_analysis(const Analysis& a) {
  std::ostringstream s;
  s << fmt::format("{}: {} ({}, {}), T = {}\n", a.checkpoint, a.model, a.attention, a.placement, a.steps);
  s << fmt::format("{}: {} samples x {} clips = {} inputs; accuracy {:.2f}% (vote {:.2f}%, clips {:.2f}%)\n", a.dataset,
                   a.dataset_samples, a.clips, a.samples, 100 * a.accuracy, 100 * a.vote_accuracy,
                   100 * a.clip_accuracy);
  s << "\nspiking layers (per sample = one input of T steps; silent: no spike in the sample, mean over samples; "
       "dead: no spike on any sample)\n";
  s << fmt::format("{:<14} {:>9} {:>14} {:>11} {:>8} {:>8}\n", "layer", "neurons", "spikes/sample", "firing rate",
                   "silent", "dead");
  auto spiking_row = [&](const SpikingLayerStats& l) {
    s << fmt::format("{:<14} {:>9} {:>14.1f} {:>11.5f} {:>7.1f}% {:>7.1f}%\n", l.name, l.neurons, l.spikes_per_sample,
                     l.firing_rate, 100 * l.silent_fraction, 100 * l.dead_fraction);
  };
  for (const auto& l : a.spiking) spiking_row(l);
  spiking_row(a.spiking_total);
  const auto& o = a.energy.options;
  s << fmt::format(
      "\noperations and energy per sample (compute: the paper's model, E_MAC {} pJ, E_AC {} pJ; op: MAC = "
      "real-valued input, AC = spike input; memory: accesses at {}-{} pJ by memory size, DRAM {} pJ, Lemaire et al. "
      "2022)\n",
      o.e_mac_pj, o.e_ac_pj, o.sram_8kb_pj, o.sram_1mb_pj, o.dram_pj);
  s << fmt::format("{:<32} {:<14} {:>3} {:>10} {:>11} {:>12} {:>12} {:>13} {:>13} {:>13} {:>13}\n", "layer", "kind",
                   "op", "dense MACs", "input rate", "syn. ops", "estimate", "SNN compute", "ANN compute",
                   "SNN memory", "ANN memory");
  for (const auto& e : a.energy.layers) {
    const std::string rate = std::isfinite(e.input_firing_rate) ? fmt::format("{:.5f}", e.input_firing_rate) : "-";
    s << fmt::format("{:<32} {:<14} {:>3} {:>10} {:>11} {:>12} {:>12} {:>13} {:>13} {:>13} {:>13}\n", e.name,
                     e.kind, e.spike_input ? "AC" : "MAC", human_count(e.dense_macs), rate,
                     e.spike_input ? human_count(e.synaptic_ops) : "-",
                     e.spike_input ? human_count(e.estimated_ops) : "-", energy_string(e.snn_energy_pj),
                     energy_string(e.ann_energy_pj), energy_string(e.snn_memory.energy_pj),
                     energy_string(e.ann_memory.energy_pj));
  }
  const auto& t = a.energy.total;
  s << fmt::format("total: {} dense MACs; SNN does {} MACs + {} ACs (estimate {} ACs)\n", human_count(t.dense_macs),
                   human_count(t.macs), human_count(t.synaptic_ops), human_count(t.estimated_ops));
  s << fmt::format(
      "energy per sample, compute only (the paper's model): SNN {:.4f} uJ (estimate {:.4f} uJ), ANN {:.4f} uJ, "
      "ANN/SNN {:.2f}x\n",
      t.snn_energy_pj * 1e-6, t.snn_energy_estimate_pj * 1e-6, t.ann_energy_pj * 1e-6, t.ann_to_snn);
  s << fmt::format(
      "energy per sample, compute + memory accesses (Lemaire et al. 2022): SNN {:.4f} uJ ({:.4f} of it memory), "
      "ANN {:.4f} uJ ({:.4f}), ANN/SNN {:.2f}x\n",
      t.snn_with_memory_pj * 1e-6, t.snn_memory_pj * 1e-6, t.ann_with_memory_pj * 1e-6, t.ann_memory_pj * 1e-6,
      t.ann_to_snn_with_memory);
  if (!a.membrane.empty()) {
    s << "\nmembrane values without -> with attention (over every neuron, step and sample; above: fraction at or "
         "above V_th)\n";
    s << fmt::format("{:<18} {:<5} {:<21} {:>5} {:>9} {:>9} {:>7}   {:>9} {:>9} {:>7}\n", "module", "att.", "quantity",
                     "V_th", "mean", "std", "above", "mean", "std", "above");
    for (const auto& m : a.membrane)
      s << fmt::format("{:<18} {:<5} {:<21} {:>5.2f} {:>9.4f} {:>9.4f} {:>6.2f}% ->{:>9.4f} {:>9.4f} {:>6.2f}%\n",
                       m.name, m.attention, m.quantity, m.threshold, m.before.mean, m.before.std,
                       100 * m.before.above_threshold, m.after.mean, m.after.std, 100 * m.after.above_threshold);
  }
  if (!a.attention_weights.empty()) {
    s << fmt::format(
        "\nattention weights, mean over the {} samples: mean [min, max] over the steps (TA), the "
        "channels (CA), the positions (SA)\n",
        a.samples);
    s << fmt::format("{:<18} {:<13} {:<26} {:<26} {:<26}\n", "module", "placement", "TA per step", "CA per channel",
                     "SA per position");
    for (const auto& w : a.attention_weights)
      s << fmt::format("{:<18} {:<13} {:<26} {:<26} {:<26}\n", w.name, w.placement,
                       w.temporal.defined() ? summary_string(w.temporal_summary) : "-",
                       w.channel.defined() ? summary_string(w.channel_summary) : "-",
                       w.spatial.defined() ? summary_string(w.spatial_summary) : "-");
  }
  for (const auto& r : a.examples) {
    s << fmt::format("\nsample {} ({}), clip {}: label {}, predicted {} (output {:.4f}); spikes:", r.index,
                     r.description, r.clip, r.label, r.prediction, r.output.at(static_cast<size_t>(r.prediction)));
    for (const auto& l : r.raster) s << fmt::format(" {} {:.0f}", l.name, l.spikes);
    s << "\n";
  }
  return s.str();
}

std::string format_report(const Report& r) {
  std::string text = format_analysis(r.model);
  if (!r.base || !r.comparison) return text;
  const Analysis &b = *r.base, &m = r.model;
  const Comparison& c = *r.comparison;
  text += "\nbase of the comparison:\n" + format_analysis(b);
  std::ostringstream s;
  s << fmt::format("\ncomparison on {} ({} inputs): base {} ({}) vs model {} ({}), per sample\n", m.dataset, m.samples,
                   b.attention, b.checkpoint, m.attention, m.checkpoint);
  s << fmt::format("{:<22} {:>14} {:>14} {:>12}\n", "", "base", "model", "change");
  s << fmt::format("{:<22} {:>13.2f}% {:>13.2f}% {:>+9.2f} pt\n", "accuracy", 100 * b.accuracy, 100 * m.accuracy,
                   100 * c.accuracy_change);
  s << fmt::format("{:<22} {:>14.1f} {:>14.1f} {:>12}\n", "spikes", b.spiking_total.spikes_per_sample,
                   m.spiking_total.spikes_per_sample, change_string(c.spikes_reduction));
  s << fmt::format("{:<22} {:>14.5f} {:>14.5f} {:>12}\n", "firing rate", b.spiking_total.firing_rate,
                   m.spiking_total.firing_rate, change_string(c.firing_rate_reduction));
  const EnergyTotals &bt = b.energy.total, &mt = m.energy.total;
  s << fmt::format("{:<22} {:>14} {:>14} {:>12}\n", "ACs (synaptic ops)", human_count(bt.synaptic_ops),
                   human_count(mt.synaptic_ops), change_string(c.synaptic_ops_reduction));
  s << fmt::format("{:<22} {:>14} {:>14} {:>12}\n", "MACs", human_count(bt.macs), human_count(mt.macs),
                   (c.energy.delta_macs >= 0 ? "+" : "") + human_count(c.energy.delta_macs));
  s << fmt::format("{:<22} {:>11.4f} uJ {:>11.4f} uJ {:>12}\n", "SNN energy (compute)", bt.snn_energy_pj * 1e-6,
                   mt.snn_energy_pj * 1e-6, change_string(c.energy_reduction));
  s << fmt::format("{:<22} {:>11.4f} uJ {:>11.4f} uJ {:>12}\n", "SNN energy (+memory)", bt.snn_with_memory_pj * 1e-6,
                   mt.snn_with_memory_pj * 1e-6, change_string(c.energy_with_memory_reduction));
  s << fmt::format("{:<22} {:>11.4f} uJ {:>11.4f} uJ\n", "ANN energy (compute)", bt.ann_energy_pj * 1e-6,
                   mt.ann_energy_pj * 1e-6);
  s << fmt::format("{:<22} {:>11.4f} uJ {:>11.4f} uJ\n", "ANN energy (+memory)", bt.ann_with_memory_pj * 1e-6,
                   mt.ann_with_memory_pj * 1e-6);
  s << fmt::format(
      "energy efficiency of the model: rEE = E_base / (E_base + dE) = {:.3f}x (paper's estimate of the ACs: {:.3f}x); "
      "dE = E_MAC x dMAC - E_AC x dAC = {} (dMAC {}, dAC {})\n",
      c.energy.relative_efficiency, c.energy.relative_efficiency_estimate, energy_string(c.energy.delta_energy_pj),
      human_count(c.energy.delta_macs), human_count(c.energy.delta_acs));
  s << fmt::format("{:<14} {:>14} {:>14} {:>9}\n", "spikes/sample", "base", "model", "change");
  for (const auto& l : c.layers)
    s << fmt::format("{:<14} {:>14.1f} {:>14.1f} {:>9}\n", l.name, l.base_spikes, l.model_spikes,
                     change_string(l.spikes_reduction));
  return text + s.str();
}

void write_report(const Report& report, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw std::runtime_error(out_dir + ": cannot create the report folder (" + ec.message() + ")");
  const auto write = [&](const char* name, const std::string& text) {
    write_file_atomic((fs::path(out_dir) / name).string(), std::vector<uint8_t>(text.begin(), text.end()));
  };
  write("analysis.json", report_json(report));
  write("analysis.html", report_html(report));
}

void write_analysis(const Analysis& analysis, const std::string& out_dir) {
  write_report(make_report(analysis), out_dir);
}

}  // namespace masnn::analysis
