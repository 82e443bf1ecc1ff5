#include "masnn/analysis/spike_monitor.h"

#include <torch/torch.h>

#include <algorithm>

namespace masnn::analysis {

void SpikeMonitor::on_spikes(const std::string& name, const torch::nn::Module&, const torch::Tensor& spikes) {
  TORCH_CHECK(spikes.dim() >= 2, "spike monitor: ", name, " reported spikes of shape ", spikes.sizes(),
              ", expected [T,B,...]");
  auto it = std::find_if(layers_.begin(), layers_.end(), [&](const LayerSpikes& l) { return l.name == name; });
  const int64_t steps = spikes.size(0), batch = spikes.size(1);
  const torch::Tensor flat = spikes.reshape({steps, batch, -1}).ne(0);
  const int64_t neurons = flat.size(2);
  if (it == layers_.end()) {
    LayerSpikes l;
    l.name = name;
    l.neurons = neurons;
    l.steps = steps;
    l.spikes_per_step.assign(static_cast<size_t>(steps), 0.0);
    l.fired = torch::zeros({neurons}, torch::kBool);
    layers_.push_back(std::move(l));
    last_.emplace_back();
    it = layers_.end() - 1;
  }
  LayerSpikes& l = *it;
  TORCH_CHECK(l.neurons == neurons && l.steps == steps, "spike monitor: ", name, " gave [", steps, ",B,", neurons,
              " neurons], earlier [", l.steps, ",B,", l.neurons, " neurons]");
  const torch::Tensor per_step = flat.sum({1, 2}, false, torch::kLong);
  const auto acc = per_step.accessor<int64_t, 1>();
  for (int64_t t = 0; t < steps; ++t) {
    l.spikes_per_step[static_cast<size_t>(t)] += static_cast<double>(acc[t]);
    l.spikes += static_cast<double>(acc[t]);
  }
  const torch::Tensor per_neuron = flat.any(0);  // [B,neurons]: fired during this input
  l.silent += static_cast<double>(batch * neurons - per_neuron.sum(torch::kLong).item<int64_t>());
  l.fired = l.fired.logical_or(per_neuron.any(0));
  l.samples += batch;
  if (keep_last_) last_[static_cast<size_t>(it - layers_.begin())] = spikes.detach();
}

void SpikeMonitor::clear() {
  layers_.clear();
  last_.clear();
}

LayerSpikes total_spikes(const std::vector<LayerSpikes>& layers) {
  LayerSpikes t;
  t.name = "total";
  for (const auto& l : layers) {
    t.spikes += l.spikes;
    t.neurons += l.neurons;
    t.silent += l.silent;
    t.samples = std::max(t.samples, l.samples);
    t.steps = std::max(t.steps, l.steps);
    if (t.spikes_per_step.size() < l.spikes_per_step.size()) t.spikes_per_step.resize(l.spikes_per_step.size(), 0.0);
    for (size_t k = 0; k < l.spikes_per_step.size(); ++k) t.spikes_per_step[k] += l.spikes_per_step[k];
  }
  return t;
}

}  // namespace masnn::analysis
