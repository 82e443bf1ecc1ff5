#include "models/batch_norm_pool.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

namespace masnn::functional::bn_pool {

void add_rows_per_channel(const std::vector<double>& rows_a, const std::vector<double>& rows_b, int64_t N, int64_t C,
                          double* total_a, double* total_b) {
  for (int64_t c = 0; c < C; ++c) {
    double a = 0, b = 0;
    for (int64_t n = 0; n < N; ++n) {
      a += rows_a[n * C + c];
      b += rows_b[n * C + c];
    }
    total_a[c] = a;
    total_b[c] = b;
  }
}

template <typename S>
void spread_pooled(const S* g, int64_t rows, int64_t H, int64_t W, int64_t k, S scale, S* dx) {
  const int64_t Ho = H / k, Wo = W / k;
  at::parallel_for(0, rows, grain_rows(H * W), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t ho = 0; ho < Ho; ++ho) {
        S* first = dx + (r * H + ho * k) * W;
        spread_line(g + (r * Ho + ho) * Wo, Wo, k, scale, S(0), first);
        for (int64_t j = 1; j < k; ++j) std::copy(first, first + W, first + j * W);
      }
  });
}

// Each row is summed in S (vectorised), in parallel over rows so that every task streams contiguous memory.
template <typename S>
void row_moments(const S* y, int64_t R, int64_t C, int64_t P, const S* shift, double* row_sum, double* row_sumsq) {
  at::parallel_for(0, R * C, grain_rows(P), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const S* row = y + r * P;
      const S sh = shift[r % C];
      S rs = 0, rq = 0;
#pragma omp simd reduction(+ : rs, rq)
      for (int64_t i = 0; i < P; ++i) {
        const S d = row[i] - sh;
        rs += d;
        rq += d * d;
      }
      row_sum[r] = rs;
      row_sumsq[r] = rq;
    }
  });
}

namespace {

// The kernels below walk whole lines of W values with the window index w / k precomputed into a line of W values
// (a pooled value spread over its window, or k lines summed first), so that every inner loop is contiguous and
// vectorises; a loop over the k positions of a window inside the line did not (about half the memory bandwidth).

// line[w] = sum of the k lines of plane y [H, W] that make pooled row ho.
template <typename S>
inline void sum_window_lines(const S* __restrict y, int64_t ho, int64_t k, int64_t W, S* __restrict line) {
  const S* first = y + ho * k * W;
  std::copy(first, first + W, line);
  for (int64_t j = 1; j < k; ++j) {
    const S* next = first + j * W;
    for (int64_t w = 0; w < W; ++w) line[w] += next[w];
  }
}

}  // namespace

template <typename S>
void scale_pool(const S* y, const S* scale, const S* offset, int64_t N, int64_t C, int64_t H, int64_t W, int64_t k,
                S* out) {
  const int64_t Ho = H / k, Wo = W / k;
  const S inv = S(1) / static_cast<S>(k * k);
  at::parallel_for(0, N * C, grain_rows(H * W), [&](int64_t r0, int64_t r1) {
    std::vector<S> line(static_cast<size_t>(W));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r % C;
      const S a = scale ? scale[c] * inv : S(1), b = offset ? offset[c] : S(0);
      const S* yr = y + r * H * W;
      S* __restrict o = out + r * Ho * Wo;
      if (k == 1) {
        for (int64_t i = 0; i < H * W; ++i) o[i] = a * yr[i] + b;
        continue;
      }
      for (int64_t ho = 0; ho < Ho; ++ho) {
        sum_window_lines(yr, ho, k, W, line.data());
        const S* __restrict l = line.data();
        S* __restrict ol = o + ho * Wo;
        if (k == 2) {  // the common case, as its own loop: pairs vectorise, a loop over i did not
          for (int64_t wo = 0; wo < Wo; ++wo) ol[wo] = a * (l[2 * wo] + l[2 * wo + 1]) + b;
          continue;
        }
        for (int64_t wo = 0; wo < Wo; ++wo) {
          S sum = 0;
          for (int64_t i = 0; i < k; ++i) sum += l[wo * k + i];
          ol[wo] = a * sum + b;
        }
      }
    }
  });
}

