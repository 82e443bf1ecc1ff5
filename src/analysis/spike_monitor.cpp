#include "masnn/analysis/spike_monitor.h"

#include "masnn/attention/attentive_lif.h"
#include "masnn/neuron/lif.h"

namespace masnn::analysis {
namespace {

SpikeCounter* counter_of(torch::nn::Module& m) {
  if (auto* lif = dynamic_cast<LIFImpl*>(&m)) return &lif->spike_counter;
  if (auto* alif = dynamic_cast<AttentiveLIFImpl*>(&m)) return &alif->spike_counter;
  return nullptr;
}

}  // namespace

void enable_spike_recording(torch::nn::Module& module, bool enabled) {
  for (const auto& item : module.named_modules()) {
    if (SpikeCounter* c = counter_of(*item.value())) {
      c->clear();
      c->enabled = enabled;
    }
  }
}

std::vector<LayerSpikes> spike_counts(torch::nn::Module& module) {
  std::vector<LayerSpikes> out;
  for (const auto& item : module.named_modules()) {
    if (const SpikeCounter* c = counter_of(*item.value()))
      out.push_back({item.key(), c->spikes, c->elements, c->samples, c->neurons, c->steps});
  }
  return out;
}

LayerSpikes total_spikes(const std::vector<LayerSpikes>& layers) {
  LayerSpikes t;
  t.name = "total";
  for (const auto& l : layers) {
    t.spikes += l.spikes;
    t.elements += l.elements;
    t.neurons += l.neurons;
    t.samples = std::max(t.samples, l.samples);
    t.steps = std::max(t.steps, l.steps);
  }
  return t;
}

}  // namespace masnn::analysis
