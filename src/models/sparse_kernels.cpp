// Event-driven convolution and linear kernels. Two phases: gather the nonzero inputs of each sample (a scan of the
// input), then accumulate the weight rows they reach, contiguous over output channels.
#include "models/sparse_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "util/bit_mask.h"

// Function multi-versioning: the accumulate loops are compiled for AVX-512, AVX2 and the baseline ISA, and the
// loader picks the best the CPU has (the library itself is built for the baseline).
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MASNN_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef MASNN_MULTIVERSION
#define MASNN_MULTIVERSION
#endif
#if defined(__GNUC__)
#define MASNN_INLINE inline __attribute__((always_inline))
#define MASNN_INLINE_LAMBDA __attribute__((always_inline))  // after a lambda's parameters: inlined into each clone
#else
#define MASNN_INLINE inline
#define MASNN_INLINE_LAMBDA
#endif

namespace masnn::kernels {
namespace {

template <typename T>
struct Active {
  int32_t channel, y, x;  // linear layers: channel = feature, y = x = 0
  T value;
};

template <typename T>
MASNN_INLINE void accumulate(T* __restrict out, const T* __restrict w, T v, int64_t n) {
  if (v == T(1)) {
    for (int64_t i = 0; i < n; ++i) out[i] += w[i];  // binary spikes: adds only
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] += v * w[i];
  }
}

template <typename T>
MASNN_INLINE void fill_bias(T* __restrict out, const T* __restrict bias, int64_t n) {
  if (bias) {
    for (int64_t i = 0; i < n; ++i) out[i] = bias[i];
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = T(0);
  }
}

// Calls fn(k, o) for every kernel tap k = ky * K + kx of the input at (y, x) whose output o = oy * Wout + ox,
// (oy, ox) = (y + pad - ky, x + pad - kx), falls inside the output.
template <typename Fn>
MASNN_INLINE void for_each_tap(const ConvShape& s, int64_t y, int64_t x, const Fn& fn) {
  const int64_t K = s.kernel, Ho = s.out_height(), Wo = s.out_width();
  // Taps whose output falls inside: ky in [y+pad-Ho+1, y+pad], kx likewise, clipped to [0,K).
  const int64_t ky0 = std::max<int64_t>(0, y + s.pad - Ho + 1), ky1 = std::min<int64_t>(K, y + s.pad + 1);
  const int64_t kx0 = std::max<int64_t>(0, x + s.pad - Wo + 1), kx1 = std::min<int64_t>(K, x + s.pad + 1);
  for (int64_t ky = ky0; ky < ky1; ++ky)
    for (int64_t kx = kx0; kx < kx1; ++kx) fn(ky * K + kx, (y + s.pad - ky) * Wo + (x + s.pad - kx));
}

// One task of the convolution: output channels [c0, c1) of one sample. The weights of each active input are
// accumulated into a channels-last scratch [Hout*Wout, c1-c0] (contiguous over channels, so the adds vectorise;
// small enough to stay in cache), which is then written transposed into the NCHW output. `for_each_active(add)`
// calls add(channel, y, x, value) for every active input of the sample.
template <typename T, typename Actives>
MASNN_INLINE void output_scratch(const Actives& for_each_active, const T* weight_t, const T* bias, const ConvShape& s,
                                 int64_t c0, int64_t c1, T* scratch) {
  const int64_t K = s.kernel, C = s.out_channels, len = c1 - c0, P = s.out_height() * s.out_width();
  for (int64_t p = 0; p < P; ++p) fill_bias(scratch + p * len, bias ? bias + c0 : nullptr, len);
  for_each_active([&](int64_t channel, int64_t y, int64_t x, T value) MASNN_INLINE_LAMBDA {
    const T* wc = weight_t + channel * K * K * C + c0;
    for_each_tap(s, y, x, [&](int64_t k, int64_t o) MASNN_INLINE_LAMBDA {
      accumulate(scratch + o * len, wc + k * C, value, len);
    });
  });
}

template <typename T, typename Actives>
MASNN_INLINE void conv_task_impl(const Actives& for_each_active, const T* weight_t, const T* bias, T* out_n,
                                 const ConvShape& s, int64_t c0, int64_t c1, T* scratch) {
  const int64_t len = c1 - c0, P = s.out_height() * s.out_width();
  output_scratch(for_each_active, weight_t, bias, s, c0, c1, scratch);
  for (int64_t c = 0; c < len; ++c) {
    T* __restrict dst = out_n + (c0 + c) * P;
    for (int64_t p = 0; p < P; ++p) dst[p] = scratch[p * len + c];
  }
}

// The actives of one sample as a list of Active entries.
template <typename T>
struct ActiveList {
  const Active<T>* act;
  int64_t count;
  template <typename Add>
  MASNN_INLINE void operator()(const Add& add) const {
    for (int64_t a = 0; a < count; ++a) add(act[a].channel, act[a].y, act[a].x, act[a].value);
  }
};

// The spikes of one sample as planes of an index.
template <typename T>
struct IndexedSample {
  SpikeIndex index;
  int64_t n, channels, width;
  template <typename Add>
  MASNN_INLINE void operator()(const Add& add) const {
    for (int64_t c = 0; c < channels; ++c) {
      const int64_t p = n * channels + c;
      for (int64_t a = index.offsets[p]; a < index.offsets[p + 1]; ++a) {
        const int32_t pos = index.positions[a];
        add(c, pos / width, pos % width, T(1));
      }
    }
  }
};

MASNN_MULTIVERSION void conv_task(const Active<float>* act, int64_t count, const float* weight_t, const float* bias,
                                  float* out_n, const ConvShape& s, int64_t c0, int64_t c1, float* scratch) {
  conv_task_impl(ActiveList<float>{act, count}, weight_t, bias, out_n, s, c0, c1, scratch);
}
MASNN_MULTIVERSION void conv_task(const Active<double>* act, int64_t count, const double* weight_t, const double* bias,
                                  double* out_n, const ConvShape& s, int64_t c0, int64_t c1, double* scratch) {
  conv_task_impl(ActiveList<double>{act, count}, weight_t, bias, out_n, s, c0, c1, scratch);
}
MASNN_MULTIVERSION void conv_task(const IndexedSample<float>& sample, const float* weight_t, const float* bias,
                                  float* out_n, const ConvShape& s, int64_t c0, int64_t c1, float* scratch) {
  conv_task_impl(sample, weight_t, bias, out_n, s, c0, c1, scratch);
}
MASNN_MULTIVERSION void conv_task(const IndexedSample<double>& sample, const double* weight_t, const double* bias,
                                  double* out_n, const ConvShape& s, int64_t c0, int64_t c1, double* scratch) {
  conv_task_impl(sample, weight_t, bias, out_n, s, c0, c1, scratch);
}

// Sample n's output channels [c0, c1) reduced to what BN + pooling k need (sparse_conv2d_moments_pool): the moments
// of each channel in double, and the window sums, pooled channels-last into `pooled` and then written per channel.
template <typename T>
MASNN_INLINE void moments_pool_task_impl(const IndexedSample<T>& sample, const T* weight_t, const T* bias,
                                         const T* shift, const ConvShape& s, int64_t k, int64_t c0, int64_t c1,
                                         double* row_sum, double* row_sumsq, T* sums, T* scratch, T* pooled,
                                         double* moments) {
  const int64_t C = s.out_channels, Wo = s.out_width(), len = c1 - c0, P = s.out_height() * Wo;
  const int64_t Hp = s.out_height() / k, Wp = Wo / k, Pp = Hp * Wp, n = sample.n;
  output_scratch(sample, weight_t, bias, s, c0, c1, scratch);
  double* __restrict rs = moments, * __restrict rq = moments + len;
  for (int64_t c = 0; c < len; ++c) rs[c] = rq[c] = 0.0;
  const T* sh = shift + c0;
  for (int64_t p = 0; p < P; ++p) {
    const T* __restrict z = scratch + p * len;
    for (int64_t c = 0; c < len; ++c) {
      const double d = static_cast<double>(z[c] - sh[c]);
      rs[c] += d;
      rq[c] += d * d;
    }
  }
  for (int64_t c = 0; c < len; ++c) {
    row_sum[n * C + c0 + c] = rs[c];
    row_sumsq[n * C + c0 + c] = rq[c];
  }
  const T* window = scratch;
  if (k > 1) {
    for (int64_t hp = 0; hp < Hp; ++hp)
      for (int64_t wp = 0; wp < Wp; ++wp) {
        T* __restrict out = pooled + (hp * Wp + wp) * len;
        for (int64_t c = 0; c < len; ++c) out[c] = T(0);
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const T* __restrict z = scratch + ((hp * k + i) * Wo + wp * k + j) * len;
            for (int64_t c = 0; c < len; ++c) out[c] += z[c];
          }
      }
    window = pooled;
  }
  for (int64_t c = 0; c < len; ++c) {
    T* __restrict dst = sums + (n * C + c0 + c) * Pp;
    for (int64_t q = 0; q < Pp; ++q) dst[q] = window[q * len + c];
  }
}

