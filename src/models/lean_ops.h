// Layer ops of the spiking networks with the same values and gradients as LibTorch's, keeping less for the
// backward: a training step's peak memory is what autograd holds between forward and backward.
//  - avg_pool2d_lean: LibTorch's avg_pool2d keeps its whole input for the backward only to read its sizes.
//  - conv2d/linear on spikes: the input is kept for the weight gradient; spikes are exactly 0 or 1, so one byte
//    per element holds them instead of four.
//  - batch_norm_avg_pool2d: training-mode BatchNorm2d and the average pooling after it as one op; the normalised
//    full-resolution activation is never materialised, and the backward needs only the BN input (which BN keeps
//    anyway, or computes again where that is cheap) and the per-channel statistics.
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace masnn::functional {

/// The chunk size of the spike convolutions' forward and backward (see conv2d_binary_input).
inline constexpr int64_t kChunkBytes = int64_t{8} << 20;

/// Average pooling with kernel = stride = k over x [N,C,H,W]; the backward keeps only x's sizes. Falls back to
/// torch::avg_pool2d when H or W is not a multiple of k.
torch::Tensor avg_pool2d_lean(const torch::Tensor& x, int64_t k);

/// conv(x) for x [N,C,H,W] holding only 0 and 1 (spikes), keeping x for the backward as bits, 8 per byte (CPU float
/// or double; as bytes otherwise), decoded chunk by chunk where the weight gradient reads them. The caller
/// guarantees the values; other values would give wrong weight gradients. Forward and backward run over chunks of
/// rows of about `chunk_bytes` of output each, so that oneDNN's blocked copies and the decoded input stay
/// chunk-sized (the weight gradient sums the chunks', so it may differ in the last bits). 8 MiB: against 64 MiB
/// it lowered the peak of a T 16 step by 44 + 16 MiB and left the step time as it was (16 MiB at T 60: 1489 vs 1473
/// MiB, 2089 vs 2051-2067 ms).
torch::Tensor conv2d_binary_input(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                  int64_t chunk_bytes = kChunkBytes);

/// conv(x) as conv2d_binary_input runs it, in chunks of rows forward and backward, for any x (kept as it is): for a
/// convolution whose output gradient is large beside its input (the first layer on event frames), so that oneDNN's
/// blocked copy of that gradient in the weight gradient stays chunk-sized (whole, it was the memory peak of a
/// training step). The input gradient is computed only when x needs one.
torch::Tensor conv2d_in_chunks(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                               int64_t chunk_bytes = kChunkBytes);

/// The input gradient of conv2d(x, weight) from its output gradient alone (x's sizes, `input_sizes`, suffice):
/// oneDNN's backward-data in chunks of rows of about `chunk_bytes` of gradient (LibTorch's conv_transpose2d runs
/// a slow im2col + GEMM on CPU).
torch::Tensor conv2d_input_grad(const torch::Tensor& grad_output, std::vector<int64_t> input_sizes,
                                const torch::Tensor& weight, const std::vector<int64_t>& stride,
                                const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
                                int64_t groups, int64_t chunk_bytes = kChunkBytes);

/// linear(x) for x [N,F] holding only 0 and 1 (spikes), keeping x as bits for the backward (as conv2d_binary_input).
/// With as_conv (and a LibTorch built with oneDNN), forward and backward run as a 1x1 convolution, i.e. on oneDNN's
/// GEMM: Debian's LibTorch calls the reference BLAS for torch::linear, several times slower on these shapes.
torch::Tensor linear_binary_input(const torch::Tensor& x, const torch::nn::LinearImpl& linear, bool as_conv = true);

/// The input gradient of linear(x, weight) from its output gradient g [N,O]: g x weight, as one 1x1 convolution's
/// backward-data on oneDNN where linear_binary_input would run on it (float on the CPU), else one GEMM.
torch::Tensor linear_input_grad(const torch::Tensor& grad_output, const torch::Tensor& weight);

/// True when batch_norm_avg_pool2d handles these arguments: a CPU float or double y [N,C,H,W] with H and W
/// multiples of k, and bn affine, tracking running statistics, with a momentum.
bool batch_norm_avg_pool2d_supports(const torch::Tensor& y, const torch::nn::BatchNorm2dImpl& bn, int64_t k);
/// The same for a y of these sizes and type on the CPU, before it is computed.
bool batch_norm_avg_pool2d_supports(torch::IntArrayRef y_sizes, torch::ScalarType dtype,
                                    const torch::nn::BatchNorm2dImpl& bn, int64_t k);

/// avg_pool2d(bn(y), k) with bn in training mode (statistics of this batch over N,H,W; bn's running statistics
/// and num_batches_tracked updated exactly as bn's forward updates them), as one autograd node. Values and
/// gradients (y, bn.weight, bn.bias) equal the composition up to the order of floating-point sums. Needs
/// batch_norm_avg_pool2d_supports (throws otherwise).
torch::Tensor batch_norm_avg_pool2d(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, int64_t k);

/// Rows of a tensor [N,...] computed again: with its N rows taken as `groups` consecutive groups of N / groups, rows
/// [first, first + count) of every group, stacked: [groups * count,...], contiguous. One group: a range of rows; T
/// groups of a time-major tensor's merged rows [T*B,...]: the samples [first, first + count) of every step.
using RowRecompute = std::function<torch::Tensor(int64_t groups, int64_t first, int64_t count)>;

/// Throws unless those rows exist among N: groups divides N and [first, first + count) lies within a group.
void check_row_groups(int64_t N, int64_t groups, int64_t first, int64_t count);

/// Those rows of x [N,...] (a view for one group, else a copy).
torch::Tensor rows_of_groups(const torch::Tensor& x, int64_t groups, int64_t first, int64_t count);

/// batch_norm_avg_pool2d whose node keeps no y between forward and backward: its backward calls recompute_y for it
/// (each time it runs). For a y that is cheap to compute again, as a convolution's output on event frames is
/// (conv2d_recompute); recompute_y must give y's values exactly. With recompute_output, *recompute_output is set to a
/// function that computes rows of this call's output again (the same values: recompute_y's, this batch's
/// statistics), for the nodes after it that would otherwise keep the output for their backward (autograd_buffers.h,
/// drop_for_sample_reads). The backward computes y again in chunks of rows of about chunk_bytes, twice (the
/// statistics need all of it before the first value of y's gradient), so that y is never whole; with k = 1 it
/// writes y's gradient over the output's where nothing else holds that.
torch::Tensor batch_norm_avg_pool2d(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, int64_t k,
                                    RowRecompute recompute_y, RowRecompute* recompute_output = nullptr,
                                    int64_t chunk_bytes = kChunkBytes);

/// Whether conv's output is cheap to compute again: at most kCheapConvMacs multiply-adds per output value
/// (in_channels / groups x kernel area), as in the DVS networks' first layer (2-channel event frames, 3x3 kernels:
/// 18), and zero padding given as numbers (what conv2d_recompute handles).
bool conv2d_cheap_to_recompute(const torch::nn::Conv2dImpl& conv);
inline constexpr int64_t kCheapConvMacs = 32;

/// A function that computes rows of conv(x) again, without gradient, from x and copies of conv's weight and bias
/// taken now (an update of the parameters before the backward changes nothing): batch_norm_avg_pool2d's recompute_y
/// for a convolution cheap to recompute, so that BN keeps no copy of its output (the convolution's node keeps x
/// anyway). It runs over chunks of samples of about kChunkBytes of output, so that oneDNN's blocked copy of the output
/// stays chunk-sized (one chunk where the caller asks for no more); its values are conv->forward(x)'s (per sample, up
/// to oneDNN's choice of kernel for the chunk's batch size). Needs conv2d_cheap_to_recompute's padding.
RowRecompute conv2d_recompute(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv);

}  // namespace masnn::functional
