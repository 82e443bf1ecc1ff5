#include "models/lean_ops.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/util/accumulate.h>
#include <torch/torch.h>

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <tuple>
#include <vector>

#include "models/batch_norm_pool.h"
#include "neuron/surrogate_support.h"
#include "util/autograd_buffers.h"
#include "util/bit_mask.h"
#include "chunk_rows.h"
#include "compat/torch_variant.h"

namespace masnn::functional {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <typename S>
const S* ptr(const torch::Tensor& t) {
  return t.data_ptr<S>();
}

struct AvgPoolLean : public torch::autograd::Function<AvgPoolLean> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t k) {
    RECORD_FUNCTION("masnn::AvgPoolLean", std::vector<c10::IValue>());  // forward, named in profiles
    ctx->saved_data["k"] = k;
    return torch::avg_pool2d(x, k);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t k = ctx->saved_data["k"].toInt();
    // Each input pixel belongs to exactly one window: its gradient is the window's over k*k.
    const torch::Tensor g = grads[0].contiguous();
    const int64_t H = g.size(2) * k, W = g.size(3) * k;
    if (!g.device().is_cpu() || (g.scalar_type() != torch::kFloat && g.scalar_type() != torch::kDouble))
      return {g.repeat_interleave(k, 2).repeat_interleave(k, 3).div_(static_cast<double>(k * k)), torch::Tensor()};
    auto dx = torch::empty({g.size(0), g.size(1), H, W}, g.options());
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "avg_pool2d_lean_backward", [&] {
      bn_pool::spread_pooled<scalar_t>(g.data_ptr<scalar_t>(), g.size(0) * g.size(1), H, W, k,
                                       scalar_t(1) / static_cast<scalar_t>(k * k), dx.data_ptr<scalar_t>());
    });
    return {dx, torch::Tensor()};
  }
};

// part(n0, n) for rows [n0, n0 + n) of N, in chunks of `rows`, stacked into one tensor along dim 0 (part itself
// when one chunk holds all N).
torch::Tensor by_row_chunks(int64_t N, int64_t rows, const std::function<torch::Tensor(int64_t, int64_t)>& part) {
  if (rows >= N) return part(0, N);
  torch::Tensor out;
  for (int64_t n0 = 0; n0 < N; n0 += rows) {
    const int64_t n = std::min(rows, N - n0);
    const torch::Tensor p = part(n0, n);
    if (n0 == 0) {
      std::vector<int64_t> sizes = p.sizes().vec();
      sizes[0] = N;
      out = torch::empty(sizes, p.options());
    }
    out.narrow(0, n0, n).copy_(p);
  }
  return out;
}

// A contiguous tensor of `sizes` over a mapping that is never touched: it costs address space, no memory. It reads
// as zeros (should anything read it, pages of zeros are mapped then). For an operator that needs a contiguous input
// for its sizes only: convolution_backward makes its input contiguous first, which made a zero-stride stand-in a
// real tensor (a copy pass and the input's size in memory, at the memory peak of a training step).
torch::Tensor unbacked_tensor(const std::vector<int64_t>& sizes, const torch::TensorOptions& options) {
  const size_t len = std::max<size_t>(1, c10::multiply_integers(sizes) * options.dtype().itemsize());
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  TORCH_CHECK(p != MAP_FAILED, "conv2d_binary_input: cannot map ", len, " bytes of address space");
  return torch::from_blob(p, sizes, [len](void* q) { ::munmap(q, len); }, options);
}

}  // namespace

torch::Tensor conv2d_input_grad(const torch::Tensor& grad_output, std::vector<int64_t> input_sizes,
                                const torch::Tensor& weight, const std::vector<int64_t>& stride,
                                const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation,
                                int64_t groups, int64_t chunk_bytes) {
  const torch::Tensor g = grad_output.contiguous();
  const int64_t N = g.size(0),
                rows = chunk_rows(chunk_bytes, g.numel() / std::max<int64_t>(1, N) * g.element_size());
  // The input's sizes only: oneDNN's backward-data never reads the input.
  return by_row_chunks(N, rows, [&](int64_t n0, int64_t n) {
    input_sizes[0] = n;
    const torch::Tensor shape_only = unbacked_tensor(input_sizes, weight.options());
    return std::get<0>(at::convolution_backward(g.narrow(0, n0, n), shape_only, weight, c10::nullopt, stride, padding,
                                                dilation, false, {0, 0}, groups, {true, false, false}));
  });
}

