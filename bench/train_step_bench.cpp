#include "train_step_bench.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>

#include "bench_util.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/models/registry.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/train/train_data.h"
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
  if (c.input_size > 0) s.input_size = c.input_size;
  s.lif = LIFOptions::reference_dvs().backend(parse_lif_backend(c.lif_backend));
  return s;
}

// Random spike input as the reference benchmark makes it: 5% of positions set to 2.0.
torch::Tensor random_spikes(const std::vector<int64_t>& shape) {
  return (torch::rand(shape) < 0.05).to(torch::kFloat) * 2.0;
}

// The network of the config in training mode with its optimizer, input and target; the backends set.
struct TrainSetup {
  ModelSpec spec;
  torch::nn::AnyModule model;
  torch::nn::Module* net = nullptr;
  std::unique_ptr<torch::optim::Adam> optimizer;
  torch::Tensor x, target, loss;
  std::string input;  // where x comes from
  int64_t steps = 0, batch = 0;
  void step() {
    net->zero_grad(/*set_to_none=*/true);
    loss = torch::mse_loss(model.forward(x), target);
    loss.backward();
    optimizer->step();
  }
};

void check_config(const TrainStepBenchConfig& c) {
  if (c.steps < 1) throw std::invalid_argument(fmt::format("bench train-step: --T must be >= 1, got {}", c.steps));
  if (c.batch < 1) throw std::invalid_argument(fmt::format("bench train-step: --batch must be >= 1, got {}", c.batch));
  if (c.iterations < 1)
    throw std::invalid_argument(fmt::format("bench train-step: --steps must be >= 1, got {}", c.iterations));
  if (c.warmup < 0)
    throw std::invalid_argument(fmt::format("bench train-step: --warmup must be >= 0, got {}", c.warmup));
  if (c.norm_backend != "fused" && c.norm_backend != "composed")
    throw std::invalid_argument("bench train-step: --norm-backend must be fused or composed, got '" + c.norm_backend +
                                "'");
  if (c.scale_lif != "fused" && c.scale_lif != "apart")
    throw std::invalid_argument("bench train-step: --scale-lif must be fused or apart, got '" + c.scale_lif + "'");
  if (c.linear_backend != "onednn" && c.linear_backend != "blas")
    throw std::invalid_argument("bench train-step: --linear-backend must be onednn or blas, got '" + c.linear_backend +
                                "'");
  parse_synapse_mode(c.synapses, "bench train-step: --synapses");
  if (c.device != "cpu" && c.device != "cuda")
    throw std::invalid_argument("bench train-step: --device must be cpu or cuda, got '" + c.device + "'");
  if (c.device == "cuda" && !torch::cuda::is_available())
    throw std::runtime_error("bench train-step: --device cuda, but this LibTorch build sees no CUDA device");
  if (c.attention_backend != "fused" && c.attention_backend != "composed")
    throw std::invalid_argument("bench train-step: --attention-backend must be fused or composed, got '" +
                                c.attention_backend + "'");
}

// The checkpoint's network and the first batch of its training split (what its training steps saw).
void load_from_checkpoint(const TrainStepBenchConfig& c, TrainSetup& s, torch::Tensor& labels) {
  train::CheckpointInfo info;
  s.model = train::load_model(c.from, &info);
  s.spec = info.spec;
  std::vector<std::string> sets{"train.batch_size=" + std::to_string(c.batch)};
  if (!c.data_root.empty()) sets.push_back(train::config_assignment("data.root", c.data_root));
  const train::TrainConfig config = train::parse_checkpoint_config(info.config_toml, c.from, sets);
  const train::SplitData split = train::open_split(config, data::Split::Train);
  split.loader->start_epoch(0);
  data::Batch batch;
  if (!split.loader->next(batch))
    throw std::invalid_argument("bench train-step: " + c.from + ": the split " + split.name + " gives no batch");
  s.x = batch.x;
  labels = batch.labels;
  s.input = "the first batch of " + split.name;
}

