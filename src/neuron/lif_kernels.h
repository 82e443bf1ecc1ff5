// Raw multi-step LIF kernels: plain pointers, no LibTorch types, so the same contract can be
// implemented for CPU here and for CUDA later. Layout: time-major, [T, N] contiguous, N = neurons.
//
// Dynamics for one neuron (REFERENCE.md 1.1 and 1.2 are special cases):
//   u_t = h_{t-1} + x_t                          charge
//   s_t = Heaviside(u_t - V_th)                  fire (at equality or strictly above)
//   r_t = reset(u_t, s_t)                        hard: s ? V_reset : u, soft: u - s*V_th, none: u
//   h_t = decay * r_t + bias                     leak
#pragma once

#include <cstdint>

#include "masnn/neuron/lif_params.h"

namespace masnn::kernels {

/// True when the backward needs only two bits per element (spike, inside the surrogate window)
/// instead of the membrane value: rectangular surrogate, reset gradient independent of u, decay fixed.
bool backward_needs_only_code(const LifParams& p, bool decay_requires_grad);

/// What the forward keeps for the backward: the membrane u ([T,N]) or one code byte per element
/// (bit 0 spike, bit 1 inside the surrogate window); the forward fills whichever pointer is not null.
///
/// Multi-step forward. h0 ([N]) may be null (zero initial state); h_last ([N]) may be null. `support` ([T,N] bytes)
/// may be null; when given it receives 1 where |u - V_th| < width/2 (the rectangular surrogate's window: where a
/// gradient reaches x), else 0, whatever the surrogate.
template <typename scalar_t>
void lif_forward_cpu(const scalar_t* x, scalar_t* spikes, scalar_t* saved_membrane, std::uint8_t* saved_code,
                     const scalar_t* h0, scalar_t* h_last, std::int64_t steps, std::int64_t neurons, const LifParams& p,
                     std::uint8_t* support = nullptr);

/// Multi-step backward, walking T backwards once, from exactly one of saved_membrane / saved_code.
/// grad_h_last ([N], the gradient arriving at the final state) may be null (zero); grad_h0 ([N]) may be
/// null. grad_decay (one value) may be null; when given it receives sum over t,n of dL/dh_t * r_t
/// (needs the membrane).
template <typename scalar_t>
void lif_backward_cpu(const scalar_t* grad_spikes, const scalar_t* grad_h_last, const scalar_t* saved_membrane,
                      const std::uint8_t* saved_code, scalar_t* grad_x, scalar_t* grad_h0, double* grad_decay,
                      std::int64_t steps, std::int64_t neurons, const LifParams& p);

/// Shape of a scaled LIF's input x [steps, batch, channels, positions] (positions = H*W), contiguous.
struct ScaledLifShape {
  std::int64_t steps, batch, channels, positions;
};

/// The LIF over x_in[t,b,c,p] = x[t,b,c,p] * a[t,b,c] * w[b,p] (w [B,P] may be null: 1), then max(x_in, 0) when
/// relu: the Conv-POST attention's last step and the neuron after it as one pass, from rest (no h0). The scaled
/// input equals scale_tbc's bit for bit, so the spikes equal the unfused path's. Keeps nothing for the backward.
/// `support` (bytes like x) may be null, else filled as lif_forward_cpu's; with support_as_bits, as bits instead (8
/// per byte, bit i of x at bit i % 8 of byte i / 8, as bits::pack), which needs positions % 8 == 0.
template <typename scalar_t>
void scaled_lif_forward_cpu(const scalar_t* x, const scalar_t* a, const scalar_t* w, const ScaledLifShape& shape,
                            bool relu, scalar_t* spikes, const LifParams& p, std::uint8_t* support = nullptr,
                            bool support_as_bits = false);

/// Its backward from the same x, a, w (the membrane recomputed, tile by tile, instead of stored), over the samples
/// [first, first + count) only, of which x holds only those ([T,count,C,P]; all of them: first 0, count B): grad_x
/// like grad_spikes ([T,B,C,P]), grad_a [T,B,C] and grad_w [B,P] (null when w is) are written there, not
/// accumulated; grad_x may be grad_spikes. The decay is fixed.
template <typename scalar_t>
void scaled_lif_backward_cpu(const scalar_t* grad_spikes, const scalar_t* x, const scalar_t* a, const scalar_t* w,
                             const ScaledLifShape& shape, bool relu, scalar_t* grad_x, scalar_t* grad_a,
                             scalar_t* grad_w, const LifParams& p, std::int64_t first, std::int64_t count);

}  // namespace masnn::kernels
