#include "masnn/models/event_driven_synapse.h"

#include <torch/torch.h>

#include <stdexcept>

#include "chunk_rows.h"
#include "compat/torch_variant.h"
#include "models/batch_norm_pool.h"
#include "models/lean_ops.h"
#include "models/sparse_kernels.h"
#include "neuron/surrogate_support.h"
#include "util/bit_mask.h"
#include "util/parse_named.h"

namespace masnn {

SynapseMode parse_synapse_mode(const std::string& name, const std::string& what) {
  return parse_named(name, {SynapseMode::Dense, SynapseMode::Sparse, SynapseMode::Auto}, what);
}

std::string to_string(SynapseMode mode) {
  switch (mode) {
    case SynapseMode::Dense: return "dense";
    case SynapseMode::Sparse: return "sparse";
    case SynapseMode::Auto: return "auto";
  }
  return "?";
}

namespace functional {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

kernels::ConvShape conv_shape(const torch::IntArrayRef x, const torch::Tensor& weight, int64_t pad) {
  kernels::ConvShape s;
  s.batch = x[0];
  s.in_channels = x[1];
  s.height = x[2];
  s.width = x[3];
  s.out_channels = weight.size(0);
  s.kernel = weight.size(2);
  s.pad = pad;
  return s;
}

kernels::SpikeIndex index_view(const torch::Tensor& positions, const torch::Tensor& offsets) {
  return {positions.data_ptr<int32_t>(), offsets.data_ptr<int64_t>()};
}

// The spikes of contiguous x as an index (kernels::SpikeIndex): `planes` planes of `plane` elements each.
std::pair<torch::Tensor, torch::Tensor> index_spikes(const torch::Tensor& x, int64_t planes, int64_t plane) {
  torch::Tensor offsets = torch::empty({planes + 1}, torch::kLong);  // counts, then their prefix sums
  int64_t* off = offsets.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "index_spikes", [&] {
    kernels::count_plane_nonzeros<scalar_t>(x.data_ptr<scalar_t>(), planes, plane, off + 1);
  });
  off[0] = 0;
  for (int64_t p = 1; p <= planes; ++p) off[p] += off[p - 1];
  torch::Tensor positions = torch::empty({off[planes]}, torch::kInt);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "index_spikes", [&] {
    kernels::index_plane_nonzeros<scalar_t>(x.data_ptr<scalar_t>(), planes, plane, off, positions.data_ptr<int32_t>());
  });
  return {positions, offsets};
}

// Whether fewer than `crossover` of x's elements are non-zero. Counted in parallel blocks without temporaries on the
// CPU (ATen's count_nonzero made a mask of the input: 6 ms of a T 16 Gesture step).
bool density_below(const torch::Tensor& x_in, double crossover) {
  const torch::Tensor x = x_in.contiguous();
  const int64_t n = x.numel();
  int64_t nonzero = 0;
  if (x.device().is_cpu() && (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble)) {
    constexpr int64_t kBlock = int64_t{1} << 16;
    const int64_t blocks = n / kBlock;
    std::vector<int64_t> counts(static_cast<size_t>(blocks));
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "density_below", [&] {
      const scalar_t* data = x.data_ptr<scalar_t>();
      kernels::count_plane_nonzeros<scalar_t>(data, blocks, kBlock, counts.data());
      nonzero = kernels::count_nonzero<scalar_t>(data + blocks * kBlock, n - blocks * kBlock);
    });
    for (const int64_t c : counts) nonzero += c;
  } else {
    nonzero = x.count_nonzero().item<int64_t>();
  }
  return static_cast<double>(nonzero) < crossover * static_cast<double>(n);
}

// The support published for x when it covers less than `crossover` of x; else an empty tensor (numel 0: 1.13's
// custom functions take no undefined tensors), and the input gradient is left to the dense path.
torch::Tensor support_below(const torch::Tensor& x, double crossover) {
  torch::Tensor support = published_surrogate_support(x);
  if (support.defined() && static_cast<double>(bits::count(support.data_ptr<uint8_t>(), x.numel())) <
                               crossover * static_cast<double>(x.numel()))
    return support;
  return torch::empty({0}, torch::kUInt8);
}

