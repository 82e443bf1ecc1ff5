// CPU multi-step LIF kernels. Parallel over tiles of neurons; inside a tile the time loop is outer and the neuron
// loop inner, stride 1 and branch-free, so the compiler vectorises it. The membrane carry h of a tile lives in a
// small stack buffer, so the forward reads x once and writes spikes once. The per-element math is
// ../lif_math.h, shared with the CUDA kernels.
#include "neuron/lif_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "neuron/lif_math.h"
#include "util/bit_mask.h"

namespace masnn::kernels {
namespace {

constexpr std::int64_t kTile = 256;

using math::Consts;
using math::membrane_grad;
using math::reset_value;
using math::surrogate_grad;
using math::with_lif_constants;

// Runs fn(tile_begin, tile_len, tile_index) for every tile, in parallel when the work is worth it.
template <typename Fn>
void for_each_tile(std::int64_t steps, std::int64_t neurons, const Fn& fn) {
  const std::int64_t tiles = (neurons + kTile - 1) / kTile;
  const std::int64_t grain = steps * neurons >= 32768 ? 1 : tiles;
  at::parallel_for(0, tiles, grain, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t tile = b; tile < e; ++tile) {
      const std::int64_t n0 = tile * kTile;
      fn(n0, std::min(kTile, neurons - n0), tile);
    }
  });
}

// What the forward writes for the backward; a template argument so each inner loop is branch-free.
enum class Save { Nothing, Membrane, Code };

// `support`, when not null, receives one byte per element: 1 inside the rectangular surrogate's window.
template <typename S, ResetMode R, bool GE, Save SV>
void forward_impl(const S* x, S* spikes, S* mem, std::uint8_t* code, std::uint8_t* support, const S* h0, S* h_last,
                  std::int64_t T, std::int64_t N, const LifParams& p) {
  const Consts<S> c(p);
  for_each_tile(T, N, [&](std::int64_t n0, std::int64_t len, std::int64_t) {
    S h[kTile];
    for (std::int64_t i = 0; i < len; ++i) h[i] = h0 ? h0[n0 + i] : S(0);
    for (std::int64_t t = 0; t < T; ++t) {
      const std::int64_t off = t * N + n0;
      const S* xt = x + off;
      S* st = spikes + off;
      std::int32_t codes[kTile];  // packed to bytes in a second loop: mixing widths here stops vectorisation
      for (std::int64_t i = 0; i < len; ++i) {
        const S u = h[i] + xt[i];
        const S v = u - c.th;
        const bool fire = math::fires<S, GE>(v);
        st[i] = fire ? S(1) : S(0);
        h[i] = math::next_state<S, R>(u, fire, c);
        if constexpr (SV == Save::Membrane) mem[off + i] = u;
        if constexpr (SV == Save::Code) codes[i] = math::code_of(fire, v, c);
        if constexpr (SV != Save::Code) {
          if (support) codes[i] = math::code_of(false, v, c);  // bit 1 only (the loop is unswitched on support)
        }
      }
      if constexpr (SV == Save::Code)
        for (std::int64_t i = 0; i < len; ++i) code[off + i] = static_cast<std::uint8_t>(codes[i]);
      if (support)
        for (std::int64_t i = 0; i < len; ++i) support[off + i] = static_cast<std::uint8_t>(codes[i] >> 1);
    }
    if (h_last)
      for (std::int64_t i = 0; i < len; ++i) h_last[n0 + i] = h[i];
  });
}

