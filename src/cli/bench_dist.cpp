// `masnn bench dist`: samples/s of data-parallel training from 1 to N processes on this machine, and the time of
// the gradient all-reduce per step (bench/dist_bench.h).
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/dist_bench.h"
#include "command.h"
#include "json_output.h"
#include "masnn/attention/attention_type.h"

namespace masnn::cli {
namespace {

void print_row(const std::string& what, const bench::StepTimes& t, const std::string& note) {
  std::cout << fmt::format("{:<42} {:>8} {:>9.1f} {:>8.1f} {:>8.1f} {:>10.1f}  {}\n", what, t.batch, t.step_ms,
                           t.min_ms, t.max_ms, t.samples_per_s(), note);
}

void run_bench_dist(const bench::DistBenchConfig& c, const std::string& json_path) {
  const JsonOutput json_out(json_path, "bench dist");  // checked before the measuring
  const auto r = bench::run_dist_bench(c, "/proc/self/exe");
  std::cout << fmt::format(
      "bench dist: {}, attention {}, input [T={},B,{},{},{}], {} parameters ({:.2f} MiB of gradients), "
      "{} ranks on loopback (Gloo), {} gradient bucket(s) of <= {:g} MiB{}; {} cores, OMP_WAIT_POLICY {}; median of "
      "{} steps after {} warm-up; one step = forward, MSE loss, backward, Adam\n",
      r.model, AttentionType::parse(c.attention).name(), c.steps, r.in_channels, r.input_size, r.input_size, r.params,
      r.gradient_mib, c.procs, r.buckets, c.bucket_mb, c.sync_bn ? ", synchronised BN" : "",
      std::thread::hardware_concurrency(), std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "unset",
      c.iterations, c.warmup);
  std::cout << fmt::format("{:<42} {:>8} {:>9} {:>8} {:>8} {:>10}\n", "", "samples", "step ms", "min", "max",
                           "samples/s");
  print_row(fmt::format("1 process, {} threads, global batch", r.one_process.threads), r.one_process, "");
  print_row("1 process, 1 thread, one rank's batch", r.one_thread, "(one rank's work alone)");
  print_row(fmt::format("{} processes x 1 thread, data-parallel", c.procs), r.ranks, "(all ranks' samples)");
  print_row(fmt::format("{} processes x 1 thread, no gradient sync", c.procs), r.ranks_no_sync,
            "(the same work, not synchronised)");
  std::cout << fmt::format(
      "scaling: {} processes give {:.2f}x the samples/s of 1 process with 1 thread (ideal {}x), {:.2f}x that of 1 "
      "process with {} threads\n",
      c.procs, r.ranks.samples_per_s() / r.one_thread.samples_per_s(), c.procs,
      r.ranks.samples_per_s() / r.one_process.samples_per_s(), r.one_process.threads);
  std::cout << fmt::format(
      "all-reduce of all gradients at once ({:.2f} MiB, Gloo, {} ranks): median {:.2f} ms (min {:.2f}) = {:.1f}% "
      "of a data-parallel step; the step with synchronisation takes {:.2f} ms more than without (gradient "
      "all-reduce not hidden by the backward pass, waiting for the slower rank, BN buffers from rank 0: {:.2f} ms)\n",
      r.gradient_mib, c.procs, r.allreduce_ms, r.allreduce_min_ms, 100 * r.allreduce_ms / r.ranks.step_ms,
      r.ranks.step_ms - r.ranks_no_sync.step_ms, r.before_forward_ms);
  std::cout << fmt::format(
      "concurrency: {} ranks without synchronisation take {:.2f}x the step time of one rank alone (shared cores "
      "and memory bandwidth)\n",
      c.procs, r.ranks_no_sync.step_ms / r.one_thread.step_ms);
  if (!json_path.empty()) {
    auto times = [](const bench::StepTimes& t) {
      return nlohmann::json{{"step_ms", t.step_ms}, {"min_ms", t.min_ms},   {"max_ms", t.max_ms},
                            {"batch", t.batch},     {"threads", t.threads}, {"samples_per_s", t.samples_per_s()}};
    };
    nlohmann::json j{{"config", nlohmann::json::parse(bench::dist_bench_config_to_json(c))},
                     {"model", r.model},
                     {"params", r.params},
                     {"gradient_mib", r.gradient_mib},
                     {"buckets", r.buckets},
                     {"cores", std::thread::hardware_concurrency()},
                     {"one_process", times(r.one_process)},
                     {"one_thread", times(r.one_thread)},
                     {"ranks", times(r.ranks)},
                     {"ranks_no_sync", times(r.ranks_no_sync)},
                     {"allreduce_ms", r.allreduce_ms},
                     {"allreduce_min_ms", r.allreduce_min_ms},
                     {"before_forward_ms", r.before_forward_ms}};
    json_out.write(j);
  }
}

RegisterBench reg([](CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "dist", "Data-parallel training: samples/s from 1 to N processes (Gloo, loopback) and the gradient all-reduce");
  auto c = std::make_shared<bench::DistBenchConfig>();
  auto json_path = std::make_shared<std::string>();
  auto worker_out = std::make_shared<std::string>();
  cmd->add_option("--model", c->model, "gesture, gait, small (or dvs-...)")->capture_default_str();
  cmd->add_option("--attention", c->attention, "none, TA, CA, SA, TCA, TSA, CSA, TCSA")->capture_default_str();
  cmd->add_option("-T,--T", c->steps, "time steps")->capture_default_str();
  cmd->add_option("--batch,-B", c->batch, "batch size per rank")->capture_default_str();
  cmd->add_option("--procs,-n", c->procs, "ranks (processes of one thread each)")->capture_default_str();
  cmd->add_option("--steps", c->iterations, "timed training steps per phase (median reported)")->capture_default_str();
  cmd->add_option("--warmup", c->warmup, "untimed steps first")->capture_default_str();
  cmd->add_flag("--sync-bn", c->sync_bn, "synchronised BatchNorm in the ranks");
  cmd->add_option("--bucket-mb", c->bucket_mb, "gradient bucket size, MiB")->capture_default_str();
  cmd->add_option("--timeout", c->timeout_s, "rendezvous and collective timeout, seconds")->capture_default_str();
  cmd->add_option("--seed", c->seed, "seed of the weights and inputs")->capture_default_str();
  cmd->add_option("--json", *json_path, "also write the figures to this JSON file");
  cmd->add_option("--worker-out", *worker_out, "(internal) run as a rank of the benchmark's job")->group("");
  cmd->callback([c, json_path, worker_out] {
    if (!worker_out->empty()) {
      const char* config = std::getenv("MASNN_BENCH_DIST_CONFIG");
      if (!config) throw std::invalid_argument("bench dist --worker-out: MASNN_BENCH_DIST_CONFIG is not set");
      bench::run_dist_bench_worker(bench::dist_bench_config_from_json(config), *worker_out);
      return;
    }
    run_bench_dist(*c, *json_path);
  });
});

}  // namespace
}  // namespace masnn::cli