// What an event-driven synapse keeps for its backward: the weight, the spike index, the published support (numel 0
// when none) and, with a support, the transposed weight its input gradient reads (else nothing of it).
void save_tensors(AutogradContext* ctx, const torch::Tensor& weight, const torch::Tensor& positions,
                  const torch::Tensor& offsets, const torch::Tensor& support, const torch::Tensor& weight_t) {
  ctx->save_for_backward({weight, positions, offsets, support, support.numel() > 0 ? weight_t : support});
}

struct SavedTensors {
  torch::Tensor weight, positions, offsets, support, weight_t;
};

SavedTensors saved_tensors(AutogradContext* ctx) {
  const variable_list v = ctx->get_saved_variables();
  return {v[0], v[1], v[2], v[3], v[4]};
}

// A parameter that may be absent (a layer without bias), as the autograd nodes take it: an undefined tensor among
// their inputs is refused.
c10::optional<torch::Tensor> optional_of(const torch::Tensor& t) {
  return t.defined() ? c10::optional<torch::Tensor>(t) : c10::nullopt;
}

// An event-driven convolution's operands, prepared before its autograd node: the spike index and the transposed
// weight and bias, copies that a later recomputation of the output reads as the forward did.
struct IndexedConv {
  kernels::ConvShape shape;
  torch::Tensor positions, offsets;
  torch::Tensor weight_t;  // [Cin,K,K,Cout]
  torch::Tensor bias;      // [Cout], or undefined
  torch::TensorOptions options;

  // Samples [n0, n1) of the output (all by default): their planes of the index, from sample n0's on.
  torch::Tensor output(int64_t n0 = 0, int64_t n1 = -1) const {
    if (n1 < 0) n1 = shape.batch;
    kernels::ConvShape s = shape;
    s.batch = n1 - n0;
    torch::Tensor out = torch::empty({s.batch, s.out_channels, s.out_height(), s.out_width()}, options);
    const kernels::SpikeIndex index{positions.data_ptr<int32_t>(), offsets.data_ptr<int64_t>() + n0 * s.in_channels};
    AT_DISPATCH_FLOATING_TYPES(weight_t.scalar_type(), "conv2d_event_driven", [&] {
      kernels::sparse_conv2d_indexed<scalar_t>(index, weight_t.data_ptr<scalar_t>(),
                                               bias.defined() ? bias.data_ptr<scalar_t>() : nullptr,
                                               out.data_ptr<scalar_t>(), s);
    });
    return out;
  }
};

IndexedConv index_conv(const torch::Tensor& x_in, const torch::nn::Conv2dImpl& conv) {
  TORCH_CHECK(conv2d_event_driven_supports(x_in, conv),
              "conv2d_event_driven: needs a CPU float/double [N,C,H,W] input and a stride-1, square, zero-padded "
              "convolution without groups or dilation, got input ",
              x_in.sizes(), " and ", conv.options.kernel_size(), " kernel");
  const torch::Tensor x = x_in.contiguous();
  IndexedConv c;
  const int64_t pad = (*compat::get_if<torch::ExpandingArray<2>>(&conv.options.padding()))->at(0);
  c.shape = conv_shape(x.sizes(), conv.weight, pad);
  std::tie(c.positions, c.offsets) =
      index_spikes(x, c.shape.batch * c.shape.in_channels, c.shape.height * c.shape.width);
  c.weight_t = conv.weight.detach().permute({1, 2, 3, 0}).contiguous();
  if (conv.bias.defined()) c.bias = conv.bias.detach().clone();
  c.options = x.options();
  return c;
}

