// `masnn bench res-step`: ms per training step of a Res-SNN (Res-SNN-18 at 224x224, batch 8, T 1 and 4 by default).
#include <fmt/format.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "bench/res_step_bench.h"
#include "command.h"
#include "json_output.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/attention/attention_type.h"

namespace masnn::cli {
namespace {

void run_bench_res_step(const bench::ResStepBenchConfig& c, const std::string& json_path) {
  const JsonOutput json_out(json_path, "bench res-step");  // checked before the measuring
  const auto results = bench::run_res_step_bench(c);
  std::cout << fmt::format(
      "bench res-step: {}, attention {}, {} parameters, device {}, threads {}, median of {} steps after {} "
      "warm-up; one step = forward, cross-entropy (label smoothing 0.1), backward, SGD (momentum 0.9)\n",
      c.model, AttentionType::parse(c.attention).name(), results.front().params, c.device, torch::get_num_threads(),
      c.iterations, c.warmup);
  std::cout << fmt::format("{:>3} {:<18} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}\n", "T", "input", "step ms",
                           "min", "max", "forward", "backward", "SGD", "images/s");
  for (const auto& r : results)
    std::cout << fmt::format("{:>3} {:<18} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>9.2f}\n",
                             r.steps, analysis::shape_string(r.input_shape), r.step_ms, r.step_min_ms, r.step_max_ms,
                             r.forward_ms, r.backward_ms, r.optimizer_ms, r.images_per_s);
  if (results.size() > 1)
    std::cout << fmt::format("T={} / T={}: {:.2f}x the time per step\n", results.back().steps, results.front().steps,
                             results.back().step_ms / results.front().step_ms);
  std::cout << fmt::format("peak RSS of the process: {:.0f} MiB\n", results.back().peak_rss_mib);
  if (!json_path.empty()) {
    nlohmann::json j;
    j["config"] = {{"model", c.model},
                   {"attention", AttentionType::parse(c.attention).name()},
                   {"batch", c.batch},
                   {"steps", c.iterations},
                   {"warmup", c.warmup},
                   {"device", c.device},
                   {"threads", torch::get_num_threads()}};
    for (const auto& r : results)
      j["results"].push_back({{"T", r.steps},
                              {"input_shape", r.input_shape},
                              {"params", r.params},
                              {"step_ms", r.step_ms},
                              {"step_min_ms", r.step_min_ms},
                              {"step_max_ms", r.step_max_ms},
                              {"forward_ms", r.forward_ms},
                              {"backward_ms", r.backward_ms},
                              {"optimizer_ms", r.optimizer_ms},
                              {"images_per_s", r.images_per_s},
                              {"loss", r.loss},
                              {"peak_rss_mib", r.peak_rss_mib}});
    json_out.write(j);
  }
}

RegisterBench reg([](CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "res-step", "Res-SNN training step (forward, cross-entropy, backward, SGD): ms per step and images/s per T");
  auto c = std::make_shared<bench::ResStepBenchConfig>();
  auto json_path = std::make_shared<std::string>();
  cmd->add_option("--model", c->model, "res-snn-18, res-snn-34, res-snn-104 or res-snn-mini")->capture_default_str();
  cmd->add_option("--attention", c->attention, "none, TA, CA, SA, TCA, TSA, CSA, TCSA")->capture_default_str();
  cmd->add_option("-T,--T", c->steps, "time steps to measure (repeatable, e.g. --T 1 --T 4)")->capture_default_str();
  cmd->add_option("--batch,-B", c->batch, "batch size")->capture_default_str();
  cmd->add_option("--size", c->size, "image side (default: the model's, 224 or 28)");
  cmd->add_option("--steps", c->iterations, "timed training steps per T (median reported)")->capture_default_str();
  cmd->add_option("--warmup", c->warmup, "untimed steps first")->capture_default_str();
  cmd->add_option("--device", c->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--lif-backend", c->lif_backend, "fused or composed (default: fused on CPU, composed on CUDA)");
  cmd->add_option("--seed", c->seed, "seed of the weights, images and labels")->capture_default_str();
  cmd->add_option("--json", *json_path, "also write the figures to this JSON file");
  cmd->add_option("--profile", c->profile,
                  "profile the last timed step of each T into PROFILE.T<T>.json (chrome://tracing; slows that step)");
  cmd->callback([c, json_path] { run_bench_res_step(*c, *json_path); });
});

}  // namespace
}  // namespace masnn::cli