MASNN_MULTIVERSION void moments_pool_task(const IndexedSample<float>& sample, const float* weight_t, const float* bias,
                                          const float* shift, const ConvShape& s, int64_t k, int64_t c0, int64_t c1,
                                          double* row_sum, double* row_sumsq, float* sums, float* scratch,
                                          float* pooled, double* moments) {
  moments_pool_task_impl(sample, weight_t, bias, shift, s, k, c0, c1, row_sum, row_sumsq, sums, scratch, pooled,
                         moments);
}
MASNN_MULTIVERSION void moments_pool_task(const IndexedSample<double>& sample, const double* weight_t,
                                          const double* bias, const double* shift, const ConvShape& s, int64_t k,
                                          int64_t c0, int64_t c1, double* row_sum, double* row_sumsq, double* sums,
                                          double* scratch, double* pooled, double* moments) {
  moments_pool_task_impl(sample, weight_t, bias, shift, s, k, c0, c1, row_sum, row_sumsq, sums, scratch, pooled,
                         moments);
}

// Sample n's output channels [c0, c1) computed again and turned into their gradient through BN + pooling k
// (sparse_conv2d_norm_pool_grad), written channels-last; the pooled gradient's channels transposed into `gt` first
// so that every loop runs over contiguous channels.
template <typename T>
MASNN_INLINE void norm_pool_grad_task_impl(const IndexedSample<T>& sample, const T* weight_t, const T* bias, const T* g,
                                           const T* a, const T* b, const T* d, const ConvShape& s, int64_t k,
                                           int64_t c0, int64_t c1, T* dz, double* row_dz, T* scratch, T* gt,
                                           double* sums) {
  const int64_t C = s.out_channels, Ho = s.out_height(), Wo = s.out_width(), len = c1 - c0;
  const int64_t Wp = Wo / k, Pp = (Ho / k) * Wp, n = sample.n;
  output_scratch(sample, weight_t, bias, s, c0, c1, scratch);
  for (int64_t c = 0; c < len; ++c) {
    const T* __restrict src = g + (n * C + c0 + c) * Pp;
    for (int64_t q = 0; q < Pp; ++q) gt[q * len + c] = src[q];
  }
  for (int64_t c = 0; c < len; ++c) sums[c] = 0.0;
  const T *ac = a + c0, *bc = b + c0, *dc = d + c0;
  for (int64_t h = 0; h < Ho; ++h)
    for (int64_t w = 0; w < Wo; ++w) {
      const int64_t p = h * Wo + w;
      const T* __restrict z = scratch + p * len;
      const T* __restrict gp = gt + ((h / k) * Wp + w / k) * len;
      T* __restrict out = dz + (n * Ho * Wo + p) * C + c0;
      for (int64_t c = 0; c < len; ++c) {
        const T v = ac[c] * gp[c] + bc[c] + dc[c] * z[c];
        out[c] = v;
        sums[c] += static_cast<double>(v);
      }
    }
  for (int64_t c = 0; c < len; ++c) row_dz[n * C + c0 + c] = sums[c];
}