struct EventDrivenConv2d : public torch::autograd::Function<EventDrivenConv2d> {
  // support: the published surrogate support of x (surrogate_support.h), or empty (numel 0) when there is none;
  // positions, offsets, weight_t: index_conv's (no gradient).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias, const torch::Tensor& support,
                               const IndexedConv& c) {
    // Saved as variables, not in saved_data: the backward releases them, where saved_data would keep them until the
    // graph is destroyed (with the next step's forward already running, in a training loop).
    save_tensors(ctx, weight, c.positions, c.offsets, support, c.weight_t);
    ctx->saved_data["input_sizes"] = x.sizes().vec();
    ctx->saved_data["pad"] = c.shape.pad;
    ctx->saved_data["has_bias"] = bias.has_value();
    return c.output();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto [weight, positions, offsets, support, weight_t] = saved_tensors(ctx);
    const torch::Tensor g = grads[0].contiguous();
    const int64_t pad = ctx->saved_data["pad"].toInt();
    const std::vector<int64_t> sizes = ctx->saved_data["input_sizes"].toIntVector();
    const bool sparse_grad_x = ctx->needs_input_grad(0) && support.numel() > 0;
    const kernels::ConvShape s = conv_shape(sizes, weight, pad);
    torch::Tensor grad_x, grad_w, grad_b, grad_wt;
    if (sparse_grad_x)
      grad_x = torch::empty(sizes, g.options());
    else if (ctx->needs_input_grad(0))
      grad_x = conv2d_input_grad(g, sizes, weight.detach(), {1, 1}, {pad, pad}, {1, 1}, 1);
    if (ctx->needs_input_grad(1))
      grad_wt = torch::zeros({s.in_channels, s.kernel, s.kernel, s.out_channels}, g.options());
    // The per-spike kernels read the output gradient channels-last, [N,Hout,Wout,Cout]: transposed a chunk of
    // samples (about 8 MiB) at a time rather than whole, which would add a copy of it to the step's peak memory.
    const int64_t sample_bytes = g.numel() / std::max<int64_t>(1, s.batch) * g.element_size();
    const int64_t rows = chunk_rows(kChunkBytes, sample_bytes);
    for (int64_t n0 = 0; (sparse_grad_x || grad_wt.defined()) && n0 < s.batch; n0 += rows) {
      const kernels::SampleRange range{n0, std::min(s.batch, n0 + rows)};
      const torch::Tensor g_cl = g.narrow(0, n0, range.end - n0).permute({0, 2, 3, 1}).contiguous();
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_event_driven_backward", [&] {
        // Only inside the surrogate window of the neurons that fired x: elsewhere their backward multiplies it by 0.
        if (sparse_grad_x)
          kernels::sparse_conv2d_input_grad<scalar_t>(support.data_ptr<uint8_t>(), g_cl.data_ptr<scalar_t>(),
                                                      weight_t.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(), s,
                                                      range);
        if (grad_wt.defined())
          kernels::sparse_conv2d_weight_grad<scalar_t>(index_view(positions, offsets), g_cl.data_ptr<scalar_t>(),
                                                       grad_wt.data_ptr<scalar_t>(), s, range);
      });
    }
    if (grad_wt.defined()) grad_w = grad_wt.permute({3, 0, 1, 2}).contiguous();
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) grad_b = g.sum({0, 2, 3});
    return {grad_x, grad_w, grad_b, torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor apply_conv(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv, const IndexedConv& c,
                         double support_crossover) {
  return EventDrivenConv2d::apply(x, conv.weight, optional_of(conv.bias), support_below(x, support_crossover), c);
}

// What EventDrivenConvNormPool needs beside its tensors: the convolution's index and copies (index_conv), bn's
// running statistics (updated in place), its momentum and eps, the pooling and the chunk size.
struct NormPoolArgs {
  IndexedConv conv;
  torch::Tensor running_mean, running_var;
  double factor = 0.1, eps = 1e-5;
  int64_t k = 1, chunk_bytes = kChunkBytes;
  RowRecompute* recompute_output = nullptr;  // set, with k > 1, to compute rows of the output again
};

// An event-driven convolution, training-mode BatchNorm2d and average pooling k as one node that never holds the
// convolution's whole output (64 MiB for the Gesture network's second layer at T 16, B 8, and as much again for
// its gradient): forward and backward compute each sample's output from the spike index into a per-thread buffer
// (kernels::sparse_conv2d_moments_pool, sparse_conv2d_norm_pool_grad); the forward reduces it there, and the
// backward turns it into its gradient, channels-last, a chunk of samples at a time, and passes each chunk on to the
// convolution's weight and input gradients before the next. The node keeps the pooled window sums of the output
// (1/k^2 of it) for the backward's statistics until it has read them; with k = 1 they would be the output itself,
// so the backward computes the chunks once more instead.
// Per-channel sums go per row and then in order of samples (batch_norm_pool.h): the chunking changes no value.
struct EventDrivenConvNormPool : public torch::autograd::Function<EventDrivenConvNormPool> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias, const torch::Tensor& bn_weight,
                               const torch::Tensor& bn_bias, const torch::Tensor& support, const NormPoolArgs& args) {
    RECORD_FUNCTION("masnn::EventDrivenConvNormPool", std::vector<c10::IValue>());  // forward, named in profiles
    const IndexedConv& c = args.conv;
    const int64_t N = c.shape.batch, C = c.shape.out_channels, H = c.shape.out_height(), W = c.shape.out_width(),
                  k = args.k;
    // The output is never written: each sample's is computed into a per-thread buffer and reduced there to BN's
    // moments (about the bias, the output where no spike reaches) and the window sums.
    torch::Tensor sums = torch::empty({N, C, H / k, W / k}, c.options);
    const torch::Tensor shift = c.bias.defined() ? c.bias : torch::zeros({C}, c.options);
    std::vector<double> row_sum(N * C), row_sumsq(N * C), sum(C), sumsq(C);
    AT_DISPATCH_FLOATING_TYPES(sums.scalar_type(), "conv2d_event_driven_norm_pool", [&] {
      kernels::sparse_conv2d_moments_pool<scalar_t>(index_view(c.positions, c.offsets), c.weight_t.data_ptr<scalar_t>(),
                                                    c.bias.defined() ? c.bias.data_ptr<scalar_t>() : nullptr,
                                                    shift.data_ptr<scalar_t>(), c.shape, k, row_sum.data(),
                                                    row_sumsq.data(), sums.data_ptr<scalar_t>());
    });
    bn_pool::add_rows_per_channel(row_sum, row_sumsq, N, C, sum.data(), sumsq.data());
    const double count = static_cast<double>(N * H * W);
    const bn_pool::Statistics st = bn_pool::statistics(sum, sumsq, shift, count, bn_weight, bn_bias, args.running_mean,
                                                       args.running_var, args.factor, args.eps);
    const bool keep_sums = k > 1;
    torch::Tensor out = keep_sums ? torch::empty_like(sums) : sums;
    AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "conv2d_event_driven_norm_pool", [&] {
      bn_pool::scale_window_sums<scalar_t>(sums.data_ptr<scalar_t>(), st.scale.data_ptr<scalar_t>(),
                                           st.offset.data_ptr<scalar_t>(), N, C, (H / k) * (W / k), k,
                                           out.data_ptr<scalar_t>());
    });
    const torch::Tensor none = torch::empty({0}, c.options);
    // As variables, released by the backward (see EventDrivenConv2d); the window sums in saved_data, which the
    // backward drops as soon as it has read them (a second backward through a retained graph computes them again).
    ctx->save_for_backward({weight, c.positions, c.offsets, support, c.weight_t, c.bias.defined() ? c.bias : none,
                            bn_weight, st.mean, st.invstd});
    if (keep_sums) ctx->saved_data["sums"] = sums;
    if (keep_sums && args.recompute_output) {
      // From the window sums, an elementwise pass; the function holds them as long as it lives (this node's
      // backward lets go of its own reference).
      *args.recompute_output = [sums, scale = st.scale, offset = st.offset, N, C, pooled = (H / k) * (W / k), k](
                                   int64_t groups, int64_t first, int64_t count) {
        check_row_groups(N, groups, first, count);
        const int64_t group_rows = N / groups, row = C * pooled;
        torch::Tensor again = torch::empty({groups * count, C, sums.size(2), sums.size(3)}, sums.options());
        AT_DISPATCH_FLOATING_TYPES(again.scalar_type(), "conv2d_event_driven_norm_pool_recompute", [&] {
          for (int64_t g = 0; g < groups; ++g)
            bn_pool::scale_window_sums<scalar_t>(sums.data_ptr<scalar_t>() + (g * group_rows + first) * row,
                                                 scale.data_ptr<scalar_t>(), offset.data_ptr<scalar_t>(), count, C,
                                                 pooled, k, again.data_ptr<scalar_t>() + g * count * row);
        });
        return again;
      };
    }
    ctx->saved_data["input_sizes"] = x.sizes().vec();
    ctx->saved_data["pad"] = c.shape.pad;
    ctx->saved_data["k"] = k;
    ctx->saved_data["chunk_bytes"] = args.chunk_bytes;
    ctx->saved_data["has_bias"] = bias.has_value();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list v = ctx->get_saved_variables();
    const torch::Tensor &weight = v[0], &support = v[3], &bn_weight = v[6], &mean = v[7], &invstd = v[8];
    torch::Tensor sums;
    if (ctx->saved_data.count("sums") > 0) {
      sums = ctx->saved_data["sums"].toTensor();
      ctx->saved_data.erase("sums");
    }
    const std::vector<int64_t> sizes = ctx->saved_data["input_sizes"].toIntVector();
    const int64_t k = ctx->saved_data["k"].toInt();
    IndexedConv c;
    c.shape = conv_shape(sizes, weight, ctx->saved_data["pad"].toInt());
    c.positions = v[1];
    c.offsets = v[2];
    c.weight_t = v[4];
    if (v[5].numel() > 0) c.bias = v[5];
    c.options = mean.options();
    const kernels::ConvShape& s = c.shape;
    const int64_t N = s.batch, C = s.out_channels, H = s.out_height(), W = s.out_width();
    const int64_t rows = chunk_rows(ctx->saved_data["chunk_bytes"].toInt(), C * H * W * mean.element_size());
    const torch::Tensor g = grads[0].contiguous();  // [N,C,H/k,W/k]
    const int64_t pooled = (H / k) * (W / k);
    // The statistics' sums: from the window sums kept, or from the output computed again chunk by chunk.
    std::vector<double> row_g(N * C), row_gy(N * C), sum_g(C), sum_gy(C);
    AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_event_driven_norm_pool_backward", [&] {
      if (sums.defined()) {
        bn_pool::pooled_grad_row_moments_from_sums<scalar_t>(g.data_ptr<scalar_t>(), sums.data_ptr<scalar_t>(),
                                                             mean.data_ptr<scalar_t>(), N, C, pooled, k, row_g.data(),
                                                             row_gy.data());
        return;
      }
      for (int64_t n0 = 0; n0 < N; n0 += rows) {
        const int64_t n1 = std::min(N, n0 + rows);
        const torch::Tensor z = c.output(n0, n1);
        bn_pool::pooled_grad_row_moments<scalar_t>(g.data_ptr<scalar_t>() + n0 * C * pooled, z.data_ptr<scalar_t>(),
                                                   mean.data_ptr<scalar_t>(), n1 - n0, C, H, W, k,
                                                   row_g.data() + n0 * C, row_gy.data() + n0 * C);
      }
    });
    sums = torch::Tensor();  // read: freed before the chunks' gradients are computed
    bn_pool::add_rows_per_channel(row_g, row_gy, N, C, sum_g.data(), sum_gy.data());
    const bn_pool::GradCoefficients co =
        bn_pool::grad_coefficients(sum_g, sum_gy, bn_weight, mean, invstd, static_cast<double>(N * H * W), k);

    const bool want_x = ctx->needs_input_grad(0), sparse_grad_x = want_x && support.numel() > 0;
    const bool want_w = ctx->needs_input_grad(1);
    const bool want_b = ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2);
    torch::Tensor grad_x = want_x ? torch::empty(sizes, g.options()) : torch::Tensor();
    torch::Tensor grad_wt =
        want_w ? torch::zeros({s.in_channels, s.kernel, s.kernel, C}, g.options()) : torch::Tensor();
    torch::Tensor grad_b;
    std::vector<double> row_dz(N * C);
    for (int64_t n0 = 0; n0 < N && (want_x || want_w || want_b); n0 += rows) {
      const int64_t n1 = std::min(N, n0 + rows);
      // The chunk's output computed again and turned into its gradient, channels-last, as the kernels read it.
      kernels::ConvShape chunk = s;
      chunk.batch = n1 - n0;
      const kernels::SpikeIndex index{c.positions.data_ptr<int32_t>(),
                                      c.offsets.data_ptr<int64_t>() + n0 * s.in_channels};
      const torch::Tensor dz = torch::empty({n1 - n0, H, W, C}, g.options());
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_event_driven_norm_pool_backward", [&] {
        kernels::sparse_conv2d_norm_pool_grad<scalar_t>(
            index, c.weight_t.data_ptr<scalar_t>(), c.bias.defined() ? c.bias.data_ptr<scalar_t>() : nullptr,
            g.data_ptr<scalar_t>() + n0 * C * pooled, co.a.data_ptr<scalar_t>(), co.b.data_ptr<scalar_t>(),
            co.d.data_ptr<scalar_t>(), chunk, k, dz.data_ptr<scalar_t>(), row_dz.data() + n0 * C);
      });
      if (want_x && !sparse_grad_x) {
        std::vector<int64_t> chunk_sizes = sizes;
        chunk_sizes[0] = n1 - n0;
        grad_x.narrow(0, n0, n1 - n0)
            .copy_(conv2d_input_grad(dz.permute({0, 3, 1, 2}), chunk_sizes, weight.detach(), {1, 1}, {s.pad, s.pad},
                                     {1, 1}, 1));
      }
      if (!sparse_grad_x && !want_w) continue;
      const kernels::SampleRange range{n0, n1};
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_event_driven_norm_pool_backward", [&] {
        if (sparse_grad_x)
          kernels::sparse_conv2d_input_grad<scalar_t>(support.data_ptr<uint8_t>(), dz.data_ptr<scalar_t>(),
                                                      c.weight_t.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(), s,
                                                      range);
        if (want_w)
          kernels::sparse_conv2d_weight_grad<scalar_t>(index_view(c.positions, c.offsets), dz.data_ptr<scalar_t>(),
                                                       grad_wt.data_ptr<scalar_t>(), s, range);
      });
    }
    if (want_b) {
      std::vector<double> bias_sum(C), unused(C);
      bn_pool::add_rows_per_channel(row_dz, row_dz, N, C, bias_sum.data(), unused.data());
      grad_b = torch::from_blob(bias_sum.data(), {C}, torch::TensorOptions().dtype(torch::kDouble))
                   .to(g.scalar_type(), /*non_blocking=*/false, /*copy=*/true);  // a copy also in double
    }
    const torch::Tensor grad_w = want_w ? grad_wt.permute({3, 0, 1, 2}).contiguous() : torch::Tensor();
    return {grad_x, grad_w, grad_b, co.dweight, co.dbias, torch::Tensor(), torch::Tensor()};
  }
};

