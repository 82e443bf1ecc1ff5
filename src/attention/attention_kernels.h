// Raw kernels of the fused Conv-POST attention (fused_attention.h): plain pointers, no LibTorch types, so that
// the same contract can be implemented for CUDA. Layout: x is [T, B, C, N] contiguous (N = H*W); per-(t,b,c)
// values are [T, B, C] and per-(b,position) values [B, N]. Instantiated for float and double.
#pragma once

#include <cstdint>

namespace masnn::kernels {

/// Sizes of an attended activation [T, B, C, N].
struct AttentionShape {
  int64_t steps, batch, channels, positions;
  int64_t rows() const { return steps * batch * channels; }
};

/// For each row r of x [rows, n]: sum[r], max[r] and the first index of the max, arg[r].
template <typename T>
void row_sum_max(const T* x, int64_t rows, int64_t n, T* sum, T* max, int32_t* arg);

/// Backward of row_sum_max: dx[r, i] = dsum[r] + (i == arg[r]) * dmax[r] (added to dx when accumulate). dsum or
/// dmax may be null (zero).
template <typename T>
void row_sum_max_backward(const T* dsum, const T* dmax, const int32_t* arg, int64_t rows, int64_t n, T* dx,
                          bool accumulate = false);

/// For each (b, i), over the (t, c) of y = a[t,b,c] * x[t,b,c,i] (a > 0): mean[b,i], max[b,i] and arg[b,i] =
/// t*C + c of the first maximum.
template <typename T>
void scaled_mean_max_tc(const T* x, const T* a, const AttentionShape& s, T* mean, T* max, int32_t* arg);

/// Backward of scaled_mean_max_tc: with g[b,i] = dmean[b,i] / (T*C) + (arg[b,i] == t*C+c) * dmax[b,i],
/// dx[t,b,c,i] = a[t,b,c] * g (added to dx when accumulate) and da[t,b,c] = sum_i x[t,b,c,i] * g. dmean or dmax
/// may be null (zero). Over the samples b in [first, first + count) only, of which x holds only those
/// ([T,count,C,...]; all of them: first 0, count B); the other arrays are whole.
template <typename T>
void scaled_mean_max_tc_backward(const T* x, const T* a, const int32_t* arg, const T* dmean, const T* dmax,
                                 const AttentionShape& s, T* dx, T* da, bool accumulate, int64_t first, int64_t count);

/// y[t,b,c,i] = x * a[t,b,c] * w[b,i], then max(y, 0) when relu. w may be null (one).
template <typename T>
void scale_tbc(const T* x, const T* a, const T* w, const AttentionShape& s, bool relu, T* y);

/// Backward of scale_tbc for the output gradient g: with m = (y > 0) when relu (else 1),
/// dx = g*m*a*w, da[t,b,c] = sum_i g*m*x*w, dw[b,i] = sum_{t,c} g*m*x*a (dw skipped when w is null).
template <typename T>
void scale_tbc_backward(const T* g, const T* x, const T* a, const T* w, const AttentionShape& s, bool relu, T* dx,
                        T* da, T* dw);

}  // namespace masnn::kernels
