// CPU kernels of the fused Conv-POST attention. Each walks its rows of N positions with branch-free inner loops
// (GCC vectorises them; `omp simd` lets it reorder the sums), parallel over rows or over batch columns with
// at::parallel_for (OpenMP).
#include "attention/attention_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace masnn::kernels {
namespace {

// Rows per parallel task: enough work per task to amortise scheduling.
int64_t grain_rows(int64_t n) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
}

}  // namespace

template <typename T>
void row_sum_max(const T* x, int64_t rows, int64_t n, T* sum, T* max, int32_t* arg) {
  at::parallel_for(0, rows, grain_rows(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = x + r * n;
      T s = 0, m = row[0];
#pragma omp simd reduction(+ : s) reduction(max : m)
      for (int64_t i = 0; i < n; ++i) {
        s += row[i];
        m = row[i] > m ? row[i] : m;
      }
      int32_t a = 0;  // the first position of the max (a NaN row stops at its end)
      while (a < n - 1 && !(row[a] == m)) ++a;
      sum[r] = s;
      max[r] = m;
      arg[r] = a;
    }
  });
}

template <typename T>
void row_sum_max_backward(const T* dsum, const T* dmax, const int32_t* arg, int64_t rows, int64_t n, T* dx,
                          bool accumulate) {
  at::parallel_for(0, rows, grain_rows(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T* row = dx + r * n;
      const T v = dsum ? dsum[r] : T(0);
      if (accumulate) {
        if (dsum)
          for (int64_t i = 0; i < n; ++i) row[i] += v;
      } else {
        for (int64_t i = 0; i < n; ++i) row[i] = v;
      }
      if (dmax) row[arg[r]] += dmax[r];
    }
  });
}

template <typename T>
void scaled_mean_max_tc(const T* x, const T* a, const AttentionShape& s, T* mean, T* max, int32_t* arg) {
  const int64_t B = s.batch, C = s.channels, N = s.positions;
  const T inv = T(1) / static_cast<T>(s.steps * C);
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* mu = mean + b * N;
      T* mx = max + b * N;
      int32_t* ag = arg + b * N;
      std::fill(mu, mu + N, T(0));
      std::fill(mx, mx + N, -std::numeric_limits<T>::infinity());
      std::fill(ag, ag + N, 0);
      for (int64_t t = 0; t < s.steps; ++t)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t r = (t * B + b) * C + c;
          const T k = a[r];
          const T* row = x + r * N;
          const auto tc = static_cast<int32_t>(t * C + c);
          for (int64_t i = 0; i < N; ++i) {
            const T v = k * row[i];
            mu[i] += v;
            const bool gt = v > mx[i];
            mx[i] = gt ? v : mx[i];
            ag[i] = gt ? tc : ag[i];
          }
        }
      for (int64_t i = 0; i < N; ++i) mu[i] *= inv;
    }
  });
}

namespace {

// One row (t, b, c) of scaled_mean_max_tc_backward: dx = k * g, written or added (Accumulate), with g the maps'
// gradients routed to this row; returns the row's da = sum of x * g.
template <typename T, bool Accumulate>
T scaled_mean_max_tc_backward_row(const T* row, const T* dmu, const T* dmx, const int32_t* ag, int32_t tc, T inv, T k,
                                  int64_t N, T* out) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < N; ++i) {
    T g = dmu ? dmu[i] * inv : T(0);
    if (dmx) g += ag[i] == tc ? dmx[i] : T(0);
    if constexpr (Accumulate)
      out[i] += k * g;
    else
      out[i] = k * g;
    acc += row[i] * g;
  }
  return acc;
}

}  // namespace

template <typename T>
void scaled_mean_max_tc_backward(const T* x, const T* a, const int32_t* arg, const T* dmean, const T* dmax,
                                 const AttentionShape& s, T* dx, T* da, bool accumulate, int64_t first, int64_t count) {
  const int64_t B = s.batch, C = s.channels, N = s.positions;
  const T inv = T(1) / static_cast<T>(s.steps * C);
  // Over the rows (t, b - first, c) of x; r is the row of the whole arrays.
  at::parallel_for(0, s.steps * count * C, grain_rows(N), [&](int64_t r0, int64_t r1) {
    for (int64_t rx = r0; rx < r1; ++rx) {
      const int64_t c = rx % C, b = first + (rx / C) % count, t = rx / (C * count);
      const int64_t r = (t * B + b) * C + c;
      const auto tc = static_cast<int32_t>(t * C + c);
      const T* dmu = dmean ? dmean + b * N : nullptr;
      const T* dmx = dmax ? dmax + b * N : nullptr;
      const int32_t* ag = arg + b * N;
      da[r] = accumulate
                  ? scaled_mean_max_tc_backward_row<T, true>(x + rx * N, dmu, dmx, ag, tc, inv, a[r], N, dx + r * N)
                  : scaled_mean_max_tc_backward_row<T, false>(x + rx * N, dmu, dmx, ag, tc, inv, a[r], N, dx + r * N);
    }
  });
}

