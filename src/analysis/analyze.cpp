#include "masnn/analysis/analyze.h"

#include "masnn/data/file_io.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "masnn/analysis/spike_monitor.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"
#include "masnn/train/metrics.h"
#include "masnn/train/progress.h"

namespace masnn::analysis {
namespace {

namespace fs = std::filesystem;

// Restores a module's training flag and turns spike recording off when it goes out of scope.
class AnalysisGuard {
 public:
  explicit AnalysisGuard(torch::nn::Module& module) : module_(module), training_(module.is_training()) {}
  ~AnalysisGuard() {
    enable_spike_recording(module_, false);
    module_.train(training_);
  }
  AnalysisGuard(const AnalysisGuard&) = delete;
  AnalysisGuard& operator=(const AnalysisGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool training_;
};

SpikingLayerStats layer_stats(const DvsNetRecorder::BlockOutput& o) {
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
  return s;
}

SpikingLayerStats total_stats(const std::vector<DvsNetRecorder::BlockOutput>& outputs) {
  SpikingLayerStats t;
  t.name = "total";
  double spikes = 0, silent = 0, dead = 0;
  int64_t samples = 1;
  for (const auto& o : outputs) {
    t.neurons += o.neurons;
    t.steps = std::max(t.steps, o.steps);
    samples = std::max<int64_t>(samples, o.samples);
    spikes += o.spikes;
    silent += o.silent;
    if (o.fired.defined()) dead += static_cast<double>(o.neurons - o.fired.sum(torch::kLong).item<int64_t>());
    if (t.spikes_per_step.size() < o.spikes_per_step.size()) t.spikes_per_step.resize(o.spikes_per_step.size(), 0.0);
    for (size_t k = 0; k < o.spikes_per_step.size(); ++k) t.spikes_per_step[k] += o.spikes_per_step[k];
  }
  const double n = static_cast<double>(samples);
  for (double& v : t.spikes_per_step) v /= n;
  t.spikes_per_sample = spikes / n;
  if (t.neurons > 0) {
    t.firing_rate = t.steps > 0 ? t.spikes_per_sample / static_cast<double>(t.neurons * t.steps) : 0.0;
    t.silent_fraction = silent / (n * static_cast<double>(t.neurons));
    t.dead_fraction = dead / static_cast<double>(t.neurons);
  }
  return t;
}

// The recorder's block outputs against the spiking layers' own counters (the same spikes, counted twice).
void check_against_monitor(torch::nn::Module& net, const std::vector<DvsNetRecorder::BlockOutput>& outputs) {
  const auto monitored = spike_counts(net);
  if (monitored.size() != outputs.size())
    throw std::logic_error(
        fmt::format("analyze: the network has {} spiking layers, DvsNetRecorder knows {}; "
                    "update DvsNetRecorder (energy.cpp) with the network's wiring",
                    monitored.size(), outputs.size()));
  for (size_t i = 0; i < outputs.size(); ++i)
    if (monitored[i].name != outputs[i].name || std::abs(monitored[i].spikes - outputs[i].spikes) > 0.5)
      throw std::logic_error(
          fmt::format("analyze: spiking layer {} counted {} spikes, DvsNetRecorder saw {} at "
                      "{}; update DvsNetRecorder (energy.cpp) with the network's wiring",
                      monitored[i].name, monitored[i].spikes, outputs[i].spikes, outputs[i].name));
}

nlohmann::json number(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

nlohmann::json to_json(const SpikingLayerStats& s) {
  return {{"name", s.name},
          {"neurons", s.neurons},
          {"steps", s.steps},
          {"spikes_per_sample", number(s.spikes_per_sample)},
          {"firing_rate", number(s.firing_rate)},
          {"silent_fraction", number(s.silent_fraction)},
          {"dead_fraction", number(s.dead_fraction)},
          {"spikes_per_step", s.spikes_per_step}};
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
          {"ann_energy_pj", number(e.ann_energy_pj)}};
}

nlohmann::json to_json(const EnergyTotals& t) {
  return {{"dense_macs", number(t.dense_macs)},       {"macs", number(t.macs)},
          {"synaptic_ops", number(t.synaptic_ops)},   {"estimated_ops", number(t.estimated_ops)},
          {"snn_energy_pj", number(t.snn_energy_pj)}, {"snn_energy_estimate_pj", number(t.snn_energy_estimate_pj)},
          {"ann_energy_pj", number(t.ann_energy_pj)}, {"ann_to_snn", number(t.ann_to_snn)}};
}

// "43.4 uJ"-style text of an energy given in pJ (three significant digits).
std::string energy_string(double pj) {
  static const char* const units[] = {"pJ", "nJ", "uJ", "mJ", "J"};
  int i = 0;
  while (std::abs(pj) >= 1000 && i < 4) {
    pj /= 1000;
    ++i;
  }
  return fmt::format("{:.3g} {}", pj, units[i]);
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Horizontal bars of the firing rate per spiking layer, as inline SVG.
std::string firing_rate_svg(const std::vector<SpikingLayerStats>& layers) {
  const int row = 26, left = 130, width = 420, top = 10;
  double max_rate = 0;
  for (const auto& l : layers) max_rate = std::max(max_rate, l.firing_rate);
  if (max_rate <= 0) max_rate = 1;
  const int height = top * 2 + row * static_cast<int>(layers.size());
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"firing rate per layer\">\n",
      left + width + 90, height);
  for (size_t i = 0; i < layers.size(); ++i) {
    const int y = top + row * static_cast<int>(i);
    const double w = width * layers[i].firing_rate / max_rate;
    svg += fmt::format(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"13\">{}</text>"
        "<rect x=\"{}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"#3b7dd8\"/>"
        "<text x=\"{:.1f}\" y=\"{}\" font-size=\"12\">{:.4f}</text>\n",
        left - 6, y + 16, html_escape(layers[i].name), left, y + 3, w, row - 8, left + w + 4, y + 16,
        layers[i].firing_rate);
  }
  return svg + "</svg>\n";
}

std::string analysis_html(const Analysis& a) {
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>masnn analyze</title>\n"
      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}"
      "</style></head><body>\n";
  html += fmt::format("<h1>{} ({}, {}), T = {}</h1>\n<p>{}: {} samples x {} clips = {} inputs; accuracy {:.2f}%</p>\n",
                      html_escape(a.model), html_escape(a.attention), html_escape(a.placement), a.steps,
                      html_escape(a.dataset), a.dataset_samples, a.clips, a.samples, 100 * a.accuracy);
  html += "<h2>Firing rate per spiking layer</h2>\n" + firing_rate_svg(a.spiking);
  html +=
      "<h2>Energy per sample</h2>\n<table><tr><th>layer</th><th>kind</th><th>dense MACs</th>"
      "<th>input rate</th><th>synaptic ops</th><th>SNN energy (pJ)</th><th>ANN energy (pJ)</th></tr>\n";
  for (const auto& e : a.energy.layers)
    html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{:.0f}</td><td>{}</td><td>{:.0f}</td><td>{:.1f}</td>"
        "<td>{:.1f}</td></tr>\n",
        html_escape(e.name), e.kind, e.dense_macs,
        std::isfinite(e.input_firing_rate) ? fmt::format("{:.4f}", e.input_firing_rate) : "-", e.synaptic_ops,
        e.snn_energy_pj, e.ann_energy_pj);
  const auto& t = a.energy.total;
  html += fmt::format("</table>\n<p>SNN {:.4f} uJ, ANN {:.4f} uJ, ANN/SNN {:.2f}x (E_MAC {} pJ, E_AC {} pJ)</p>\n",
                      t.snn_energy_pj * 1e-6, t.ann_energy_pj * 1e-6, t.ann_to_snn, a.energy.options.e_mac_pj,
                      a.energy.options.e_ac_pj);
  return html + "</body></html>\n";
}

}  // namespace

