#include "attention/fused_attention.h"

#include <ATen/record_function.h>
#include <torch/torch.h>

#include "attention/attention_kernels.h"
#include "masnn/attention/channel_attention.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/attention/spatial_attention.h"
#include "masnn/attention/temporal_attention.h"
#include "util/autograd_buffers.h"

namespace masnn::functional {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

kernels::AttentionShape shape_of(const torch::Tensor& x) {
  return {x.size(0), x.size(1), x.size(2), x.size(3) * x.size(4)};
}

template <typename T>
const T* ptr_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// An undefined gradient (output unused) stays undefined; others are made contiguous for the kernels.
torch::Tensor contiguous_or_undefined(const torch::Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}

// The gradient arriving at the pass-through output of a pooling node (undefined = none; `g` as the backward
// received it), made writable: the pooling's own contribution is added to it in place, so that the composite's
// three nodes share one dx buffer instead of three summed by autograd. A copy only where something else holds it.
torch::Tensor writable_or_undefined(const torch::Tensor& g) {
  if (!g.defined() || autograd_buffers::incoming_gradient_is_exclusive(g)) return g;
  return g.clone(at::MemoryFormat::Contiguous);
}

// The pooling nodes below return x itself as a last output when pass_through is set (a view, no copy): the next
// node reads that alias, and its gradient comes back here to be added to.
struct SpatialSumMax : public torch::autograd::Function<SpatialSumMax> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x_in, bool pass_through) {
    RECORD_FUNCTION("masnn::SpatialSumMax", std::vector<c10::IValue>());  // forward, named in profiles
    const torch::Tensor x = x_in.contiguous();
    const auto s = shape_of(x);
    auto sum = torch::empty({s.steps, s.batch, s.channels}, x.options());
    auto max = torch::empty_like(sum);
    auto arg = torch::empty({s.steps, s.batch, s.channels}, x.options().dtype(torch::kInt32));
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spatial_sum_max", [&] {
      kernels::row_sum_max(x.data_ptr<scalar_t>(), s.rows(), s.positions, sum.data_ptr<scalar_t>(),
                           max.data_ptr<scalar_t>(), arg.data_ptr<int32_t>());
    });
    ctx->save_for_backward({arg});
    ctx->saved_data["sizes"] = x.sizes().vec();
    if (pass_through) return {sum, max, x_in};
    return {sum, max};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor arg = ctx->get_saved_variables()[0];
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const torch::Tensor dsum = contiguous_or_undefined(grads[0]), dmax = contiguous_or_undefined(grads[1]);
    torch::Tensor dx = grads.size() > 2 ? writable_or_undefined(grads[2]) : torch::Tensor();
    const bool accumulate = dx.defined();
    if (!dsum.defined() && !dmax.defined()) return {dx, torch::Tensor()};
    const torch::Tensor like = dsum.defined() ? dsum : dmax;
    if (!accumulate) dx = torch::empty(sizes, like.options());
    const int64_t n = sizes[3] * sizes[4];
    AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "spatial_sum_max_backward", [&] {
      kernels::row_sum_max_backward(ptr_or_null<scalar_t>(dsum), ptr_or_null<scalar_t>(dmax), arg.data_ptr<int32_t>(),
                                    arg.numel(), n, dx.data_ptr<scalar_t>(), accumulate);
    });
    return {dx, torch::Tensor()};
  }
};

