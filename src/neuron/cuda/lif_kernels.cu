// CUDA multi-step LIF kernels (lif_kernels_cuda.h). One thread per neuron walks the T steps, so every access to a
// [T, N] tensor is coalesced across a warp and the membrane stays in a register. The per-element math is
// ../lif_math.h, the same functions the CPU kernels run. Needs no LibTorch header.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "neuron/lif_kernels_cuda.h"
#include "neuron/lif_math.h"

namespace masnn::kernels {
namespace {

constexpr int kThreads = 256;

// The type the math runs in: float for the 16-bit types, the element type otherwise.
template <typename S>
struct Acc {
  using type = S;
};
template <>
struct Acc<__half> {
  using type = float;
};
template <>
struct Acc<__nv_bfloat16> {
  using type = float;
};

template <typename A, typename S>
__device__ inline A load(const S* p, std::int64_t i) {
  return static_cast<A>(p[i]);
}
template <typename S, typename A>
__device__ inline void store(S* p, std::int64_t i, A v) {
  p[i] = static_cast<S>(v);
}

enum Save { kNothing = 0, kMembrane = 1, kCode = 2 };

template <typename S, ResetMode R, bool GE, int SV>
__global__ void forward_kernel(const S* __restrict__ x, S* __restrict__ spikes, S* __restrict__ mem,
                               std::uint8_t* __restrict__ code, const S* __restrict__ h0, S* __restrict__ h_last,
                               std::int64_t T, std::int64_t N, math::Consts<typename Acc<S>::type> c) {
  using A = typename Acc<S>::type;
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  A h = h0 ? load<A>(h0, n) : A(0);
  for (std::int64_t t = 0; t < T; ++t) {
    const std::int64_t off = t * N + n;
    const A u = h + load<A>(x, off);
    const A v = u - c.th;
    const bool fire = math::fires<A, GE>(v);
    store(spikes, off, fire ? A(1) : A(0));
    h = math::next_state<A, R>(u, fire, c);
    if constexpr (SV == kMembrane) store(mem, off, u);
    if constexpr (SV == kCode) code[off] = static_cast<std::uint8_t>(math::code_of(fire, v, c));
  }
  if (h_last) store(h_last, n, h);
}

template <typename S, ResetMode R, bool GE, SurrogateKind K, bool FromCode, bool GradDecay>
__global__ void backward_kernel(const S* __restrict__ gs, const S* __restrict__ gh_last, const S* __restrict__ mem,
                                const std::uint8_t* __restrict__ code, S* __restrict__ gx, S* __restrict__ gh0,
                                double* __restrict__ gd_partial, std::int64_t T, std::int64_t N,
                                math::Consts<typename Acc<S>::type> c, typename Acc<S>::type keep_reset_grad) {
  using A = typename Acc<S>::type;
  const std::int64_t n = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  A gh = gh_last ? load<A>(gh_last, n) : A(0);
  double gd = 0;
  for (std::int64_t t = T - 1; t >= 0; --t) {
    const std::int64_t off = t * N + n;
    A u = A(0), fire, sg;
    if constexpr (FromCode) {
      const std::uint8_t cd = code[off];
      fire = (cd & 1) ? A(1) : A(0);
      sg = (cd & 2) ? c.inv_w : A(0);
    } else {
      u = load<A>(mem, off);
      const A v = u - c.th;
      fire = math::fires<A, GE>(v) ? A(1) : A(0);
      sg = math::surrogate_grad<A, K>(v, c);
    }
    if constexpr (GradDecay) gd += static_cast<double>(gh * math::reset_value<A, R>(u, fire > A(0), c));
    const A gu = math::membrane_grad<A, R>(load<A>(gs, off), gh, u, fire, sg, c, keep_reset_grad);
    store(gx, off, gu);
    gh = gu;
  }
  if (gh0) store(gh0, n, gh);
  if constexpr (GradDecay) gd_partial[n] = gd;
}

unsigned blocks_for(std::int64_t neurons) {
  return static_cast<unsigned>((neurons + kThreads - 1) / kThreads);
}

void check_launch(const char* what) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": CUDA launch failed: " + cudaGetErrorString(e));
}

