// Spikes of every neuron layer of a network (LIF, AttentiveLIF), by module name: a monitor (masnn/util/monitor.h)
// that works on any network, since the neurons report their own spikes.
// Usage: SpikeMonitor spikes; { MonitorScope scope(spikes, net); run batches; } auto layers = spikes.layers();
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/util/monitor.h"

namespace masnn::analysis {

/// Spikes leaving one neuron layer over the calls seen. One call of [T,B,...] is B inputs of T steps.
struct LayerSpikes {
  std::string name;                     ///< module path, e.g. convs.0.lif or stages.0.1.lif2
  int64_t neurons = 0;                  ///< per input
  int64_t steps = 0;                    ///< T
  int64_t samples = 0;                  ///< inputs seen
  double spikes = 0;                    ///< total
  std::vector<double> spikes_per_step;  ///< total per time step, [T]
  double silent = 0;                    ///< sum over inputs of the neurons silent for all T steps
  torch::Tensor fired;                  ///< [neurons] bool: fired at least once on any input
  double elements() const { return static_cast<double>(neurons * steps * samples); }
  double firing_rate() const { return elements() > 0 ? spikes / elements() : 0.0; }
  double spikes_per_sample() const { return samples ? spikes / static_cast<double>(samples) : 0.0; }
};

/// Counts the spikes of every neuron layer under the root it is attached to, in the order the layers first fire.
class SpikeMonitor : public Monitor {
 public:
  /// keep_last: also keep every layer's spikes of its last call (rasters of the last batch).
  explicit SpikeMonitor(bool keep_last = false) : keep_last_(keep_last) {}
  void on_spikes(const std::string& name, const torch::nn::Module& neuron, const torch::Tensor& spikes) override;

  const std::vector<LayerSpikes>& layers() const { return layers_; }
  /// The spikes [T,B,...] of each layer's last call (keep_last), in the order of layers().
  const std::vector<torch::Tensor>& last() const { return last_; }
  void clear();

 private:
  bool keep_last_;
  std::vector<LayerSpikes> layers_;
  std::vector<torch::Tensor> last_;
};

/// Network totals: spikes summed over layers, neurons summed, the most samples and steps of any layer.
LayerSpikes total_spikes(const std::vector<LayerSpikes>& layers);

}  // namespace masnn::analysis