namespace {

// The spikes a synapse keeps for its backward (the weight gradient reads them): on the CPU in float or double, bits
// (8 per byte: 1/32 of the floats, 1/8 of the bytes kept before); elsewhere bytes, as x.sizes().
torch::Tensor keep_spikes(const torch::Tensor& x) {
  if (!x.device().is_cpu() || (x.scalar_type() != torch::kFloat && x.scalar_type() != torch::kDouble))
    return x.to(torch::kByte);
  return functional::pack_bits(x);
}

// Rows [n0, n0 + n) of the spikes keep_spikes kept of an input of `sizes`, as `dtype`.
torch::Tensor kept_rows(const torch::Tensor& kept, std::vector<int64_t> sizes, int64_t n0, int64_t n,
                        torch::ScalarType dtype) {
  if (kept.dim() == static_cast<int64_t>(sizes.size())) return kept.narrow(0, n0, n).to(dtype);  // bytes
  const int64_t row = c10::multiply_integers(sizes.begin() + 1, sizes.end());
  sizes[0] = n;
  torch::Tensor out = torch::empty(sizes, torch::TensorOptions().dtype(dtype));
  AT_DISPATCH_FLOATING_TYPES(dtype, "kept_rows", [&] {
    bits::unpack(kept.data_ptr<uint8_t>(), n0 * row, n * row, out.data_ptr<scalar_t>());
  });
  return out;
}

// A convolution in chunks of rows, forward and backward, keeping its input for the backward as bits (binary: spikes)
// or as it is.
struct ConvInChunks : public torch::autograd::Function<ConvInChunks> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias, std::vector<int64_t> stride,
                               std::vector<int64_t> padding, std::vector<int64_t> dilation, int64_t groups,
                               int64_t chunk_bytes, bool binary) {
    RECORD_FUNCTION("masnn::ConvInChunks", std::vector<c10::IValue>());  // forward, named in profiles
    ctx->saved_data["chunk_bytes"] = chunk_bytes;
    ctx->save_for_backward({binary ? keep_spikes(x) : x, weight});
    ctx->saved_data["sizes"] = x.sizes().vec();
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["bias"] = bias.has_value();
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    // In chunks of rows like the backward: oneDNN's blocked copies of input and output are chunk-sized (at T 60
    // they made the forward of the second convolution the peak of the step).
    const int64_t N = x.size(0), rows = chunk_rows(chunk_bytes, x.numel() / std::max<int64_t>(1, N) * weight.size(0) /
                                                                    std::max<int64_t>(1, x.size(1)) * x.element_size());
    return by_row_chunks(N, rows, [&](int64_t n0, int64_t n) {
      return torch::conv2d(x.narrow(0, n0, n), weight, bias, stride, padding, dilation, groups);
    });
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const torch::Tensor& weight = saved[1];
    const bool has_bias = ctx->saved_data["bias"].toBool();
    const std::vector<int64_t> bias_sizes = {weight.size(0)};
    const auto stride = ctx->saved_data["stride"].toIntVector(), padding = ctx->saved_data["padding"].toIntVector(),
               dilation = ctx->saved_data["dilation"].toIntVector();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    // The weight gradient first, with the input decoded to floats; then those copies are freed before the input
    // gradient is computed, so the two passes' temporaries (oneDNN's reorders among them) never coexist. Both go
    // in chunks of rows (samples x steps), so that the decoded input and oneDNN's copies of the gradient stay
    // chunk-sized at large T x B (the peak of a T 60 step was here): the weight gradient sums the chunks', the
    // input gradient's rows are independent.
    const torch::Tensor g = grads[0].contiguous();
    const int64_t N = g.size(0), rows = chunk_rows(ctx->saved_data["chunk_bytes"].toInt(),
                                                   g.numel() / std::max<int64_t>(1, N) * g.element_size());
    const std::vector<int64_t> x_sizes = ctx->saved_data["sizes"].toIntVector();
    torch::Tensor dw, db;
    for (int64_t n0 = 0; n0 < N; n0 += rows) {
      const int64_t n = std::min(rows, N - n0);
      const torch::Tensor x = kept_rows(saved[0], x_sizes, n0, n, dtype);
      const auto [unused, dw_part, db_part] = at::convolution_backward(
          g.narrow(0, n0, n), x, weight, has_bias ? c10::optional<at::IntArrayRef>(bias_sizes) : c10::nullopt, stride,
          padding, dilation, false, {0, 0}, groups, {false, true, has_bias});
      if (n0 == 0) {
        dw = dw_part;
        db = db_part;
      } else {
        dw.add_(dw_part);
        if (has_bias) db.add_(db_part);
      }
    }
    const torch::Tensor dx = ctx->needs_input_grad(0) ? conv2d_input_grad(g, x_sizes, weight, stride, padding,
                                                                          dilation, groups,
                                                                          ctx->saved_data["chunk_bytes"].toInt())
                                                      : torch::Tensor();
    variable_list out(9);  // one per input of forward: x, weight and bias have gradients
    out[0] = dx;
    out[1] = dw;
    if (has_bias) out[2] = db;
    return out;
  }
};

