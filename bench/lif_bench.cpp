#include "lif_bench.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "bench_util.h"
#include "masnn/attention/attentive_lif.h"
#include "masnn/neuron/lif.h"
#include "masnn/util/memory.h"

namespace masnn::bench {
std::vector<LifBenchResult> run_lif_bench(const LifBenchConfig& c) {
  if (c.steps < 1 || c.batch < 1 || c.channels < 1 || c.size < 1 || c.repeats < 1)
    throw std::invalid_argument("bench lif: steps, batch, channels, size and repeats must be >= 1");
  LIFOptions lif_options;
  if (c.neuron == "dvs")
    lif_options = LIFOptions::reference_dvs();
  else if (c.neuron == "resnet")
    lif_options = LIFOptions::reference_resnet();
  else
    throw std::invalid_argument("bench lif: --neuron must be dvs or resnet, got '" + c.neuron + "'");

  memory::track_cpu_allocations();
  torch::manual_seed(0);
  // Input around the threshold, as a BN output feeding a LIF layer looks.
  const torch::Tensor x0 = torch::randn({c.steps, c.batch, c.channels, c.size, c.size}) * 0.3 + 0.15;
  const torch::Tensor grad = torch::randn_like(x0);

  std::vector<LifBenchResult> results;
  for (LIFBackend backend : {LIFBackend::Composed, LIFBackend::Fused}) {
    const LIFOptions o = LIFOptions(lif_options).backend(backend);
    AttentiveLIF attentive{nullptr};
    if (c.activate_pre) {
      torch::manual_seed(1);
      attentive = AttentiveLIF(AttentiveLIFOptions(c.channels).lif(o));
    }
    auto forward = [&](const torch::Tensor& x) {
      return c.activate_pre ? attentive->forward(x) : functional::lif(x, o).spikes;
    };
    LifBenchResult r;
    r.backend = to_string(backend);
    std::vector<double> fwd, train;
    for (int i = 0; i <= c.repeats; ++i) {  // run 0 is the warm-up
      const torch::Tensor x = x0.clone().requires_grad_(true);
      memory::reset_cpu_peak();
      const int64_t base = memory::cpu_bytes_in_use();
      auto t0 = std::chrono::steady_clock::now();
      const torch::Tensor s = forward(x);
      const double f_ms = ms_since(t0);
      s.backward(grad);  // the LIF's own backward, no loss ops around it
      const double t_ms = ms_since(t0);
      const int64_t peak = memory::cpu_peak_bytes() - base;
      if (i == 0) continue;
      fwd.push_back(f_ms);
      train.push_back(t_ms);
      r.peak_mib = std::max(r.peak_mib, peak / 1048576.0);
      r.firing_rate = s.mean().item<double>();
    }
    r.forward_ms = median(fwd);
    r.train_ms = median(train);
    results.push_back(r);
  }
  return results;
}

}  // namespace masnn::bench
