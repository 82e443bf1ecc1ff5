// `masnn bench stream`: latency of one streaming time step at batch 1 against the real time it covers.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench/stream_bench.h"
#include "command.h"
#include "json_output.h"

namespace masnn::cli {
namespace {

void run(const bench::StreamBenchConfig& c, const std::string& json_path) {
  const JsonOutput json_out(json_path, "bench stream");  // checked before the work
  const auto r = bench::run_stream_bench(c);
  std::cout << fmt::format(
      "bench stream: {}, one step at batch 1 (state carried, causal attention), {} thread(s), {} steps timed after "
      "one window of warm-up\n",
      r.model, r.threads, c.measure_steps);
  std::cout << fmt::format(
      "input: synthetic recording, {} events in {} steps of {:g} ms ({:.0f} events/step); incremental AEDAT 3.1 "
      "parse + binning {:.3f} ms per step\n",
      r.events, r.recording_steps, r.dt_ms, r.events_per_step, r.parse_bin_ms_per_step);
  std::cout << fmt::format("{:<10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>14} {:>12}\n", "synapses", "median ms",
                           "mean ms", "p90 ms", "p99 ms", "max ms", "x real time", "calib s");
  for (const auto& row : r.rows)
    std::cout << fmt::format("{:<10} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f} {:>14.1f} {:>12.2f}\n",
                             row.synapses, row.median_ms, row.mean_ms, row.p90_ms, row.p99_ms, row.max_ms,
                             r.dt_ms / row.median_ms, row.calibration_s);
  std::cout << fmt::format("x real time: {:g} ms of events per step / median compute per step\n", r.dt_ms);
  if (!json_path.empty()) {
    nlohmann::json j = {{"model", r.model},
                        {"threads", r.threads},
                        {"dt_ms", r.dt_ms},
                        {"events", r.events},
                        {"recording_steps", r.recording_steps},
                        {"parse_bin_ms_per_step", r.parse_bin_ms_per_step}};
    for (const auto& row : r.rows)
      j["rows"].push_back({{"synapses", row.synapses},
                           {"median_ms", row.median_ms},
                           {"mean_ms", row.mean_ms},
                           {"p90_ms", row.p90_ms},
                           {"p99_ms", row.p99_ms},
                           {"max_ms", row.max_ms},
                           {"calibration_s", row.calibration_s}});
    json_out.write(j);
  }
}

RegisterBench reg([](CLI::App& bench) {
  auto* cmd =
      bench.add_subcommand("stream", "Streaming latency per time step at batch 1 against the real time of a step");
  auto c = std::make_shared<bench::StreamBenchConfig>();
  auto json = std::make_shared<std::string>();
  cmd->add_option("--checkpoint", c->checkpoint, "a trained network (default: --model with random weights)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--model", c->model, "gesture, gait, small (random weights)")->capture_default_str();
  cmd->add_option("--attention", c->attention, "attention of the random model")->capture_default_str();
  cmd->add_option("-T,--T", c->steps, "T of the random model")->capture_default_str();
  cmd->add_option("--dt-ms", c->dt_ms, "frame length of the random model")->capture_default_str();
  cmd->add_option("--measure-steps", c->measure_steps, "steps timed")->capture_default_str();
  cmd->add_option("--bench-threads", c->threads, "LibTorch threads while timing")->capture_default_str();
  cmd->add_option("--synapses", c->synapses, "paths to time: dense, sparse, auto")->capture_default_str();
  cmd->add_option("--json", *json, "also write the figures to this JSON file");
  cmd->callback([c, json] { run(*c, *json); });
});

}  // namespace
}  // namespace masnn::cli