template <typename S, ResetMode R, bool GE, SurrogateKind K, bool FromCode, bool GradDecay>
void backward_impl(const S* gs_in, const S* gh_last, const S* mem, const std::uint8_t* code, S* gx, S* gh0,
                   double* gdecay, std::int64_t T, std::int64_t N, const LifParams& p) {
  const Consts<S> c(p);
  const S keep_reset_grad = p.detach_reset ? S(0) : S(1);
  const std::int64_t tiles = (N + kTile - 1) / kTile;
  std::vector<double> decay_partial(GradDecay ? tiles : 0, 0.0);
  for_each_tile(T, N, [&](std::int64_t n0, std::int64_t len, std::int64_t tile) {
    S gh[kTile];
    S gd[kTile];  // per-neuron partial sums of dL/dh_t * r_t, kept in lanes so the loop vectorises
    for (std::int64_t i = 0; i < len; ++i) {
      gh[i] = gh_last ? gh_last[n0 + i] : S(0);
      gd[i] = S(0);
    }
    for (std::int64_t t = T - 1; t >= 0; --t) {
      const std::int64_t off = t * N + n0;
      for (std::int64_t i = 0; i < len; ++i) {
        // Branch-free: the spike is a 0/1 value and every choice a select, so the loop vectorises.
        S u = S(0), fire, sg;
        if constexpr (FromCode) {
          const std::uint8_t cd = code[off + i];
          fire = (cd & 1) ? S(1) : S(0);
          sg = (cd & 2) ? c.inv_w : S(0);
        } else {
          u = mem[off + i];
          const S v = u - c.th;
          fire = math::fires<S, GE>(v) ? S(1) : S(0);
          sg = surrogate_grad<S, K>(v, c);
        }
        if constexpr (GradDecay) gd[i] += gh[i] * reset_value<S, R>(u, fire > S(0), c);
        const S gu = membrane_grad<S, R>(gs_in[off + i], gh[i], u, fire, sg, c, keep_reset_grad);
        gx[off + i] = gu;
        gh[i] = gu;
      }
    }
    if (gh0)
      for (std::int64_t i = 0; i < len; ++i) gh0[n0 + i] = gh[i];
    if constexpr (GradDecay) {
      double sum = 0.0;
      for (std::int64_t i = 0; i < len; ++i) sum += static_cast<double>(gd[i]);
      decay_partial[tile] = sum;
    }
  });
  if constexpr (GradDecay) {
    double sum = 0.0;  // summed in tile order: the same result for any number of threads
    for (double v : decay_partial) sum += v;
    *gdecay = sum;
  }
}

// --- The LIF over a scaled input (scaled_lif_*_cpu): x_in[t, n] = relu?(x[t, n] * a[t, b, c] * w[b, p]) ---

// with_lif_constants, and relu as a fourth constant.
template <typename Fn>
void with_scaled_constants(const LifParams& p, bool relu, const Fn& fn) {
  with_lif_constants(p, [&](auto r, auto ge, auto k) {
    if (relu)
      fn(r, ge, k, std::true_type{});
    else
      fn(r, ge, k, std::false_type{});
  });
}

// One tile: positions [p0, p0 + len) of row (b, c), every step. The scaled input is computed as the attention's
// scale_tbc computes it ((x * a) * w, then the ReLU), so the spikes equal the unfused path's bit for bit.
template <typename S, bool Relu>
inline S scaled_input(S xv, S k, S wv) {
  const S v = xv * k * wv;
  return Relu ? (v > S(0) ? v : S(0)) : v;
}

// One step of a tile of the scaled LIF's backward: the LIF's backward (as backward_impl, from the membrane u),
// then the scale's (as scale_tbc_backward). Restrict pointers and constants by value: with the constants read
// through a reference the compiler versioned the loop for aliasing and ran the scalar version (8x slower). gxt may
// be gst (each element is read before it is written), so those two are not restrict: the simd pragma vectorises.
// Returns the tile's part of grad_a for this step; updates gh (dL/dh, carried to the step before) and gwt.
template <typename S, ResetMode R, bool GE, SurrogateKind K, bool Relu>
S scaled_backward_step(const S* __restrict ut, const S* __restrict xt, const S* __restrict wb, const S* gst, S* gxt,
                       S* __restrict gh, S* __restrict gwt, std::int64_t len, const S k, const Consts<S> c,
                       const S keep_reset_grad) {
  S acc = 0;
#pragma omp simd reduction(+ : acc)
  for (std::int64_t i = 0; i < len; ++i) {
    const S u = ut[i];
    const S v = u - c.th;
    const S fire = math::fires<S, GE>(v) ? S(1) : S(0);
    const S sg = surrogate_grad<S, K>(v, c);
    const S gu = membrane_grad<S, R>(gst[i], gh[i], u, fire, sg, c, keep_reset_grad);
    gh[i] = gu;
    const S xv = xt[i], wv = wb[i];
    const S xw = xv * wv;
    const S gm = !Relu || xw * k > S(0) ? gu : S(0);
    gxt[i] = gm * k * wv;
    acc += gm * xw;
    gwt[i] += gm * xv * k;
  }
  return acc;
}

