// The fused LIF: one autograd node around the raw kernels of lif_kernels.h (CPU) and lif_kernels_cuda.h (CUDA).
// The forward walks T once and keeps either the membrane or one code byte per element (when the backward needs no
// more); nothing at all when no input needs a gradient. The backward walks T backwards once.
#include <ATen/record_function.h>
#include <c10/core/DeviceGuard.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include "masnn/neuron/lif.h"
#include "neuron/cuda/cuda_stream.h"
#include "neuron/lif_kernels.h"
#include "neuron/lif_kernels_cuda.h"
#include "neuron/surrogate_support.h"
#include "util/autograd_buffers.h"
#include "util/bit_mask.h"

namespace masnn::functional {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A tensor's data for the kernels: its pointer, or null for an undefined tensor.
void* data_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr() : nullptr;
}

kernels::CudaScalar cuda_scalar(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat: return kernels::CudaScalar::Float32;
    case torch::kDouble: return kernels::CudaScalar::Float64;
    case torch::kHalf: return kernels::CudaScalar::Float16;
    case torch::kBFloat16: return kernels::CudaScalar::BFloat16;
    default: TORCH_CHECK(false, "lif: backend 'fused' on CUDA needs float32, float64, float16 or bfloat16, got ", type);
  }
}

// The forward kernel of x's device: spikes, the final state, and membrane or codes into `saved` when defined; the
// surrogate window into `support` (bytes, CPU only) when defined.
void run_forward(const torch::Tensor& x, const torch::Tensor& spikes, const torch::Tensor& saved, bool use_code,
                 const torch::Tensor& h0, const torch::Tensor& state, const kernels::LifParams& p,
                 const torch::Tensor& support) {
  const int64_t steps = x.size(0);
  const int64_t neurons = steps == 0 ? 0 : x.numel() / steps;
  const torch::Tensor mem = saved.defined() && !use_code ? saved : torch::Tensor();
  const torch::Tensor code = saved.defined() && use_code ? saved : torch::Tensor();
  if (x.is_cuda()) {
    const c10::DeviceGuard guard(x.device());
    kernels::lif_forward_cuda(cuda_scalar(x.scalar_type()), x.data_ptr(), spikes.data_ptr(), data_or_null(mem),
                              code.defined() ? code.data_ptr<uint8_t>() : nullptr, data_or_null(h0), state.data_ptr(),
                              steps, neurons, p, kernels::current_cuda_stream(x.device()));
    return;
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_fused_forward", [&] {
    kernels::lif_forward_cpu<scalar_t>(
        x.data_ptr<scalar_t>(), spikes.data_ptr<scalar_t>(), mem.defined() ? mem.data_ptr<scalar_t>() : nullptr,
        code.defined() ? code.data_ptr<uint8_t>() : nullptr, h0.defined() ? h0.data_ptr<scalar_t>() : nullptr,
        state.data_ptr<scalar_t>(), steps, neurons, p, support.defined() ? support.data_ptr<uint8_t>() : nullptr);
  });
}

// Whether a LIF call publishes its surrogate support (surrogate_support.h): asked for, a rectangular surrogate (the
// others are nonzero everywhere), a CPU input, and a gradient to be computed.
bool publishes_support(const torch::Tensor& x, const LIFOptions& options) {
  return options.publish_support() && options.surrogate() == SurrogateKind::Rectangular && x.device().is_cpu() &&
         torch::GradMode::is_enabled() && x.requires_grad();
}

// The byte mask a kernel fills when `publish`, else undefined.
torch::Tensor support_bytes(const torch::Tensor& x, bool publish) {
  return publish ? torch::empty(x.sizes(), x.options().dtype(torch::kUInt8)) : torch::Tensor();
}