// x [N,F], weight [O,F] as a 1x1 convolution: [N,F,1,1] and [O,F,1,1].
torch::Tensor as_image(const torch::Tensor& t) {
  return t.view({t.size(0), t.size(1), 1, 1});
}

struct LinearBinaryInput : public torch::autograd::Function<LinearBinaryInput> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias, bool as_conv) {
    RECORD_FUNCTION("masnn::LinearBinaryInput", std::vector<c10::IValue>());  // forward, named in profiles
    ctx->save_for_backward({keep_spikes(x), weight});
    ctx->saved_data["sizes"] = x.sizes().vec();
    ctx->saved_data["bias"] = bias.has_value();
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["as_conv"] = as_conv;
    if (!as_conv) return torch::linear(x, weight, bias);
    return torch::conv2d(as_image(x.contiguous()), as_image(weight.contiguous()), bias).view({x.size(0), -1});
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const std::vector<int64_t> x_sizes = ctx->saved_data["sizes"].toIntVector();
    const torch::Tensor x = kept_rows(saved[0], x_sizes, 0, x_sizes[0], dtype), &weight = saved[1],
                        g = grads[0].contiguous();
    const bool has_bias = ctx->saved_data["bias"].toBool();
    if (!ctx->saved_data["as_conv"].toBool())
      return {g.mm(weight), g.t().mm(x), has_bias ? g.sum(0) : torch::Tensor(), torch::Tensor()};
    const std::vector<int64_t> bias_sizes = {weight.size(0)};
    const auto [dx, dw, db] =
        at::convolution_backward(as_image(g), as_image(x), as_image(weight.contiguous()),
                                 has_bias ? c10::optional<at::IntArrayRef>(bias_sizes) : c10::nullopt, {1, 1}, {0, 0},
                                 {1, 1}, false, {0, 0}, 1, {true, true, has_bias});
    return {dx.view(x.sizes()), dw.view(weight.sizes()), has_bias ? db : torch::Tensor(), torch::Tensor()};
  }
};

// How a BatchNormAvgPool node gets its input back in the backward when it does not keep it.
struct RecomputeInput : torch::CustomClassHolder {
  explicit RecomputeInput(RowRecompute f) : fn(std::move(f)) {}
  RowRecompute fn;
};