MASNN_MULTIVERSION void norm_pool_grad_task(const IndexedSample<float>& sample, const float* weight_t,
                                            const float* bias, const float* g, const float* a, const float* b,
                                            const float* d, const ConvShape& s, int64_t k, int64_t c0, int64_t c1,
                                            float* dz, double* row_dz, float* scratch, float* gt, double* sums) {
  norm_pool_grad_task_impl(sample, weight_t, bias, g, a, b, d, s, k, c0, c1, dz, row_dz, scratch, gt, sums);
}
MASNN_MULTIVERSION void norm_pool_grad_task(const IndexedSample<double>& sample, const double* weight_t,
                                            const double* bias, const double* g, const double* a, const double* b,
                                            const double* d, const ConvShape& s, int64_t k, int64_t c0, int64_t c1,
                                            double* dz, double* row_dz, double* scratch, double* gt, double* sums) {
  norm_pool_grad_task_impl(sample, weight_t, bias, g, a, b, d, s, k, c0, c1, dz, row_dz, scratch, gt, sums);
}

// The weight gradient of input channel ci: every spike of that channel adds the output gradients it reached.
template <typename T>
MASNN_INLINE void weight_grad_task_impl(const SpikeIndex& index, const T* grad_out, T* grad_weight_t,
                                        const ConvShape& s, SampleRange r, int64_t ci) {
  const int64_t K = s.kernel, C = s.out_channels, P = s.out_height() * s.out_width();
  T* dw = grad_weight_t + ci * K * K * C;
  for (int64_t n = r.begin; n < r.end; ++n) {
    const int64_t p = n * s.in_channels + ci;
    const T* g = grad_out + (n - r.begin) * P * C;
    for (int64_t a = index.offsets[p]; a < index.offsets[p + 1]; ++a) {
      const int32_t pos = index.positions[a];
      for_each_tap(s, pos / s.width, pos % s.width,
                   [&](int64_t k, int64_t o) MASNN_INLINE_LAMBDA { accumulate(dw + k * C, g + o * C, T(1), C); });
    }
  }
}

MASNN_MULTIVERSION void weight_grad_task(const SpikeIndex& index, const float* grad_out, float* grad_weight_t,
                                         const ConvShape& s, SampleRange r, int64_t ci) {
  weight_grad_task_impl(index, grad_out, grad_weight_t, s, r, ci);
}
MASNN_MULTIVERSION void weight_grad_task(const SpikeIndex& index, const double* grad_out, double* grad_weight_t,
                                         const ConvShape& s, SampleRange r, int64_t ci) {
  weight_grad_task_impl(index, grad_out, grad_weight_t, s, r, ci);
}

// acc[l] += a[i + l] * b[i + l] over the whole lanes of n, and the rest into *tail: lane-wise sums vectorise and keep
// one fixed order of summation (a plain reduction would need the compiler to reorder floating-point adds).
constexpr int64_t kLanes = 16;