// The backward kernel of the saved tensor's device; returns dL/d(decay) when decay_grad.
double run_backward(const torch::Tensor& gs, const torch::Tensor& gh_last, const torch::Tensor& saved, bool use_code,
                    const torch::Tensor& gx, const torch::Tensor& gh0, bool decay_grad, const kernels::LifParams& p) {
  const int64_t steps = saved.size(0);
  const int64_t neurons = steps == 0 ? 0 : saved.numel() / steps;
  const torch::Tensor mem = use_code ? torch::Tensor() : saved;
  const torch::Tensor code = use_code ? saved : torch::Tensor();
  if (gs.is_cuda()) {
    const c10::DeviceGuard guard(gs.device());
    // Per-neuron partial sums, added here in one fixed order: the same dL/d(decay) on every run.
    const torch::Tensor partial =
        decay_grad ? torch::empty({neurons}, gs.options().dtype(torch::kDouble)) : torch::Tensor();
    kernels::lif_backward_cuda(cuda_scalar(gs.scalar_type()), gs.data_ptr(), data_or_null(gh_last), data_or_null(mem),
                               code.defined() ? code.data_ptr<uint8_t>() : nullptr, gx.data_ptr(), data_or_null(gh0),
                               partial.defined() ? partial.data_ptr<double>() : nullptr, steps, neurons, p,
                               kernels::current_cuda_stream(gs.device()));
    return decay_grad ? partial.sum().item<double>() : 0.0;
  }
  double gdecay = 0.0;
  AT_DISPATCH_FLOATING_TYPES(gs.scalar_type(), "lif_fused_backward", [&] {
    kernels::lif_backward_cpu<scalar_t>(
        gs.data_ptr<scalar_t>(), gh_last.defined() ? gh_last.data_ptr<scalar_t>() : nullptr,
        mem.defined() ? mem.data_ptr<scalar_t>() : nullptr, code.defined() ? code.data_ptr<uint8_t>() : nullptr,
        gx.data_ptr<scalar_t>(), gh0.defined() ? gh0.data_ptr<scalar_t>() : nullptr, decay_grad ? &gdecay : nullptr,
        steps, neurons, p);
  });
  return gdecay;
}

void store_params(AutogradContext* ctx, const kernels::LifParams& p) {
  ctx->saved_data["threshold"] = p.threshold;
  ctx->saved_data["v_reset"] = p.v_reset;
  ctx->saved_data["decay"] = p.decay;
  ctx->saved_data["bias"] = p.bias;
  ctx->saved_data["fire_at_equal"] = p.fire_at_equal;
  ctx->saved_data["reset"] = static_cast<int64_t>(p.reset);
  ctx->saved_data["detach_reset"] = p.detach_reset;
  ctx->saved_data["surrogate"] = static_cast<int64_t>(p.surrogate);
  ctx->saved_data["width"] = p.width;
}

kernels::LifParams load_params(AutogradContext* ctx) {
  kernels::LifParams p;
  p.threshold = ctx->saved_data["threshold"].toDouble();
  p.v_reset = ctx->saved_data["v_reset"].toDouble();
  p.decay = ctx->saved_data["decay"].toDouble();
  p.bias = ctx->saved_data["bias"].toDouble();
  p.fire_at_equal = ctx->saved_data["fire_at_equal"].toBool();
  p.reset = static_cast<ResetMode>(ctx->saved_data["reset"].toInt());
  p.detach_reset = ctx->saved_data["detach_reset"].toBool();
  p.surrogate = static_cast<SurrogateKind>(ctx->saved_data["surrogate"].toInt());
  p.width = ctx->saved_data["width"].toDouble();
  return p;
}