// Training-mode BatchNorm2d then average pooling k, one node. Inputs: y [N,C,H,W] contiguous, weight, bias,
// running_mean, running_var [C]; the running statistics are updated in place (no gradient). With `recompute`
// (not null), y is not kept: the backward calls it for y.
struct BatchNormAvgPool : public torch::autograd::Function<BatchNormAvgPool> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& y, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& running_mean,
                               const torch::Tensor& running_var, double factor, double eps, int64_t k,
                               const c10::intrusive_ptr<RecomputeInput>& recompute,
                               const std::shared_ptr<bn_pool::Statistics>& statistics_out, int64_t chunk_bytes) {
    RECORD_FUNCTION("masnn::BatchNormAvgPool", std::vector<c10::IValue>());  // forward, named in profiles
    const int64_t N = y.size(0), C = y.size(1), H = y.size(2), W = y.size(3);
    const double count = static_cast<double>(N * H * W);
    // The shift of each channel: its first value.
    const torch::Tensor shift = y.select(0, 0).reshape({C, H * W}).select(1, 0).contiguous();
    std::vector<double> row_sum(N * C), row_sumsq(N * C), sum(C), sumsq(C);
    AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "batch_norm_avg_pool2d_stats", [&] {
      bn_pool::row_moments<scalar_t>(ptr<scalar_t>(y), N, C, H * W, ptr<scalar_t>(shift), row_sum.data(),
                                     row_sumsq.data());
    });
    bn_pool::add_rows_per_channel(row_sum, row_sumsq, N, C, sum.data(), sumsq.data());
    const bn_pool::Statistics st =
        bn_pool::statistics(sum, sumsq, shift, count, weight, bias, running_mean, running_var, factor, eps);
    const torch::Tensor &mean = st.mean, &invstd = st.invstd;
    if (statistics_out) *statistics_out = st;
    auto out = torch::empty({N, C, H / k, W / k}, y.options());
    AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "batch_norm_avg_pool2d", [&] {
      bn_pool::scale_pool<scalar_t>(ptr<scalar_t>(y), ptr<scalar_t>(st.scale), ptr<scalar_t>(st.offset), N, C, H, W,
                                    k, out.data_ptr<scalar_t>());
    });
    ctx->save_for_backward({recompute ? torch::empty({0}, y.options()) : y, weight, mean, invstd});
    ctx->saved_data["k"] = k;
    ctx->saved_data["chunk_bytes"] = chunk_bytes;
    if (recompute) ctx->saved_data["recompute"] = c10::IValue::make_capsule(recompute);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const int64_t k = ctx->saved_data["k"].toInt();
    const bool gradient_exclusive = autograd_buffers::incoming_gradient_is_exclusive(grads[0]);
    const torch::Tensor g = grads[0].contiguous();
    const int64_t N = g.size(0), C = g.size(1), H = g.size(2) * k, W = g.size(3) * k;
    const double count = static_cast<double>(N * H * W);
    std::vector<double> row_g(N * C), row_gy(N * C), sum_g(C), sum_gy(C);
    // y in chunks of rows: itself when kept (one chunk), else computed again chunk by chunk, twice (the statistics
    // need all of it before any dy), so that it is never whole in memory.
    torch::Tensor y = std::move(saved[0]);  // moved, not copied: the exclusive check below counts its references
    const bool recomputed = ctx->saved_data.count("recompute") > 0;
    const auto in_chunks = [&](const std::function<void(const torch::Tensor&, int64_t, int64_t)>& body) {
      if (!recomputed) return body(y, 0, N);
      // Kept, not erased, for a second backward through a retained graph (what it holds is small: x and weights).
      const auto& recompute =
          c10::static_intrusive_pointer_cast<RecomputeInput>(ctx->saved_data["recompute"].toCapsule())->fn;
      const int64_t rows =
          chunk_rows(ctx->saved_data["chunk_bytes"].toInt(), C * H * W * static_cast<int64_t>(g.element_size()));
      for (int64_t n0 = 0; n0 < N; n0 += rows) {
        const int64_t n = std::min(rows, N - n0);
        body(recompute(1, n0, n), n0, n);
      }
    };
    const int64_t in_row = C * H * W, out_row = C * (H / k) * (W / k);
    in_chunks([&](const torch::Tensor& yc, int64_t n0, int64_t n) {
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "batch_norm_avg_pool2d_backward_stats", [&] {
        bn_pool::pooled_grad_row_moments<scalar_t>(ptr<scalar_t>(g) + n0 * out_row, ptr<scalar_t>(yc),
                                                   ptr<scalar_t>(mean), n, C, H, W, k, row_g.data() + n0 * C,
                                                   row_gy.data() + n0 * C);
      });
    });
    bn_pool::add_rows_per_channel(row_g, row_gy, N, C, sum_g.data(), sum_gy.data());
    const bn_pool::GradCoefficients co = bn_pool::grad_coefficients(sum_g, sum_gy, weight, mean, invstd, count, k);
    // Each value of dy depends on the y and g at its own position only: written over y where the backward owns it
    // (at the memory peak of a training step: the layer's pre-pooling input and its gradient, 64 MiB each at T 16),
    // or, with y computed again and k = 1, over g where nothing else holds it.
    torch::Tensor dy;
    if (!recomputed && autograd_buffers::saved_tensor_is_exclusive(y))
      dy = y;
    else if (recomputed && k == 1 && gradient_exclusive)
      dy = g;
    else
      dy = torch::empty({N, C, H, W}, g.options());
    in_chunks([&](const torch::Tensor& yc, int64_t n0, int64_t n) {
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "batch_norm_avg_pool2d_backward", [&] {
        bn_pool::input_grad<scalar_t>(ptr<scalar_t>(g) + n0 * out_row, ptr<scalar_t>(yc), ptr<scalar_t>(co.a),
                                      ptr<scalar_t>(co.b), ptr<scalar_t>(co.d), n, C, H, W, k,
                                      dy.data_ptr<scalar_t>() + n0 * in_row);
      });
    });
    variable_list out(11);  // one per input of forward: y, weight and bias have gradients
    out[0] = dy;
    out[1] = co.dweight;
    out[2] = co.dbias;
    return out;
  }
};