struct EventDrivenLinear : public torch::autograd::Function<EventDrivenLinear> {
  // support: as EventDrivenConv2d's.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias, const torch::Tensor& support) {
    const torch::Tensor x = x_in.contiguous();
    const int64_t rows = x.size(0), in_features = x.size(1), out_features = weight.size(0);
    const auto [positions, offsets] = index_spikes(x, rows, in_features);
    torch::Tensor out = torch::empty({rows, out_features}, x.options());
    const torch::Tensor weight_t = weight.detach().t().contiguous();  // [In,Out]
    const torch::Tensor b = bias ? bias->detach().contiguous() : torch::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "linear_event_driven", [&] {
      kernels::sparse_linear_indexed<scalar_t>(index_view(positions, offsets), weight_t.data_ptr<scalar_t>(),
                                               b.defined() ? b.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(),
                                               rows, out_features);
    });
    save_tensors(ctx, weight, positions, offsets, support, weight_t);
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["has_bias"] = bias.has_value();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto [weight, positions, offsets, support, weight_t] = saved_tensors(ctx);
    const torch::Tensor g = grads[0].contiguous();  // [N,Out]
    const int64_t rows = ctx->saved_data["rows"].toInt(), in_features = weight.size(1), out_features = weight.size(0);
    torch::Tensor grad_x, grad_w, grad_b;
    if (ctx->needs_input_grad(0) && support.numel() > 0) {
      // Only inside the surrogate window of the neurons that fired x, as the convolution's.
      grad_x = torch::empty({rows, in_features}, g.options());
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "linear_event_driven_input_grad", [&] {
        kernels::sparse_linear_input_grad<scalar_t>(support.data_ptr<uint8_t>(), g.data_ptr<scalar_t>(),
                                                    weight_t.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(), rows,
                                                    in_features, out_features);
      });
    } else if (ctx->needs_input_grad(0)) {
      grad_x = linear_input_grad(g, weight.detach());
    }
    if (ctx->needs_input_grad(1)) {
      torch::Tensor column_offsets = torch::empty({in_features + 1}, torch::kLong);
      torch::Tensor column_positions = torch::empty({positions.numel()}, torch::kInt);
      kernels::transpose_spike_index(index_view(positions, offsets), rows, in_features,
                                     column_offsets.data_ptr<int64_t>(), column_positions.data_ptr<int32_t>());
      torch::Tensor grad_wt = torch::empty({in_features, out_features}, g.options());
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "linear_event_driven_backward", [&] {
        kernels::sparse_linear_weight_grad<scalar_t>(index_view(column_positions, column_offsets),
                                                     g.data_ptr<scalar_t>(), grad_wt.data_ptr<scalar_t>(), in_features,
                                                     out_features);
      });
      grad_w = grad_wt.t().contiguous();
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) grad_b = g.sum(0);
    return {grad_x, grad_w, grad_b, torch::Tensor()};
  }
};

}  // namespace