class LifFusedFunction : public torch::autograd::Function<LifFusedFunction> {
 public:
  // Inputs: x [T,B,...] contiguous, h0 [B,...] and decay 0-d, each possibly empty (numel 0) meaning absent:
  // LibTorch 1.13's custom functions do not accept undefined tensors as inputs.
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& h0_in,
                               const torch::Tensor& decay_in, const LIFOptions& options, bool publish) {
    RECORD_FUNCTION("masnn::LifFusedFunction", std::vector<c10::IValue>());  // forward, named in profiles
    const torch::Tensor h0 = h0_in.numel() > 0 ? h0_in : torch::Tensor();
    const torch::Tensor decay = decay_in.numel() > 0 ? decay_in : torch::Tensor();
    const bool decay_grad = decay.defined() && decay.requires_grad();
    const auto p = options.kernel_params(decay.defined() ? decay.item<double>() : options.decay());
    const bool any_grad = x.requires_grad() || (h0.defined() && h0.requires_grad()) || decay_grad;
    const bool use_code = kernels::backward_needs_only_code(p, decay_grad);

    torch::Tensor spikes = torch::empty_like(x);
    torch::Tensor state = torch::empty(x.sizes().slice(1), x.options());
    torch::Tensor saved;
    if (any_grad) saved = use_code ? torch::empty(x.sizes(), x.options().dtype(torch::kUInt8)) : torch::empty_like(x);
    const torch::Tensor support = support_bytes(x, publish);
    run_forward(x, spikes, saved, use_code, h0, state, p, support);
    if (publish) {
      const torch::Tensor packed = pack_bits(support);
      ctx->saved_data["support"] = packed;  // the registry holds it weakly: it lives as long as this node
      publish_surrogate_support(spikes, packed);
    }
    store_params(ctx, p);
    ctx->saved_data["use_code"] = use_code;
    ctx->saved_data["has_h0"] = h0.defined();
    ctx->saved_data["decay_grad"] = decay_grad;
    if (saved.defined()) ctx->save_for_backward({saved});
    return {spikes, state};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    ctx->saved_data.erase("support");  // its reader's backward has run: a graph kept after backward holds no mask
    const torch::Tensor saved = ctx->get_saved_variables()[0];
    const auto p = load_params(ctx);
    const bool use_code = ctx->saved_data["use_code"].toBool();
    const bool decay_grad = ctx->saved_data["decay_grad"].toBool();
    const auto fopts = grad[0].defined() ? grad[0].options() : grad[1].options();

    const torch::Tensor gs = grad[0].defined() ? grad[0].contiguous() : torch::zeros(saved.sizes(), fopts);
    const torch::Tensor gh_last = grad[1].defined() ? grad[1].contiguous() : torch::Tensor();
    torch::Tensor gx = torch::empty(saved.sizes(), fopts);
    torch::Tensor gh0 =
        ctx->saved_data["has_h0"].toBool() ? torch::empty(saved.sizes().slice(1), fopts) : torch::Tensor();
    const double gdecay = run_backward(gs, gh_last, saved, use_code, gx, gh0, decay_grad, p);
    torch::Tensor gd = decay_grad ? torch::scalar_tensor(gdecay, fopts) : torch::Tensor();
    return {gx, gh0, gd, torch::Tensor(), torch::Tensor()};
  }
};

// The LIF over relu?(x * a * w), kernels::scaled_lif_*_cpu. Inputs: x [T,B,C,H,W], a [T,B,C] contiguous, w [B,H,W]
// contiguous or empty (numel 0: absent, as lif_fused's h0).
class ScaledLifFunction : public torch::autograd::Function<ScaledLifFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& a,
                               const torch::Tensor& w_in, bool relu, const LIFOptions& options, bool publish) {
    RECORD_FUNCTION("masnn::ScaledLifFunction", std::vector<c10::IValue>());  // forward, named in profiles
    const torch::Tensor w = w_in.numel() > 0 ? w_in : torch::Tensor();
    const auto p = options.kernel_params(options.decay());
    const kernels::ScaledLifShape shape{x.size(0), x.size(1), x.size(2), x.size(3) * x.size(4)};
    torch::Tensor spikes = torch::empty_like(x);
    // The support straight as bits where rows of positions fill whole bytes (no mask of bytes, a quarter of x, at a
    // DVS network's memory peak in its first layer's forward); else as bytes, packed after.
    const bool as_bits = shape.positions % 8 == 0;
    const torch::Tensor support =
        publish && as_bits ? torch::empty({bits::packed_size(x.numel())}, torch::kUInt8) : support_bytes(x, publish);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scaled_lif_forward", [&] {
      kernels::scaled_lif_forward_cpu<scalar_t>(
          x.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), w.defined() ? w.data_ptr<scalar_t>() : nullptr, shape, relu,
          spikes.data_ptr<scalar_t>(), p, publish ? support.data_ptr<uint8_t>() : nullptr, as_bits);
    });
    if (publish) {
      const torch::Tensor packed = as_bits ? support : pack_bits(support);
      ctx->saved_data["support"] = packed;  // the registry holds it weakly: it lives as long as this node
      publish_surrogate_support(spikes, packed);
    }
    store_params(ctx, p);
    ctx->saved_data["relu"] = relu;
    ctx->save_for_backward({x, a, w_in});
    return spikes;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    ctx->saved_data.erase("support");  // its reader's backward has run: a graph kept after backward holds no mask
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &a = saved[1];
    const torch::Tensor w = saved[2].numel() > 0 ? saved[2] : torch::Tensor();
    const auto p = load_params(ctx);
    const kernels::ScaledLifShape shape{x.size(0), x.size(1), x.size(2), x.size(3) * x.size(4)};
    // The input's gradient written over the spikes' where nothing else holds them (the kernel reads each element
    // before it writes it): at a DVS network's first layer they are two of the largest tensors of the step's backward.
    const bool reuse = grad[0].defined() && autograd_buffers::incoming_gradient_is_exclusive(grad[0]) &&
                       grad[0].scalar_type() == x.scalar_type() && grad[0].sizes() == x.sizes();
    const torch::Tensor gs = grad[0].defined() ? grad[0].contiguous() : torch::zeros_like(x);
    torch::Tensor gx = reuse ? gs : torch::empty(x.sizes(), a.options()), ga = torch::empty_like(a);
    torch::Tensor gw = w.defined() ? torch::empty_like(w) : torch::Tensor();
    const bool relu = ctx->saved_data["relu"].toBool();
    // x may have been let go after the forward (autograd_buffers::drop_for_sample_reads): then its samples come
    // computed again, a chunk at a time.
    autograd_buffers::for_each_sample_chunk(
        x, autograd_buffers::kSampleChunkBytes, [&](const torch::Tensor& xs, int64_t first, int64_t count) {
          AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scaled_lif_backward", [&] {
            kernels::scaled_lif_backward_cpu<scalar_t>(
                gs.data_ptr<scalar_t>(), xs.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(),
                w.defined() ? w.data_ptr<scalar_t>() : nullptr, shape, relu, gx.data_ptr<scalar_t>(),
                ga.data_ptr<scalar_t>(), gw.defined() ? gw.data_ptr<scalar_t>() : nullptr, p, first, count);
          });
        });
    return {gx, ga, gw, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool scaled_lif_supports(const torch::Tensor& x, const LIFOptions& options) {
  return x.dim() == 5 && x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) &&
         options.backend() == LIFBackend::Fused && !options.learnable_decay() && x.size(0) >= 1;
}

