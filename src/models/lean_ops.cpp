#include "masnn/models/lean_ops.h"

#include <torch/torch.h>

namespace masnn::functional {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct AvgPoolLean : public torch::autograd::Function<AvgPoolLean> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t k) {
    ctx->saved_data["k"] = k;
    return torch::avg_pool2d(x, k);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t k = ctx->saved_data["k"].toInt();
    // Each input pixel belongs to exactly one window: its gradient is the window's over k*k.
    const torch::Tensor g = grads[0];
    return {g.repeat_interleave(k, 2).repeat_interleave(k, 3).div_(static_cast<double>(k * k)), torch::Tensor()};
  }
};

struct ConvBinaryInput : public torch::autograd::Function<ConvBinaryInput> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias, std::vector<int64_t> stride,
                               std::vector<int64_t> padding, std::vector<int64_t> dilation, int64_t groups) {
    ctx->save_for_backward({x.to(torch::kByte), weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["bias"] = bias.has_value();
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return torch::conv2d(x, weight, bias, stride, padding, dilation, groups);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const torch::Tensor x = saved[0].to(dtype), &weight = saved[1];
    const bool has_bias = ctx->saved_data["bias"].toBool();
    const std::vector<int64_t> bias_sizes = {weight.size(0)};
    const auto [dx, dw, db] = at::convolution_backward(
        grads[0], x, weight, has_bias ? c10::optional<at::IntArrayRef>(bias_sizes) : c10::nullopt,
        ctx->saved_data["stride"].toIntVector(), ctx->saved_data["padding"].toIntVector(),
        ctx->saved_data["dilation"].toIntVector(), false, {0, 0}, ctx->saved_data["groups"].toInt(),
        {true, true, has_bias});
    return {
        dx, dw, has_bias ? db : torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

struct LinearBinaryInput : public torch::autograd::Function<LinearBinaryInput> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const c10::optional<torch::Tensor>& bias) {
    ctx->save_for_backward({x.to(torch::kByte), weight});
    ctx->saved_data["bias"] = bias.has_value();
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    return torch::linear(x, weight, bias);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto dtype = static_cast<torch::ScalarType>(ctx->saved_data["dtype"].toInt());
    const torch::Tensor x = saved[0].to(dtype), &weight = saved[1], &g = grads[0];
    const bool has_bias = ctx->saved_data["bias"].toBool();
    return {g.mm(weight), g.t().mm(x), has_bias ? g.sum(0) : torch::Tensor()};
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

torch::Tensor conv2d_binary_input(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  TORCH_CHECK(c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()) != nullptr &&
                  c10::get_if<torch::ExpandingArray<2>>(&o.padding()) != nullptr,
              "conv2d_binary_input: needs zero padding given as numbers");
  const auto& padding = c10::get<torch::ExpandingArray<2>>(o.padding());
  const c10::optional<torch::Tensor> bias =
      conv.bias.defined() ? c10::optional<torch::Tensor>(conv.bias) : c10::nullopt;
  return ConvBinaryInput::apply(x, conv.weight, bias, to_vector(*o.stride()), to_vector(*padding),
                                to_vector(*o.dilation()), o.groups());
}

torch::Tensor linear_binary_input(const torch::Tensor& x, const torch::nn::LinearImpl& linear) {
  TORCH_CHECK(x.dim() == 2, "linear_binary_input: expected x [N,F], got ", x.sizes());
  const c10::optional<torch::Tensor> bias =
      linear.bias.defined() ? c10::optional<torch::Tensor>(linear.bias) : c10::nullopt;
  return LinearBinaryInput::apply(x, linear.weight, bias);
}

}  // namespace masnn::functional
