// Sparse spike inference: the conv and linear layers of a network whose input is spikes or event frames run
// event-driven (src/models/sparse_kernels.h)
// when their input is sparse enough to make that faster than the dense LibTorch layer. Each layer measures the
// density (fraction of nonzero inputs: the firing rate of the spiking layer feeding it, or the event density of
// the frames) of every call and takes the sparse path below its crossover density, calibrated per layer shape
// and batch size by timing both paths on this CPU.
#pragma once

#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "masnn/models/event_driven_synapse.h"
#include "masnn/models/layer_replacement.h"

namespace masnn::serve {

// Which path a synaptic layer takes (masnn/models/event_driven_synapse.h, shared with training).
using masnn::parse_synapse_mode;
using masnn::SynapseMode;
using masnn::to_string;

/// Time of both paths at one density (calibration and benchmarks).
struct PathTiming {
  double density = 0;
  double dense_ms = 0;
  double sparse_ms = 0;
};

/// The density below which the sparse path is faster, from timings at several densities: the sparse time fitted
/// as a + b * density (least squares; its work grows with the nonzero inputs), the dense time as the median of its
/// times (it does not depend on the density); the crossover (dense - a) / b, clamped to [0,1].
double crossover_density(const std::vector<PathTiming>& timings);

/// One conv (stride 1, square kernel, zero padding, no groups or dilation) or linear layer with both paths.
/// Holds its own copy of the weights transposed for the kernels (made when built: rebuild after changing them).
class SparseSynapse {
 public:
  /// A conv whose inputs are [N,Cin,height,width]. Throws std::invalid_argument for a conv the kernels do not
  /// cover (stride, dilation, groups, non-square kernel, padding mode other than zeros).
  SparseSynapse(const torch::nn::Conv2dImpl& conv, int64_t height, int64_t width);
  explicit SparseSynapse(const torch::nn::LinearImpl& linear);

  /// x [N,Cin,H,W] (conv) or [N,In] (linear) -> the layer's output by the path the mode and density choose.
  torch::Tensor forward(const torch::Tensor& x);
  /// The two paths themselves.
  torch::Tensor dense(const torch::Tensor& x) const;
  torch::Tensor sparse(const torch::Tensor& x) const;

  /// Times both paths on random binary inputs of `batch` samples at each density (the fastest of `repeats` calls,
  /// robust on a shared machine) and sets the crossover for that batch size. Returns the timings.
  std::vector<PathTiming> calibrate(int64_t batch, const std::vector<double>& densities, int repeats = 5);
  /// Crossover used for calls of `batch` samples (the nearest calibrated batch size; 0 = none calibrated).
  double crossover(int64_t batch) const;
  void set_crossover(int64_t batch, double density) { crossovers_[batch] = density; }

  bool is_conv() const { return conv_; }
  /// The input of one sample: [Cin,H,W] or [In].
  std::vector<int64_t> input_shape() const;
  /// Dense MACs per sample (conv: Cout Cin K^2 Hout Wout; linear: In Out); the sparse path does density x that.
  int64_t macs_per_sample() const;
  std::string describe() const;  ///< "conv 32->64 k3 p1 at 16x16" or "linear 4096->128"

  SynapseMode mode = SynapseMode::Auto;
  /// Counters since the last clear: calls, calls that took the sparse path, nonzero and total inputs seen.
  int64_t calls = 0, sparse_calls = 0;
  double nonzeros = 0, inputs = 0;
  void clear_counts() { calls = sparse_calls = 0, nonzeros = inputs = 0; }

 private:
  bool conv_ = false;
  int64_t in_ = 0, out_ = 0, kernel_ = 1, pad_ = 0, height_ = 1, width_ = 1;
  torch::Tensor weight_, bias_;  // the module's (for the dense path)
  torch::Tensor weight_t_;       // [Cin,K,K,Cout] or [In,Out]
  std::map<int64_t, double> crossovers_;
};

/// Settings of enable_sparse.
struct SparseOptions {
  SynapseMode mode = SynapseMode::Auto;
  /// Batch sizes the layers will see, to calibrate for (step-at-a-time inference: rows; offline: T x B).
  std::vector<int64_t> calibrate_batches = {1};
  std::vector<double> densities = {0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5};
  int repeats = 5;
};

/// A conv layer replaced by its event-driven form (masnn/models/layer_replacement.h): the same parameters, the
/// forward of `synapse` (the path its mode and the input's density choose). disable_sparse puts the conv back.
class SparseConv2dImpl : public torch::nn::Conv2dImpl, public LayerReplacement {
 public:
  /// For inputs [N,Cin,height,width]; throws std::invalid_argument for a conv the kernels do not cover.
  SparseConv2dImpl(const torch::nn::Conv2dImpl& conv, int64_t height, int64_t width);
  torch::Tensor replaced_forward(const torch::Tensor& x) override { return synapse->forward(x); }
  void pretty_print(std::ostream& stream) const override;
  std::shared_ptr<SparseSynapse> synapse;
};

/// A linear layer replaced by its event-driven form, as SparseConv2dImpl.
class SparseLinearImpl : public torch::nn::LinearImpl, public LayerReplacement {
 public:
  explicit SparseLinearImpl(const torch::nn::LinearImpl& linear);
  torch::Tensor replaced_forward(const torch::Tensor& x) override { return synapse->forward(x); }
  void pretty_print(std::ostream& stream) const override;
  std::shared_ptr<SparseSynapse> synapse;
};

/// The layers enable_sparse replaced, in forward order (convs.0.conv, ..., fcs.0.linear; stages.0.0.conv1, ...).
struct SparseNetwork {
  std::vector<std::string> names;
  std::vector<std::shared_ptr<SparseSynapse>> layers;
  /// Clears every layer's counters.
  void clear_counts();
};

/// Replaces every conv and linear layer of `model` whose input is spikes or the network's input frames (as the
/// layers report it to monitors during one forward of `example`, e.g. models::example_input) and that the kernels
/// cover (stride 1, square kernel, zero padding) by its event-driven form (forward and step-at-a-time inference then
/// use it), calibrated (Auto) for options.calibrate_batches. Layers on real values (a residual shortcut, a head
/// after the mean over time) and strided convs stay dense. The weights must not change afterwards.
SparseNetwork enable_sparse(torch::nn::AnyModule& model, const torch::Tensor& example,
                            const SparseOptions& options = {});
/// Puts back the dense LibTorch layers.
void disable_sparse(torch::nn::Module& model);

}  // namespace masnn::serve