// The membrane of one step of a tile, from the state h (updated to the state after the step).
// `sup`, when not null, receives one byte per element: 1 inside the rectangular surrogate's window.
template <typename S, ResetMode R, bool GE, bool Relu>
void scaled_forward_step(const S* __restrict xt, const S* __restrict wb, S* __restrict h, S* __restrict ut,
                         S* __restrict st, std::uint8_t* __restrict sup, std::int64_t len, const S k,
                         const Consts<S> c) {
  std::int32_t inside[kTile];  // narrowed to bytes in a second loop, as forward_impl's codes
  for (std::int64_t i = 0; i < len; ++i) {
    const S u = h[i] + scaled_input<S, Relu>(xt[i], k, wb[i]);
    const bool fire = math::fires<S, GE>(u - c.th);
    if (ut) ut[i] = u;
    if (st) st[i] = fire ? S(1) : S(0);
    if (sup) inside[i] = math::code_of(false, u - c.th, c) >> 1;
    h[i] = math::next_state<S, R>(u, fire, c);
  }
  if (sup)
    for (std::int64_t i = 0; i < len; ++i) sup[i] = static_cast<std::uint8_t>(inside[i]);
}

template <typename S, ResetMode R, bool GE, bool Relu>
void scaled_forward_impl(const S* x, const S* a, const S* w, const ScaledLifShape& sh, S* spikes, std::uint8_t* support,
                         bool as_bits, const LifParams& p) {
  const Consts<S> c(p);
  const std::int64_t B = sh.batch, C = sh.channels, P = sh.positions;
  const std::int64_t chunks = (P + kTile - 1) / kTile;
  const std::int64_t grain = sh.steps * P * chunks >= 32768 ? 1 : B * C * chunks;
  at::parallel_for(0, B * C * chunks, grain, [&](std::int64_t begin, std::int64_t end) {
    S ones[kTile];
    std::fill(ones, ones + kTile, S(1));
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t row = task / chunks, p0 = (task % chunks) * kTile, len = std::min(kTile, P - p0);
      const std::int64_t b = row / C;
      const S* wb = w ? w + b * P + p0 : ones;
      S h[kTile];
      std::uint8_t inside[kTile];  // the tile's support as bytes, packed into bits (whole bytes: P % 8 == 0)
      std::fill(h, h + len, S(0));
      for (std::int64_t t = 0; t < sh.steps; ++t) {
        const std::int64_t r = t * B * C + row;  // (t, b, c)
        std::uint8_t* sup = support == nullptr ? nullptr : as_bits ? inside : support + r * P + p0;
        scaled_forward_step<S, R, GE, Relu>(x + r * P + p0, wb, h, nullptr, spikes + r * P + p0, sup, len, a[r], c);
        if (support && as_bits) bits::pack(inside, len, support + (r * P + p0) / 8);
      }
    }
  });
}

