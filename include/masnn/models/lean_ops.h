// Layer ops of the spiking networks with the same values and gradients as LibTorch's, keeping less for the
// backward: a training step's peak memory is what autograd holds between forward and backward.
//  - avg_pool2d_lean: LibTorch's avg_pool2d keeps its whole input for the backward only to read its sizes.
//  - conv2d/linear on spikes: the input is kept for the weight gradient; spikes are exactly 0 or 1, so one byte
//    per element holds them instead of four.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

namespace masnn::functional {

/// Average pooling with kernel = stride = k over x [N,C,H,W]; the backward keeps only x's sizes. Falls back to
/// torch::avg_pool2d when H or W is not a multiple of k.
torch::Tensor avg_pool2d_lean(const torch::Tensor& x, int64_t k);

/// conv(x) for x [N,C,H,W] holding only 0 and 1 (spikes), keeping x as bytes for the backward. The caller
/// guarantees the values; other values would give wrong weight gradients.
torch::Tensor conv2d_binary_input(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv);

/// linear(x) for x [N,F] holding only 0 and 1 (spikes), keeping x as bytes for the backward.
torch::Tensor linear_binary_input(const torch::Tensor& x, const torch::nn::LinearImpl& linear);

}  // namespace masnn::functional