template <typename S>
void scale_window_sums(const S* sums, const S* scale, const S* offset, int64_t N, int64_t C, int64_t P, int64_t k,
                       S* out) {
  const S inv = S(1) / static_cast<S>(k * k);
  at::parallel_for(0, N * C, grain_rows(P), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const S a = scale[r % C] * inv, b = offset[r % C];
      const S* s = sums + r * P;
      S* o = out + r * P;
      for (int64_t i = 0; i < P; ++i) o[i] = a * s[i] + b;
    }
  });
}

// The second sum is computed as the sum over every y of g(its window) * (y - shift) / k^2, the same sum regrouped.
template <typename S>
void pooled_grad_row_moments(const S* g, const S* y, const S* shift, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t k, double* row_g, double* row_gy) {
  const int64_t Ho = H / k, Wo = W / k;
  const S inv = S(1) / static_cast<S>(k * k);
  at::parallel_for(0, N * C, grain_rows(H * W), [&](int64_t r0, int64_t r1) {
    std::vector<S> spread(static_cast<size_t>(W));
    for (int64_t r = r0; r < r1; ++r) {
      const S* yr = y + r * H * W;
      const S* gr = g + r * Ho * Wo;
      const S sh = shift[r % C];
      S rg = 0, rgy = 0;
#pragma omp simd reduction(+ : rg)
      for (int64_t i = 0; i < Ho * Wo; ++i) rg += gr[i];
      if (k == 1) {
#pragma omp simd reduction(+ : rgy)
        for (int64_t i = 0; i < H * W; ++i) rgy += gr[i] * (yr[i] - sh);
      } else {
        for (int64_t ho = 0; ho < Ho; ++ho) {
          spread_line(gr + ho * Wo, Wo, k, S(1), S(0), spread.data());
          const S* sp = spread.data();
          for (int64_t j = 0; j < k; ++j) {
            const S* yl = yr + (ho * k + j) * W;
#pragma omp simd reduction(+ : rgy)
            for (int64_t w = 0; w < W; ++w) rgy += sp[w] * (yl[w] - sh);
          }
        }
        rgy *= inv;
      }
      row_g[r] = rg;
      row_gy[r] = rgy;
    }
  });
}

template <typename S>
void pooled_grad_row_moments_from_sums(const S* g, const S* sums, const S* shift, int64_t N, int64_t C, int64_t P,
                                       int64_t k, double* row_g, double* row_gy) {
  const S area = static_cast<S>(k * k), inv = S(1) / area;
  at::parallel_for(0, N * C, grain_rows(P), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const S* sr = sums + r * P;
      const S* gr = g + r * P;
      const S sh = area * shift[r % C];
      S rg = 0, rgy = 0;
#pragma omp simd reduction(+ : rg, rgy)
      for (int64_t i = 0; i < P; ++i) {
        rg += gr[i];
        rgy += gr[i] * (sr[i] - sh);
      }
      row_g[r] = rg;
      row_gy[r] = rgy * inv;
    }
  });
}

template <typename S>
void input_grad(const S* g, const S* y, const S* a, const S* b, const S* d, int64_t N, int64_t C, int64_t H, int64_t W,
                int64_t k, S* dy) {
  const int64_t Ho = H / k, Wo = W / k;
  at::parallel_for(0, N * C, grain_rows(H * W), [&](int64_t r0, int64_t r1) {
    std::vector<S> spread(static_cast<size_t>(W));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r % C;
      const S ac = a[c], bc = b[c], dc = d[c];
      const S* yr = y + r * H * W;
      const S* gr = g + r * Ho * Wo;
      S* out = dy + r * H * W;  // may be y itself, or g with k = 1 (written over in place)
      if (k == 1) {
        for (int64_t i = 0; i < H * W; ++i) out[i] = ac * gr[i] + bc + dc * yr[i];
        continue;
      }
      for (int64_t ho = 0; ho < Ho; ++ho) {
        spread_line(gr + ho * Wo, Wo, k, ac, bc, spread.data());
        const S* sp = spread.data();
        for (int64_t j = 0; j < k; ++j) {
          const int64_t off = (ho * k + j) * W;
          for (int64_t w = 0; w < W; ++w) out[off + w] = sp[w] + dc * yr[off + w];
        }
      }
    }
  });
}