struct ScaledMeanMaxTC : public torch::autograd::Function<ScaledMeanMaxTC> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& a_in,
                               bool pass_through) {
    RECORD_FUNCTION("masnn::ScaledMeanMaxTC", std::vector<c10::IValue>());  // forward, named in profiles
    const torch::Tensor x = x_in.contiguous(), a = a_in.contiguous();
    const auto s = shape_of(x);
    auto mean = torch::empty({s.batch, x.size(3), x.size(4)}, x.options());
    auto max = torch::empty_like(mean);
    auto arg = torch::empty({s.batch, x.size(3), x.size(4)}, x.options().dtype(torch::kInt32));
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scaled_mean_max_tc", [&] {
      kernels::scaled_mean_max_tc(x.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), s, mean.data_ptr<scalar_t>(),
                                  max.data_ptr<scalar_t>(), arg.data_ptr<int32_t>());
    });
    ctx->save_for_backward({x, a, arg});
    if (pass_through) return {mean, max, x_in};
    return {mean, max};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &a = saved[1], &arg = saved[2];
    const torch::Tensor dmean = contiguous_or_undefined(grads[0]), dmax = contiguous_or_undefined(grads[1]);
    torch::Tensor dx = grads.size() > 2 ? writable_or_undefined(grads[2]) : torch::Tensor();
    const bool accumulate = dx.defined();
    if (!dmean.defined() && !dmax.defined()) return {dx, torch::Tensor(), torch::Tensor()};
    if (!accumulate) dx = torch::empty(x.sizes(), a.options());
    auto da = torch::empty_like(a);
    // x may have been let go after the forward (autograd_buffers::drop_for_sample_reads): then its samples come
    // computed again, a chunk at a time.
    autograd_buffers::for_each_sample_chunk(
        x, autograd_buffers::kSampleChunkBytes, [&](const torch::Tensor& xs, int64_t first, int64_t count) {
          AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scaled_mean_max_tc_backward", [&] {
            kernels::scaled_mean_max_tc_backward(xs.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(),
                                                 arg.data_ptr<int32_t>(), ptr_or_null<scalar_t>(dmean),
                                                 ptr_or_null<scalar_t>(dmax), shape_of(x), dx.data_ptr<scalar_t>(),
                                                 da.data_ptr<scalar_t>(), accumulate, first, count);
          });
        });
    return {dx, da, torch::Tensor()};
  }
};

struct ScaleTBC : public torch::autograd::Function<ScaleTBC> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& a_in,
                               const c10::optional<torch::Tensor>& w_in, bool relu) {
    RECORD_FUNCTION("masnn::ScaleTBC", std::vector<c10::IValue>());  // forward, named in profiles
    const torch::Tensor x = x_in.contiguous(), a = a_in.contiguous();
    const torch::Tensor w = w_in ? w_in->contiguous() : torch::Tensor();
    auto y = torch::empty_like(x);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scale_tbc", [&] {
      kernels::scale_tbc(x.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(w), shape_of(x), relu,
                         y.data_ptr<scalar_t>());
    });
    ctx->save_for_backward({x, a, w});
    ctx->saved_data["relu"] = relu;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &a = saved[1], &w = saved[2];
    const torch::Tensor g = grads[0].contiguous();
    auto dx = torch::empty_like(x);
    auto da = torch::empty_like(a);
    torch::Tensor dw = w.defined() ? torch::empty_like(w) : torch::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "scale_tbc_backward", [&] {
      kernels::scale_tbc_backward(g.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(),
                                  ptr_or_null<scalar_t>(w), shape_of(x), ctx->saved_data["relu"].toBool(),
                                  dx.data_ptr<scalar_t>(), da.data_ptr<scalar_t>(),
                                  dw.defined() ? dw.data_ptr<scalar_t>() : nullptr);
    });
    return {dx, da, dw, torch::Tensor()};
  }
};

void check_input(const torch::Tensor& x, const char* what) {
  TORCH_CHECK(fused_attention_supports(x), what, ": input must be a CPU float or double tensor [T,B,C,H,W], got ",
              x.sizes(), " ", x.scalar_type(), " on ", x.device());
}

}  // namespace

bool fused_attention_supports(const torch::Tensor& x) {
  return x.dim() == 5 && x.device().is_cpu() &&
         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) && x.numel() > 0 &&
         x.size(3) * x.size(4) < (int64_t{1} << 31) && x.size(0) * x.size(2) < (int64_t{1} << 31);
}

std::tuple<torch::Tensor, torch::Tensor> spatial_sum_max(const torch::Tensor& x) {
  check_input(x, "spatial_sum_max");
  const auto out = SpatialSumMax::apply(x, false);
  return {out[0], out[1]};
}

std::tuple<torch::Tensor, torch::Tensor> scaled_mean_max_tc(const torch::Tensor& x, const torch::Tensor& a) {
  check_input(x, "scaled_mean_max_tc");
  TORCH_CHECK(a.sizes() == x.sizes().slice(0, 3) && a.scalar_type() == x.scalar_type(),
              "scaled_mean_max_tc: a must be [T,B,C] = ", x.sizes().slice(0, 3), " of x's type, got ", a.sizes());
  const auto out = ScaledMeanMaxTC::apply(x, a, false);
  return {out[0], out[1]};
}

