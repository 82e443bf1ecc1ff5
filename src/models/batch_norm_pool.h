// The arithmetic of training-mode BatchNorm2d followed by average pooling (kernel = stride = k), as kernels on
// plain pointers and per-channel coefficients: shared by lean_ops' batch_norm_avg_pool2d and the event-driven
// convolution + BN + pooling of event_driven_synapse.cpp, which runs them a chunk of samples at a time.
// Sums go per row (n, c) into caller-owned arrays of doubles and are then added per channel in order of n
// (add_rows_per_channel): the same result for any number of threads and for any split of the batch into chunks.
#pragma once

#include <torch/types.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace masnn::functional::bn_pool {

/// Rows per parallel task: enough work per task to amortise scheduling.
inline int64_t grain_rows(int64_t n) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
}

/// spread[w] = scale * g[w / k] + offset for the Wo values of one pooled row g.
template <typename S>
inline void spread_line(const S* __restrict g, int64_t Wo, int64_t k, S scale, S offset, S* __restrict spread) {
  for (int64_t wo = 0; wo < Wo; ++wo) {
    const S v = scale * g[wo] + offset;
    for (int64_t i = 0; i < k; ++i) spread[wo * k + i] = v;
  }
}

/// dx[r, h, w] = scale * g[r, h/k, w/k] over rows of [rows, H, W] (g [rows, H/k, W/k]): average pooling's backward
/// with scale = 1/k^2. One write pass.
template <typename S>
void spread_pooled(const S* g, int64_t rows, int64_t H, int64_t W, int64_t k, S scale, S* dx);

/// total_a[c] = the sum over n of rows_a[n * C + c] (and the same for b), in order of n.
void add_rows_per_channel(const std::vector<double>& rows_a, const std::vector<double>& rows_b, int64_t N, int64_t C,
                          double* total_a, double* total_b);

/// For each row r of y [R, C, P] (R samples of C channels): row_sum[r] and row_sumsq[r] = the sum and the sum of
/// squares of y - shift[r % C] over the row. The shift (one value of the channel) keeps the one-pass variance free
/// of cancellation when |mean| >> std.
template <typename S>
void row_moments(const S* y, int64_t R, int64_t C, int64_t P, const S* shift, double* row_sum, double* row_sumsq);

/// out[n, c, ho, wo] = scale[c] / k^2 * (the sum of y [N, C, H, W] over the k x k window) + offset[c]; with scale
/// and offset null, the window sums themselves.
template <typename S>
void scale_pool(const S* y, const S* scale, const S* offset, int64_t N, int64_t C, int64_t H, int64_t W, int64_t k,
                S* out);

/// out[n, c, p] = scale[c] / k^2 * sums[n, c, p] + offset[c] over [N, C, P]: scale_pool applied to window sums
/// (the same arithmetic, so the same values). out may be sums.
template <typename S>
void scale_window_sums(const S* sums, const S* scale, const S* offset, int64_t N, int64_t C, int64_t P, int64_t k,
                       S* out);

/// Per row r of the pooled gradient g [N, C, Ho, Wo]: row_g[r] = the sum of g, row_gy[r] = the sum of g times
/// (the window mean of y [N, C, H, W] - shift[c]).
template <typename S>
void pooled_grad_row_moments(const S* g, const S* y, const S* shift, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t k, double* row_g, double* row_gy);

/// As pooled_grad_row_moments, from the window sums [N, C, Ho, Wo] of y instead of y.
template <typename S>
void pooled_grad_row_moments_from_sums(const S* g, const S* sums, const S* shift, int64_t N, int64_t C, int64_t P,
                                       int64_t k, double* row_g, double* row_gy);

/// dy[n, c, h, w] = a[c] * g[n, c, h/k, w/k] + b[c] + d[c] * y[n, c, h, w]; dy may be y, or g with k = 1 (written
/// over in place).
template <typename S>
void input_grad(const S* g, const S* y, const S* a, const S* b, const S* d, int64_t N, int64_t C, int64_t H, int64_t W,
                int64_t k, S* dy);

/// The batch's statistics and what the forward applies: y -> scale * y + offset, per channel.
struct Statistics {
  torch::Tensor mean, invstd;   ///< [C], of y's type
  torch::Tensor scale, offset;  ///< weight * invstd, bias - mean * scale
};

/// From the per-channel sums of y - shift and of its squares over `count` values: the statistics, with bn's
/// running mean and (unbiased) variance updated in place by `factor`.
Statistics statistics(const std::vector<double>& sum, const std::vector<double>& sumsq, const torch::Tensor& shift,
                      double count, const torch::Tensor& weight, const torch::Tensor& bias,
                      const torch::Tensor& running_mean, const torch::Tensor& running_var, double factor, double eps);

/// The backward's per-channel coefficients from sum_g (of the pooled gradient) and sum_gy (of it times the window
/// mean of y - mean): the parameters' gradients and input_grad's a, b, d (of y's type).
struct GradCoefficients {
  torch::Tensor dweight, dbias;                ///< of the weight's type
  torch::Tensor a, b, d;                       ///< of y's type
  torch::Tensor a_double, b_double, d_double;  ///< the same in double
};
GradCoefficients grad_coefficients(const std::vector<double>& sum_g, const std::vector<double>& sum_gy,
                                   const torch::Tensor& weight, const torch::Tensor& mean, const torch::Tensor& invstd,
                                   double count, int64_t k);

}  // namespace masnn::functional::bn_pool
