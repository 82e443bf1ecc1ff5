// The unfused chain of a network: its definition, and the oracle its fused ops are tested against.
#pragma once

#include <torch/nn/module.h>

namespace masnn {

/// Turns every fused op under `net` off, in place: BN then pooling as two ops (not functional::batch_norm_avg_pool2d),
/// the attention's last pass apart from the neuron (not LIFImpl::forward_scaled), the attention's composed LibTorch
/// ops (not its fused kernels), the LIF's composed time loop (LIFBackend::Composed), and linear layers on spikes as
/// torch::linear. Networks are built fused (their blocks' Options); after unfuse they compute the same values,
/// gradients and BN statistics by the definition's ops. The spike-input convolutions still keep their input as bits
/// (the same oneDNN convolution; the LeanOps tests compare it with LibTorch's), and event-driven synapses stay as set.
void unfuse(torch::nn::Module& net);

}  // namespace masnn