template <typename T>
MASNN_INLINE void dot_lanes(T* __restrict acc, T* __restrict tail, const T* __restrict a, const T* __restrict b,
                            int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) *tail += a[i] * b[i];
}

// dot_lanes for four weight rows against one b: each b element loaded serves four products.
template <typename T>
MASNN_INLINE void dot_lanes4(T (*__restrict acc)[kLanes], T* __restrict tail, const T* __restrict w0,
                             const T* __restrict w1, const T* __restrict w2, const T* __restrict w3,
                             const T* __restrict b, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) {
      const T v = b[i + l];
      acc[0][l] += w0[i + l] * v;
      acc[1][l] += w1[i + l] * v;
      acc[2][l] += w2[i + l] * v;
      acc[3][l] += w3[i + l] * v;
    }
  for (; i < n; ++i) {
    tail[0] += w0[i] * b[i];
    tail[1] += w1[i] * b[i];
    tail[2] += w2[i] * b[i];
    tail[3] += w3[i] * b[i];
  }
}

template <typename T>
MASNN_INLINE T sum_lanes(const T* acc, T tail) {
  T sum = tail;
  for (int64_t l = 0; l < kLanes; ++l) sum += acc[l];
  return sum;
}

// The input gradient of sample n at positions [p0, p1) of its planes: each set bit (ci, pos) of the support gets
// the dot products of weight row ci with the output gradients its taps reach; the other elements are 0. The
// channels set at one position are taken four at a time, so that each output-gradient row read serves four weight
// rows (the rows, not the arithmetic, are shared: every element sums in the same order, whatever its group).
// `set` holds (p1 - p0) x Cin channel indices, `count` (p1 - p0) counters; `g` is sample n's output gradient.
template <typename T>
MASNN_INLINE void input_grad_positions_impl(const uint8_t* support, const T* g, const T* weight_t, T* grad_in,
                                            const ConvShape& s, int64_t n, int64_t p0, int64_t p1, int32_t* set,
                                            int32_t* count) {
  const int64_t KKC = s.kernel * s.kernel * s.out_channels, C = s.out_channels, plane = s.height * s.width;
  const int64_t Cin = s.in_channels, base = n * Cin * plane, len = p1 - p0;
  // The channels set at each position, in increasing order; the segments zeroed (set elements are overwritten).
  for (int64_t p = 0; p < len; ++p) count[p] = 0;
  for (int64_t ci = 0; ci < Cin; ++ci) {
    const int64_t begin = base + ci * plane + p0;
    for (int64_t p = 0; p < len; ++p) grad_in[begin + p] = T(0);
    bits::for_each_set(support, begin, begin + len, [&](int64_t bit) MASNN_INLINE_LAMBDA {
      const int64_t p = bit - begin;
      set[p * Cin + count[p]++] = static_cast<int32_t>(ci);
    });
  }
  for (int64_t p = 0; p < len; ++p) {
    const int32_t* channels = set + p * Cin;
    const int64_t pos = p0 + p, y = pos / s.width, x = pos % s.width;
    int64_t i = 0;
    for (; i + 4 <= count[p]; i += 4) {
      T acc[4][kLanes] = {}, tail[4] = {};
      const T *w0 = weight_t + channels[i] * KKC, *w1 = weight_t + channels[i + 1] * KKC,
              *w2 = weight_t + channels[i + 2] * KKC, *w3 = weight_t + channels[i + 3] * KKC;
      for_each_tap(s, y, x, [&](int64_t k, int64_t o) MASNN_INLINE_LAMBDA {
        dot_lanes4(acc, tail, w0 + k * C, w1 + k * C, w2 + k * C, w3 + k * C, g + o * C, C);
      });
      for (int64_t j = 0; j < 4; ++j) grad_in[base + channels[i + j] * plane + pos] = sum_lanes(acc[j], tail[j]);
    }
    for (; i < count[p]; ++i) {
      T acc[kLanes] = {}, tail = T(0);
      const T* w = weight_t + channels[i] * KKC;
      for_each_tap(s, y, x,
                   [&](int64_t k, int64_t o) MASNN_INLINE_LAMBDA { dot_lanes(acc, &tail, w + k * C, g + o * C, C); });
      grad_in[base + channels[i] * plane + pos] = sum_lanes(acc, tail);
    }
  }
}

MASNN_MULTIVERSION void input_grad_positions(const uint8_t* support, const float* grad_out, const float* weight_t,
                                             float* grad_in, const ConvShape& s, int64_t n, int64_t p0, int64_t p1,
                                             int32_t* set, int32_t* count) {
  input_grad_positions_impl(support, grad_out, weight_t, grad_in, s, n, p0, p1, set, count);
}
MASNN_MULTIVERSION void input_grad_positions(const uint8_t* support, const double* grad_out, const double* weight_t,
                                             double* grad_in, const ConvShape& s, int64_t n, int64_t p0, int64_t p1,
                                             int32_t* set, int32_t* count) {
  input_grad_positions_impl(support, grad_out, weight_t, grad_in, s, n, p0, p1, set, count);
}

