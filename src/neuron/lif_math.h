// The per-element math of the multi-step LIF (lif_kernels.h gives the dynamics), shared by the CPU kernels
// (cpu/lif_kernels.cpp) and the CUDA kernels (cuda/lif_kernels.cu): one definition, so the CPU tests cover the
// arithmetic both run. Plain C++ with no LibTorch types; MASNN_HOST_DEVICE marks each function for nvcc.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "neuron/lif_kernels.h"

#ifdef __CUDACC__
#define MASNN_HOST_DEVICE __host__ __device__
#else
#define MASNN_HOST_DEVICE
#endif

namespace masnn::kernels::math {

constexpr double kPi = 3.14159265358979323846;

/// A LifParams' constants in the kernel's scalar type (surrogate constants precomputed).
template <typename S>
struct Consts {
  S th, vr, decay, bias, half_w, inv_w, sig_k, atan_a;
  Consts() = default;
  explicit Consts(const LifParams& p)
      : th(static_cast<S>(p.threshold)),
        vr(static_cast<S>(p.v_reset)),
        decay(static_cast<S>(p.decay)),
        bias(static_cast<S>(p.bias)),
        half_w(static_cast<S>(p.width / 2)),
        inv_w(static_cast<S>(1.0 / p.width)),
        sig_k(static_cast<S>(4.0 / p.width)),
        atan_a(static_cast<S>(2.0 / p.width)) {}
};

/// Whether a neuron whose membrane is v above the threshold fires.
template <typename S, bool GE>
MASNN_HOST_DEVICE inline bool fires(S v) {
  return GE ? v >= S(0) : v > S(0);
}

/// ds/du at v = u - V_th.
template <typename S, SurrogateKind K>
MASNN_HOST_DEVICE inline S surrogate_grad(S v, const Consts<S>& c) {
  if constexpr (K == SurrogateKind::Rectangular) {
    return std::abs(v) < c.half_w ? c.inv_w : S(0);
  } else if constexpr (K == SurrogateKind::Sigmoid) {
    const S sg = S(1) / (S(1) + std::exp(-c.sig_k * v));
    return c.sig_k * sg * (S(1) - sg);
  } else {
    const S z = static_cast<S>(kPi / 2) * c.atan_a * v;
    return (c.atan_a / S(2)) / (S(1) + z * z);
  }
}

/// The reset r_t of a membrane u after firing (or not).
template <typename S, ResetMode R>
MASNN_HOST_DEVICE inline S reset_value(S u, bool fire, const Consts<S>& c) {
  if constexpr (R == ResetMode::Hard)
    return fire ? c.vr : u;
  else if constexpr (R == ResetMode::Soft)
    return fire ? u - c.th : u;
  else
    return u;
}

/// The state after a step: h_t = decay * r_t + bias.
template <typename S, ResetMode R>
MASNN_HOST_DEVICE inline S next_state(S u, bool fire, const Consts<S>& c) {
  return c.decay * reset_value<S, R>(u, fire, c) + c.bias;
}

/// The saved code of one neuron-step: bit 0 spike, bit 1 inside the rectangular surrogate's window.
template <typename S>
MASNN_HOST_DEVICE inline std::int32_t code_of(bool fire, S v, const Consts<S>& c) {
  return (fire ? 1 : 0) + (std::abs(v) < c.half_w ? 2 : 0);
}

/// dL/du of one neuron-step from dL/ds (gs), dL/dh of the same step (gh), its membrane u, spike (0/1) and surrogate
/// derivative: through the spike and the reset into the next state, and the leak.
template <typename S, ResetMode R>
MASNN_HOST_DEVICE inline S membrane_grad(S gs, S gh, S u, S fire, S sg, const Consts<S>& c, S keep_reset_grad) {
  const S gr = c.decay * gh;
  S dr_ds = S(0), dr_du = S(1);
  if constexpr (R == ResetMode::Hard) {
    dr_du = S(1) - fire;
    dr_ds = c.vr - u;
  } else if constexpr (R == ResetMode::Soft) {
    dr_ds = -c.th;
  }
  return (gs + gr * dr_ds * keep_reset_grad) * sg + gr * dr_du;
}

// Calls fn(reset, fire_at_equal, surrogate) with p's run-time choices as std::integral_constant values, so that
// each kernel is instantiated with them as template arguments and its inner loops are branch-free.
template <typename Fn>
void with_lif_constants(const LifParams& p, const Fn& fn) {
  using SK = SurrogateKind;
  const auto with_kind = [&](auto r, auto ge) {
    switch (p.surrogate) {
      case SK::Rectangular: return fn(r, ge, std::integral_constant<SK, SK::Rectangular>{});
      case SK::Sigmoid: return fn(r, ge, std::integral_constant<SK, SK::Sigmoid>{});
      case SK::Arctan: return fn(r, ge, std::integral_constant<SK, SK::Arctan>{});
    }
  };
  const auto with_ge = [&](auto r) {
    if (p.fire_at_equal)
      with_kind(r, std::true_type{});
    else
      with_kind(r, std::false_type{});
  };
  switch (p.reset) {
    case ResetMode::Hard: return with_ge(std::integral_constant<ResetMode, ResetMode::Hard>{});
    case ResetMode::Soft: return with_ge(std::integral_constant<ResetMode, ResetMode::Soft>{});
    case ResetMode::None: return with_ge(std::integral_constant<ResetMode, ResetMode::None>{});
  }
}

}  // namespace masnn::kernels::math
