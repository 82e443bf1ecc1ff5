// Conv-POST attention (TA, CA, SA and their composites, then ReLU) computed without materialising the
// intermediate products x*w_T, x*w_T*w_C, ... that the composed form keeps for autograd.
//
// Why it is exact: the attention weights are sigmoids (> 0), so every pooling the composite needs follows from
// pools of x itself: CA's average over (T,H,W) of x*w_T is sum_t w_T[t] * S[t,c] / (T*H*W) with S the sum of x
// over (H,W), its max is max_t w_T[t] * M[t,c] with M the max of x over (H,W); SA's pools over (T,C) of
// x*a (a = w_T*w_C) take one pass over x. The output is relu(x * a[t,b,c] * w_S[b,h,w]), one more pass.
// Three passes forward, and three autograd nodes whose backward each takes one pass; the small MLPs and the SA
// convolution stay ordinary LibTorch ops. Max pools route their gradient to the first maximum (as
// max_pool/adaptive_max_pool do in the reference), where amax splits it between ties.
#pragma once

#include <torch/types.h>

#include <tuple>

#include "masnn/attention/multi_attention.h"

namespace masnn {

class TemporalAttentionImpl;
class ChannelAttentionImpl;
class SpatialAttentionImpl;
struct AttentionWeights;

namespace functional {

/// x [T,B,C,H,W] -> (sum over H,W, max over H,W), each [T,B,C]; differentiable.
std::tuple<torch::Tensor, torch::Tensor> spatial_sum_max(const torch::Tensor& x);

/// x [T,B,C,H,W], a [T,B,C] (> 0) -> (mean, max) over (T,C) of a*x, each [B,H,W]; differentiable in x and a.
std::tuple<torch::Tensor, torch::Tensor> scaled_mean_max_tc(const torch::Tensor& x, const torch::Tensor& a);

/// x [T,B,C,H,W], a [T,B,C], w [B,H,W] or undefined -> x * a * w (then ReLU when relu); differentiable.
torch::Tensor scale_tbc(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& w, bool relu);

/// True when the fused path handles this input: a CPU float or double [T,B,C,H,W] tensor.
bool fused_attention_supports(const torch::Tensor& x);

/// The composite's weights as an AttentionScale, everything but the last pass (for a caller that fuses that pass
/// into what follows: the LIF, functional::scaled_lif). Fills `weights` like multi_attention_fused.
AttentionScale multi_attention_scale_fused(const torch::Tensor& x, TemporalAttentionImpl* ta, ChannelAttentionImpl* ca,
                                           SpatialAttentionImpl* sa, AttentionWeights* weights);

/// The composite of the given modules (any may be null) over all T, as MultiDimAttention's forward computes
/// it, then ReLU when relu. Fills `weights` (shapes as AttentionWeights documents) when not null.
torch::Tensor multi_attention_fused(const torch::Tensor& x, TemporalAttentionImpl* ta, ChannelAttentionImpl* ca,
                                    SpatialAttentionImpl* sa, bool relu, AttentionWeights* weights);

}  // namespace functional
}  // namespace masnn