std::vector<int64_t> to_vector(const std::array<int64_t, 2>& a) {
  return {a[0], a[1]};
}

}  // namespace

torch::Tensor avg_pool2d_lean(const torch::Tensor& x, int64_t k) {
  TORCH_CHECK(x.dim() == 4 && k >= 1, "avg_pool2d_lean: expected x [N,C,H,W] and k >= 1, got ", x.sizes(), ", ", k);
  if (k == 1) return x;
  if (x.size(2) % k != 0 || x.size(3) % k != 0) return torch::avg_pool2d(x, k);
  return AvgPoolLean::apply(x, k);
}

// Zero padding given as numbers (not "same"/"valid", not reflect/replicate/circular): what the hand-written
// convolutions below pass to ATen.
namespace {
bool zero_padding_as_numbers(const torch::nn::detail::ConvNdOptions<2>& o) {
  return compat::get_if<torch::enumtype::kZeros>(&o.padding_mode()) != nullptr &&
         compat::get_if<torch::ExpandingArray<2>>(&o.padding()) != nullptr;
}
}  // namespace

namespace {
torch::Tensor conv_in_chunks(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv, int64_t chunk_bytes,
                             bool binary) {
  const auto& o = conv.options;
  TORCH_CHECK(zero_padding_as_numbers(o), binary ? "conv2d_binary_input" : "conv2d_in_chunks",
              ": needs zero padding given as numbers");
  const auto& padding = compat::get<torch::ExpandingArray<2>>(o.padding());
  const c10::optional<torch::Tensor> bias =
      conv.bias.defined() ? c10::optional<torch::Tensor>(conv.bias) : c10::nullopt;
  return ConvInChunks::apply(x, conv.weight, bias, to_vector(*o.stride()), to_vector(*padding),
                             to_vector(*o.dilation()), o.groups(), chunk_bytes, binary);
}
}  // namespace

torch::Tensor conv2d_binary_input(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv, int64_t chunk_bytes) {
  return conv_in_chunks(x, conv, chunk_bytes, /*binary=*/true);
}

torch::Tensor conv2d_in_chunks(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv, int64_t chunk_bytes) {
  return conv_in_chunks(x, conv, chunk_bytes, /*binary=*/false);
}

