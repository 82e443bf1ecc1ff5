// Attention-guided pruning at inference (as the reference's winner-take-all option): in every layer the time
// steps whose temporal-attention weight (TA) and the channels whose channel-attention weight (CA) fall below a
// threshold or outside the top-k of their sample are dropped: their attended membrane input is set to zero, so
// (for neurons without a positive bias) they emit no spikes. The work that depends only on them is then skipped,
// not multiplied by zero: the next layer's conv/linear runs only on the kept (step, sample) rows, and only over
// the kept input channels (a conv with the kept slice of its weight; the first fc over the kept features).
// What cannot be skipped: the layer's own conv/linear (its attention is computed from it).
//
// Which layers: every conv block with TA or CA (CA pooled over T at conv-post), and every fc block with TA except
// the output layer (nothing follows it; pruning it would only remove evidence). Per-step CA/SA and CA inside the
// neuron (activate-pre) are not pruned (their weights change every step).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/models/dvs_net.h"

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
  std::string name;           ///< convs.0.conv, ..., fcs.1.linear
  double dense_macs = 0;      ///< what the dense layer does over all T steps
  double computed_macs = 0;   ///< what was computed: kept rows x kept input channels
  double input_nonzeros = 0;  ///< nonzero inputs (spikes, or events of the frames for the first layer)
  double synaptic_ops = 0;    ///< event-driven work: nonzero inputs x fan-out (conv: Cout K^2, linear: Out)
};

/// What a pruned forward dropped and skipped, summed over calls.
struct PruneStats {
  std::vector<LayerWork> layers;
  int64_t samples = 0;
  int64_t steps_total = 0, steps_dropped = 0;        ///< (layer, sample, step) of the layers pruned by TA
  int64_t channels_total = 0, channels_dropped = 0;  ///< (layer, sample, channel) of the layers pruned by CA
  int64_t spikes_in_dropped = 0;  ///< spikes found at dropped steps/channels (then nothing was skipped there)
  double dense_macs() const;
  double computed_macs() const;
  /// 1 - computed / dense MACs of the conv and linear layers.
  double skipped_fraction() const;
  double synaptic_ops() const;
  void clear() { *this = PruneStats(); }
};

/// The offline forward of `net` (eval mode, no autograd) with pruning: x [T,B,C_in,H,W] -> [B,num_classes].
/// Samples are run one by one when pruning with skip (each skips its own steps and channels). With nothing to prune
/// (options.any() false: thresholds, k and fractions 0) the result is bit for bit net.forward(x): the same calls
/// run; settings that happen to keep everything give the same spikes up to the convolution's rounding. Adds to `stats`
/// when given. Throws std::invalid_argument for pruning the network cannot do (CA pruning without conv-post CA pooled
/// over T, TA top-k above T).
torch::Tensor pruned_forward(DvsNetImpl& net, const torch::Tensor& x, const PruneOptions& options,
                             PruneStats* stats = nullptr);

/// pruned_forward as a module (e.g. for train::evaluate_model): forward(x) = pruned_forward(net, x, options,
/// &stats).
class PrunedDvsNetImpl : public torch::nn::Cloneable<PrunedDvsNetImpl> {
 public:
  PrunedDvsNetImpl(DvsNet net, const PruneOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  DvsNet net;
  PruneOptions options;
  PruneStats stats;
};
TORCH_MODULE(PrunedDvsNet);

}  // namespace masnn::serve