bool conv2d_event_driven_supports(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  const auto& k = *o.kernel_size();
  const auto& stride = *o.stride();
  const auto& dilation = *o.dilation();
  const auto* padding = compat::get_if<torch::ExpandingArray<2>>(&o.padding());
  return x.device().is_cpu() && (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) &&
         x.dim() == 4 && k[0] == k[1] && stride[0] == 1 && stride[1] == 1 && dilation[0] == 1 && dilation[1] == 1 &&
         o.groups() == 1 && padding && (*padding)->at(0) == (*padding)->at(1) &&
         compat::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()) &&
         x.size(2) * x.size(3) < (int64_t{1} << 31) && conv.weight.scalar_type() == x.scalar_type();
}

torch::Tensor conv2d_event_driven(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv, double support_crossover) {
  return apply_conv(x, conv, index_conv(x, conv), support_crossover);
}

bool conv2d_event_driven_norm_pool_supports(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                            const torch::nn::BatchNorm2dImpl& bn, int64_t k) {
  if (!conv2d_event_driven_supports(x, conv)) return false;
  const int64_t pad = (*compat::get_if<torch::ExpandingArray<2>>(&conv.options.padding()))->at(0);
  const kernels::ConvShape s = conv_shape(x.sizes(), conv.weight, pad);
  return batch_norm_avg_pool2d_supports({s.batch, s.out_channels, s.out_height(), s.out_width()}, x.scalar_type(), bn,
                                        k);
}

