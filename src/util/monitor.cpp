#include "masnn/util/monitor.h"

#include <torch/torch.h>

#include <stdexcept>

#include "util/training_flag_guard.h"

namespace masnn {
namespace {

// The innermost scope attached on this thread; each links to the one it nests in.
thread_local MonitorScope* innermost = nullptr;

template <class Notify>
void for_each_scope(const torch::nn::Module& module, Notify&& notify) {
  for (MonitorScope* s = innermost; s != nullptr;) {
    if (const std::string* name = s->name_of(module)) notify(s->monitor(), *name);
    s = s->outer();
  }
}

}  // namespace

void observe_forward(const torch::nn::AnyModule& model, const torch::Tensor& example, Monitor& monitor) {
  if (model.is_empty()) throw std::invalid_argument("observe_forward: the model is empty");
  torch::nn::Module& root = *model.ptr();
  detail::TrainingFlagGuard restore(root);
  root.eval();
  torch::NoGradGuard no_grad;
  MonitorScope scope(monitor, root);
  torch::nn::AnyModule m = model;  // forward is not const
  m.forward(example);
}

MonitorScope::MonitorScope(Monitor& monitor, const torch::nn::Module& root) : monitor_(monitor), outer_(innermost) {
  names_.emplace(&root, "");
  // named_modules is not const in LibTorch; it only reads the tree.
  for (const auto& item : const_cast<torch::nn::Module&>(root).named_modules("", /*include_self=*/false))
    names_.emplace(item.value().get(), item.key());
  innermost = this;
}

MonitorScope::~MonitorScope() {
  // Scopes end in reverse order of their start (they are scoped objects); unlink this one wherever it is.
  if (innermost == this) {
    innermost = outer_;
    return;
  }
  for (MonitorScope* s = innermost; s != nullptr; s = s->outer_)
    if (s->outer_ == this) {
      s->outer_ = outer_;
      return;
    }
}

const std::string* MonitorScope::name_of(const torch::nn::Module& module) const {
  const auto it = names_.find(&module);
  return it == names_.end() ? nullptr : &it->second;
}

namespace monitoring {

bool active() {
  return innermost != nullptr;
}

bool wants_attention_values() {
  for (MonitorScope* s = innermost; s != nullptr; s = s->outer())
    if (s->monitor().wants_attention_values()) return true;
  return false;
}

void spikes(const torch::nn::Module& neuron, const torch::Tensor& spikes) {
  if (!innermost) return;
  for_each_scope(neuron, [&](Monitor& m, const std::string& name) { m.on_spikes(name, neuron, spikes); });
}

void neuron_input(const torch::nn::Module& neuron, const torch::Tensor& input, const torch::Tensor& state) {
  if (!innermost) return;
  for_each_scope(neuron, [&](Monitor& m, const std::string& name) { m.on_neuron_input(name, neuron, input, state); });
}

void synapse(const SynapseEvent& event) {
  if (!innermost) return;
  for_each_scope(*event.layer, [&](Monitor& m, const std::string& name) { m.on_synapse(name, event); });
}

void attention(const AttentionEvent& event) {
  if (!innermost) return;
  for_each_scope(*event.module, [&](Monitor& m, const std::string& name) { m.on_attention(name, event); });
}

void block(const torch::nn::Module& block, const torch::Tensor& output) {
  if (!innermost) return;
  for_each_scope(block, [&](Monitor& m, const std::string& name) { m.on_block(name, block, output); });
}

}  // namespace monitoring
}  // namespace masnn