Analysis analyze_network(DvsNetImpl& net, const std::shared_ptr<const data::EventDataset>& dataset,
                         const data::LoaderOptions& loader_options, const EnergyOptions& energy, bool quiet) {
  energy.validate();
  if (dataset->size() == 0) throw std::invalid_argument("analyze: the dataset " + dataset->name() + " is empty");
  AnalysisGuard guard(net);
  net.eval();
  enable_spike_recording(net, true);
  torch::NoGradGuard no_grad;
  DvsNetRecorder recorder(net);
  data::EventLoader loader(dataset, loader_options);
  loader.start_epoch(0);
  const int64_t clips = loader_options.mode() == data::ClipMode::Test ? loader_options.test_clips() : 1;
  train::EvaluationAccumulator accuracy(dataset->num_classes());
  train::ProgressBar bar("analyze", static_cast<int64_t>(loader.batches_per_epoch()), quiet);
  data::Batch batch;
  int64_t step = 0, inputs = 0, steps = 0;
  while (loader.next(batch)) {
    const torch::Tensor out = recorder.forward(batch.x);
    accuracy.add(out, batch.labels, clips, 0.0);
    steps = batch.x.size(0);
    inputs += out.size(0);
    bar.update(++step, inputs / clips, {});
  }
  bar.finish({});
  check_against_monitor(net, recorder.outputs());

  Analysis a;
  a.dataset = dataset->name();
  a.steps = steps;
  a.samples = inputs;
  a.clips = clips;
  a.dataset_samples = inputs / clips;
  const train::Evaluation e = accuracy.result();
  a.accuracy = e.accuracy;
  a.vote_accuracy = e.vote_accuracy;
  a.clip_accuracy = e.clip_accuracy;
  for (const auto& o : recorder.outputs()) a.spiking.push_back(layer_stats(o));
  a.spiking_total = total_stats(recorder.outputs());
  a.energy = energy_model(count_operations(net, steps), recorder.inputs(), energy);
  return a;
}

