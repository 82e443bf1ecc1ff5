// Spike counts of every spiking layer of a network (LIF and AttentiveLIF modules), by module name.
// Usage: enable_spike_recording(net, true); run batches; auto layers = spike_counts(net);
#pragma once

#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace masnn::analysis {

struct LayerSpikes {
  std::string name;      ///< module path, e.g. convs.0.lif
  double spikes = 0;     ///< total spikes recorded
  int64_t elements = 0;  ///< neuron-steps recorded (T * B * neurons)
  int64_t samples = 0;
  int64_t neurons = 0;  ///< per sample
  int64_t steps = 0;    ///< T
  double firing_rate() const { return elements ? spikes / elements : 0.0; }
  double spikes_per_sample() const { return samples ? spikes / samples : 0.0; }
};

/// Turns recording on or off in every spiking layer and clears the counts.
void enable_spike_recording(torch::nn::Module& module, bool enabled);

/// The counts of every spiking layer, in module order.
std::vector<LayerSpikes> spike_counts(torch::nn::Module& module);

/// Network totals: spikes per sample summed over layers, and the firing rate over all neuron-steps.
LayerSpikes total_spikes(const std::vector<LayerSpikes>& layers);

}  // namespace masnn::analysis