template <typename T>
MASNN_INLINE void linear_task_impl(const Active<T>* act, int64_t count, const T* weight_t, const T* bias, T* out_n,
                                   int64_t out_features, int64_t c0, int64_t c1) {
  fill_bias(out_n + c0, bias ? bias + c0 : nullptr, c1 - c0);
  for (int64_t a = 0; a < count; ++a)
    accumulate(out_n + c0, weight_t + static_cast<int64_t>(act[a].channel) * out_features + c0, act[a].value, c1 - c0);
}

MASNN_MULTIVERSION void linear_task(const Active<float>* act, int64_t count, const float* weight_t, const float* bias,
                                    float* out_n, int64_t out_features, int64_t c0, int64_t c1) {
  linear_task_impl(act, count, weight_t, bias, out_n, out_features, c0, c1);
}
MASNN_MULTIVERSION void linear_task(const Active<double>* act, int64_t count, const double* weight_t,
                                    const double* bias, double* out_n, int64_t out_features, int64_t c0, int64_t c1) {
  linear_task_impl(act, count, weight_t, bias, out_n, out_features, c0, c1);
}

// Output features [c0, c1) of row n of a linear layer on binary spikes: the bias, then the weight row of each spike.
template <typename T>
MASNN_INLINE void linear_indexed_task_impl(const SpikeIndex& rows, const T* weight_t, const T* bias, T* out,
                                           int64_t out_features, int64_t n, int64_t c0, int64_t c1) {
  T* out_n = out + n * out_features + c0;
  fill_bias(out_n, bias ? bias + c0 : nullptr, c1 - c0);
  for (int64_t a = rows.offsets[n]; a < rows.offsets[n + 1]; ++a)
    accumulate(out_n, weight_t + static_cast<int64_t>(rows.positions[a]) * out_features + c0, T(1), c1 - c0);
}

MASNN_MULTIVERSION void linear_indexed_task(const SpikeIndex& rows, const float* weight_t, const float* bias,
                                            float* out, int64_t out_features, int64_t n, int64_t c0, int64_t c1) {
  linear_indexed_task_impl(rows, weight_t, bias, out, out_features, n, c0, c1);
}
MASNN_MULTIVERSION void linear_indexed_task(const SpikeIndex& rows, const double* weight_t, const double* bias,
                                            double* out, int64_t out_features, int64_t n, int64_t c0, int64_t c1) {
  linear_indexed_task_impl(rows, weight_t, bias, out, out_features, n, c0, c1);
}

// The weight gradient of input feature j: the output-gradient rows of the samples where it spiked, in their order.
template <typename T>
MASNN_INLINE void linear_weight_grad_task_impl(const SpikeIndex& columns, const T* grad_out, T* grad_weight_t,
                                               int64_t out_features, int64_t j) {
  T* dw = grad_weight_t + j * out_features;
  for (int64_t o = 0; o < out_features; ++o) dw[o] = T(0);
  for (int64_t a = columns.offsets[j]; a < columns.offsets[j + 1]; ++a)
    accumulate(dw, grad_out + static_cast<int64_t>(columns.positions[a]) * out_features, T(1), out_features);
}

MASNN_MULTIVERSION void linear_weight_grad_task(const SpikeIndex& columns, const float* grad_out, float* grad_weight_t,
                                                int64_t out_features, int64_t j) {
  linear_weight_grad_task_impl(columns, grad_out, grad_weight_t, out_features, j);
}
MASNN_MULTIVERSION void linear_weight_grad_task(const SpikeIndex& columns, const double* grad_out,
                                                double* grad_weight_t, int64_t out_features, int64_t j) {
  linear_weight_grad_task_impl(columns, grad_out, grad_weight_t, out_features, j);
}

// The input gradient of row n of a linear layer at the set bits of its support (zero elsewhere): the features set
// are taken four at a time, so that each output-gradient element read serves four weight rows (every element sums
// in the same order, whatever its group). `set` holds in_features indices.
template <typename T>
MASNN_INLINE void linear_input_grad_row_impl(const uint8_t* support, const T* grad_out, const T* weight_t, T* grad_in,
                                             int64_t in_features, int64_t out_features, int64_t n, int32_t* set) {
  const int64_t begin = n * in_features, F = out_features;
  T* gi = grad_in + begin;
  const T* g = grad_out + n * F;
  for (int64_t j = 0; j < in_features; ++j) gi[j] = T(0);
  int64_t count = 0;
  bits::for_each_set(support, begin, begin + in_features,
                     [&](int64_t bit) MASNN_INLINE_LAMBDA { set[count++] = static_cast<int32_t>(bit - begin); });
  int64_t i = 0;
  for (; i + 4 <= count; i += 4) {
    T acc[4][kLanes] = {}, tail[4] = {};
    dot_lanes4(acc, tail, weight_t + set[i] * F, weight_t + set[i + 1] * F, weight_t + set[i + 2] * F,
               weight_t + set[i + 3] * F, g, F);
    for (int64_t k = 0; k < 4; ++k) gi[set[i + k]] = sum_lanes(acc[k], tail[k]);
  }
  for (; i < count; ++i) {
    T acc[kLanes] = {}, tail = T(0);
    dot_lanes(acc, &tail, weight_t + set[i] * F, g, F);
    gi[set[i]] = sum_lanes(acc, tail);
  }
}

