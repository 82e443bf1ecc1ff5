#include "models/conv_norm_pool_fixed_input.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "chunk_rows.h"
#include "compat/torch_variant.h"
#include "models/batch_norm_pool.h"

namespace masnn::functional {
namespace kernels {

template <typename S>
void patch_moments(const S* x, const PatchShape& s, double* gram, double* sums) {
  const int64_t K = s.patch_size(), Ho = s.out_height(), Wo = s.out_width(), plane = s.height * s.width;
  constexpr int64_t kBlock = 4;  // samples per block: a split fixed in advance, so the sums don't depend on threads
  const int64_t blocks = (s.batch + kBlock - 1) / kBlock, part_size = K * K + K;
  std::vector<double> parts(static_cast<size_t>(blocks * part_size), 0.0);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<S> value(static_cast<size_t>(K));
    std::vector<int64_t> index(static_cast<size_t>(K));
    for (int64_t b = b0; b < b1; ++b) {
      double* g = parts.data() + b * part_size;
      double* u = g + K * K;
      for (int64_t n = b * kBlock; n < std::min(s.batch, (b + 1) * kBlock); ++n) {
        const S* xn = x + n * s.in_channels * plane;
        for (int64_t oh = 0; oh < Ho; ++oh)
          for (int64_t ow = 0; ow < Wo; ++ow) {
            // The patch's non-zero values, in increasing order of their index in the patch.
            int64_t m = 0;
            for (int64_t ci = 0; ci < s.in_channels; ++ci)
              for (int64_t i = 0; i < s.kernel_h; ++i) {
                const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dilation_h;
                if (ih < 0 || ih >= s.height) continue;
                for (int64_t j = 0; j < s.kernel_w; ++j) {
                  const int64_t iw = ow * s.stride_w - s.pad_w + j * s.dilation_w;
                  if (iw < 0 || iw >= s.width) continue;
                  const S v = xn[ci * plane + ih * s.width + iw];
                  if (v == S(0)) continue;
                  value[m] = v;
                  index[m++] = (ci * s.kernel_h + i) * s.kernel_w + j;
                }
              }
            for (int64_t a = 0; a < m; ++a) {
              const double va = static_cast<double>(value[a]);
              u[index[a]] += va;
              double* row = g + index[a] * K;
              for (int64_t c = a; c < m; ++c) row[index[c]] += va * static_cast<double>(value[c]);
            }
          }
      }
    }
  });
  std::fill(gram, gram + K * K, 0.0);
  std::fill(sums, sums + K, 0.0);
  for (int64_t b = 0; b < blocks; ++b) {
    const double* g = parts.data() + b * part_size;
    for (int64_t i = 0; i < K * K; ++i) gram[i] += g[i];
    for (int64_t i = 0; i < K; ++i) sums[i] += g[K * K + i];
  }
  for (int64_t i = 0; i < K; ++i)  // the pairs were added once, to the upper triangle
    for (int64_t j = 0; j < i; ++j) gram[i * K + j] = gram[j * K + i];
}

template void patch_moments<float>(const float*, const PatchShape&, double*, double*);
template void patch_moments<double>(const double*, const PatchShape&, double*, double*);

}  // namespace kernels

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

template <typename S>
S* ptr(const torch::Tensor& t) {
  return t.data_ptr<S>();
}

// What the node needs beside its tensors: the convolution's geometry, bn's running statistics (updated in place),
// momentum and eps, the pooling, the chunk size, and where to publish the batch's statistics.
struct FixedInputArgs {
  std::vector<int64_t> stride, padding, dilation;
  torch::Tensor running_mean, running_var;
  double factor = 0.1, eps = 1e-5;
  int64_t k = 1, chunk_bytes = kChunkBytes;
  std::shared_ptr<bn_pool::Statistics> statistics_out;
};

kernels::PatchShape patch_shape(const std::vector<int64_t>& x, const torch::Tensor& weight,
                                const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                const std::vector<int64_t>& dilation) {
  kernels::PatchShape s;
  s.batch = x[0];
  s.in_channels = x[1];
  s.height = x[2];
  s.width = x[3];
  s.kernel_h = weight.size(2);
  s.kernel_w = weight.size(3);
  s.stride_h = stride[0];
  s.stride_w = stride[1];
  s.pad_h = padding[0];
  s.pad_w = padding[1];
  s.dilation_h = dilation[0];
  s.dilation_w = dilation[1];
  return s;
}