Statistics statistics(const std::vector<double>& sum, const std::vector<double>& sumsq, const torch::Tensor& shift,
                      double count, const torch::Tensor& weight, const torch::Tensor& bias,
                      const torch::Tensor& running_mean, const torch::Tensor& running_var, double factor, double eps) {
  const int64_t C = shift.numel();
  const auto dopt = torch::TensorOptions().dtype(torch::kDouble);
  // from_blob over const data: read only, never written
  const torch::Tensor s = torch::from_blob(const_cast<double*>(sum.data()), {C}, dopt);
  const torch::Tensor q = torch::from_blob(const_cast<double*>(sumsq.data()), {C}, dopt);
  const torch::Tensor dmean = s / count;
  const torch::Tensor var = (q / count - dmean * dmean).clamp_min(0);  // biased, of y - shift
  Statistics st;
  st.mean = (dmean + shift.to(torch::kDouble)).to(shift.scalar_type());
  st.invstd = (var + eps).rsqrt().to(shift.scalar_type());
  {
    torch::NoGradGuard no_grad;
    const double unbiased = count > 1 ? count / (count - 1) : 1.0;
    running_mean.mul_(1 - factor).add_(st.mean.to(running_mean.scalar_type()), factor);
    running_var.mul_(1 - factor).add_((var * unbiased).to(running_var.scalar_type()), factor);
  }
  st.scale = (weight.detach() * st.invstd).contiguous();
  st.offset = (bias.detach() - st.mean * st.scale).contiguous();
  return st;
}

// With z the BN output at full resolution, dz = the pooled gradient spread over its window / k^2:
// sum dz = sum g, and sum dz * xhat = invstd * sum g * (window mean of y - mean); and
// dy = gamma * invstd * (dz - sum dz / M - xhat * sum(dz * xhat) / M) = a * g + b + d * y per channel.
GradCoefficients grad_coefficients(const std::vector<double>& sum_g, const std::vector<double>& sum_gy,
                                   const torch::Tensor& weight, const torch::Tensor& mean, const torch::Tensor& invstd,
                                   double count, int64_t k) {
  const int64_t C = mean.numel();
  const auto dopt = torch::TensorOptions().dtype(torch::kDouble);
  const torch::Tensor dbias = torch::from_blob(const_cast<double*>(sum_g.data()), {C}, dopt).clone();
  const torch::Tensor istd = invstd.to(torch::kDouble), gamma = weight.detach().to(torch::kDouble);
  const torch::Tensor dweight = torch::from_blob(const_cast<double*>(sum_gy.data()), {C}, dopt) * istd;
  const torch::Tensor gi = gamma * istd;
  const torch::Tensor a = gi / static_cast<double>(k * k);
  const torch::Tensor d = -gi * istd * dweight / count;
  const torch::Tensor b = -gi * dbias / count - d * mean.to(torch::kDouble);
  const auto st = mean.scalar_type();
  return {dweight.to(weight.scalar_type()), dbias.to(weight.scalar_type()), a.to(st), b.to(st), d.to(st), a, b, d};
}

#define MASNN_BN_POOL_INSTANTIATE(S)                                                                                   \
  template void spread_pooled<S>(const S*, int64_t, int64_t, int64_t, int64_t, S, S*);                                 \
  template void row_moments<S>(const S*, int64_t, int64_t, int64_t, const S*, double*, double*);                       \
  template void scale_pool<S>(const S*, const S*, const S*, int64_t, int64_t, int64_t, int64_t, int64_t, S*);          \
  template void scale_window_sums<S>(const S*, const S*, const S*, int64_t, int64_t, int64_t, int64_t, S*);            \
  template void pooled_grad_row_moments<S>(const S*, const S*, const S*, int64_t, int64_t, int64_t, int64_t, int64_t,  \
                                           double*, double*);                                                          \
  template void pooled_grad_row_moments_from_sums<S>(const S*, const S*, const S*, int64_t, int64_t, int64_t, int64_t, \
                                                     double*, double*);                                                \
  template void input_grad<S>(const S*, const S*, const S*, const S*, const S*, int64_t, int64_t, int64_t, int64_t,    \
                              int64_t, S*);
MASNN_BN_POOL_INSTANTIATE(float)
MASNN_BN_POOL_INSTANTIATE(double)
#undef MASNN_BN_POOL_INSTANTIATE

}  // namespace masnn::functional::bn_pool