MASNN_MULTIVERSION void linear_input_grad_row(const uint8_t* support, const float* grad_out, const float* weight_t,
                                              float* grad_in, int64_t in_features, int64_t out_features, int64_t n,
                                              int32_t* set) {
  linear_input_grad_row_impl(support, grad_out, weight_t, grad_in, in_features, out_features, n, set);
}
MASNN_MULTIVERSION void linear_input_grad_row(const uint8_t* support, const double* grad_out, const double* weight_t,
                                              double* grad_in, int64_t in_features, int64_t out_features, int64_t n,
                                              int32_t* set) {
  linear_input_grad_row_impl(support, grad_out, weight_t, grad_in, in_features, out_features, n, set);
}

// Output-channel blocks per sample: one when the samples alone keep the threads busy, else enough blocks of at
// least 16 channels for the threads.
int64_t channel_blocks(int64_t batch, int64_t channels) {
  const int64_t threads = at::get_num_threads();
  if (threads <= 1 || batch >= threads) return 1;
  return std::max<int64_t>(1, std::min(channels / 16, (threads + batch - 1) / batch));
}

// Runs task(n, c0, c1) over samples x channel blocks in parallel.
template <typename Fn>
void for_each_block(int64_t batch, int64_t channels, const Fn& task) {
  const int64_t blocks = channel_blocks(batch, channels);
  const int64_t per = (channels + blocks - 1) / blocks;
  at::parallel_for(0, batch * blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t n = i / blocks, c0 = (i % blocks) * per;
      if (c0 < channels) task(n, c0, std::min(channels, c0 + per));
    }
  });
}

}  // namespace

template <typename T>
void sparse_conv2d(const T* in, const T* weight_t, const T* bias, T* out, const ConvShape& s) {
  const int64_t N = s.batch, plane = s.height * s.width, per_sample = s.in_channels * plane;
  const int64_t out_per_sample = s.out_height() * s.out_width() * s.out_channels;
  std::vector<std::vector<Active<T>>> active(static_cast<size_t>(N));
  at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      auto& list = active[n];
      const T* x = in + n * per_sample;
      for (int64_t c = 0; c < s.in_channels; ++c)
        for (int64_t y = 0; y < s.height; ++y)
          for (int64_t xx = 0; xx < s.width; ++xx) {
            const T v = x[c * plane + y * s.width + xx];
            if (v != T(0))
              list.push_back({static_cast<int32_t>(c), static_cast<int32_t>(y), static_cast<int32_t>(xx), v});
          }
    }
  });
  for_each_block(N, s.out_channels, [&](int64_t n, int64_t c0, int64_t c1) {
    thread_local std::vector<T> scratch;
    scratch.resize(static_cast<size_t>(s.out_height() * s.out_width() * (c1 - c0)));
    conv_task(active[n].data(), static_cast<int64_t>(active[n].size()), weight_t, bias, out + n * out_per_sample, s, c0,
              c1, scratch.data());
  });
}

template <typename T>
void sparse_linear(const T* in, const T* weight_t, const T* bias, T* out, int64_t batch, int64_t in_features,
                   int64_t out_features) {
  std::vector<std::vector<Active<T>>> active(static_cast<size_t>(batch));
  at::parallel_for(0, batch, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = b; n < e; ++n) {
      const T* x = in + n * in_features;
      for (int64_t i = 0; i < in_features; ++i)
        if (x[i] != T(0)) active[n].push_back({static_cast<int32_t>(i), 0, 0, x[i]});
    }
  });
  for_each_block(batch, out_features, [&](int64_t n, int64_t c0, int64_t c1) {
    linear_task(active[n].data(), static_cast<int64_t>(active[n].size()), weight_t, bias, out + n * out_features,
                out_features, c0, c1);
  });
}

template <typename T>
int64_t count_nonzero(const T* in, int64_t n) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += in[i] != T(0);
  return count;
}

template <typename T>
void count_plane_nonzeros(const T* in, int64_t planes, int64_t plane_size, int64_t* counts) {
  at::parallel_for(0, planes, std::max<int64_t>(1, 65536 / std::max<int64_t>(plane_size, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t p = b; p < e; ++p) counts[p] = count_nonzero(in + p * plane_size, plane_size);
                   });
}

template <typename T>
void index_plane_nonzeros(const T* in, int64_t planes, int64_t plane_size, const int64_t* offsets, int32_t* positions) {
  at::parallel_for(0, planes, std::max<int64_t>(1, 65536 / std::max<int64_t>(plane_size, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t p = b; p < e; ++p) {
                       const T* x = in + p * plane_size;
                       int32_t* out = positions + offsets[p];
                       for (int64_t i = 0; i < plane_size; ++i)
                         if (x[i] != T(0)) *out++ = static_cast<int32_t>(i);
                     }
                   });
}