Analysis analyze_checkpoint(const AnalyzeOptions& options) {
  if (options.samples < 0)
    throw std::invalid_argument(fmt::format("--samples: expected a count >= 0 (0 = all), got {}", options.samples));
  options.energy.validate();
  train::CheckpointInfo info;
  auto model = train::load_model(options.checkpoint, &info);
  DvsNetImpl& net = as_dvs_net(model);
  auto sets = options.overrides;
  if (!options.data.empty()) sets.push_back("data.root=\"" + options.data + "\"");
  if (options.samples > 0) sets.push_back("data.limit_test=" + std::to_string(options.samples));
  if (options.quiet) sets.push_back("train.quiet=true");
  const train::TrainConfig config = train::parse_config(info.config_toml, options.checkpoint + " (its config)", sets);
  if (config.data.steps != info.spec.steps)
    throw std::invalid_argument(fmt::format("data.steps: the network of {} is built for T = {}, got T = {}",
                                            options.checkpoint, info.spec.steps, config.data.steps));
  auto test_set = train::make_dataset(config, data::Split::Test);
  const data::LoaderOptions lo = train::loader_options(config, *test_set, data::ClipMode::Test);
  Analysis a = analyze_network(net, test_set, lo, options.energy, options.quiet);
  a.checkpoint = options.checkpoint;
  a.model = info.spec.name;
  a.attention = info.spec.attention.name();
  a.placement = to_string(info.spec.placement);
  return a;
}

std::string analysis_json(const Analysis& a) {
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
      "\noperations and energy per sample (E_MAC {} pJ, E_AC {} pJ; op: MAC = real-valued input, "
      "AC = spike input)\n",
      o.e_mac_pj, o.e_ac_pj);
  s << fmt::format("{:<32} {:<14} {:>3} {:>10} {:>11} {:>12} {:>12} {:>13} {:>13}\n", "layer", "kind", "op",
                   "dense MACs", "input rate", "syn. ops", "estimate", "SNN energy", "ANN energy");
  for (const auto& e : a.energy.layers) {
    const std::string rate = std::isfinite(e.input_firing_rate) ? fmt::format("{:.5f}", e.input_firing_rate) : "-";
    s << fmt::format("{:<32} {:<14} {:>3} {:>10} {:>11} {:>12} {:>12} {:>13} {:>13}\n", e.name, e.kind,
                     e.spike_input ? "AC" : "MAC", human_count(e.dense_macs), rate,
                     e.spike_input ? human_count(e.synaptic_ops) : "-",
                     e.spike_input ? human_count(e.estimated_ops) : "-", energy_string(e.snn_energy_pj),
                     energy_string(e.ann_energy_pj));
  }
  const auto& t = a.energy.total;
  s << fmt::format("total: {} dense MACs; SNN does {} MACs + {} ACs (estimate {} ACs)\n", human_count(t.dense_macs),
                   human_count(t.macs), human_count(t.synaptic_ops), human_count(t.estimated_ops));
  s << fmt::format("energy per sample: SNN {:.4f} uJ (estimate {:.4f} uJ), ANN {:.4f} uJ, ANN/SNN {:.2f}x\n",
                   t.snn_energy_pj * 1e-6, t.snn_energy_estimate_pj * 1e-6, t.ann_energy_pj * 1e-6, t.ann_to_snn);
  return s.str();
}

void write_analysis(const Analysis& analysis, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw std::runtime_error(out_dir + ": cannot create the report folder (" + ec.message() + ")");
  const auto write = [&](const char* name, const std::string& text) {
    data::write_file_atomic((fs::path(out_dir) / name).string(), std::vector<uint8_t>(text.begin(), text.end()));
  };
  write("analysis.json", analysis_json(analysis));
  write("analysis.html", analysis_html(analysis));
}

}  // namespace masnn::analysis
