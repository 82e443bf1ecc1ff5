#include "res_step_bench.h"

#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "bench_util.h"
#include "masnn/models/dvs_net.h"  // count_parameters
#include "masnn/models/registry.h"
#include "masnn/models/res_snn.h"
#include "masnn/util/memory.h"
#include "neuron/lif_kernels_cuda.h"

namespace masnn::bench {

std::vector<ResStepBenchResult> run_res_step_bench(const ResStepBenchConfig& c) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("bench res-step: " + what); };
  if (!is_res_snn(c.model)) bad("--model must be a Res-SNN (res-snn-18, -34, -104, -mini), got '" + c.model + "'");
  if (c.steps.empty()) bad("--T needs at least one value");
  for (int64_t t : c.steps)
    if (t < 1) bad(fmt::format("--T values must be >= 1, got {}", t));
  if (c.batch < 1) bad(fmt::format("--batch must be >= 1, got {}", c.batch));
  if (c.size < 0) bad(fmt::format("--size must be >= 1, got {}", c.size));
  if (c.iterations < 1) bad(fmt::format("--steps must be >= 1, got {}", c.iterations));
  if (c.warmup < 0) bad(fmt::format("--warmup must be >= 0, got {}", c.warmup));
  if (c.device != "cpu" && c.device != "cuda") bad("--device must be cpu or cuda, got '" + c.device + "'");
  if (c.device == "cuda" && !torch::cuda::is_available())
    throw std::runtime_error("bench res-step: --device cuda, but this LibTorch build sees no CUDA device");
  const torch::Device device(c.device == "cuda" ? torch::kCUDA : torch::kCPU);
  // The fused LIF on CUDA where this build has its CUDA kernels, else the LibTorch ops there.
  const bool fused_here = c.device != "cuda" || kernels::cuda_kernels_built();
  const std::string backend = c.lif_backend.empty() ? (fused_here ? "fused" : "composed") : c.lif_backend;

  std::vector<ResStepBenchResult> results;
  for (int64_t T : c.steps) {
    ModelSpec spec = default_model_spec(c.model);
    spec.attention = AttentionType::parse(c.attention);
    spec.steps = T;
    spec.lif.backend(parse_lif_backend(backend));
    const int64_t side = c.size > 0 ? c.size : spec.input_size;
    torch::manual_seed(c.seed);
    ResSnn net(res_snn_options(spec));
    net->to(device);
    net->train();
    // The paper's recipe: SGD momentum 0.9, weight decay 1e-5, lr 0.1; cross-entropy with label smoothing 0.1.
    torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(1e-5));
    const auto options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(0.1);

    ResStepBenchResult r;
    r.steps = T;
    r.input_shape = {c.batch, spec.in_channels, side, side};
    r.params = count_parameters(*net);
    const torch::Tensor x = torch::randn(r.input_shape).to(device);  // normalised images: zero mean, unit variance
    const torch::Tensor labels = torch::randint(spec.num_classes, {c.batch}, torch::kLong).to(device);

    auto sync = [&] {
      if (device.is_cuda()) torch::cuda::synchronize();
    };
    std::vector<double> step_ms, fwd_ms, bwd_ms, opt_ms;
    torch::Tensor loss;
    for (int i = 0; i < c.warmup + c.iterations; ++i) {
      sync();
      std::unique_ptr<torch::autograd::profiler::RecordProfile> profiler;
      if (!c.profile.empty() && i == c.warmup + c.iterations - 1)
        profiler =
            std::make_unique<torch::autograd::profiler::RecordProfile>(c.profile + ".T" + std::to_string(T) + ".json");
      const auto t0 = std::chrono::steady_clock::now();
      optimizer.zero_grad();
      loss = torch::nn::functional::cross_entropy(net(x), labels, options);
      sync();
      const double f = ms_since(t0);
      loss.backward();
      sync();
      const double b = ms_since(t0);
      optimizer.step();
      sync();
      const double total = ms_since(t0);
      if (i < c.warmup) continue;
      step_ms.push_back(total);
      fwd_ms.push_back(f);
      bwd_ms.push_back(b - f);
      opt_ms.push_back(total - b);
    }
    r.step_ms = median(step_ms);
    r.step_min_ms = *std::min_element(step_ms.begin(), step_ms.end());
    r.step_max_ms = *std::max_element(step_ms.begin(), step_ms.end());
    r.forward_ms = median(fwd_ms);
    r.backward_ms = median(bwd_ms);
    r.optimizer_ms = median(opt_ms);
    r.images_per_s = 1000.0 * static_cast<double>(c.batch) / r.step_ms;
    r.loss = loss.item<double>();
    r.peak_rss_mib = static_cast<double>(memory::peak_rss_bytes()) / 1048576.0;
    results.push_back(r);
  }
  return results;
}

}  // namespace masnn::bench