// With z = conv(x) = W u + bias at each position (u the patch there) and BN's input gradient dz = a g' + b + d z per
// channel (g' the output gradient spread over its pooling window, batch_norm_pool.h):
//   weight gradient  sum dz u^T = a G + b U^T + d (W Gram + bias U^T), where G = sum g' u^T (oneDNN's weight gradient
//                    of g'), U = sum u, Gram = sum u u^T (kernels::patch_moments);
//   BN's statistics  sum g (z's window mean - mean) = (W . G) / k^2 + (bias - mean) sum g.
struct ConvNormPoolFixedInput : public torch::autograd::Function<ConvNormPoolFixedInput> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias, const torch::Tensor& bn_weight,
                               const torch::Tensor& bn_bias, const FixedInputArgs& args) {
    RECORD_FUNCTION("masnn::ConvNormPoolFixedInput", std::vector<c10::IValue>());  // forward, named in profiles
    const kernels::PatchShape ps = patch_shape(x.sizes().vec(), weight, args.stride, args.padding, args.dilation);
    const int64_t N = ps.batch, C = weight.size(0), H = ps.out_height(), W = ps.out_width(), k = args.k;
    const int64_t pooled = (H / k) * (W / k), rows = chunk_rows(args.chunk_bytes, C * H * W * x.element_size());
    // The convolution in chunks of rows, each reduced at once to its moments and window sums (with k = 1, the
    // output itself, scaled in place below).
    torch::Tensor sums = torch::empty({N, C, H / k, W / k}, x.options()), shift;
    std::vector<double> row_sum(N * C), row_sumsq(N * C), sum(C), sumsq(C);
    for (int64_t n0 = 0; n0 < N; n0 += rows) {
      const int64_t n = std::min(rows, N - n0);
      const torch::Tensor z =
          torch::conv2d(x.narrow(0, n0, n), weight, bias, args.stride, args.padding, args.dilation).contiguous();
      if (n0 == 0) shift = z.select(0, 0).reshape({C, H * W}).select(1, 0).contiguous();  // each channel's first
      AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "conv2d_norm_pool_fixed_input", [&] {
        bn_pool::row_moments<scalar_t>(ptr<scalar_t>(z), n, C, H * W, ptr<scalar_t>(shift), row_sum.data() + n0 * C,
                                       row_sumsq.data() + n0 * C);
        bn_pool::scale_pool<scalar_t>(ptr<scalar_t>(z), nullptr, nullptr, n, C, H, W, k,
                                      ptr<scalar_t>(sums) + n0 * C * pooled);
      });
    }
    bn_pool::add_rows_per_channel(row_sum, row_sumsq, N, C, sum.data(), sumsq.data());
    const bn_pool::Statistics st =
        bn_pool::statistics(sum, sumsq, shift, static_cast<double>(N * H * W), bn_weight, bn_bias, args.running_mean,
                            args.running_var, args.factor, args.eps);
    if (args.statistics_out) *args.statistics_out = st;
    torch::Tensor out = k == 1 ? sums : torch::empty_like(sums);
    AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "conv2d_norm_pool_fixed_input", [&] {
      bn_pool::scale_window_sums<scalar_t>(ptr<scalar_t>(sums), ptr<scalar_t>(st.scale), ptr<scalar_t>(st.offset), N, C,
                                           pooled, k, ptr<scalar_t>(out));
    });
    ctx->save_for_backward(
        {x, weight, bias ? *bias : torch::empty({0}, weight.options()), bn_weight, st.mean, st.invstd});
    ctx->saved_data["stride"] = args.stride;
    ctx->saved_data["padding"] = args.padding;
    ctx->saved_data["dilation"] = args.dilation;
    ctx->saved_data["k"] = k;
    ctx->saved_data["chunk_bytes"] = args.chunk_bytes;
    ctx->saved_data["has_bias"] = bias.has_value();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list v = ctx->get_saved_variables();
    const torch::Tensor &x = v[0], &weight = v[1], &bn_weight = v[3], &mean = v[4], &invstd = v[5];
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const auto stride = ctx->saved_data["stride"].toIntVector(), padding = ctx->saved_data["padding"].toIntVector(),
               dilation = ctx->saved_data["dilation"].toIntVector();
    const int64_t k = ctx->saved_data["k"].toInt();
    const kernels::PatchShape ps = patch_shape(x.sizes().vec(), weight, stride, padding, dilation);
    const torch::Tensor g = grads[0].contiguous();  // [N,C,H/k,W/k]
    const int64_t N = ps.batch, C = weight.size(0), H = ps.out_height(), W = ps.out_width(), K = ps.patch_size();
    const int64_t pooled = (H / k) * (W / k);
    const double count = static_cast<double>(N * H * W);
    const auto dopt = torch::TensorOptions().dtype(torch::kDouble);

    // sum g per channel (per row, then in order of samples), and G from the pooling's gradient in chunks of rows.
    std::vector<double> row_g(N * C), row_unused(N * C), sum_g(C), sum_unused(C);
    const torch::Tensor zero_shift = torch::zeros({C}, g.options());
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_norm_pool_fixed_input_backward", [&] {
      bn_pool::row_moments<scalar_t>(ptr<scalar_t>(g), N, C, pooled, ptr<scalar_t>(zero_shift), row_g.data(),
                                     row_unused.data());
    });
    bn_pool::add_rows_per_channel(row_g, row_unused, N, C, sum_g.data(), sum_unused.data());
    torch::Tensor G = torch::zeros({C, K}, dopt);
    const int64_t rows = chunk_rows(ctx->saved_data["chunk_bytes"].toInt(), C * H * W * g.element_size());
    for (int64_t n0 = 0; n0 < N; n0 += rows) {
      const int64_t n = std::min(rows, N - n0);
      torch::Tensor gz = g.narrow(0, n0, n);
      if (k > 1) {
        gz = torch::empty({n, C, H, W}, g.options());
        AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_norm_pool_fixed_input_backward", [&] {
          bn_pool::spread_pooled<scalar_t>(ptr<scalar_t>(g) + n0 * C * pooled, n * C, H, W, k,
                                           scalar_t(1) / static_cast<scalar_t>(k * k), ptr<scalar_t>(gz));
        });
      }
      const torch::Tensor part =
          std::get<1>(at::convolution_backward(gz, x.narrow(0, n0, n), weight, c10::nullopt, stride, padding, dilation,
                                               false, {0, 0}, 1, {false, true, false}));
      G += part.reshape({C, K}).to(torch::kDouble);
    }
    std::vector<double> gram(K * K), patch_sum(K);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv2d_norm_pool_fixed_input_backward", [&] {
      kernels::patch_moments<scalar_t>(ptr<scalar_t>(x.contiguous()), ps, gram.data(), patch_sum.data());
    });
    const torch::Tensor Gram = torch::from_blob(gram.data(), {K, K}, dopt),
                        U = torch::from_blob(patch_sum.data(), {K}, dopt);
    const torch::Tensor Wd = weight.detach().reshape({C, K}).to(torch::kDouble);
    const torch::Tensor bd = has_bias ? v[2].to(torch::kDouble) : torch::zeros({C}, dopt);
    const torch::Tensor md = mean.to(torch::kDouble), sg = torch::from_blob(sum_g.data(), {C}, dopt);

    // G was taken of the gradient spread over the window / k^2: (W . G) is sum g (z's window mean) over the pooled
    // output, without the 1/k^2 of the formula above.
    const torch::Tensor sum_gy_t = (Wd * G).sum(1) + (bd - md) * sg;
    const std::vector<double> sum_gy(sum_gy_t.data_ptr<double>(), sum_gy_t.data_ptr<double>() + C);
    const bn_pool::GradCoefficients co = bn_pool::grad_coefficients(sum_g, sum_gy, bn_weight, mean, invstd, count, k);
    const torch::Tensor a = co.a_double.unsqueeze(1) * static_cast<double>(k * k), b = co.b_double.unsqueeze(1),
                        d = co.d_double.unsqueeze(1);
    const torch::Tensor zu = Wd.mm(Gram) + bd.unsqueeze(1) * U.unsqueeze(0);  // sum z u^T
    const torch::Tensor dw =
        ctx->needs_input_grad(1)
            ? (a * G + b * U.unsqueeze(0) + d * zu).reshape(weight.sizes()).to(weight.scalar_type())
            : torch::Tensor();
    // sum dz = a k^2 sum g + b count + d sum z, with sum z = count mean (zero but for rounding: BN cancels the bias)
    const torch::Tensor db =
        has_bias && ctx->needs_input_grad(2)
            ? (a.squeeze(1) * sg + b.squeeze(1) * count + d.squeeze(1) * md * count).to(weight.scalar_type())
            : torch::Tensor();
    return {torch::Tensor(), dw, db, co.dweight, co.dbias, torch::Tensor()};
  }
};

