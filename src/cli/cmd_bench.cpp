// `masnn bench ...`: performance figures. Each figure is measured in this process, both sides in one run.
#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>

#include "bench/events_bench.h"
#include "bench/lif_bench.h"
#include "bench/train_step_bench.h"
#include "command.h"
#include "json_output.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/attention/attention_type.h"
#include "train_step_options.h"

namespace masnn::cli {
namespace {

void run_bench_lif(const bench::LifBenchConfig& c, const std::string& json_path) {
  const JsonOutput json_out(json_path, "bench lif");  // checked before the work
  const auto results = bench::run_lif_bench(c);
  std::cout << fmt::format(
      "bench lif: input [T={},B={},C={},{}x{}] = {:.1f} M elements, neuron {}, {}, threads {}, "
      "median of {}\n",
      c.steps, c.batch, c.channels, c.size, c.size, c.steps * c.batch * c.channels * c.size * c.size / 1e6, c.neuron,
      c.activate_pre ? "CA+SA inside the time loop (activate-pre)" : "plain LIF", torch::get_num_threads(), c.repeats);
  std::cout << fmt::format("{:<10} {:>12} {:>14} {:>16} {:>12}\n", "backend", "forward ms", "fwd+bwd ms", "peak MiB",
                           "firing rate");
  for (const auto& r : results)
    std::cout << fmt::format("{:<10} {:>12.1f} {:>14.1f} {:>16.1f} {:>12.4f}\n", r.backend, r.forward_ms, r.train_ms,
                             r.peak_mib, r.firing_rate);
  const auto& composed = results[0];
  const auto& fused = results[1];
  std::cout << fmt::format(
      "fused vs composed: forward {:.1f}x faster, fwd+bwd {:.1f}x faster, peak memory {:.1f}x smaller\n",
      composed.forward_ms / fused.forward_ms, composed.train_ms / fused.train_ms, composed.peak_mib / fused.peak_mib);
  if (!json_path.empty()) {
    nlohmann::json j;
    j["config"] = {{"steps", c.steps},
                   {"batch", c.batch},
                   {"channels", c.channels},
                   {"size", c.size},
                   {"neuron", c.neuron},
                   {"activate_pre", c.activate_pre},
                   {"threads", torch::get_num_threads()}};
    for (const auto& r : results)
      j["results"].push_back({{"backend", r.backend},
                              {"forward_ms", r.forward_ms},
                              {"train_ms", r.train_ms},
                              {"peak_mib", r.peak_mib},
                              {"firing_rate", r.firing_rate}});
    json_out.write(j);
  }
}

// What event-driven training could skip, per layer, on the benchmark's input.
void print_training_sparsity(const analysis::TrainingSparsity& s) {
  const auto percent = [](double v) { return v < 0 ? std::string("-") : fmt::format("{:.2f}%", 100 * v); };
  std::cout << "synaptic layers: input density (nonzero inputs: the share of an event-driven forward and weight "
               "gradient), and the surrogate support of the neuron layer whose spikes they read (the share of their "
               "input gradient that is needed)\n";
  for (const auto& l : s.synapses)
    std::cout << fmt::format("  {:<16} {:<7} input {:<22} density {:>8}   from {:<14} support {:>8}\n", l.name,
                             l.kind, analysis::shape_string(l.input_shape), percent(l.input_density),
                             l.source.empty() ? "-" : l.source, percent(l.source_support));
  std::cout << "neuron layers: firing rate, surrogate support (neuron-steps with a nonzero surrogate derivative)\n";
  for (const auto& n : s.neurons)
    std::cout << fmt::format("  {:<16} rate {:>8}   support {:>8}\n", n.name, percent(n.firing_rate),
                             percent(n.surrogate_support));
}

void run_bench_train_step(const bench::TrainStepBenchConfig& c, const std::string& json_path) {
  const JsonOutput json_out(json_path, "bench train-step");  // checked before the measuring
  const auto r = bench::run_train_step_bench(c);
  std::cout << fmt::format(
      "bench train-step: {}{}, attention {} ({}), input {} ({}), {} parameters, LIF {}, BN+pool {}, "
      "scale+LIF {}, linear {}, synapses {}, device {}, threads {}, median of {} steps after {} warm-up\n",
      r.model, c.from.empty() ? "" : " from " + c.from, r.attention, c.attention_backend,
      analysis::shape_string(r.input_shape), r.input, r.params, c.lif_backend, c.norm_backend, c.scale_lif,
      c.linear_backend, c.synapses, c.device, r.threads, c.iterations, c.warmup);
  print_training_sparsity(r.sparsity);
  std::cout << fmt::format(
      "training step (forward, MSE loss, backward, Adam): {:.1f} ms (min {:.1f}, max {:.1f}), "
      "{:.2f} samples/s, {:.2f} ms per sample-time-step\n",
      r.step_ms, r.step_min_ms, r.step_max_ms, r.samples_per_s, r.ms_per_sample_step);
  std::cout << fmt::format(
      "peak CPU tensor memory: {:.1f} MiB (allocator-counted; {:.1f} MiB of it held before the "
      "steps: weights, Adam state, input)\n",
      r.peak_tensor_mib, r.baseline_tensor_mib);
  std::cout << fmt::format("peak RSS of the process: {:.1f} MiB (after the training steps, before the floor)\n",
                           r.peak_rss_mib);
  if (c.device == "cuda")
    std::cout << fmt::format("peak GPU tensor memory: {:.1f} MiB (LibTorch's CUDA allocator, during the steps)\n",
                             r.peak_cuda_mib);
  std::cout << fmt::format(
      "floor (convolutions + linear layers alone, forward+backward, same shapes, this process): "
      "{:.1f} ms, peak {:.1f} MiB above its inputs\n",
      r.floor_ms, r.floor_peak_tensor_mib);
  for (const auto& l : r.floor)
    std::cout << fmt::format(
        "  {:<14} input {:<20} {:>9.1f} ms{}\n", l.name, analysis::shape_string(l.input_shape), l.ms,
        l.onednn_ms > 0 ? fmt::format(" (BLAS), {:.1f} ms as a 1x1 conv (oneDNN)", l.onednn_ms) : std::string());
  std::cout << fmt::format("step / floor: {:.2f}x\n", r.ratio());
  if (!json_path.empty()) {
    nlohmann::json j;
    j["config"] = {{"model", r.model},
                   {"from", c.from},
                   {"input", r.input},
                   {"attention", r.attention},
                   {"steps", c.iterations},
                   {"warmup", c.warmup},
                   {"lif_backend", c.lif_backend},
                   {"attention_backend", c.attention_backend},
                   {"norm_backend", c.norm_backend},
                   {"scale_lif", c.scale_lif},
                   {"linear_backend", c.linear_backend},
                   {"synapses", c.synapses},
                   {"device", c.device},
                   {"threads", r.threads},
                   {"input_shape", r.input_shape},
                   {"params", r.params}};
    j["results"] = {{"step_ms", r.step_ms},
                    {"step_min_ms", r.step_min_ms},
                    {"step_max_ms", r.step_max_ms},
                    {"samples_per_s", r.samples_per_s},
                    {"ms_per_sample_step", r.ms_per_sample_step},
                    {"peak_tensor_mib", r.peak_tensor_mib},
                    {"baseline_tensor_mib", r.baseline_tensor_mib},
                    {"peak_rss_mib", r.peak_rss_mib},
                    {"peak_cuda_mib", r.peak_cuda_mib},
                    {"floor_ms", r.floor_ms},
                    {"floor_peak_tensor_mib", r.floor_peak_tensor_mib},
                    {"step_over_floor", r.ratio()},
                    {"loss", r.loss}};
    for (const auto& l : r.sparsity.synapses)
      j["synapses"].push_back({{"name", l.name},
                               {"kind", l.kind},
                               {"input_shape", l.input_shape},
                               {"input_density", l.input_density},
                               {"source", l.source},
                               {"source_support", l.source_support}});
    for (const auto& n : r.sparsity.neurons)
      j["neurons"].push_back(
          {{"name", n.name}, {"firing_rate", n.firing_rate}, {"surrogate_support", n.surrogate_support}});
    for (const auto& l : r.floor)
      j["floor_layers"].push_back(
          {{"name", l.name}, {"input_shape", l.input_shape}, {"ms", l.ms}, {"onednn_ms", l.onednn_ms}});
    json_out.write(j);
  }
}

void run_bench_events(const bench::EventsBenchConfig& c) {
  const auto r = bench::run_events_bench(c);
  std::cout << fmt::format(
      "bench events: one generated recording of {} events (128 x 128, 1 event/us) in each format, decoded from the "
      "page cache on one thread (unless a line says threads), median of {}\n",
      r.events, c.repeats);
  std::cout << fmt::format("{:<30} {:>10} {:>9} {:>10} {:>12} {:>9}\n", "format", "events", "MB", "ms",
                           "M events/s", "GB/s");
  for (const auto& f : r.formats) {
    std::cout << fmt::format("{:<30} {:>10} {:>9.1f} {:>10.1f} {:>12.1f} {:>9.2f}", f.format, f.events, f.file_mb,
                             1e3 * f.read_s, f.events / f.read_s / 1e6, f.file_mb / 1e3 / f.read_s);
    if (f.inflate_s > 0)
      std::cout << fmt::format("   decompressing alone (one thread) {:.1f} ms: reading takes {:.2f}x that, "
                               "{:.2f}x decompressing + writing the events",
                               1e3 * f.inflate_s, f.read_s / f.inflate_s, f.read_s / (f.inflate_s + r.output_s));
    std::cout << "\n";
  }
  std::cout << fmt::format("writing the events alone (into fresh arrays, the floor under every reader): {:.1f} ms\n",
                           1e3 * r.output_s);
  std::cout << fmt::format("events_to_frames (events -> [60,2,32,32]): {:.1f} ms, {:.1f} M events/s\n",
                           1e3 * r.frames_s, r.events / r.frames_s / 1e6);
  std::cout << fmt::format("memory bandwidth (memcpy, read + write): {:.2f} GB/s\n", r.memcpy_gb_per_s);
}

RegisterCommand reg([](CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure performance figures");
  bench->require_subcommand(1);
  for (const auto& setup : bench_setups()) setup(*bench);
  auto* lif = bench->add_subcommand("lif", "Fused vs composed multi-step LIF: forward, forward+backward, peak memory");
  auto config = std::make_shared<bench::LifBenchConfig>();
  auto json_path = std::make_shared<std::string>();
  lif->add_option("--steps,-T", config->steps, "time steps T")->capture_default_str();
  lif->add_option("--batch,-B", config->batch, "batch size")->capture_default_str();
  lif->add_option("--channels,-C", config->channels, "channels")->capture_default_str();
  lif->add_option("--size", config->size, "height = width")->capture_default_str();
  lif->add_option("--repeats", config->repeats, "timed runs (median reported)")->capture_default_str();
  lif->add_option("--neuron", config->neuron, "dvs (REFERENCE 1.1) or resnet (1.2)")->capture_default_str();
  lif->add_flag("--activate-pre", config->activate_pre, "LIF with channel+spatial attention inside the time loop");
  lif->add_option("--json", *json_path, "also write the figures to this JSON file");
  lif->callback([config, json_path] { run_bench_lif(*config, *json_path); });

  auto* step = bench->add_subcommand(
      "train-step", "One training step (forward, MSE loss, backward, Adam) vs its convolutions + linears alone");
  auto step_config = std::make_shared<bench::TrainStepBenchConfig>();
  auto step_json = std::make_shared<std::string>();
  add_train_step_options(step, *step_config, "timed training steps (median reported)", "untimed steps first");
  step->add_option("--json", *step_json, "also write the figures to this JSON file");
  step->callback([step_config, step_json] { run_bench_train_step(*step_config, *step_json); });

  auto* events = bench->add_subcommand(
      "events", "Decoding of every event format and frame integration, against memory bandwidth");
  auto ev_config = std::make_shared<bench::EventsBenchConfig>();
  events->add_option("--events", ev_config->events, "events in the generated recording")->capture_default_str();
  events->add_option("--repeats", ev_config->repeats, "timed runs (median reported)")->capture_default_str();
  events->add_option("--dir", ev_config->dir, "folder for the generated file (default: the temp folder)");
  events->callback([ev_config] { run_bench_events(*ev_config); });
});

}  // namespace
}  // namespace masnn::cli