template <typename T>
void sparse_conv2d_indexed(const SpikeIndex& in, const T* weight_t, const T* bias, T* out, const ConvShape& s) {
  const int64_t out_per_sample = s.out_height() * s.out_width() * s.out_channels;
  for_each_block(s.batch, s.out_channels, [&](int64_t n, int64_t c0, int64_t c1) {
    thread_local std::vector<T> scratch;
    scratch.resize(static_cast<size_t>(s.out_height() * s.out_width() * (c1 - c0)));
    conv_task(IndexedSample<T>{in, n, s.in_channels, s.width}, weight_t, bias, out + n * out_per_sample, s, c0, c1,
              scratch.data());
  });
}

template <typename T>
void sparse_conv2d_moments_pool(const SpikeIndex& in, const T* weight_t, const T* bias, const T* shift,
                                const ConvShape& s, int64_t k, double* row_sum, double* row_sumsq, T* sums) {
  const int64_t P = s.out_height() * s.out_width(), Pp = (s.out_height() / k) * (s.out_width() / k);
  for_each_block(s.batch, s.out_channels, [&](int64_t n, int64_t c0, int64_t c1) {
    thread_local std::vector<T> scratch, pooled;
    thread_local std::vector<double> moments;
    scratch.resize(static_cast<size_t>(P * (c1 - c0)));
    pooled.resize(static_cast<size_t>(Pp * (c1 - c0)));
    moments.resize(static_cast<size_t>(2 * (c1 - c0)));
    moments_pool_task(IndexedSample<T>{in, n, s.in_channels, s.width}, weight_t, bias, shift, s, k, c0, c1, row_sum,
                      row_sumsq, sums, scratch.data(), pooled.data(), moments.data());
  });
}

template <typename T>
void sparse_conv2d_norm_pool_grad(const SpikeIndex& in, const T* weight_t, const T* bias, const T* g, const T* a,
                                  const T* b, const T* d, const ConvShape& s, int64_t k, T* dz, double* row_dz) {
  const int64_t P = s.out_height() * s.out_width(), Pp = (s.out_height() / k) * (s.out_width() / k);
  for_each_block(s.batch, s.out_channels, [&](int64_t n, int64_t c0, int64_t c1) {
    thread_local std::vector<T> scratch, gt;
    thread_local std::vector<double> sums;
    scratch.resize(static_cast<size_t>(P * (c1 - c0)));
    gt.resize(static_cast<size_t>(Pp * (c1 - c0)));
    sums.resize(static_cast<size_t>(c1 - c0));
    norm_pool_grad_task(IndexedSample<T>{in, n, s.in_channels, s.width}, weight_t, bias, g, a, b, d, s, k, c0, c1, dz,
                        row_dz, scratch.data(), gt.data(), sums.data());
  });
}

namespace {
SampleRange whole_batch(SampleRange r, const ConvShape& s) {
  if (r.end < 0) r.end = s.batch;
  return r;
}
}  // namespace

template <typename T>
void sparse_conv2d_weight_grad(const SpikeIndex& in, const T* grad_out, T* grad_weight_t, const ConvShape& s,
                               SampleRange samples) {
  const SampleRange r = whole_batch(samples, s);
  at::parallel_for(0, s.in_channels, 1, [&](int64_t b, int64_t e) {
    for (int64_t ci = b; ci < e; ++ci) weight_grad_task(in, grad_out, grad_weight_t, s, r, ci);
  });
}

template <typename T>
void sparse_conv2d_input_grad(const uint8_t* support, const T* grad_out, const T* weight_t, T* grad_in,
                              const ConvShape& s, SampleRange samples) {
  // Tasks of 64 positions of one sample: a task reads the output-gradient rows around its positions once for all
  // the input channels set there.
  constexpr int64_t kPositions = 64;
  const SampleRange r = whole_batch(samples, s);
  const int64_t plane = s.height * s.width, blocks = (plane + kPositions - 1) / kPositions;
  const int64_t g_per_sample = s.out_height() * s.out_width() * s.out_channels;
  at::parallel_for(0, (r.end - r.begin) * blocks, 1, [&](int64_t b, int64_t e) {
    std::vector<int32_t> set(static_cast<size_t>(kPositions * s.in_channels)), count(kPositions);
    for (int64_t t = b; t < e; ++t) {
      const int64_t i = t / blocks, p0 = (t % blocks) * kPositions;
      input_grad_positions(support, grad_out + i * g_per_sample, weight_t, grad_in, s, r.begin + i, p0,
                           std::min(plane, p0 + kPositions), set.data(), count.data());
    }
  });
}

template <typename T>
void sparse_linear_indexed(const SpikeIndex& rows, const T* weight_t, const T* bias, T* out, int64_t batch,
                           int64_t out_features) {
  for_each_block(batch, out_features, [&](int64_t n, int64_t c0, int64_t c1) {
    linear_indexed_task(rows, weight_t, bias, out, out_features, n, c0, c1);
  });
}