torch::Tensor conv2d_event_driven_norm_pool(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                                            torch::nn::BatchNorm2dImpl& bn, int64_t k, double support_crossover,
                                            int64_t chunk_bytes,
                                            std::function<torch::Tensor(int64_t, int64_t, int64_t)>* recompute_output) {
  TORCH_CHECK(conv2d_event_driven_norm_pool_supports(x, conv, bn, k),
              "conv2d_event_driven_norm_pool: needs conv2d_event_driven's input and convolution and an output that "
              "batch_norm_avg_pool2d takes, got input ",
              x.sizes(), " and pooling ", k);
  TORCH_CHECK(chunk_bytes > 0, "conv2d_event_driven_norm_pool: chunk_bytes must be positive, got ", chunk_bytes);
  NormPoolArgs args;
  args.conv = index_conv(x, conv);
  args.running_mean = bn.running_mean;
  args.running_var = bn.running_var;
  args.factor = *bn.options.momentum();
  args.eps = bn.options.eps();
  args.k = k;
  args.chunk_bytes = chunk_bytes;
  args.recompute_output = recompute_output;
  if (recompute_output) *recompute_output = nullptr;                  // stays so with k = 1
  if (bn.num_batches_tracked.defined()) bn.num_batches_tracked += 1;  // as BatchNorm2d's forward does
  return EventDrivenConvNormPool::apply(x, conv.weight, optional_of(conv.bias), bn.weight, bn.bias,
                                        support_below(x, support_crossover), args);
}