torch::Tensor scale_tbc(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& w, bool relu) {
  check_input(x, "scale_tbc");
  TORCH_CHECK(a.sizes() == x.sizes().slice(0, 3) && a.scalar_type() == x.scalar_type(),
              "scale_tbc: a must be [T,B,C] = ", x.sizes().slice(0, 3), " of x's type, got ", a.sizes());
  if (w.defined())
    TORCH_CHECK(w.dim() == 3 && w.size(0) == x.size(1) && w.size(1) == x.size(3) && w.size(2) == x.size(4) &&
                    w.scalar_type() == x.scalar_type(),
                "scale_tbc: w must be [B,H,W] of x's type, got ", w.sizes());
  return ScaleTBC::apply(x, a, w.defined() ? c10::optional<torch::Tensor>(w) : c10::nullopt, relu);
}

AttentionScale multi_attention_scale_fused(const torch::Tensor& x, TemporalAttentionImpl* ta, ChannelAttentionImpl* ca,
                                           SpatialAttentionImpl* sa, AttentionWeights* weights) {
  check_input(x, "attention");
  const int64_t T = x.size(0), B = x.size(1), C = x.size(2), H = x.size(3), W = x.size(4);
  torch::Tensor wt, wc, ws, a;  // wt [T,B], wc [B,C], ws [B,H,W], a [T,B,C]
  torch::Tensor chain = x;      // x as the pooling nodes pass it on (one gradient buffer for the three nodes)
  if (ta || ca) {
    const auto pooled = SpatialSumMax::apply(x, true);
    torch::Tensor sum = pooled[0], max = pooled[1];  // [T,B,C]
    chain = pooled[2];
    if (ta) {
      TORCH_CHECK(T == ta->options.steps(), "temporal attention: built for T = ", ta->options.steps(),
                  " time steps, got input with T = ", T);
      // max(dim), not amax: at ties the gradient goes to the first maximum (of the rows, then within its row), as
      // the composed ops and the reference's max pooling route it.
      wt = ta->mlp(sum.sum(2).t() / static_cast<double>(C * H * W), std::get<0>(max.max(2)).t()).t();
      a = wt.unsqueeze(2);
      sum = sum * a;  // pools of x*w_T: w_T > 0 keeps the max where it is
      max = max * a;
    }
    if (ca) {
      TORCH_CHECK(C == ca->options.channels(), "channel attention: built for C = ", ca->options.channels(), ", got ",
                  C);
      wc = ca->mlp(sum.sum(0) / static_cast<double>(T * H * W), std::get<0>(max.max(0)));
      a = a.defined() ? a * wc.unsqueeze(0) : wc.unsqueeze(0);
    }
    a = a.expand({T, B, C}).contiguous();
  } else {
    a = torch::ones({T, B, C}, x.options());
  }
  if (sa) {
    TORCH_CHECK(a.sizes() == x.sizes().slice(0, 3) && a.scalar_type() == x.scalar_type(), "attention: internal shape");
    const auto maps = ScaledMeanMaxTC::apply(chain, a, true);  // [B,H,W] each
    chain = maps[2];
    ws = sa->weights_from_maps(maps[0], maps[1]).squeeze(1);
  }
  if (weights) {
    *weights = {};
    if (wt.defined()) weights->temporal = wt.detach().view({T, B, 1, 1, 1});
    if (wc.defined()) weights->channel = wc.detach().view({1, B, C, 1, 1});
    if (ws.defined()) weights->spatial = ws.detach().view({1, B, 1, H, W});
  }
  return {chain, a, ws};
}

torch::Tensor multi_attention_fused(const torch::Tensor& x, TemporalAttentionImpl* ta, ChannelAttentionImpl* ca,
                                    SpatialAttentionImpl* sa, bool relu, AttentionWeights* weights) {
  const AttentionScale s = multi_attention_scale_fused(x, ta, ca, sa, weights);
  return scale_tbc(s.x, s.a, s.w, relu);
}

}  // namespace masnn::functional