// Parallel over the samples b in [first, first + count) (x holds only those): grad_w[b] sums over every (t, c) of
// sample b, in a fixed order (the same result for any number of threads). Per tile, the membrane of every step is
// recomputed into a buffer of T x kTile values first (it stays in cache), then the steps are walked backwards.
template <typename S, ResetMode R, bool GE, SurrogateKind K, bool Relu>
void scaled_backward_impl(const S* gs, const S* x, const S* a, const S* w, const ScaledLifShape& sh, S* gx, S* ga,
                          S* gw, const LifParams& p, std::int64_t first, std::int64_t count) {
  const Consts<S> c(p);
  const S keep_reset_grad = p.detach_reset ? S(0) : S(1);
  const std::int64_t T = sh.steps, B = sh.batch, C = sh.channels, P = sh.positions;
  at::parallel_for(first, first + count, 1, [&](std::int64_t b0, std::int64_t b1) {
    std::vector<S> membrane(static_cast<std::size_t>(T * kTile));
    S ones[kTile];
    std::fill(ones, ones + kTile, S(1));
    for (std::int64_t b = b0; b < b1; ++b) {
      S* gwb = gw ? gw + b * P : nullptr;
      if (gwb) std::fill(gwb, gwb + P, S(0));
      for (std::int64_t t = 0; t < T; ++t) std::fill(ga + (t * B + b) * C, ga + (t * B + b + 1) * C, S(0));
      for (std::int64_t ch = 0; ch < C; ++ch)
        for (std::int64_t p0 = 0; p0 < P; p0 += kTile) {
          const std::int64_t len = std::min(kTile, P - p0);
          const S* wb = w ? w + b * P + p0 : ones;
          S h[kTile], gh[kTile], gwt[kTile];
          std::fill(h, h + len, S(0));
          for (std::int64_t t = 0; t < T; ++t) {
            const std::int64_t r = (t * B + b) * C + ch, rx = (t * count + b - first) * C + ch;
            scaled_forward_step<S, R, GE, Relu>(x + rx * P + p0, wb, h, membrane.data() + t * kTile, nullptr, nullptr,
                                                len, a[r], c);
          }
          std::fill(gh, gh + len, S(0));
          std::fill(gwt, gwt + len, S(0));
          for (std::int64_t t = T - 1; t >= 0; --t) {
            const std::int64_t r = (t * B + b) * C + ch, rx = (t * count + b - first) * C + ch;
            const S acc = scaled_backward_step<S, R, GE, K, Relu>(membrane.data() + t * kTile, x + rx * P + p0, wb,
                                                                  gs + r * P + p0, gx + r * P + p0, gh, gwt, len, a[r],
                                                                  c, keep_reset_grad);
            ga[r] += acc;
          }
          if (gwb)
            for (std::int64_t i = 0; i < len; ++i) gwb[p0 + i] += gwt[i];
        }
    }
  });
}

}  // namespace

template <typename S>
void scaled_lif_forward_cpu(const S* x, const S* a, const S* w, const ScaledLifShape& shape, bool relu, S* spikes,
                            const LifParams& p, std::uint8_t* support, bool support_as_bits) {
  TORCH_CHECK(!support_as_bits || shape.positions % 8 == 0, "scaled_lif_forward_cpu: the support as bits needs ",
              "positions % 8 == 0, got ", shape.positions);
  with_scaled_constants(p, relu, [&](auto r, auto ge, auto, auto re) {
    scaled_forward_impl<S, decltype(r)::value, decltype(ge)::value, decltype(re)::value>(x, a, w, shape, spikes,
                                                                                         support, support_as_bits, p);
  });
}

template <typename S>
void scaled_lif_backward_cpu(const S* grad_spikes, const S* x, const S* a, const S* w, const ScaledLifShape& shape,
                             bool relu, S* grad_x, S* grad_a, S* grad_w, const LifParams& p, std::int64_t first,
                             std::int64_t count) {
  with_scaled_constants(p, relu, [&](auto r, auto ge, auto k, auto re) {
    scaled_backward_impl<S, decltype(r)::value, decltype(ge)::value, decltype(k)::value, decltype(re)::value>(
        grad_spikes, x, a, w, shape, grad_x, grad_a, grad_w, p, first, count);
  });
}

template void scaled_lif_forward_cpu<float>(const float*, const float*, const float*, const ScaledLifShape&, bool,
                                            float*, const LifParams&, std::uint8_t*, bool);
