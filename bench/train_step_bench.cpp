#include "train_step_bench.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <stdexcept>

#include "bench_util.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/models/registry.h"
#include "masnn/util/memory.h"

namespace masnn::bench {
namespace {

constexpr double kMiB = 1048576.0;

// The network the config names, with the preset's input size, classes and t_ratio.
ModelSpec model_spec(const TrainStepBenchConfig& c) {
  ModelSpec s = default_model_spec(c.model);
  s.attention = AttentionType::parse(c.attention);
  s.placement = parse_attention_placement(c.placement);
  s.steps = c.steps;
  s.lif = LIFOptions::reference_dvs().backend(parse_lif_backend(c.lif_backend));
  return s;
}

// Random spike input as the reference benchmark makes it: 5% of positions set to 2.0.
torch::Tensor random_spikes(const std::vector<int64_t>& shape) {
  return (torch::rand(shape) < 0.05).to(torch::kFloat) * 2.0;
}

}  // namespace

TrainStepBenchResult run_train_step_bench(const TrainStepBenchConfig& c) {
  if (c.steps < 1) throw std::invalid_argument(fmt::format("bench train-step: --T must be >= 1, got {}", c.steps));
  if (c.batch < 1) throw std::invalid_argument(fmt::format("bench train-step: --batch must be >= 1, got {}", c.batch));
  if (c.iterations < 1)
    throw std::invalid_argument(fmt::format("bench train-step: --steps must be >= 1, got {}", c.iterations));
  if (c.warmup < 0)
    throw std::invalid_argument(fmt::format("bench train-step: --warmup must be >= 0, got {}", c.warmup));
  const ModelSpec spec = model_spec(c);

  memory::track_cpu_allocations();
  torch::manual_seed(c.seed);
  torch::nn::AnyModule model = build_model(spec);
  DvsNetImpl& net = analysis::as_dvs_net(model);
  if (c.attention_backend != "fused" && c.attention_backend != "composed")
    throw std::invalid_argument("bench train-step: --attention-backend must be fused or composed, got '" +
                                c.attention_backend + "'");
  for (const auto& m : net.modules())
    if (auto* attention = m->as<MultiDimAttentionImpl>()) attention->options.fused(c.attention_backend == "fused");
  net.train();
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(1e-3));

  TrainStepBenchResult r;
  r.model = spec.name;
  r.input_shape = {c.steps, c.batch, spec.in_channels, spec.input_size, spec.input_size};
  r.params = count_parameters(net);
  r.threads = torch::get_num_threads();

  const torch::Tensor x = random_spikes(r.input_shape);  // [T,B,C,H,W], time-major
  const torch::Tensor labels = torch::randint(spec.num_classes, {c.batch}, torch::kLong);
  const torch::Tensor target = torch::one_hot(labels, spec.num_classes).to(torch::kFloat);

  torch::Tensor loss;
  auto train_step = [&] {
    net.zero_grad(/*set_to_none=*/true);
    loss = torch::mse_loss(net.forward(x), target);
    loss.backward();
    optimizer.step();
  };

  for (int i = 0; i < c.warmup; ++i) train_step();
  memory::reset_cpu_peak();
  const int64_t baseline = memory::cpu_bytes_in_use();
  std::vector<double> step_ms;
  for (int i = 0; i < c.iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    train_step();
    step_ms.push_back(ms_since(t0));
  }
  r.peak_tensor_mib = memory::cpu_peak_bytes() / kMiB;
  r.baseline_tensor_mib = baseline / kMiB;
  r.peak_rss_mib = memory::peak_rss_bytes() / kMiB;
  r.loss = loss.item<double>();
  loss = torch::Tensor();
  r.step_ms = median(step_ms);
  r.step_min_ms = *std::min_element(step_ms.begin(), step_ms.end());
  r.step_max_ms = *std::max_element(step_ms.begin(), step_ms.end());
  r.samples_per_s = 1000.0 * c.batch / r.step_ms;
  r.ms_per_sample_step = r.step_ms / static_cast<double>(c.steps * c.batch);

  // The floor: copies of the network's convolutions and linear layers on inputs of the shapes they see
  // ([T*B,C,H,W] and [T*B,F]), forward + backward each, nothing else.
  struct FloorCase {
    std::shared_ptr<torch::nn::Module> layer;
    std::function<torch::Tensor(const torch::Tensor&)> forward;
    torch::Tensor input, grad_output;
  };
  std::vector<FloorCase> cases;
  const auto modules = net.named_modules();
  const int64_t tb = c.steps * c.batch;
  for (const auto& row : analysis::count_operations(net, c.steps)) {
    if (row.kind != "conv2d" && row.kind != "linear") continue;
    std::vector<int64_t> in_shape{tb}, out_shape{tb};
    in_shape.insert(in_shape.end(), row.input_shape.begin(), row.input_shape.end());
    out_shape.insert(out_shape.end(), row.output_shape.begin(), row.output_shape.end());
    FloorCase fc;
    fc.layer = modules[row.name]->clone();
    if (auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(fc.layer))
      fc.forward = [conv](const torch::Tensor& in) { return conv->forward(in); };
    else if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(fc.layer))
      fc.forward = [linear](const torch::Tensor& in) { return linear->forward(in); };
    else
      throw std::logic_error("bench train-step: " + row.name + " is neither Conv2d nor Linear");
    // The first layer sees the data (no gradient needed); the others see spikes and pass a gradient back.
    fc.input = cases.empty() ? x.flatten(0, 1) : (torch::rand(in_shape) < 0.1).to(torch::kFloat).requires_grad_(true);
    fc.grad_output = torch::randn(out_shape) * 1e-3;
    cases.push_back(std::move(fc));
    r.floor.push_back({row.name, in_shape, 0.0});
  }
  std::vector<std::vector<double>> layer_ms(cases.size());
  std::vector<double> floor_ms;
  int64_t floor_peak = 0;
  for (int i = 0; i < c.warmup + c.iterations; ++i) {
    double total = 0;
    for (size_t k = 0; k < cases.size(); ++k) {
      auto& fc = cases[k];
      fc.layer->zero_grad(/*set_to_none=*/true);
      if (fc.input.requires_grad()) fc.input.mutable_grad().reset();
      memory::reset_cpu_peak();
      const int64_t before = memory::cpu_bytes_in_use();
      const auto t0 = std::chrono::steady_clock::now();
      fc.forward(fc.input).backward(fc.grad_output);
      const double ms = ms_since(t0);
      floor_peak = std::max(floor_peak, memory::cpu_peak_bytes() - before);
      total += ms;
      if (i >= c.warmup) layer_ms[k].push_back(ms);
    }
    if (i >= c.warmup) floor_ms.push_back(total);
  }
  for (size_t k = 0; k < cases.size(); ++k) r.floor[k].ms = median(layer_ms[k]);
  r.floor_ms = median(floor_ms);
  r.floor_peak_tensor_mib = floor_peak / kMiB;
  return r;
}

}  // namespace masnn::bench
