// Weights of the reference PyTorch MA-SNN (BICLab Attention-SNN, DVS128 Gesture / Gait networks) in
// masnn's DvsNet, and back.
//
// Names. Reference entry (prefix convAttLIF<i>. for conv layer i, FC<j>. for fc layer j) -> DvsNet entry:
//   convAttLIF<i>.conv2d.{weight,bias}                  -> convs.<i>.conv.{weight,bias}
//   convAttLIF<i>.BNLayer.<w>                           -> convs.<i>.bn.<w>   (weight, bias, running_mean,
//                                                           running_var, num_batches_tracked)
//   convAttLIF<i>.attention.ta.sharedMLP.{0,2}.weight   -> convs.<i>.attention.ta.mlp.{fc1,fc2}.weight
//   convAttLIF<i>.attention.ca.sharedMLP.{0,2}.weight   -> convs.<i>.attention.ca.mlp.{fc1,fc2}.weight
//   convAttLIF<i>.attention.sa.conv.weight              -> convs.<i>.attention.sa.conv.weight
//   FC<j>.linear.{weight,bias}                          -> fcs.<j>.linear.{weight,bias}
//   FC<j>.BNLayer.<w>                                   -> fcs.<j>.bn.<w>
//   FC<j>.attention.ta.sharedMLP.{0,2}.weight           -> fcs.<j>.attention.ta.mlp.{fc1,fc2}.weight
// Shapes. The reference MLPs are 1x1 convolutions: Conv3d [out,in,1,1,1] in conv layers, Conv1d [out,in,1]
// in fc layers; masnn's are Linear [out,in]. All other shapes are equal.
//
// Only the reference's attention placement (Conv-POST) exists there: DvsNets with activate-pre placement,
// per-step CA/SA or a learnable decay have no reference counterpart and are rejected. The neuron constants
// (alpha, V_th, ...) are not in a state dict; DvsNetOptions::lif must match the reference run
// (LIFOptions::reference_dvs() for the published settings).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <string>

#include "masnn/models/dvs_net.h"

namespace masnn {

/// The reference state dict `reference` (names as above, any "module." prefix already removed, e.g. by
/// read_pytorch_state_dict) as a DvsNet state dict for `options`, ready for load_state_dict.
/// Throws std::runtime_error naming the reference key (and the DvsNet key) on an unknown, unexpected or
/// missing entry or a shape mismatch, and std::invalid_argument for options the reference cannot express.
std::map<std::string, torch::Tensor> dvs_net_from_reference(const std::map<std::string, torch::Tensor>& reference,
                                                            const DvsNetOptions& options);

/// The parameters and buffers of `net` under the reference's names and shapes (copies, on the CPU), e.g.
/// for write_pytorch_state_dict. Throws std::invalid_argument for a net the reference cannot express.
std::map<std::string, torch::Tensor> dvs_net_to_reference(const DvsNet& net);

/// Copies every parameter and buffer of `module` (recursively, dotted names) from `state`. Every key of
/// the module must be present and every key of `state` must belong to the module, with the same shape;
/// otherwise throws std::runtime_error naming the key (and both shapes). Values are converted to the
/// module's dtype and device.
void load_state_dict(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state);

}  // namespace masnn
