// Synchronised BatchNorm for data-parallel training (as torch.nn.SyncBatchNorm): in training mode each channel
// is normalised with the mean and variance of the whole job's batch rather than of this rank's part, and the
// backward pass all-reduces the two per-channel gradient sums the input gradient needs. With it, N ranks of batch
// B compute what one process of batch N x B computes (up to the order of float additions).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "masnn/models/layer_replacement.h"
#include "masnn/train/distributed.h"

namespace masnn::train {

/// Training-mode batch normalisation of x [N,C,...] (statistics per channel C over every other dimension and
/// every rank of `comm`): y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance. Updates
/// running_mean and running_var (when defined) with the unbiased variance, as torch.nn.BatchNorm does: by
/// `momentum`, or by the cumulative average when momentum is nullopt (num_batches_tracked counts the steps).
/// weight and bias may be undefined (no affine). Every rank must call it in the same order; differentiable in
/// x, weight and bias.
torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              torch::Tensor running_mean, torch::Tensor running_var, torch::Tensor num_batches_tracked,
                              std::optional<double> momentum, double eps, const std::shared_ptr<Communicator>& comm);

/// A BatchNorm layer synchronised across the ranks of `comm` in training mode (sync_batch_norm); in eval mode the
/// layer itself. It shares the parameters and running statistics of the layer it was made from and replaces it in
/// its block (masnn/models/layer_replacement.h).
template <typename BatchNormImpl>
class SyncBatchNormImpl : public BatchNormImpl, public LayerReplacement {
 public:
  SyncBatchNormImpl(const BatchNormImpl& layer, std::shared_ptr<Communicator> comm);
  torch::Tensor replaced_forward(const torch::Tensor& x) override {
    if (!this->is_training()) return BatchNormImpl::forward(x);
    const auto& o = this->options;
    std::optional<double> momentum;
    if (o.momentum()) momentum = *o.momentum();
    return sync_batch_norm(x, this->weight, this->bias, this->running_mean, this->running_var,
                           this->num_batches_tracked, momentum, o.eps(), comm_);
  }
  void pretty_print(std::ostream& stream) const override {
    stream << "masnn::train::SyncBatchNorm(" << this->options.num_features() << ", eps=" << this->options.eps()
           << ", world_size=" << comm_->world_size() << ")";
  }

 private:
  std::shared_ptr<Communicator> comm_;
};
extern template class SyncBatchNormImpl<torch::nn::BatchNorm1dImpl>;  // made in sync_batch_norm.cpp
extern template class SyncBatchNormImpl<torch::nn::BatchNorm2dImpl>;
using SyncBatchNorm1dImpl = SyncBatchNormImpl<torch::nn::BatchNorm1dImpl>;
using SyncBatchNorm2dImpl = SyncBatchNormImpl<torch::nn::BatchNorm2dImpl>;

/// Replaces every BatchNorm1d/2d layer of a network by its synchronised form (replace_layer); eval mode keeps the
/// layers' own running statistics. Returns how many layers were converted. Throws std::invalid_argument naming a
/// BatchNorm layer it cannot replace (one whose module does not let others replace it, or a BatchNorm3d).
int64_t convert_sync_batch_norm(torch::nn::Module& model, const std::shared_ptr<Communicator>& comm);

}  // namespace masnn::train
