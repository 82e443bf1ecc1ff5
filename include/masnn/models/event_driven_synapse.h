// Event-driven synapses for training: a convolution whose input is binary spikes computed from the spikes alone.
// The forward adds, for every spike, the weights it reaches (work in proportion to the spikes, not to the input
// size); the input is kept for the backward as an index of its spikes (4 bytes per spike, against 1 bit per
// element for conv2d_binary_input and 4 bytes for LibTorch's conv); the weight gradient adds, per spike, the output
// gradients it reached. The input gradient is computed only inside the surrogate window of the neurons that fired
// the input, where their LIF published it (masnn/neuron/surrogate_support.h; elsewhere their backward multiplies it
// by zero), as one dot product over output channels per tap; without a published window it is dense (oneDNN's
// backward-data, functional::conv2d_input_grad).
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <string>

namespace masnn {

/// Which path a synaptic layer reading spikes takes: always dense (LibTorch's layer), always event-driven
/// (sparse), or chosen per call by the input's density against a crossover. Training (this header) and sparse
/// inference (masnn/serve/sparse.h) share it.
enum class SynapseMode { Dense, Sparse, Auto };

/// "dense", "sparse" or "auto"; throws std::invalid_argument "<what>: expected dense, sparse or auto; got '...'".
SynapseMode parse_synapse_mode(const std::string& name, const std::string& what = "synapse mode");
std::string to_string(SynapseMode mode);

/// Input density below which SynapseMode::Auto runs a convolution event-driven (how it was chosen: docs/benchmarks.md,
/// "Event-driven training"). A constant, never timed at run time: a resumed run makes the same choices.
constexpr double kEventDrivenConvCrossover = 0.05;

/// Share of a published surrogate support (masnn/neuron/surrogate_support.h) below which SynapseMode::Auto computes
/// a convolution's input gradient at the support only, instead of oneDNN's dense backward-data. Measured per layer
/// of the DVS networks (docs/benchmarks.md, "Event-driven training"): 23.9% for 32->64 at 16x16, 29-32% for the
/// Gesture network's 64->128 at 32x32 and 128->128 at 16x16; a constant, as the crossover above.
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

/// True when `mode` asks for the event-driven convolution of x: Sparse, or Auto with a density of x below
/// `crossover` (one pass over x). False where conv2d_event_driven_supports is false.
bool use_event_driven_conv(SynapseMode mode, const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                           double crossover = kEventDrivenConvCrossover);

}  // namespace functional
}  // namespace masnn
