// Synchronised BatchNorm (sync_batch_norm.h): statistics gathered with one all-reduce in the forward pass and
// the input gradient's two per-channel sums with one in the backward pass.
#include "train/sync_batch_norm.h"

#include <ATen/record_function.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <stdexcept>

#include "compat/torch_batchnorm.h"
#include "compat/torch_module_base.h"


namespace masnn::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The dimensions statistics run over: every one but the channel dimension 1.
std::vector<int64_t> reduce_dims(const torch::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

// A per-channel [C] tensor shaped to broadcast against x [N,C,...].
torch::Tensor per_channel(const torch::Tensor& v, const torch::Tensor& x) {
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

// Keeps the communicator alive in an autograd graph's saved data until the backward pass has run.
struct CommunicatorRef : torch::CustomClassHolder {
  explicit CommunicatorRef(std::shared_ptr<Communicator> c) : comm(std::move(c)) {}
  std::shared_ptr<Communicator> comm;
};

// y = (x - mean) * invstd * weight + bias with mean and invstd ([C], double) of the whole job; backward
// all-reduces sum(dy) and sum(dy * (x - mean)) per channel for the input gradient. The elementwise work runs in
// the input's type, the per-channel reductions in LibTorch's own BatchNorm kernels.
class SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& mean, const torch::Tensor& invstd,
                               double count, const std::shared_ptr<Communicator>& comm) {
    RECORD_FUNCTION("masnn::SyncBatchNormFunction", std::vector<c10::IValue>());  // forward, named in profiles
    torch::Tensor scale = invstd;
    if (weight.defined()) scale = scale * weight.to(scale.scalar_type());
    torch::Tensor shift = -mean * scale;
    if (bias.defined()) shift = shift + bias.to(shift.scalar_type());
    const auto type = x.scalar_type();
    const torch::Tensor y = torch::addcmul(per_channel(shift.to(type), x), x, per_channel(scale.to(type), x));
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["count"] = count;
    ctx->saved_data["comm"] = c10::IValue::make_capsule(c10::make_intrusive<CommunicatorRef>(comm));
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double count = ctx->saved_data["count"].toDouble();
    const auto comm = c10::static_intrusive_pointer_cast<CommunicatorRef>(ctx->saved_data["comm"].toCapsule())->comm;
    const torch::Tensor dy = grad_outputs[0].contiguous();
    const auto type = x.scalar_type();
    // This rank's sums: sum(dy) and sum(dy * (x - mean) * invstd), by LibTorch's BatchNorm backward kernel.
    const torch::Tensor w = weight.defined() ? weight : torch::ones({mean.size(0)}, x.options());
    const auto local = torch::native_batch_norm_backward(dy, x, w, {}, {}, mean.to(type), invstd.to(type),
                                                         /*train=*/true, 0.0, {false, true, true});
    const torch::Tensor sum_dy = std::get<2>(local).to(torch::kDouble);
    const torch::Tensor sum_dy_xhat = std::get<1>(local).to(torch::kDouble);

    torch::Tensor grad_x, grad_weight, grad_bias;
    // This rank's loss gives this rank's share of the weight and bias gradients; DataParallel averages them.
    if (weight.defined() && ctx->needs_input_grad(1)) grad_weight = std::get<1>(local).to(weight.scalar_type());
    if (ctx->needs_input_grad(2)) grad_bias = std::get<2>(local).to(dy.scalar_type());
    if (ctx->needs_input_grad(0)) {
      // The input gradient sees every rank's dy through the shared mean and variance:
      //   dx = (dy - mean(dy) - (x - mean) * invstd^2 * mean(dy * (x - mean))) * invstd * weight
      //      = dy * a + x * b + c per channel, means over the whole job.
      const int64_t C = mean.size(0);
      torch::Tensor sums = torch::cat({sum_dy, sum_dy_xhat / invstd});
      comm->all_reduce_sum(sums, "the all-reduce of synchronised BatchNorm's gradient sums");
      const torch::Tensor mean_dy = sums.slice(0, 0, C) / count;
      const torch::Tensor mean_dy_xmu = sums.slice(0, C, 2 * C) / count;
      torch::Tensor scale = invstd;
      if (weight.defined()) scale = scale * weight.to(torch::kDouble);
      const torch::Tensor a = scale;
      const torch::Tensor b = -invstd * invstd * mean_dy_xmu * scale;
      const torch::Tensor c = (mean * invstd * invstd * mean_dy_xmu - mean_dy) * scale;
      grad_x = dy * per_channel(a.to(type), x);
      grad_x.addcmul_(x, per_channel(b.to(type), x)).add_(per_channel(c.to(type), x));
    }
    return {grad_x, grad_weight, grad_bias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var, torch::Tensor num_batches_tracked,
                              std::optional<double> momentum, double eps, const std::shared_ptr<Communicator>& comm) {
  TORCH_CHECK(comm, "sync_batch_norm: no communicator");
  TORCH_CHECK(x.dim() >= 2, "sync_batch_norm: x must be [N,C,...], got ", x.sizes());
  const int64_t C = x.size(1);
  const int W = comm->world_size(), r = comm->rank();
  torch::Tensor mean, var, invstd;
  double total = 0;
  {
    torch::NoGradGuard no_grad;
    const auto dims = reduce_dims(x);
    const double local_count = static_cast<double>(x.numel() / std::max<int64_t>(C, 1));
    // Row r of a [W, 2C+1] table holds this rank's mean, biased variance and count; the sum over the ranks is
    // everyone's rows (an all-gather by all-reduce). Per-channel values are combined in double precision.
    torch::Tensor table = torch::zeros({W, 2 * C + 1}, x.options().dtype(torch::kDouble));
    if (local_count > 0) {
      const auto [var_l, mean_l] = torch::var_mean(x, dims, /*unbiased=*/false);
      table[r].slice(0, 0, C).copy_(mean_l);
      table[r].slice(0, C, 2 * C).copy_(var_l);
    }
    table[r][2 * C].fill_(local_count);
    comm->all_reduce_sum(table, "the all-reduce of synchronised BatchNorm's statistics");
    const torch::Tensor counts = table.select(1, 2 * C).unsqueeze(1);  // [W,1]
    total = counts.sum().item<double>();
    TORCH_CHECK(total > 1, "sync_batch_norm: expected more than 1 value per channel over all ranks, got ", total);
    const torch::Tensor means = table.slice(1, 0, C), vars = table.slice(1, C, 2 * C);
    mean = (means * counts).sum(0) / total;
    // Pooled variance: each rank's variance plus the spread of its mean around the global mean.
    var = ((vars + (means - mean).pow(2)) * counts).sum(0) / total;
    invstd = (var + eps).rsqrt();
    if (running_mean.defined() && running_var.defined()) {
      double factor = momentum.value_or(0.0);
      if (num_batches_tracked.defined()) {
        num_batches_tracked.add_(1);
        if (!momentum) factor = 1.0 / num_batches_tracked.item<double>();
      }
      running_mean.mul_(1 - factor).add_(mean.to(running_mean.scalar_type()), factor);
      running_var.mul_(1 - factor).add_((var * (total / (total - 1))).to(running_var.scalar_type()), factor);
    }
  }
  return SyncBatchNormFunction::apply(x, weight, bias, mean, invstd, total, comm);
}

template <typename BatchNormImpl>
SyncBatchNormImpl<BatchNormImpl>::SyncBatchNormImpl(const BatchNormImpl& layer, std::shared_ptr<Communicator> comm)
    : MASNN_COPY_MODULE_BASE(layer) BatchNormImpl(layer), comm_(std::move(comm)) {}

template class SyncBatchNormImpl<torch::nn::BatchNorm1dImpl>;
template class SyncBatchNormImpl<torch::nn::BatchNorm2dImpl>;

int64_t convert_sync_batch_norm(torch::nn::Module& model, const std::shared_ptr<Communicator>& comm) {
  if (!comm) throw std::invalid_argument("convert_sync_batch_norm: no communicator");
  auto cannot = [](const std::string& path) {
    return std::invalid_argument("dist.sync_bn: the BatchNorm layer '" + path +
                                 "' cannot be replaced by synchronised BatchNorm (only the BatchNorm1d/2d layers of "
                                 "masnn's blocks can); train this network with dist.sync_bn = false");
  };
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> replacements;
  for (const auto& item : model.named_modules("", /*include_self=*/true)) {
    const auto& m = item.value();
    if (dynamic_cast<LayerReplacement*>(m.get())) continue;  // converted already
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m))
      replacements.emplace_back(item.key(), std::make_shared<SyncBatchNorm2dImpl>(*bn, comm));
    else if (auto bn1 = std::dynamic_pointer_cast<torch::nn::BatchNorm1dImpl>(m))
      replacements.emplace_back(item.key(), std::make_shared<SyncBatchNorm1dImpl>(*bn1, comm));
    else if (dynamic_cast<const torch::nn::BatchNorm3dImpl*>(m.get()))
      throw cannot(item.key());
  }
  for (const auto& [path, replacement] : replacements) {
    try {
      replace_layer(model, path, replacement);
    } catch (const std::invalid_argument&) {
      throw cannot(path);
    }
  }
  return static_cast<int64_t>(replacements.size());
}

}  // namespace masnn::train
