#include "masnn/analysis/training_sparsity.h"

#include <torch/torch.h>

#include <map>
#include <utility>

#include "masnn/neuron/lif.h"

namespace masnn::analysis {
namespace {

class SparsityMonitor final : public Monitor {
 public:
  TrainingSparsity result;

  // The neuron's input as a tensor: attention applied apart from the neuron, which then gets it.
  bool wants_attention_values() const override { return true; }

  void on_neuron_input(const std::string& name, const torch::nn::Module& neuron, const torch::Tensor& input,
                       const torch::Tensor& state) override {
    const auto* lif = dynamic_cast<const LIFImpl*>(&neuron);
    if (!lif) return;
    const torch::Tensor decay = lif->options.learnable_decay() ? lif->decay() : torch::Tensor();
    const torch::Tensor u = functional::lif_membrane(input, lif->options, state, decay);
    pending_support_[name] = functional::surrogate_support(u, lif->options).to(torch::kDouble).mean().item<double>();
  }

  void on_spikes(const std::string& name, const torch::nn::Module&, const torch::Tensor& spikes) override {
    NeuronSparsity n;
    n.name = name;
    n.firing_rate = spikes.detach().to(torch::kDouble).mean().item<double>();
    if (const auto it = pending_support_.find(name); it != pending_support_.end()) {
      n.surrogate_support = it->second;
      pending_support_.erase(it);
    }
    sources_[spikes.data_ptr()] = {result.neurons.size(), spikes};
    result.neurons.push_back(n);
  }

  void on_synapse(const std::string& name, const SynapseEvent& e) override {
    SynapseSparsity s;
    s.name = name;
    s.kind = e.layer->as<torch::nn::Conv2dImpl>() ? "conv2d" : "linear";
    s.input_shape = e.input.sizes().vec();
    s.input = e.kind;
    s.input_density = (e.input.detach() != 0).to(torch::kDouble).mean().item<double>();
    // A layer reading a neuron's spikes gets that very tensor (or a view of it).
    if (const auto it = sources_.find(e.input.data_ptr()); it != sources_.end()) {
      s.source = result.neurons[it->second.first].name;
      s.source_support = result.neurons[it->second.first].surrogate_support;
    }
    result.synapses.push_back(s);
  }

 private:
  std::map<std::string, double> pending_support_;  // by neuron, from its input until its spikes
  // Spike tensors' data -> index in result.neurons, and the tensor itself: held so that its memory is not reused
  // by a later tensor (a membrane, say) that would then be taken for these spikes.
  std::map<const void*, std::pair<size_t, torch::Tensor>> sources_;
};

}  // namespace

TrainingSparsity measure_training_sparsity(const torch::nn::AnyModule& model, const torch::Tensor& x) {
  torch::nn::AnyModule copy = model.clone();
  torch::nn::Module& net = *copy.ptr();
  net.train();
  torch::NoGradGuard no_grad;
  SparsityMonitor monitor;
  {
    const MonitorScope scope(monitor, net);
    copy.forward(x);
  }
  return monitor.result;
}

}  // namespace masnn::analysis
