// Monitors: objects that the modules of a network notify, while one is attached, of what they compute — the
// spikes a neuron emits, what a synaptic layer (conv, linear) reads, what an attention module weighs, what a block
// gives — so that tools (spike counts, operation counts, energy, attention maps, the report) learn any network's
// activity by name without knowing its wiring (SpikingJelly's monitors, without forward hooks: LibTorch's C++
// modules have none, so each module states its own events).
//
// Attach with a MonitorScope on the thread that runs the network; names are the module paths of the scope's root
// (named_modules(), e.g. convs.0.lif). Modules outside that root are not reported. With nothing attached a
// notification costs one read of a thread-local flag; nothing is computed or kept for monitors.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/types.h>

#include <string>
#include <unordered_map>

namespace masnn {

/// One call of a synaptic layer (a Conv2d or Linear inside a block).
struct SynapseEvent {
  const torch::nn::Module* layer = nullptr;  ///< the Conv2dImpl or LinearImpl
  torch::Tensor input;  ///< time_major: [T,B,...]; otherwise [B,...], one input for all T steps (a static stem)
  bool time_major = true;
  /// What the input is, for the energy model (spikes cost accumulates, real values multiply-accumulates).
  enum class Kind {
    Spikes,  ///< 0/1 from a neuron
    Frames,  ///< the network's input: event counts (spikes) or real values (images), told apart by content
    Values,  ///< real values: a membrane (a residual shortcut), firing rates (a head after the mean over T)
  };
  Kind kind = Kind::Values;
};

/// One call of an attention module (MultiDimAttentionImpl; AttentiveLIFImpl at activate-pre). Tensors detached.
struct AttentionEvent {
  const torch::nn::Module* module = nullptr;
  /// [T,B,...] without the attention: the membrane input X (conv-post) or the potential U_t of every step
  /// (activate-pre, `potential`); `after` with it: ReLU(X x weights) or U'_t, undefined when no attached monitor
  /// wants it (Monitor::wants_attention_values) and the module fused it into the neuron.
  torch::Tensor before, after;
  bool potential = false;
  /// Weights (undefined when absent): TA [T,B,1,...]; CA [S,B,C,1,1]; SA [S,B,1,H,W] (S = 1 over T, T per step).
  torch::Tensor temporal, channel, spatial;
};

/// Receives the events of the modules of the network it is attached to; a callback ignores what it is not given.
class Monitor {
 public:
  virtual ~Monitor() = default;
  /// A neuron layer emitted spikes [T,B,...] (T = 1 for one step of step-at-a-time inference).
  virtual void on_spikes(const std::string& name, const torch::nn::Module& neuron, const torch::Tensor& spikes) {}
  /// A neuron layer's input [T,B,...] and its starting state (undefined: at rest), given before on_spikes where the
  /// neuron receives it as a tensor (not when an attention's last pass is fused into the neuron: a monitor that
  /// needs every neuron's input asks for attention values, which turns that fusion off).
  virtual void on_neuron_input(const std::string& name, const torch::nn::Module& neuron, const torch::Tensor& input,
                               const torch::Tensor& state) {}
  virtual void on_synapse(const std::string& name, const SynapseEvent& event) {}
  virtual void on_attention(const std::string& name, const AttentionEvent& event) {}
  /// A block (a network's unit of summary: a spiking block, a residual block, a Res-SNN's stem and head) gave output.
  virtual void on_block(const std::string& name, const torch::nn::Module& block, const torch::Tensor& output) {}
  /// True to get AttentionEvent::after (the attention then does not fuse its last pass into the neuron).
  virtual bool wants_attention_values() const { return false; }
};

/// Attaches `monitor` to `root` on this thread for the scope's lifetime (root and monitor must outlive it). Scopes
/// nest: every attached monitor sees the events of the modules under its root.
class MonitorScope {
 public:
  MonitorScope(Monitor& monitor, const torch::nn::Module& root);
  ~MonitorScope();
  MonitorScope(const MonitorScope&) = delete;
  MonitorScope& operator=(const MonitorScope&) = delete;
  /// The module's path under the root ("" for the root); nullptr when it is not under the root.
  const std::string* name_of(const torch::nn::Module& module) const;
  Monitor& monitor() const { return monitor_; }
  MonitorScope* outer() const { return outer_; }  ///< the scope this one nests in

 private:
  Monitor& monitor_;
  std::unordered_map<const torch::nn::Module*, std::string> names_;
  MonitorScope* outer_;
};

/// Runs one forward of `model` on `example` with `monitor` attached to it, in evaluation mode and without
/// gradients (the module's training flag is restored after): how a tool learns which layers a network calls, in
/// which order and on what (operation counts, pruning and sparse inference, which then replace those layers).
void observe_forward(const torch::nn::AnyModule& model, const torch::Tensor& example, Monitor& monitor);

/// What modules call; each does nothing unless a monitor is attached to a root above the module.
namespace monitoring {
bool active();  ///< a monitor is attached on this thread (check before preparing an event)
bool wants_attention_values();
void spikes(const torch::nn::Module& neuron, const torch::Tensor& spikes);
void neuron_input(const torch::nn::Module& neuron, const torch::Tensor& input, const torch::Tensor& state);
void synapse(const SynapseEvent& event);
void attention(const AttentionEvent& event);
void block(const torch::nn::Module& block, const torch::Tensor& output);
}  // namespace monitoring

}  // namespace masnn