void transpose_spike_index(const SpikeIndex& rows, int64_t batch, int64_t in_features, int64_t* column_offsets,
                           int32_t* column_positions) {
  // A counting sort by feature: the rows of each column come out in increasing order.
  std::fill(column_offsets, column_offsets + in_features + 1, int64_t{0});
  const int64_t spikes = rows.offsets[batch];
  for (int64_t a = 0; a < spikes; ++a) ++column_offsets[rows.positions[a] + 1];
  for (int64_t j = 0; j < in_features; ++j) column_offsets[j + 1] += column_offsets[j];
  std::vector<int64_t> next(column_offsets, column_offsets + in_features);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t a = rows.offsets[n]; a < rows.offsets[n + 1]; ++a)
      column_positions[next[rows.positions[a]]++] = static_cast<int32_t>(n);
}

template <typename T>
void sparse_linear_weight_grad(const SpikeIndex& columns, const T* grad_out, T* grad_weight_t, int64_t in_features,
                               int64_t out_features) {
  at::parallel_for(0, in_features, 16, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) linear_weight_grad_task(columns, grad_out, grad_weight_t, out_features, j);
  });
}

template <typename T>
void sparse_linear_input_grad(const uint8_t* support, const T* grad_out, const T* weight_t, T* grad_in, int64_t batch,
                              int64_t in_features, int64_t out_features) {
  at::parallel_for(0, batch, 1, [&](int64_t b, int64_t e) {
    std::vector<int32_t> set(static_cast<size_t>(in_features));
    for (int64_t n = b; n < e; ++n)
      linear_input_grad_row(support, grad_out, weight_t, grad_in, in_features, out_features, n, set.data());
  });
}

template void sparse_conv2d<float>(const float*, const float*, const float*, float*, const ConvShape&);
template void sparse_conv2d<double>(const double*, const double*, const double*, double*, const ConvShape&);
template void sparse_linear<float>(const float*, const float*, const float*, float*, int64_t, int64_t, int64_t);
template void sparse_linear<double>(const double*, const double*, const double*, double*, int64_t, int64_t, int64_t);
template int64_t count_nonzero<float>(const float*, int64_t);
template int64_t count_nonzero<double>(const double*, int64_t);

template void count_plane_nonzeros<float>(const float*, int64_t, int64_t, int64_t*);
template void count_plane_nonzeros<double>(const double*, int64_t, int64_t, int64_t*);
template void index_plane_nonzeros<float>(const float*, int64_t, int64_t, const int64_t*, int32_t*);
template void index_plane_nonzeros<double>(const double*, int64_t, int64_t, const int64_t*, int32_t*);
template void sparse_conv2d_indexed<float>(const SpikeIndex&, const float*, const float*, float*, const ConvShape&);
template void sparse_conv2d_indexed<double>(const SpikeIndex&, const double*, const double*, double*, const ConvShape&);
template void sparse_conv2d_moments_pool<float>(const SpikeIndex&, const float*, const float*, const float*,
                                                const ConvShape&, int64_t, double*, double*, float*);
template void sparse_conv2d_moments_pool<double>(const SpikeIndex&, const double*, const double*, const double*,
                                                 const ConvShape&, int64_t, double*, double*, double*);
template void sparse_conv2d_norm_pool_grad<float>(const SpikeIndex&, const float*, const float*, const float*,
                                                  const float*, const float*, const float*, const ConvShape&, int64_t,
                                                  float*, double*);
template void sparse_conv2d_norm_pool_grad<double>(const SpikeIndex&, const double*, const double*, const double*,
                                                   const double*, const double*, const double*, const ConvShape&,
                                                   int64_t, double*, double*);
template void sparse_conv2d_weight_grad<float>(const SpikeIndex&, const float*, float*, const ConvShape&, SampleRange);
template void sparse_conv2d_weight_grad<double>(const SpikeIndex&, const double*, double*, const ConvShape&,
                                                SampleRange);
template void sparse_conv2d_input_grad<float>(const uint8_t*, const float*, const float*, float*, const ConvShape&,
                                              SampleRange);
template void sparse_conv2d_input_grad<double>(const uint8_t*, const double*, const double*, double*, const ConvShape&,
                                               SampleRange);

template void sparse_linear_indexed<float>(const SpikeIndex&, const float*, const float*, float*, int64_t, int64_t);
template void sparse_linear_indexed<double>(const SpikeIndex&, const double*, const double*, double*, int64_t, int64_t);
template void sparse_linear_weight_grad<float>(const SpikeIndex&, const float*, float*, int64_t, int64_t);
template void sparse_linear_weight_grad<double>(const SpikeIndex&, const double*, double*, int64_t, int64_t);
template void sparse_linear_input_grad<float>(const uint8_t*, const float*, const float*, float*, int64_t, int64_t,
                                              int64_t);
template void sparse_linear_input_grad<double>(const uint8_t*, const double*, const double*, double*, int64_t, int64_t,
                                               int64_t);

}  // namespace masnn::kernels