torch::Tensor scaled_lif(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& w, bool relu,
                         const LIFOptions& options) {
  TORCH_CHECK(scaled_lif_supports(x, options), "scaled_lif: needs a CPU float/double x [T,B,C,H,W], the fused LIF ",
              "backend and a fixed decay; got ", x.sizes(), " ", x.scalar_type(), " on ", x.device());
  TORCH_CHECK(a.sizes() == x.sizes().slice(0, 3) && a.scalar_type() == x.scalar_type(),
              "scaled_lif: a must be [T,B,C] = ", x.sizes().slice(0, 3), " of x's type, got ", a.sizes());
  TORCH_CHECK(!w.defined() || (w.dim() == 3 && w.size(0) == x.size(1) && w.size(1) == x.size(3) &&
                               w.size(2) == x.size(4) && w.scalar_type() == x.scalar_type()),
              "scaled_lif: w must be [B,H,W] of x's type, got ", w.sizes());
  const torch::Tensor absent = torch::empty({0}, x.options());
  const bool publish = publishes_support(x, options);
  return ScaledLifFunction::apply(x.contiguous(), a.contiguous(), w.defined() ? w.contiguous() : absent, relu, options,
                                  publish);
}

LIFResult lif_fused(const torch::Tensor& x, const LIFOptions& options, const torch::Tensor& h0,
                    const torch::Tensor& decay) {
  TORCH_CHECK(x.dim() >= 1 && x.size(0) >= 1, "lif: input must be time-major [T,B,...] with T >= 1, got ", x.sizes());
  TORCH_CHECK(x.device().is_cpu() || (x.is_cuda() && kernels::cuda_kernels_built()),
              "lif: backend 'fused' runs on CPU tensors", kernels::cuda_kernels_built() ? " and CUDA tensors" : "",
              " in this build, got a tensor on ", x.device(), "; choose backend 'composed' for other devices",
              x.is_cuda() ? " or build masnn with -DMASNN_CUDA=ON" : "");
  TORCH_CHECK(x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble ||
                  (x.is_cuda() && (x.scalar_type() == torch::kHalf || x.scalar_type() == torch::kBFloat16)),
              "lif: backend 'fused' needs float32 or float64 input (float16 and bfloat16 too on CUDA), got ",
              x.scalar_type());
  TORCH_CHECK(!h0.defined() || h0.sizes() == x.sizes().slice(1), "lif: state h0 must have the shape of one step ",
              x.sizes().slice(1), ", got ", h0.sizes());
  TORCH_CHECK(!decay.defined() || decay.numel() == 1, "lif: decay must be a single value, got shape ", decay.sizes());
  const torch::Tensor absent = torch::empty({0}, x.options());
  const torch::Tensor h0c = h0.defined() && h0.numel() > 0 ? h0.to(x.scalar_type()).contiguous() : absent;
  const torch::Tensor d = decay.defined() ? decay.reshape({}) : absent;
  auto out = LifFusedFunction::apply(x.contiguous(), h0c, d, options, publishes_support(x, options));
  return {out[0], out[1]};
}

}  // namespace masnn::functional
