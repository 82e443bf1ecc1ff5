// A convolution, training-mode BatchNorm2d and average pooling as one autograd node, for an input that needs no
// gradient (the DVS networks' first layer, on event frames). Per channel, BN's input gradient is affine in the
// output gradient and in the convolution's output, and the convolution's output is linear in the input's patches;
// so the weight gradient follows from the weight gradient of the output gradient alone and the second moments of
// the input's patches (a K x K matrix, K = in_channels x kernel area), and the backward never computes the
// convolution's output again (the path it replaces ran it twice there, and wrote BN's input gradient whole).
#pragma once

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/types.h>

#include <cstdint>

#include "models/lean_ops.h"

namespace masnn::functional {

/// True when conv2d_norm_pool_fixed_input handles these: a CPU float or double x [N,C,H,W] that needs no gradient,
/// a convolution cheap to compute again (conv2d_cheap_to_recompute) without groups, of x's type, and bn and k as
/// batch_norm_avg_pool2d_supports takes them for the convolution's output.
bool conv2d_norm_pool_fixed_input_supports(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                           const torch::nn::BatchNorm2dImpl& bn, int64_t k);

/// avg_pool2d(bn(conv(x)), k) with bn in training mode (running statistics updated as bn's forward updates them),
/// keeping only x for the backward (which the caller holds anyway). The forward computes the convolution in chunks of
/// rows of about chunk_bytes of its output; the backward reads the output gradient in such chunks (oneDNN's weight
/// gradient of it) and x's patch moments. Values equal the composition's up to the order of floating-point sums;
/// gradients (conv.weight, conv.bias, bn.weight, bn.bias) too, the moments summed in double. With recompute_output,
/// *recompute_output computes rows of the output again (the convolution on those rows, with this batch's
/// statistics), as batch_norm_avg_pool2d's does. Needs conv2d_norm_pool_fixed_input_supports (throws otherwise).
torch::Tensor conv2d_norm_pool_fixed_input(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                           torch::nn::BatchNorm2dImpl& bn, int64_t k,
                                           RowRecompute* recompute_output = nullptr, int64_t chunk_bytes = kChunkBytes);

namespace kernels {

/// The geometry of a convolution's patches: input [N, in_channels, H, W], kernel kh x kw, stride, zero padding,
/// dilation; the output's height and width follow.
struct PatchShape {
  int64_t batch = 0, in_channels = 0, height = 0, width = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t out_height() const { return (height + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int64_t out_width() const { return (width + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
  int64_t patch_size() const { return in_channels * kernel_h * kernel_w; }
};

/// Over every output position of every sample, the patch u [K] the convolution reads there (zero outside x, in the
/// order of the weight's [in_channels, kh, kw]): gram [K, K] = the sum of u u^T and sums [K] = the sum of u, in
/// double. Work in proportion to the patches' non-zero values (each pair of them), so sparse inputs are cheap. The
/// same result for any number of threads (fixed blocks of samples, added in order).
template <typename S>
void patch_moments(const S* x, const PatchShape& shape, double* gram, double* sums);

}  // namespace kernels

}  // namespace masnn::functional
