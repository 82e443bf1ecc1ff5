#include "masnn/models/event_driven_synapse.h"

#include <torch/torch.h>

#include <stdexcept>

#include "compat/torch_variant.h"
#include "masnn/models/lean_ops.h"
#include "masnn/models/sparse_kernels.h"
#include "masnn/neuron/surrogate_support.h"
#include "masnn/util/bit_mask.h"

namespace masnn {

SynapseMode parse_synapse_mode(const std::string& name, const std::string& what) {
  if (name == "dense") return SynapseMode::Dense;
  if (name == "sparse") return SynapseMode::Sparse;
  if (name == "auto") return SynapseMode::Auto;
  throw std::invalid_argument(what + ": expected dense, sparse or auto; got '" + name + "'");
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

struct EventDrivenConv2d : public torch::autograd::Function<EventDrivenConv2d> {
  // support: the published surrogate support of x (surrogate_support.h), or empty (numel 0) when there is none.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t pad, const torch::Tensor& support) {
    const torch::Tensor x = x_in.contiguous();
    const kernels::ConvShape s = conv_shape(x.sizes(), weight, pad);
    const int64_t planes = s.batch * s.in_channels, plane = s.height * s.width;
    // The index of the spikes: counts per plane, their prefix sums, then the positions.
    torch::Tensor offsets = torch::empty({planes + 1}, torch::kLong);
    int64_t* off = offsets.data_ptr<int64_t>();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv2d_event_driven", [&] {
      kernels::count_plane_nonzeros<scalar_t>(x.data_ptr<scalar_t>(), planes, plane, off + 1);
    });
    off[0] = 0;
    for (int64_t p = 1; p <= planes; ++p) off[p] += off[p - 1];
    torch::Tensor positions = torch::empty({off[planes]}, torch::kInt);
    torch::Tensor out = torch::empty({s.batch, s.out_channels, s.out_height(), s.out_width()}, x.options());
    const torch::Tensor weight_t = weight.detach().permute({1, 2, 3, 0}).contiguous();  // [Cin,K,K,Cout]
    const torch::Tensor b = bias.defined() ? bias.detach().contiguous() : bias;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "conv2d_event_driven", [&] {
      kernels::index_plane_nonzeros<scalar_t>(x.data_ptr<scalar_t>(), planes, plane, off,
                                              positions.data_ptr<int32_t>());
      kernels::sparse_conv2d_indexed<scalar_t>(index_view(positions, offsets), weight_t.data_ptr<scalar_t>(),
                                               b.defined() ? b.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(),
                                               s);
    });
    ctx->save_for_backward({weight});
    ctx->saved_data["positions"] = positions;
    ctx->saved_data["offsets"] = offsets;
    ctx->saved_data["input_sizes"] = x.sizes().vec();
    ctx->saved_data["pad"] = pad;
    ctx->saved_data["has_bias"] = bias.defined();
    ctx->saved_data["support"] = support;
    if (support.numel() > 0) ctx->saved_data["weight_t"] = weight_t;  // the sparse input gradient reads it too
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor weight = ctx->get_saved_variables()[0];
    const torch::Tensor g = grads[0].contiguous();
    const int64_t pad = ctx->saved_data["pad"].toInt();
    const std::vector<int64_t> sizes = ctx->saved_data["input_sizes"].toIntVector();
    const torch::Tensor support = ctx->saved_data["support"].toTensor();
    const bool sparse_grad_x = ctx->needs_input_grad(0) && support.numel() > 0;
    const kernels::ConvShape s = conv_shape(sizes, weight, pad);
    torch::Tensor g_cl;  // [N,Hout,Wout,Cout]: the layout the per-spike kernels read
    if (sparse_grad_x || ctx->needs_input_grad(1)) g_cl = g.permute({0, 2, 3, 1}).contiguous();
    torch::Tensor grad_x, grad_w, grad_b;
    if (sparse_grad_x) {
      // Only inside the surrogate window of the neurons that fired x: elsewhere their backward multiplies it by 0.
      const torch::Tensor weight_t = ctx->saved_data["weight_t"].toTensor();  // [Cin,K,K,Cout]
      grad_x = torch::empty(sizes, g.options());
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_event_driven_input_grad", [&] {
        kernels::sparse_conv2d_input_grad<scalar_t>(support.data_ptr<uint8_t>(), g_cl.data_ptr<scalar_t>(),
                                                    weight_t.data_ptr<scalar_t>(), grad_x.data_ptr<scalar_t>(), s);
      });
    } else if (ctx->needs_input_grad(0)) {
      grad_x = conv2d_input_grad(g, sizes, weight.detach(), {1, 1}, {pad, pad}, {1, 1}, 1);
    }
    if (ctx->needs_input_grad(1)) {
      torch::Tensor grad_wt = torch::zeros({s.in_channels, s.kernel, s.kernel, s.out_channels}, g.options());
      const torch::Tensor positions = ctx->saved_data["positions"].toTensor();
      const torch::Tensor offsets = ctx->saved_data["offsets"].toTensor();
      AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "conv2d_event_driven_backward", [&] {
        kernels::sparse_conv2d_weight_grad<scalar_t>(index_view(positions, offsets), g_cl.data_ptr<scalar_t>(),
                                                     grad_wt.data_ptr<scalar_t>(), s);
      });
      grad_w = grad_wt.permute({3, 0, 1, 2}).contiguous();
    }
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2)) grad_b = g.sum({0, 2, 3});
    return {grad_x, grad_w, grad_b, torch::Tensor(), torch::Tensor()};
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
  TORCH_CHECK(conv2d_event_driven_supports(x, conv),
              "conv2d_event_driven: needs a CPU float/double [N,C,H,W] input and a stride-1, square, zero-padded "
              "convolution without groups or dilation, got input ",
              x.sizes(), " and ", conv.options.kernel_size(), " kernel");
  const int64_t pad = (*compat::get_if<torch::ExpandingArray<2>>(&conv.options.padding()))->at(0);
  torch::Tensor support = published_surrogate_support(x);
  if (support.defined() && static_cast<double>(bits::count(support.data_ptr<uint8_t>(), x.numel())) >=
                               support_crossover * static_cast<double>(x.numel()))
    support = torch::Tensor();  // too wide: oneDNN's dense backward-data is faster
  if (!support.defined()) support = torch::empty({0}, torch::kUInt8);  // 1.13's custom functions take no undefined
  return EventDrivenConv2d::apply(x, conv.weight, conv.bias, pad, support);
}

bool use_event_driven_conv(SynapseMode mode, const torch::Tensor& x, const torch::nn::Conv2dImpl& conv,
                           double crossover) {
  if (mode == SynapseMode::Dense || !conv2d_event_driven_supports(x, conv)) return false;
  if (mode == SynapseMode::Sparse) return true;
  return static_cast<double>(x.count_nonzero().item<int64_t>()) < crossover * static_cast<double>(x.numel());
}

}  // namespace functional
}  // namespace masnn
