#include "sparse_bench.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "bench_util.h"
#include "masnn/analysis/training_sparsity.h"
#include "masnn/data/frames.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/event_driven_synapse.h"
#include "masnn/models/network_step.h"
#include "masnn/models/registry.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/train/factory.h"
#include "models/lean_ops.h"
#include "models/sparse_kernels.h"
#include "neuron/surrogate_support.h"

namespace masnn::bench {
namespace {

// Every synaptic layer of `model` the event-driven kernels can run (on spikes or input frames), with its name.
serve::SparseNetwork synapses_of(torch::nn::AnyModule& model, const ModelSpec& spec) {
  serve::SparseOptions dense;
  dense.mode = serve::SynapseMode::Dense;  // nothing calibrated: the sweep times the layers itself
  return serve::enable_sparse(model, example_input(spec), dense);
}

// The fastest of `repeats` calls after one warm-up (the least disturbed on a shared machine).
template <typename Fn>
double time_ms(int repeats, const Fn& fn) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    t.push_back(ms_since(t0));
  }
  return *std::min_element(t.begin(), t.end());
}

// Part (3)'s input gradient alone at batch `batch` and an input of `in_shape` [C,H,W]: dense against at a support.
LayerSweep input_grad_sweep(const SparseBenchConfig& c, const torch::nn::Conv2dImpl& conv, const std::string& layer,
                            int64_t batch, const std::vector<int64_t>& in_shape) {
  LayerSweep sweep;
  sweep.layer = layer;
  sweep.batch = batch;
  const torch::Tensor weight = conv.weight.detach();
  const torch::Tensor weight_t = weight.permute({1, 2, 3, 0}).contiguous();
  const std::vector<int64_t> sizes = {batch, in_shape[0], in_shape[1], in_shape[2]};
  const int64_t k = (*conv.options.kernel_size())[0];
  kernels::ConvShape s;
  s.batch = batch;
  s.in_channels = in_shape[0];
  s.height = in_shape[1];
  s.width = in_shape[2];
  s.out_channels = weight.size(0);
  s.kernel = k;
  s.pad = k / 2;
  const torch::Tensor g = torch::randn({batch, s.out_channels, s.out_height(), s.out_width()}) * 1e-3;
  const torch::Tensor g_cl = g.permute({0, 2, 3, 1}).contiguous();
  for (double d : c.densities) {
    const torch::Tensor support = functional::pack_bits(torch::rand(sizes) < d);
    serve::PathTiming t;
    t.density = d;
    t.dense_ms = time_ms(c.repeats, [&] {
      functional::conv2d_input_grad(g, sizes, weight, {1, 1}, {k / 2, k / 2}, {1, 1}, 1);
    });
    t.sparse_ms = time_ms(c.repeats, [&] {
      torch::Tensor grad_in = torch::empty(sizes);  // allocated per call, as the dense path's is
      kernels::sparse_conv2d_input_grad<float>(support.data_ptr<uint8_t>(), g_cl.data_ptr<float>(),
                                               weight_t.data_ptr<float>(), grad_in.data_ptr<float>(), s);
    });
    sweep.timings.push_back(t);
  }
  sweep.crossover = serve::crossover_density(sweep.timings);
  return sweep;
}

// The same for a linear layer [batch, In] -> [batch, Out]: one GEMM against kernels::sparse_linear_input_grad.
LayerSweep linear_input_grad_sweep(const SparseBenchConfig& c, const torch::nn::LinearImpl& linear,
                                   const std::string& layer, int64_t batch) {
  LayerSweep sweep;
  sweep.layer = layer;
  sweep.batch = batch;
  const torch::Tensor weight = linear.weight.detach();
  const torch::Tensor weight_t = weight.t().contiguous();
  const int64_t in = weight.size(1), out = weight.size(0);
  const torch::Tensor g = torch::randn({batch, out}) * 1e-3;
  for (double d : c.densities) {
    const torch::Tensor support = functional::pack_bits(torch::rand({batch, in}) < d);
    serve::PathTiming t;
    t.density = d;
    t.dense_ms = time_ms(c.repeats, [&] { functional::linear_input_grad(g, weight); });
    t.sparse_ms = time_ms(c.repeats, [&] {
      torch::Tensor grad_in = torch::empty({batch, in});
      kernels::sparse_linear_input_grad<float>(support.data_ptr<uint8_t>(), g.data_ptr<float>(),
                                               weight_t.data_ptr<float>(), grad_in.data_ptr<float>(), batch, in, out);
    });
    sweep.timings.push_back(t);
  }
  sweep.crossover = serve::crossover_density(sweep.timings);
  return sweep;
}