bool use_event_driven_conv(SynapseMode mode, const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                           double crossover) {
  if (mode == SynapseMode::Dense || !conv2d_event_driven_supports(x, conv)) return false;
  return mode == SynapseMode::Sparse || density_below(x, crossover);
}

bool linear_event_driven_supports(const torch::Tensor& x, const torch::nn::LinearImpl& linear) {
  return x.device().is_cpu() && (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) &&
         x.dim() == 2 && x.size(1) == linear.options.in_features() && x.size(1) < (int64_t{1} << 31) &&
         x.size(0) < (int64_t{1} << 31) && linear.weight.scalar_type() == x.scalar_type();
}

torch::Tensor linear_event_driven(const torch::Tensor& x, const torch::nn::LinearImpl& linear,
                                  double support_crossover) {
  TORCH_CHECK(linear_event_driven_supports(x, linear), "linear_event_driven: needs a CPU float/double [N,",
              linear.options.in_features(), "] input of the weight's type, got ", x.sizes(), " ", x.scalar_type());
  return EventDrivenLinear::apply(x, linear.weight, optional_of(linear.bias), support_below(x, support_crossover));
}

bool use_event_driven_linear(SynapseMode mode, const torch::Tensor& x, const torch::nn::LinearImpl& linear,
                             double crossover) {
  if (mode == SynapseMode::Dense || !linear_event_driven_supports(x, linear)) return false;
  return mode == SynapseMode::Sparse || density_below(x, crossover);
}

}  // namespace functional
}  // namespace masnn
