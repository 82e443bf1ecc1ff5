// Event-driven synapses for training: a convolution or linear layer whose input is binary spikes computed from the
// spikes alone.
// The forward adds, for every spike, the weights it reaches (work in proportion to the spikes, not to the input
// size); the input is kept for the backward as an index of its spikes (4 bytes per spike, against 1 bit per
// element for conv2d_binary_input and 4 bytes for LibTorch's conv); the weight gradient adds, per spike, the output
// gradients it reached. The input gradient is computed only inside the surrogate window of the neurons that fired
// the input, where their LIF published it (src/neuron/surrogate_support.h; elsewhere their backward multiplies it
// by zero), as one dot product over output channels per tap; without a published window it is dense (oneDNN's
// backward-data, functional::conv2d_input_grad).
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace masnn {

/// Which path a synaptic layer reading spikes takes: always dense (LibTorch's layer), always event-driven
/// (sparse), or chosen per call by the input's density against a crossover. Training (this header) and sparse
/// inference (masnn/serve/sparse.h) share it.
enum class SynapseMode { Dense, Sparse, Auto };

/// "dense", "sparse" or "auto"; throws std::invalid_argument "<what>: expected one of dense, sparse, auto; got '...'".
SynapseMode parse_synapse_mode(const std::string& name, const std::string& what = "synapse mode");
std::string to_string(SynapseMode mode);

/// Input density below which SynapseMode::Auto runs a convolution event-driven (how it was chosen: docs/benchmarks.md,
/// "Event-driven training"). A constant, never timed at run time: a resumed run makes the same choices.
constexpr double kEventDrivenConvCrossover = 0.05;

/// Input density below which SynapseMode::Auto runs a linear layer on spikes event-driven: the lowest crossover of
/// the DVS networks' linear layers on spikes, 26-68% for the Gesture network's, 41-47% for dvs-small's (forward and
/// backward at batch 128; docs/benchmarks.md, "Event-driven training"); a constant, as the convolutions'.
constexpr double kEventDrivenLinearCrossover = 0.25;

/// Share of a published surrogate support (src/neuron/surrogate_support.h) below which SynapseMode::Auto computes
/// the input gradient of a convolution or linear layer at the support only, instead of oneDNN's dense backward-data.
/// Measured per layer of the DVS networks (docs/benchmarks.md, "Event-driven training"): 23.9% for 32->64 at 16x16,
/// 29-32% for the Gesture network's 64->128 at 32x32 and 128->128 at 16x16, 39-86% for their linear layers; a
/// constant, as the crossovers above.
constexpr double kSparseInputGradCrossover = 0.25;

namespace functional {

/// True when conv2d_event_driven handles these arguments: a CPU float or double x [N,C,H,W], conv with stride 1,
/// a square kernel, zero padding, no groups or dilation, and fewer than 2^31 elements per sample plane.
bool conv2d_event_driven_supports(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv);

/// conv(x) for x [N,C,H,W] holding only 0 and 1 (spikes), event-driven, as one autograd node; values and gradients
/// equal the dense convolution's up to the order of floating-point sums, except that where x is spikes whose LIF
/// published its surrogate support covering less than `support_crossover` of x, the input gradient is computed
/// there only (zero elsewhere, where that LIF's backward multiplies it by zero). The caller guarantees the values
/// (others give wrong results). Needs conv2d_event_driven_supports (throws otherwise).
torch::Tensor conv2d_event_driven(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                  double support_crossover = 1.0);

/// True when conv2d_event_driven_norm_pool handles these arguments: conv2d_event_driven's, and a conv output that
/// batch_norm_avg_pool2d takes (lean_ops.h).
bool conv2d_event_driven_norm_pool_supports(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                            const torch::nn::BatchNorm2dImpl& bn, int64_t k);

/// batch_norm_avg_pool2d(conv2d_event_driven(x, conv, support_crossover), bn, k) as one autograd node that never
/// holds the convolution's whole output (the largest activation of a DVS network's step: 64 MiB for the Gesture
/// network's second layer at T 16, B 8) nor its whole gradient: forward and backward compute it from the spike
/// index (an event-driven forward, work in proportion to the spikes) a sample at a time into a per-thread buffer;
/// the forward reduces it there to BN's moments and the pooled window sums, and the backward writes its gradient,
/// channels-last, about `chunk_bytes` at a time, passing each chunk on to the convolution's weight and input
/// gradients before the next. It keeps the output's pooled window sums (1/k^2 of it; with k = 1 the output itself,
/// which the backward computes again once more instead of keeping it). Values and gradients are the composition's
/// up to the order of floating-point sums; the chunk size changes none of them. With recompute_output and k > 1,
/// *recompute_output is set to a function that computes rows of the output again from those window sums (an
/// elementwise pass; it holds them while it lives): with the N rows taken as `groups` consecutive groups, rows
/// [first, first + count) of every group, stacked (for a time-major batch's merged rows, T groups select samples).
/// It is for the nodes after this one that would keep the output for their backward; with k = 1 it is set empty. Needs
/// conv2d_event_driven_norm_pool_supports (throws otherwise).
torch::Tensor conv2d_event_driven_norm_pool(
    const torch::Tensor& x, const torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, int64_t k,
    double support_crossover = 1.0, int64_t chunk_bytes = int64_t{8} << 20,
    std::function<torch::Tensor(int64_t groups, int64_t first, int64_t count)>* recompute_output = nullptr);

/// True when `mode` asks for the event-driven convolution of x: Sparse, or Auto with a density of x below
/// `crossover` (one pass over x). False where conv2d_event_driven_supports is false.
bool use_event_driven_conv(SynapseMode mode, const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                           double crossover = kEventDrivenConvCrossover);

/// True when linear_event_driven handles these arguments: a CPU float or double x [N,In] of the weight's type.
bool linear_event_driven_supports(const torch::Tensor& x, const torch::nn::LinearImpl& linear);

/// linear(x) for x [N,In] holding only 0 and 1 (spikes), event-driven, as one autograd node, as
/// conv2d_event_driven: the forward adds the weight column of each spike, the input is kept as an index of its
/// spikes (4 bytes per spike), the weight gradient adds per spike the output-gradient row of its sample, and the
/// input gradient is computed only inside a published surrogate support covering less than `support_crossover` of x
/// (else dense, one GEMM). Needs linear_event_driven_supports (throws otherwise).
torch::Tensor linear_event_driven(const torch::Tensor& x, const torch::nn::LinearImpl& linear,
                                  double support_crossover = 1.0);

/// As use_event_driven_conv, for a linear layer.
bool use_event_driven_linear(SynapseMode mode, const torch::Tensor& x, const torch::nn::LinearImpl& linear,
                             double crossover = kEventDrivenLinearCrossover);

}  // namespace functional
}  // namespace masnn