// Part (3): forward + backward of every convolution and linear layer on spikes, dense and event-driven, at each
// density; and the input gradient alone, dense and at a surrogate support of each density (into
// r.input_grad_sweeps).
void training_sweeps(const SparseBenchConfig& c, SparseBenchResult& r) {
  torch::AutoGradMode grad(true);
  ModelSpec spec = default_model_spec(c.model);
  spec.steps = c.steps;
  torch::manual_seed(1);
  const torch::nn::AnyModule model = build_model(spec);
  const auto modules = model.ptr()->named_modules();
  for (const auto& l : analysis::measure_training_sparsity(model, example_input(spec)).synapses) {
    if (l.input != SynapseEvent::Kind::Spikes) continue;
    auto* conv = modules[l.name]->as<torch::nn::Conv2dImpl>();
    auto* linear = modules[l.name]->as<torch::nn::LinearImpl>();
    if (!conv && !linear) continue;
    const auto& s = l.input_shape;  // [T,1,C,H,W] or [T,1,F]
    LayerSweep sweep;
    sweep.batch = c.steps * c.train_batch;
    std::vector<int64_t> sizes = {sweep.batch};
    sizes.insert(sizes.end(), s.begin() + 2, s.end());
    sweep.layer = conv ? fmt::format("{}: conv {}->{} k{} at {}x{}", l.name, s[2], conv->options.out_channels(),
                                     (*conv->options.kernel_size())[0], s[3], s[4])
                       : fmt::format("{}: linear {}->{}", l.name, s[2], linear->options.out_features());
    for (double d : c.densities) {
      const torch::Tensor spikes = (torch::rand(sizes) < d).to(torch::kFloat);
      const torch::Tensor x = spikes.requires_grad_(true);
      torch::Tensor g;
      const auto pass = [&](bool event_driven) {
        modules[l.name]->zero_grad(/*set_to_none=*/true);
        x.mutable_grad().reset();
        torch::Tensor y;
        if (conv)
          y = event_driven ? functional::conv2d_event_driven(x, *conv) : functional::conv2d_binary_input(x, *conv);
        else
          y = event_driven ? functional::linear_event_driven(x, *linear) : functional::linear_binary_input(x, *linear);
        if (!g.defined()) g = torch::randn(y.sizes()) * 1e-3;
        y.backward(g);
      };
      serve::PathTiming t;
      t.density = d;
      t.dense_ms = time_ms(c.repeats, [&] { pass(false); });
      t.sparse_ms = time_ms(c.repeats, [&] { pass(true); });
      sweep.timings.push_back(t);
    }
    sweep.crossover = serve::crossover_density(sweep.timings);
    r.train_sweeps.push_back(sweep);
    r.input_grad_sweeps.push_back(conv ? input_grad_sweep(c, *conv, sweep.layer, sweep.batch, {s[2], s[3], s[4]})
                                       : linear_input_grad_sweep(c, *linear, sweep.layer, sweep.batch));
  }
}

}  // namespace

