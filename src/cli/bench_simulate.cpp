// `masnn bench simulate`: recordings/s and events/s of the event simulator (sim-fashion-mnist) on one thread,
// beside the training cost of a recording, and the recordings' event statistics.
#include <fmt/format.h>

#include <iostream>

#include "bench/simulate_bench.h"
#include "command.h"

namespace masnn::cli {
namespace {

void run_bench_simulate(const bench::SimulateBenchConfig& c) {
  const bench::SimulateBenchResult r = bench::run_simulate_bench(c);
  std::cout << fmt::format(
      "bench simulate: sim-fashion-mnist, the first {} training images, N-MNIST saccades (3 x 105 ms, 34x34), "
      "v2e pixel defaults, one thread\n",
      r.recordings);
  std::cout << fmt::format("simulating: {:.3f} ms per recording, {:.0f} recordings/s, {:.2f} M events/s\n",
                           r.simulate_ms_per_sample(), r.recordings_per_s(), r.events_per_s() / 1e6);
  std::cout << fmt::format(
      "events per recording: mean {:.0f}, sd {:.0f}, min {}, max {}; ON {:.1f}%; per saccade {:.1f}% / {:.1f}% / "
      "{:.1f}%\n",
      r.events_mean, r.events_sd, r.events_min, r.events_max, 100 * r.on_fraction, 100 * r.saccade_share[0],
      100 * r.saccade_share[1], 100 * r.saccade_share[2]);
  const int64_t batch = r.train.input_shape[1];
  std::cout << fmt::format(
      "training on them, one thread: frames [{},2,36,36] {:.3f} ms + a training step of {} (T {}, batch {}) {:.1f} ms "
      "= {:.2f} ms per sample ({:.0f} samples/s)\n",
      c.steps, 1e3 * r.frames_s / r.recordings, r.train.model, c.steps, batch, r.train.step_ms,
      r.train_ms_per_sample(), 1e3 / r.train_ms_per_sample());
  std::cout << fmt::format("simulating a recording costs {:.3f} of training on it (target <= 0.1)\n",
                           r.simulate_ms_per_sample() / r.train_ms_per_sample());
}

RegisterBench reg([](CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "simulate", "event simulator: recordings/s and events/s of sim-fashion-mnist beside a training step's cost");
  auto c = std::make_shared<bench::SimulateBenchConfig>();
  cmd->add_option("--root", c->root, "Fashion-MNIST folder (default: Debian's dataset-fashion-mnist)");
  cmd->add_option("--recordings", c->recordings, "training images to simulate")->capture_default_str();
  cmd->add_option("--model", c->model, "the network of the training step")->capture_default_str();
  cmd->add_option("--time-steps", c->steps, "T of the frames and the training step")->capture_default_str();
  cmd->add_option("--batch,-B", c->batch, "batch of the training step")->capture_default_str();
  cmd->add_option("--steps", c->iterations, "timed training steps (median)")->capture_default_str();
  cmd->callback([c] { run_bench_simulate(*c); });
});

}  // namespace
}  // namespace masnn::cli