// Calls fn(S{}) with the element type of `type` (a value of it, for its type only).
template <typename Fn>
void with_scalar(CudaScalar type, const Fn& fn) {
  switch (type) {
    case CudaScalar::Float32: return fn(float{});
    case CudaScalar::Float64: return fn(double{});
    case CudaScalar::Float16: return fn(__half{});
    case CudaScalar::BFloat16: return fn(__nv_bfloat16{});
  }
  throw std::invalid_argument("lif (CUDA): unknown element type");
}

}  // namespace

bool cuda_kernels_built() {
  return true;
}

void lif_forward_cuda(CudaScalar type, const void* x, void* spikes, void* saved_membrane, std::uint8_t* saved_code,
                      const void* h0, void* h_last, std::int64_t steps, std::int64_t neurons, const LifParams& p,
                      void* stream) {
  if (saved_membrane && saved_code)
    throw std::invalid_argument("lif_forward_cuda: save the membrane or codes, not both");
  if (neurons == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  with_scalar(type, [&](auto zero) {
    using S = decltype(zero);
    using A = typename Acc<S>::type;
    const math::Consts<A> c(p);
    const auto* xs = static_cast<const S*>(x);
    auto* sp = static_cast<S*>(spikes);
    auto* mem = static_cast<S*>(saved_membrane);
    const auto* h0s = static_cast<const S*>(h0);
    auto* hl = static_cast<S*>(h_last);
    math::with_lif_constants(p, [&](auto r, auto ge, auto) {
      constexpr ResetMode R = decltype(r)::value;
      constexpr bool GE = decltype(ge)::value;
      const auto launch = [&](auto save) {
        forward_kernel<S, R, GE, decltype(save)::value>
            <<<blocks_for(neurons), kThreads, 0, s>>>(xs, sp, mem, saved_code, h0s, hl, steps, neurons, c);
      };
      if (mem)
        launch(std::integral_constant<int, kMembrane>{});
      else if (saved_code)
        launch(std::integral_constant<int, kCode>{});
      else
        launch(std::integral_constant<int, kNothing>{});
    });
  });
  check_launch("lif_forward_cuda");
}

void lif_backward_cuda(CudaScalar type, const void* grad_spikes, const void* grad_h_last, const void* saved_membrane,
                       const std::uint8_t* saved_code, void* grad_x, void* grad_h0, double* grad_decay_partial,
                       std::int64_t steps, std::int64_t neurons, const LifParams& p, void* stream) {
  if ((saved_membrane == nullptr) == (saved_code == nullptr))
    throw std::invalid_argument("lif_backward_cuda: give exactly one of saved_membrane and saved_code");
  if (saved_code && (grad_decay_partial || !backward_needs_only_code(p, false)))
    throw std::invalid_argument("lif_backward_cuda: these LIF settings need the saved membrane, not codes");
  if (neurons == 0) return;
  const auto s = static_cast<cudaStream_t>(stream);
  with_scalar(type, [&](auto zero) {
    using S = decltype(zero);
    using A = typename Acc<S>::type;
    const math::Consts<A> c(p);
    const A keep = p.detach_reset ? A(0) : A(1);
    const auto* gs = static_cast<const S*>(grad_spikes);
    const auto* ghl = static_cast<const S*>(grad_h_last);
    const auto* mem = static_cast<const S*>(saved_membrane);
    auto* gx = static_cast<S*>(grad_x);
    auto* gh0 = static_cast<S*>(grad_h0);
    math::with_lif_constants(p, [&](auto r, auto ge, auto kind) {
      constexpr ResetMode R = decltype(r)::value;
      constexpr bool GE = decltype(ge)::value;
      constexpr SurrogateKind K = decltype(kind)::value;
      const auto launch = [&](auto from_code, auto grad_decay) {
        backward_kernel<S, R, GE, K, decltype(from_code)::value, decltype(grad_decay)::value>
            <<<blocks_for(neurons), kThreads, 0, s>>>(gs, ghl, mem, saved_code, gx, gh0, grad_decay_partial, steps,
                                                      neurons, c, keep);
      };
      if constexpr (K == SurrogateKind::Rectangular) {
        if (saved_code) return launch(std::true_type{}, std::false_type{});
      }
      if (grad_decay_partial)
        launch(std::false_type{}, std::true_type{});
      else
        launch(std::false_type{}, std::false_type{});
    });
  });
  check_launch("lif_backward_cuda");
}

}  // namespace masnn::kernels
