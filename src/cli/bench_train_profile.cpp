// `masnn bench train-profile`: where the time of a training step goes, operator by operator (LibTorch's profiler).
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>
#include <memory>
#include <string>

#include "bench/train_step_bench.h"
#include "command.h"
#include "train_step_options.h"

namespace masnn::cli {
namespace {

// Custom autograd nodes are named by their whole C++ type: keep the last part, e.g. ScaleTBC.
std::string short_name(std::string name) {
  const auto node = name.find("CppNode<");
  if (node == std::string::npos) return name;
  const auto tail = name.rfind("::");
  const std::string prefix = name.substr(0, node);
  std::string last = tail == std::string::npos ? name : name.substr(tail + 2);
  if (!last.empty() && last.back() == '>') last.pop_back();
  return prefix + "CppNode<" + last + ">";
}

void run(const bench::TrainStepBenchConfig& c, int top, bool shapes) {
  const auto p = bench::profile_train_step(c, shapes);
  std::cout << fmt::format(
      "bench train-profile: {}, attention {}, T={}, B={}, threads {}, {} profiled steps after {} warm-up: "
      "{:.1f} ms per step (profiler on)\n",
      c.model, c.attention, c.steps, c.batch, torch::get_num_threads(), c.iterations, c.warmup, p.step_ms);
  std::cout << fmt::format("{:<100} {:>8} {:>11} {:>7}\n", "operator (self time)", "calls", "ms/step", "share");
  double shown = 0;
  for (size_t i = 0; i < p.rows.size() && static_cast<int>(i) < top; ++i) {
    const auto& r = p.rows[i];
    shown += r.self_ms;
    std::cout << fmt::format("{:<100} {:>8.0f} {:>11.1f} {:>6.1f}%\n", short_name(r.name).substr(0, 100), r.calls,
                             r.self_ms, 100 * r.self_ms / p.step_ms);
  }
  double total = 0;
  for (const auto& r : p.rows) total += r.self_ms;
  std::cout << fmt::format("{:<100} {:>8} {:>11.1f} {:>6.1f}%\n", "(other operators)", "", total - shown,
                           100 * (total - shown) / p.step_ms);
  std::cout << fmt::format("{:<100} {:>8} {:>11.1f} {:>6.1f}%\n", "(outside any operator)", "", p.step_ms - total,
                           100 * (p.step_ms - total) / p.step_ms);
}

RegisterBench reg([](CLI::App& bench) {
  auto* cmd = bench.add_subcommand("train-profile", "Where a training step's time goes, by LibTorch operator");
  auto c = std::make_shared<bench::TrainStepBenchConfig>();
  auto top = std::make_shared<int>(30);
  auto shapes = std::make_shared<bool>(false);
  c->iterations = 2;
  add_train_step_options(cmd, *c, "profiled training steps", "unprofiled steps first");
  cmd->add_option("--top", *top, "operators listed")->capture_default_str();
  cmd->add_flag("--shapes", *shapes, "split the operators by their input shapes");
  cmd->callback([c, top, shapes] { run(*c, *top, *shapes); });
});

}  // namespace
}  // namespace masnn::cli