std::vector<int64_t> to_vector(const std::array<int64_t, 2>& a) {
  return {a[0], a[1]};
}

}  // namespace

bool conv2d_norm_pool_fixed_input_supports(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                           const torch::nn::BatchNorm2dImpl& bn, int64_t k) {
  if (!(x.dim() == 4 && x.device().is_cpu() &&
        (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) && !x.requires_grad() &&
        conv2d_cheap_to_recompute(conv) && conv.options.groups() == 1 && conv.weight.scalar_type() == x.scalar_type() &&
        conv.weight.device().is_cpu() && x.size(1) == conv.options.in_channels() && x.size(0) > 0))
    return false;
  kernels::PatchShape s = patch_shape(x.sizes().vec(), conv.weight, to_vector(*conv.options.stride()),
                                      to_vector(*compat::get<torch::ExpandingArray<2>>(conv.options.padding())),
                                      to_vector(*conv.options.dilation()));
  if (s.out_height() <= 0 || s.out_width() <= 0) return false;
  return batch_norm_avg_pool2d_supports({s.batch, conv.options.out_channels(), s.out_height(), s.out_width()},
                                        x.scalar_type(), bn, k);
}

torch::Tensor conv2d_norm_pool_fixed_input(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                           torch::nn::BatchNorm2dImpl& bn, int64_t k, RowRecompute* recompute_output,
                                           int64_t chunk_bytes) {
  TORCH_CHECK(conv2d_norm_pool_fixed_input_supports(x, conv, bn, k),
              "conv2d_norm_pool_fixed_input: needs a CPU float/double x [N,C,H,W] without gradient, a convolution of "
              "its type without groups, cheap to compute again, and an affine BatchNorm2d with running statistics "
              "and a momentum whose output's height and width are multiples of ",
              k, "; got x ", x.sizes(), " ", x.scalar_type());
  TORCH_CHECK(chunk_bytes > 0, "conv2d_norm_pool_fixed_input: chunk_bytes must be positive, got ", chunk_bytes);
  if (bn.num_batches_tracked.defined()) bn.num_batches_tracked += 1;  // as BatchNorm2d's forward does
  FixedInputArgs args;
  const auto& o = conv.options;
  args.stride = to_vector(*o.stride());
  args.padding = to_vector(*compat::get<torch::ExpandingArray<2>>(o.padding()));
  args.dilation = to_vector(*o.dilation());
  args.running_mean = bn.running_mean;
  args.running_var = bn.running_var;
  args.factor = *bn.options.momentum();
  args.eps = bn.options.eps();
  args.k = k;
  args.chunk_bytes = chunk_bytes;
  if (recompute_output) {
    args.statistics_out = std::make_shared<bn_pool::Statistics>();
    *recompute_output = [conv_rows = conv2d_recompute(x, conv), statistics = args.statistics_out, k](
                            int64_t groups, int64_t first, int64_t count) {
      const torch::Tensor in = conv_rows(groups, first, count).contiguous();
      const int64_t N = in.size(0), C = in.size(1), H = in.size(2), W = in.size(3);
      torch::Tensor out = k == 1 ? in : torch::empty({N, C, H / k, W / k}, in.options());
      AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "conv2d_norm_pool_fixed_input_recompute", [&] {
        // The forward's arithmetic: window sums, then scaled (with k = 1, in place)
        if (k > 1)
          bn_pool::scale_pool<scalar_t>(ptr<scalar_t>(in), nullptr, nullptr, N, C, H, W, k, ptr<scalar_t>(out));
        bn_pool::scale_window_sums<scalar_t>(ptr<scalar_t>(out), ptr<scalar_t>(statistics->scale),
                                             ptr<scalar_t>(statistics->offset), N, C, (H / k) * (W / k), k,
                                             ptr<scalar_t>(out));
      });
      return out;
    };
  }
  const c10::optional<torch::Tensor> bias =
      conv.bias.defined() ? c10::optional<torch::Tensor>(conv.bias) : c10::nullopt;
  return ConvNormPoolFixedInput::apply(x.contiguous(), conv.weight, bias, bn.weight, bn.bias, args);
}

}  // namespace masnn::functional
