// Synchronised BatchNorm for data-parallel training (as torch.nn.SyncBatchNorm): in training mode each channel
// is normalised with the mean and variance of the whole job's batch rather than of this rank's part, and the
// backward pass all-reduces the two per-channel gradient sums the input gradient needs. With it, N ranks of batch
// B compute what one process of batch N x B computes (up to the order of float additions).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <optional>

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

/// Makes the BatchNorm layers of a network synchronised in training mode: the BN of every block of the DVS
/// networks (SpikingConvBlock, SpikingLinearBlock: bn_override) and of the Res-SNNs (the stem, every ResSnnBlock:
/// bn1/bn2/shortcut_bn_override); eval mode keeps the layers' own running statistics. Returns how many layers
/// were converted. Throws std::invalid_argument naming a BatchNorm layer it cannot reach (one outside such blocks).
int64_t convert_sync_batch_norm(torch::nn::Module& model, const std::shared_ptr<Communicator>& comm);

}  // namespace masnn::train