std::unique_ptr<TrainSetup> make_setup(const TrainStepBenchConfig& c) {
  check_config(c);
  auto s = std::make_unique<TrainSetup>();
  torch::manual_seed(c.seed);
  torch::Tensor labels;
  if (c.from.empty()) {
    s->spec = model_spec(c);
    s->model = build_model(s->spec);
    s->x = random_spikes({c.steps, c.batch, s->spec.in_channels, s->spec.input_size, s->spec.input_size});
    labels = torch::randint(s->spec.num_classes, {c.batch}, torch::kLong);
    s->input = "random spikes (5% at 2.0)";
  } else {
    load_from_checkpoint(c, *s, labels);
  }
  s->net = s->model.ptr().get();
  for (const auto& m : s->net->modules()) {
    if (auto* attention = m->as<MultiDimAttentionImpl>()) attention->options.fused(c.attention_backend == "fused");
    if (auto* block = m->as<SpikingConvBlockImpl>()) {
      block->options.fused_norm(c.norm_backend == "fused");
      block->options.fused_scale_lif(c.scale_lif == "fused");
    }
    if (auto* block = m->as<SpikingLinearBlockImpl>()) block->options.linear_as_conv(c.linear_backend == "onednn");
  }
  set_synapse_mode(*s->net, parse_synapse_mode(c.synapses, "--synapses"));
  // Event frames are time-major [T,B,...]; images [B,...] (the network repeats them over its T).
  s->steps = s->x.dim() == 5 ? s->x.size(0) : s->spec.steps;
  s->batch = s->x.dim() == 5 ? s->x.size(1) : s->x.size(0);
  s->net->to(torch::Device(c.device));
  s->net->train();
  s->optimizer = std::make_unique<torch::optim::Adam>(s->net->parameters(), torch::optim::AdamOptions(1e-3));
  s->target = torch::one_hot(labels, s->spec.num_classes).to(torch::kFloat);
  s->x = s->x.to(torch::Device(c.device));
  s->target = s->target.to(torch::Device(c.device));
  return s;
}

}  // namespace

TrainStepBenchResult run_train_step_bench(const TrainStepBenchConfig& c) {
  check_config(c);
  memory::track_cpu_allocations();
  const auto setup = make_setup(c);
  const ModelSpec& spec = setup->spec;
  torch::nn::Module& net = *setup->net;
  const torch::Tensor& x = setup->x;
  torch::Tensor& loss = setup->loss;
  const bool cuda = c.device == "cuda";
  // GPU work is asynchronous: a timed region starts and ends with the device idle.
  const auto sync = [cuda] {
    if (cuda) torch::cuda::synchronize();
  };
  auto train_step = [&] { setup->step(); };

  TrainStepBenchResult r;
  r.model = spec.name;
  r.attention = spec.attention.name();
  r.input = setup->input;
  r.input_shape = x.sizes().vec();
  r.sparsity = analysis::measure_training_sparsity(setup->model, x);
  r.params = count_parameters(net);
  r.threads = torch::get_num_threads();

  for (int i = 0; i < c.warmup; ++i) train_step();
  sync();
  if (cuda) memory::reset_cuda_peak(0);
  memory::reset_cpu_peak();
  const int64_t baseline = memory::cpu_bytes_in_use();
  std::vector<double> step_ms;
  for (int i = 0; i < c.iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    train_step();
    sync();
    step_ms.push_back(ms_since(t0));
  }
  if (cuda) r.peak_cuda_mib = memory::cuda_peak_bytes(0) / kMiB;
  r.peak_tensor_mib = memory::cpu_peak_bytes() / kMiB;
  r.baseline_tensor_mib = baseline / kMiB;
  r.peak_rss_mib = memory::peak_rss_bytes() / kMiB;
  r.loss = loss.item<double>();
  loss = torch::Tensor();
  r.step_ms = median(step_ms);
  r.step_min_ms = *std::min_element(step_ms.begin(), step_ms.end());
  r.step_max_ms = *std::max_element(step_ms.begin(), step_ms.end());
  r.samples_per_s = 1000.0 * static_cast<double>(setup->batch) / r.step_ms;
  r.ms_per_sample_step = r.step_ms / static_cast<double>(setup->steps * setup->batch);

  // The floor: copies of the network's convolutions and linear layers on inputs of the shapes they see
  // ([T*B,C,H,W] and [T*B,F]), forward + backward each, nothing else.
  // A linear layer is timed twice: torch::linear (a BLAS GEMM; Debian's LibTorch links the reference BLAS) and
  // the same product as a 1x1 convolution (oneDNN); the floor takes the faster.
  struct FloorCase {
    std::shared_ptr<torch::nn::Module> layer;
    std::function<torch::Tensor(const torch::Tensor&)> forward, onednn_forward;
    torch::Tensor input, grad_output;
  };
  std::vector<FloorCase> cases;
  const auto modules = net.named_modules();
  const int64_t tb = setup->steps * setup->batch;
  for (const auto& row : analysis::count_operations(setup->model, example_input(spec).to(torch::Device(c.device)))) {
    if (row.kind != "conv2d" && row.kind != "linear") continue;
    std::vector<int64_t> in_shape{tb}, out_shape{tb};
    in_shape.insert(in_shape.end(), row.input_shape.begin(), row.input_shape.end());
    out_shape.insert(out_shape.end(), row.output_shape.begin(), row.output_shape.end());
    FloorCase fc;
    fc.layer = modules[row.name]->clone();
    if (auto conv = std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(fc.layer))
      fc.forward = [conv](const torch::Tensor& in) { return conv->forward(in); };
    else if (auto linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(fc.layer)) {
      fc.forward = [linear](const torch::Tensor& in) { return linear->forward(in); };
      fc.onednn_forward = [linear](const torch::Tensor& in) {
        const auto& w = linear->weight;
        return torch::conv2d(in.view({in.size(0), in.size(1), 1, 1}), w.view({w.size(0), w.size(1), 1, 1}),
                             linear->bias)
            .view({in.size(0), w.size(0)});
      };
    } else
      throw std::logic_error("bench train-step: " + row.name + " is neither Conv2d nor Linear");
    // The first layer sees the data (no gradient needed); the others see spikes and pass a gradient back.
    fc.input = cases.empty() ? (x.dim() == 5 ? x.flatten(0, 1) : x.repeat({setup->steps, 1, 1, 1}))
                             : (torch::rand(in_shape) < 0.1).to(torch::kFloat).to(x.device()).requires_grad_(true);
    fc.grad_output = (torch::randn(out_shape) * 1e-3).to(x.device());
    cases.push_back(std::move(fc));
    r.floor.push_back({row.name, in_shape, 0.0});
  }
  std::vector<std::vector<double>> layer_ms(cases.size()), onednn_ms(cases.size());
  std::vector<double> floor_ms;
  int64_t floor_peak = 0;
  for (int i = 0; i < c.warmup + c.iterations; ++i) {
    double total = 0;
    for (size_t k = 0; k < cases.size(); ++k) {
      auto& fc = cases[k];
      auto time_pass = [&](const std::function<torch::Tensor(const torch::Tensor&)>& forward) {
        fc.layer->zero_grad(/*set_to_none=*/true);
        if (fc.input.requires_grad()) fc.input.mutable_grad().reset();
        memory::reset_cpu_peak();
        const int64_t before = memory::cpu_bytes_in_use();
        sync();
        const auto t0 = std::chrono::steady_clock::now();
        forward(fc.input).backward(fc.grad_output);
        sync();
        const double ms = ms_since(t0);
        floor_peak = std::max(floor_peak, memory::cpu_peak_bytes() - before);
        return ms;
      };
      const double ms = time_pass(fc.forward);
      double best = ms;
      if (fc.onednn_forward) {
        const double alt = time_pass(fc.onednn_forward);
        best = std::min(best, alt);
        if (i >= c.warmup) onednn_ms[k].push_back(alt);
      }
      total += best;
      if (i >= c.warmup) layer_ms[k].push_back(ms);
    }
    if (i >= c.warmup) floor_ms.push_back(total);
  }
  for (size_t k = 0; k < cases.size(); ++k) {
    r.floor[k].ms = median(layer_ms[k]);
    if (!onednn_ms[k].empty()) r.floor[k].onednn_ms = median(onednn_ms[k]);
  }
  r.floor_ms = median(floor_ms);
  r.floor_peak_tensor_mib = floor_peak / kMiB;
  return r;
}

