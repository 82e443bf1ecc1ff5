// Attention-guided pruning at inference (as the reference's winner-take-all option), on any of masnn's networks:
// in every layer with conv-post attention, the time steps whose temporal-attention weight (TA) and the channels
// whose channel-attention weight (CA) fall below a threshold or outside the top-k of their sample are dropped:
// their attended membrane input is set to zero, so (for neurons without a positive bias) they emit no spikes.
// The work that silence makes needless is then skipped, not multiplied by zero: every conv and linear layer
// computes only the rows (time step x sample) of its input that are not all zero, over only the input channels (the
// features of a linear layer) that carry a nonzero; the rest of its output is its bias. Silence is skipped with or
// without pruning, so an unpruned run shows what the network's own sparsity saves, and a setting's extra share is
// the pruning's.
//
// Installed by replacing layers (masnn/models/layer_replacement.h): every conv-post attention module by one that
// drops, every Conv2d and Linear by one that skips; no network's forward is re-stated. TA drops steps in every
// attention module but those that run after the network's last synaptic layer (the DVS networks' output layer:
// nothing follows it, so dropping would only remove evidence). CA drops channels where it is pooled over T;
// per-step CA and SA, and attention inside the neuron (activate-pre), are not pruned (their weights change every
// step).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace masnn::serve {

struct PruneOptions {
  /// Keep the k steps with the highest TA weight per sample and layer (0 = all).
  int64_t ta_topk = 0;
  /// Drop steps whose TA weight is below this (0 = none: the weights are sigmoids in (0,1)).
  double ta_threshold = 0;
  /// Keep the k channels with the highest CA weight per sample and layer (0 = all).
  int64_t ca_topk = 0;
  /// Drop channels whose CA weight is below this.
  double ca_threshold = 0;
  /// Keep the fraction r of the steps (ceil(r T)) / of the channels (ceil(r C)) with the highest weights per
  /// sample and layer, as the reference's winner-take-all sparsity ratio (0 = all).
  double ta_keep = 0;
  double ca_keep = 0;
  /// Skip the work of dropped steps and channels (false: only zero them, computing everything, as the
  /// reference's winner-take-all does; for comparison).
  bool skip = true;
  /// True when any of the above prunes.
  bool any() const { return prunes_steps() || prunes_channels(); }
  bool prunes_steps() const { return ta_topk > 0 || ta_threshold > 0 || ta_keep > 0; }
  bool prunes_channels() const { return ca_topk > 0 || ca_threshold > 0 || ca_keep > 0; }
  /// "ta-topk=8 ca-threshold=0.4" ("none" when nothing is pruned).
  std::string describe() const;
  /// Parses "ta-keep=0.5,ca-threshold=0.3" (keys ta-topk, ta-threshold, ta-keep, ca-topk, ca-threshold, ca-keep;
  /// "none" = nothing). Throws std::invalid_argument naming the bad part.
  static PruneOptions parse(const std::string& text);
  /// Throws std::invalid_argument for negative values, thresholds of 1 or more, or fractions above 1.
  void validate() const;
};

/// Work of one synaptic layer, summed over the samples of the forward calls.
struct LayerWork {
  std::string name;           ///< convs.0.conv, ..., fcs.1.linear; stem_conv, stages.0.0.conv1, ..., fc
  double dense_macs = 0;      ///< what the dense layer does over all T steps
  double computed_macs = 0;   ///< what was computed: rows x input channels that were not silent
  double input_nonzeros = 0;  ///< nonzero inputs (spikes, or events of the frames for the first layer)
  double synaptic_ops = 0;    ///< event-driven work: nonzero inputs x mean fan-out (conv: Cout K^2 / stride^2)
};

/// What a pruned forward dropped and skipped, summed over calls.
struct PruneStats {
  std::vector<LayerWork> layers;
  int64_t samples = 0;
  int64_t steps_total = 0, steps_dropped = 0;        ///< (layer, sample, step) of the layers pruned by TA
  int64_t channels_total = 0, channels_dropped = 0;  ///< (layer, sample, channel) of the layers pruned by CA
  double dense_macs() const;
  double computed_macs() const;
  /// 1 - computed / dense MACs of the conv and linear layers.
  double skipped_fraction() const;
  double synaptic_ops() const;
};

namespace detail {
struct PruningState;
}

/// A network with pruning installed. forward(x) runs it in eval mode without autograd, sample by sample when
/// skipping (each sample skips its own silence), and adds to stats(). x and the output are the network's: [T,B,...]
/// (5-D, time-major) or [B,...] (a static image) -> [B,num_classes].
class PrunedModelImpl : public torch::nn::Module {
 public:
  /// Installs pruning into `model` in place (its attention, conv and linear layers are replaced by ones sharing
  /// their parameters; clone the model first to keep the original). `example` is an input for one forward that finds
  /// the layers in call order (models::example_input). Throws std::invalid_argument as set_options.
  PrunedModelImpl(torch::nn::AnyModule model, const torch::Tensor& example, const PruneOptions& options = {});
  torch::Tensor forward(const torch::Tensor& x);
  /// Uses `options` from the next forward and clears the stats. Throws std::invalid_argument for invalid options
  /// and for pruning the network cannot do (steps without TA; channels without CA pooled over T at conv-post).
  void set_options(const PruneOptions& options);
  const PruneOptions& options() const;
  /// What the forwards since the last set_options dropped and skipped; layers in call order (convs.0.conv, ...,
  /// fcs.1.linear; stem_conv, stages.0.0.conv1, ..., fc).
  const PruneStats& stats() const;
  /// The network has attention that can drop steps (TA) / channels (CA pooled over T at conv-post).
  bool can_prune_steps() const;
  bool can_prune_channels() const;

  torch::nn::AnyModule model;

 private:
  std::shared_ptr<detail::PruningState> state_;
};
TORCH_MODULE(PrunedModel);

}  // namespace masnn::serve