torch::Tensor linear_binary_input(const torch::Tensor& x, const torch::nn::LinearImpl& linear, bool as_conv) {
  TORCH_CHECK(x.dim() == 2, "linear_binary_input: expected x [N,F], got ", x.sizes());
  const c10::optional<torch::Tensor> bias =
      linear.bias.defined() ? c10::optional<torch::Tensor>(linear.bias) : c10::nullopt;
  // oneDNN runs float on CPU; elsewhere the GEMM of torch::linear is the one to use.
  as_conv = as_conv && at::hasMKLDNN() && x.device().is_cpu() && x.scalar_type() == torch::kFloat;
  return LinearBinaryInput::apply(x, linear.weight, bias, as_conv);
}

torch::Tensor linear_input_grad(const torch::Tensor& grad_output, const torch::Tensor& weight) {
  if (!(at::hasMKLDNN() && grad_output.device().is_cpu() && grad_output.scalar_type() == torch::kFloat))
    return grad_output.mm(weight);
  const int64_t n = grad_output.size(0), f = weight.size(1);
  return conv2d_input_grad(as_image(grad_output.contiguous()), {n, f, 1, 1}, as_image(weight.contiguous()), {1, 1},
                           {0, 0}, {1, 1}, 1)
      .view({n, f});
}

bool batch_norm_avg_pool2d_supports(torch::IntArrayRef y, torch::ScalarType dtype, const torch::nn::BatchNorm2dImpl& bn,
                                    int64_t k) {
  const auto& o = bn.options;
  return y.size() == 4 && (dtype == torch::kFloat || dtype == torch::kDouble) && k >= 1 && y[0] > 0 && y[2] % k == 0 &&
         y[3] % k == 0 && y[2] > 0 && y[3] > 0 && o.affine() && o.track_running_stats() && o.momentum().has_value() &&
         bn.weight.defined() && bn.weight.scalar_type() == dtype && y[1] == o.num_features();
}

bool batch_norm_avg_pool2d_supports(const torch::Tensor& y, const torch::nn::BatchNorm2dImpl& bn, int64_t k) {
  return y.device().is_cpu() && batch_norm_avg_pool2d_supports(y.sizes(), y.scalar_type(), bn, k);
}

torch::Tensor batch_norm_avg_pool2d(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, int64_t k,
                                    RowRecompute recompute_y, RowRecompute* recompute_output, int64_t chunk_bytes) {
  TORCH_CHECK(batch_norm_avg_pool2d_supports(y, bn, k), "batch_norm_avg_pool2d: needs a CPU float/double y [N,",
              bn.options.num_features(), ",H,W] with H, W multiples of ", k,
              " and an affine BatchNorm2d with running statistics and a momentum; got ", y.sizes(), " ",
              y.scalar_type());
  TORCH_CHECK(!recompute_output || recompute_y, "batch_norm_avg_pool2d: recomputing the output needs recompute_y");
  TORCH_CHECK(chunk_bytes > 0, "batch_norm_avg_pool2d: chunk_bytes must be positive, got ", chunk_bytes);
  if (bn.num_batches_tracked.defined()) bn.num_batches_tracked += 1;  // as BatchNorm2d's forward does
  const auto statistics = recompute_output ? std::make_shared<bn_pool::Statistics>() : nullptr;
  if (recompute_output) {
    // The batch's statistics as this forward applies them (filled by it), on y computed again.
    *recompute_output = [recompute_y, statistics, k](int64_t groups, int64_t first, int64_t count) {
      const torch::Tensor in = recompute_y(groups, first, count).contiguous();
      const int64_t N = in.size(0), C = in.size(1), H = in.size(2), W = in.size(3);
      // Without pooling in place (scale_window_sums: the same arithmetic, and it may write over its input).
      torch::Tensor out = k == 1 ? in : torch::empty({N, C, H / k, W / k}, in.options());
      AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "batch_norm_avg_pool2d_recompute", [&] {
        const scalar_t *scale = ptr<scalar_t>(statistics->scale), *offset = ptr<scalar_t>(statistics->offset);
        if (k == 1)
          bn_pool::scale_window_sums<scalar_t>(ptr<scalar_t>(in), scale, offset, N, C, H * W, 1,
                                               out.data_ptr<scalar_t>());
        else
          bn_pool::scale_pool<scalar_t>(ptr<scalar_t>(in), scale, offset, N, C, H, W, k, out.data_ptr<scalar_t>());
      });
      return out;
    };
  }
  const auto recompute =
      recompute_y ? c10::make_intrusive<RecomputeInput>(std::move(recompute_y)) : c10::intrusive_ptr<RecomputeInput>();
  return BatchNormAvgPool::apply(y.contiguous(), bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                 *bn.options.momentum(), bn.options.eps(), k, recompute, statistics, chunk_bytes);
}