TrainStepProfile profile_train_step(const TrainStepBenchConfig& c, bool shapes) {
  namespace prof = torch::autograd::profiler;
  const auto setup = make_setup(c);
  for (int i = 0; i < c.warmup; ++i) setup->step();
  TrainStepProfile out;
  prof::thread_event_lists lists;
  {
    prof::enableProfilerLegacy(prof::ProfilerConfig(prof::ProfilerState::CPU, /*report_input_shapes=*/shapes));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < c.iterations; ++i) setup->step();
    out.step_ms = ms_since(t0) / c.iterations;
    lists = prof::disableProfilerLegacy();
  }
  // Each thread's events are nested push/pop pairs in order: self time = own span minus the direct children's.
  struct Open {
    const prof::LegacyEvent* push;
    double child_us = 0;
  };
  std::map<std::string, ProfileRow> by_name;
  for (const auto& events : lists) {
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open open = stack.back();
        stack.pop_back();
        const double us = open.push->cpuElapsedUs(e);
        std::string name = open.push->name();
        if (shapes) {
          std::vector<std::string> parts;
          for (const auto& shape : open.push->shapes())
            if (!shape.empty()) parts.push_back(fmt::format("[{}]", fmt::join(shape, ",")));
          name += " " + fmt::format("{}", fmt::join(parts, " "));
        }
        ProfileRow& row = by_name[name];
        row.name = name;
        row.calls += 1;
        row.self_ms += (us - open.child_us) / 1000.0;
        if (!stack.empty()) stack.back().child_us += us;
      }
    }
  }
  for (auto& [name, row] : by_name) {
    row.calls /= c.iterations;
    row.self_ms /= c.iterations;
    out.rows.push_back(row);
  }
  std::sort(out.rows.begin(), out.rows.end(),
            [](const ProfileRow& a, const ProfileRow& b) { return a.self_ms > b.self_ms; });
  return out;
}

}  // namespace masnn::bench