SparseBenchResult run_sparse_bench(const SparseBenchConfig& c) {
  if (c.repeats < 1 || c.threads < 1 || c.samples < 1 || c.steps < 1)
    throw std::invalid_argument("bench sparse: --repeats, --bench-threads, --samples and -T must be >= 1");
  if (c.train_batch < 0) throw std::invalid_argument("bench sparse: --train must be >= 0");
  for (double d : c.densities)
    if (!(d > 0 && d <= 1)) throw std::invalid_argument(fmt::format("bench sparse: density {} not in (0,1]", d));
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(c.threads);
  torch::NoGradGuard no_grad;
  SparseBenchResult r;
  r.threads = c.threads;

  if (c.layers) {
    ModelSpec spec = default_model_spec(c.model);
    spec.steps = c.steps;
    torch::manual_seed(1);
    torch::nn::AnyModule model = build_model(spec);
    const serve::SparseNetwork layers = synapses_of(model, spec);
    for (size_t l = 0; l < layers.layers.size(); ++l) {
      const auto& syn = layers.layers[l];
      for (int64_t batch : {int64_t(1), c.steps}) {
        LayerSweep s;
        s.layer = layers.names[l] + ": " + syn->describe();
        s.batch = batch;
        s.timings = syn->calibrate(batch, c.densities, c.repeats);
        s.crossover = syn->crossover(batch);
        r.sweeps.push_back(s);
      }
    }
  }

  if (c.train_batch > 0) training_sweeps(c, r);

  if (!c.checkpoint.empty()) {
    train::CheckpointInfo info;
    torch::nn::AnyModule model = train::load_model(c.checkpoint, &info);
    model.ptr()->eval();  // its step forward is timed too
    std::vector<std::string> sets;
    if (!c.data.empty()) sets.push_back(train::config_assignment("data.root", c.data));
    sets.push_back("train.quiet=true");
    const train::TrainConfig config = train::parse_checkpoint_config(info.config_toml, c.checkpoint, sets);
    auto test_set = train::make_dataset(config, data::Split::Test);
    const auto fo = train::frame_options(config.data, test_set->width(), test_set->height());
    const int64_t T = info.spec.steps;
    r.network = fmt::format("{} ({}, {} {}, T={}) on {}", c.checkpoint, info.spec.name, info.spec.attention.name(),
                            to_string(info.spec.placement), T, test_set->name());
    std::vector<torch::Tensor> clips;  // [T,1,2,H,W], the first test clip of each sample
    for (size_t i = 0; i < test_set->size() && static_cast<int64_t>(clips.size()) < c.samples; ++i)
      clips.push_back(data::test_clips(test_set->events(i), fo, 1)[0].unsqueeze(1));
    r.clips = static_cast<int64_t>(clips.size());
    if (clips.empty()) throw std::runtime_error("bench sparse: the test split is empty");

    std::vector<torch::Tensor> dense_out;
    for (const char* mode : {"dense", "auto", "sparse"}) {
      NetworkRun run;
      run.synapses = mode;
      serve::disable_sparse(*model.ptr());
      serve::SparseNetwork sn;
      if (std::string(mode) != "dense") {
        serve::SparseOptions so;
        so.mode = serve::parse_synapse_mode(mode);
        so.calibrate_batches = {1, T};
        so.densities = c.densities;
        so.repeats = c.repeats;
        sn = serve::enable_sparse(model, example_input(info.spec), so);
      }
      // Offline: one clip of T steps per forward.
      std::vector<double> clip_ms;
      for (size_t k = 0; k < clips.size(); ++k) {
        torch::Tensor out;
        clip_ms.push_back(time_ms(c.repeats, [&] { out = model.forward(clips[k]); }));
        if (dense_out.size() <= k) dense_out.push_back(out);
        run.max_abs_diff = std::max(run.max_abs_diff, (out - dense_out[k]).abs().max().item<double>());
        run.same_prediction += out.argmax(1).item<int64_t>() == dense_out[k].argmax(1).item<int64_t>();
      }
      run.clip_ms = median(clip_ms);
      std::vector<double> clip_share(sn.layers.size());
      for (size_t l = 0; l < sn.layers.size(); ++l) {
        clip_share[l] = sn.layers[l]->calls > 0 ? double(sn.layers[l]->sparse_calls) / double(sn.layers[l]->calls) : 0;
        if (std::string(mode) == "sparse") {  // every call counted its nonzero inputs: the firing rates
          if (r.layers.size() <= l) r.layers.resize(l + 1);
          r.layers[l].name = sn.names[l];
          r.layers[l].shape = sn.layers[l]->describe();
          r.layers[l].input_density = sn.layers[l]->inputs > 0 ? sn.layers[l]->nonzeros / sn.layers[l]->inputs : 0;
        }
      }
      sn.clear_counts();
      // Step by step at batch 1, state carried through each clip from rest.
      std::vector<double> step_ms;
      for (const auto& clip : clips) {
        NetworkStepState state;
        for (int64_t t = 0; t < clip.size(0); ++t) {
          const torch::Tensor x = clip[t];
          const auto t0 = std::chrono::steady_clock::now();
          forward_step(*model.ptr(), x, state);
          step_ms.push_back(ms_since(t0));
        }
      }
      run.step_ms = median(step_ms);
      if (std::string(mode) == "auto") {
        for (size_t l = 0; l < sn.layers.size(); ++l) {
          if (r.layers.size() <= l) r.layers.resize(l + 1);
          r.layers[l].crossover_clip = sn.layers[l]->crossover(T);
          r.layers[l].crossover_step = sn.layers[l]->crossover(1);
          r.layers[l].auto_sparse_share_clip = clip_share[l];
          r.layers[l].auto_sparse_share_step =
              sn.layers[l]->calls > 0 ? double(sn.layers[l]->sparse_calls) / double(sn.layers[l]->calls) : 0;
        }
      }
      r.runs.push_back(run);
    }
    serve::disable_sparse(*model.ptr());
  }
  torch::set_num_threads(saved_threads);
  return r;
}

}  // namespace masnn::bench