torch::Tensor batch_norm_avg_pool2d(const torch::Tensor& y, torch::nn::BatchNorm2dImpl& bn, int64_t k) {
  return batch_norm_avg_pool2d(y, bn, k, nullptr);
}

bool conv2d_cheap_to_recompute(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  const int64_t macs = o.in_channels() / o.groups() * (*o.kernel_size())[0] * (*o.kernel_size())[1];
  return macs <= kCheapConvMacs && zero_padding_as_numbers(o);
}

void check_row_groups(int64_t N, int64_t groups, int64_t first, int64_t count) {
  TORCH_CHECK(groups > 0 && N % groups == 0 && first >= 0 && count >= 0 && first + count <= N / groups, "rows [",
              first, ", ", first + count, ") of each of ", groups, " groups of ", N, " rows: not there");
}

torch::Tensor rows_of_groups(const torch::Tensor& x, int64_t groups, int64_t first, int64_t count) {
  const int64_t N = x.size(0);
  check_row_groups(N, groups, first, count);
  if (groups == 1) return x.narrow(0, first, count);
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes[0] = N / groups;
  sizes.insert(sizes.begin(), groups);
  torch::Tensor rows = x.reshape(sizes).narrow(1, first, count);
  sizes.erase(sizes.begin());
  sizes[0] = groups * count;
  return rows.reshape(sizes);
}

RowRecompute conv2d_recompute(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv) {
  TORCH_CHECK(conv2d_cheap_to_recompute(conv), "conv2d_recompute: needs zero padding given as numbers and at most ",
              kCheapConvMacs, " multiply-adds per output value");
  const auto& o = conv.options;
  const torch::Tensor weight = conv.weight.detach().clone();
  const torch::Tensor bias = conv.bias.defined() ? conv.bias.detach().clone() : torch::Tensor();
  // x's version now: changed in place before the backward, x no longer gives the output (as autograd checks the
  // tensors it saves).
  return [x = x.detach(), version = x._version(), weight, bias, stride = to_vector(*o.stride()),
          padding = to_vector(*compat::get<torch::ExpandingArray<2>>(o.padding())), dilation = to_vector(*o.dilation()),
          groups = o.groups()](int64_t row_groups, int64_t first, int64_t count) {
    TORCH_CHECK(x._version() == version, "conv2d_recompute: the convolution's input was modified in place after the ",
                "forward, so its output cannot be computed again for the backward");
    torch::NoGradGuard no_grad;
    // In chunks of samples: oneDNN computes into a blocked copy of the output and then converts it, which whole
    // would double the output's size in memory at the moment it is needed in the backward.
    // The input's rows first (a view, or a copy of a few input channels), then one convolution per chunk.
    const torch::Tensor in = rows_of_groups(x, row_groups, first, count);
    const int64_t N = in.size(0), out_sample_bytes = in.numel() / std::max<int64_t>(1, N) * weight.size(0) /
                                                     std::max<int64_t>(1, in.size(1)) * in.element_size();
    return by_row_chunks(N, chunk_rows(kChunkBytes, out_sample_bytes), [&](int64_t n0, int64_t n) {
      return torch::conv2d(in.narrow(0, n0, n), weight, bias, stride, padding, dilation, groups);
    });
  };
}

}  // namespace masnn::functional