template void scaled_lif_forward_cpu<double>(const double*, const double*, const double*, const ScaledLifShape&, bool,
                                             double*, const LifParams&, std::uint8_t*, bool);
template void scaled_lif_backward_cpu<float>(const float*, const float*, const float*, const float*,
                                             const ScaledLifShape&, bool, float*, float*, float*, const LifParams&,
                                             std::int64_t, std::int64_t);
template void scaled_lif_backward_cpu<double>(const double*, const double*, const double*, const double*,
                                              const ScaledLifShape&, bool, double*, double*, double*, const LifParams&,
                                              std::int64_t, std::int64_t);

bool backward_needs_only_code(const LifParams& p, bool decay_requires_grad) {
  const bool reset_grad_depends_on_u = p.reset == ResetMode::Hard && !p.detach_reset;
  return p.surrogate == SurrogateKind::Rectangular && !reset_grad_depends_on_u && !decay_requires_grad;
}

template <typename S>
void lif_forward_cpu(const S* x, S* spikes, S* mem, std::uint8_t* code, const S* h0, S* h_last, std::int64_t T,
                     std::int64_t N, const LifParams& p, std::uint8_t* support) {
  if (mem && code) throw std::invalid_argument("lif_forward_cpu: save the membrane or codes, not both");
  with_lif_constants(p, [&](auto r, auto ge, auto) {
    constexpr ResetMode R = decltype(r)::value;
    constexpr bool GE = decltype(ge)::value;
    if (mem)
      forward_impl<S, R, GE, Save::Membrane>(x, spikes, mem, code, support, h0, h_last, T, N, p);
    else if (code)
      forward_impl<S, R, GE, Save::Code>(x, spikes, mem, code, support, h0, h_last, T, N, p);
    else
      forward_impl<S, R, GE, Save::Nothing>(x, spikes, mem, code, support, h0, h_last, T, N, p);
  });
}

template <typename S>
void lif_backward_cpu(const S* gs, const S* gh_last, const S* mem, const std::uint8_t* code, S* gx, S* gh0,
                      double* gdecay, std::int64_t T, std::int64_t N, const LifParams& p) {
  if ((mem == nullptr) == (code == nullptr))
    throw std::invalid_argument("lif_backward_cpu: give exactly one of saved_membrane and saved_code");
  if (code && (gdecay || !backward_needs_only_code(p, false)))
    throw std::invalid_argument("lif_backward_cpu: these LIF settings need the saved membrane, not codes");
  with_lif_constants(p, [&](auto r, auto ge, auto kind) {
    constexpr ResetMode R = decltype(r)::value;
    constexpr bool GE = decltype(ge)::value;
    constexpr SurrogateKind K = decltype(kind)::value;
    if constexpr (K == SurrogateKind::Rectangular) {
      if (code) return backward_impl<S, R, GE, K, true, false>(gs, gh_last, mem, code, gx, gh0, gdecay, T, N, p);
    }
    if (gdecay)
      backward_impl<S, R, GE, K, false, true>(gs, gh_last, mem, code, gx, gh0, gdecay, T, N, p);
    else
      backward_impl<S, R, GE, K, false, false>(gs, gh_last, mem, code, gx, gh0, gdecay, T, N, p);
  });
}

template void lif_forward_cpu<float>(const float*, float*, float*, std::uint8_t*, const float*, float*, std::int64_t,
                                     std::int64_t, const LifParams&, std::uint8_t*);
template void lif_forward_cpu<double>(const double*, double*, double*, std::uint8_t*, const double*, double*,
                                      std::int64_t, std::int64_t, const LifParams&, std::uint8_t*);
template void lif_backward_cpu<float>(const float*, const float*, const float*, const std::uint8_t*, float*, float*,
                                      double*, std::int64_t, std::int64_t, const LifParams&);
template void lif_backward_cpu<double>(const double*, const double*, const double*, const std::uint8_t*, double*,
                                       double*, double*, std::int64_t, std::int64_t, const LifParams&);

}  // namespace masnn::kernels