template <typename T>
void scale_tbc(const T* x, const T* a, const T* w, const AttentionShape& s, bool relu, T* y) {
  const int64_t B = s.batch, C = s.channels, N = s.positions;
  at::parallel_for(0, s.rows(), grain_rows(N), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = x + r * N;
      T* out = y + r * N;
      const T k = a[r];
      const T* wb = w ? w + ((r / C) % B) * N : nullptr;
      if (wb) {
        for (int64_t i = 0; i < N; ++i) out[i] = row[i] * k * wb[i];
      } else {
        for (int64_t i = 0; i < N; ++i) out[i] = row[i] * k;
      }
      if (relu)
        for (int64_t i = 0; i < N; ++i) out[i] = out[i] > T(0) ? out[i] : T(0);
    }
  });
}

namespace {

// One row of scale_tbc_backward: dx, and the row's part of da (returned) and of dw (added when Dw). The choices
// are compile-time and the loop branch-free: GCC left the loop with a run-time ReLU choice scalar (18x slower).
template <typename T, bool Relu, bool Dw>
T scale_tbc_backward_row(const T* __restrict gr, const T* __restrict xr, const T* __restrict wb, T* __restrict dxr,
                         T* __restrict dwb, int64_t N, const T k) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < N; ++i) {
    const T xw = xr[i] * wb[i];
    const T gi = gr[i];  // loaded unconditionally: a load inside the select is not vectorised
    const T gm = !Relu || xw * k > T(0) ? gi : T(0);
    dxr[i] = gm * k * wb[i];
    acc += gm * xw;
    if constexpr (Dw) dwb[i] += gm * xr[i] * k;
  }
  return acc;
}

template <typename T, bool Relu>
void scale_tbc_backward_impl(const T* g, const T* x, const T* a, const T* w, const AttentionShape& s, T* dx, T* da,
                             T* dw) {
  const int64_t B = s.batch, C = s.channels, N = s.positions;
  // Parallel over batch columns: dw[b] sums over every (t, c) of column b.
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<T> ones;
    for (int64_t b = b0; b < b1; ++b) {
      const T* wb = w ? w + b * N : nullptr;
      T* dwb = dw ? dw + b * N : nullptr;
      if (!wb) {
        ones.assign(N, T(1));
        wb = ones.data();
      }
      if (dwb) std::fill(dwb, dwb + N, T(0));
      for (int64_t t = 0; t < s.steps; ++t)
        for (int64_t c = 0; c < C; ++c) {
          const int64_t r = (t * B + b) * C + c;
          da[r] = dwb ? scale_tbc_backward_row<T, Relu, true>(g + r * N, x + r * N, wb, dx + r * N, dwb, N, a[r])
                      : scale_tbc_backward_row<T, Relu, false>(g + r * N, x + r * N, wb, dx + r * N, dwb, N, a[r]);
        }
    }
  });
}

}  // namespace

template <typename T>
void scale_tbc_backward(const T* g, const T* x, const T* a, const T* w, const AttentionShape& s, bool relu, T* dx,
                        T* da, T* dw) {
  if (relu)
    scale_tbc_backward_impl<T, true>(g, x, a, w, s, dx, da, dw);
  else
    scale_tbc_backward_impl<T, false>(g, x, a, w, s, dx, da, dw);
}

#define MASNN_INSTANTIATE(T)                                                                             \
  template void row_sum_max<T>(const T*, int64_t, int64_t, T*, T*, int32_t*);                            \
  template void row_sum_max_backward<T>(const T*, const T*, const int32_t*, int64_t, int64_t, T*, bool); \
  template void scaled_mean_max_tc<T>(const T*, const T*, const AttentionShape&, T*, T*, int32_t*);      \
  template void scaled_mean_max_tc_backward<T>(const T*, const T*, const int32_t*, const T*, const T*,   \
                                               const AttentionShape&, T*, T*, bool, int64_t, int64_t);   \
  template void scale_tbc<T>(const T*, const T*, const T*, const AttentionShape&, bool, T*);             \
  template void scale_tbc_backward<T>(const T*, const T*, const T*, const T*, const AttentionShape&, bool, T*, T*, T*);
MASNN_INSTANTIATE(float)
MASNN_INSTANTIATE(double)
#undef MASNN_INSTANTIATE

}  // namespace masnn::kernels
