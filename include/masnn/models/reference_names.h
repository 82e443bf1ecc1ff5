// Weights of the reference PyTorch MA-SNN (BICLab Attention-SNN) in masnn's networks, and back: the DVS128
// Gesture / Gait networks (DvsNet) and the ImageNet Res-SNNs (ResSnn, the reference's Att_Res_SNN MS-ResNet).
//
// DvsNet.
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
//
// ResSnn. Reference entry -> ResSnn entry (stage k of the reference is conv<k+2>_x, e.g. conv2_x = stages.0):
//   conv1.0.weight                                        -> stem_conv.weight
//   conv1.1.bn.<w>                                        -> stem_bn.<w>
//   conv<k+2>_x.<b>.residual_function.1.weight            -> stages.<k>.<b>.conv1.weight
//   conv<k+2>_x.<b>.residual_function.2.bn.<w>            -> stages.<k>.<b>.bn1.<w>
//   conv<k+2>_x.<b>.residual_function.4.weight            -> stages.<k>.<b>.conv2.weight
//   conv<k+2>_x.<b>.residual_function.5.bn.<w>            -> stages.<k>.<b>.bn2.<w>
//   conv<k+2>_x.<b>.residual_function.6.attention.{ta,ca}.sharedMLP.{0,2}.weight
//                                                         -> stages.<k>.<b>.attention.{ta,ca}.mlp.{fc1,fc2}.weight
//   conv<k+2>_x.<b>.residual_function.6.attention.sa.conv.weight -> stages.<k>.<b>.attention.sa.conv.weight
//   conv<k+2>_x.<b>.shortcut.1.weight                     -> stages.<k>.<b>.shortcut_conv.weight
//   conv<k+2>_x.<b>.shortcut.2.bn.<w>                     -> stages.<k>.<b>.shortcut_bn.<w>
//   fc.{weight,bias}                                      -> fc.{weight,bias}
// (<w>: weight, bias, running_mean, running_var, num_batches_tracked; SyncBatchNorm keeps the same names.)
// The reference's MLP weights are Conv3d [out,in,1,1,1]. Its blocks hard-code CSA with c_ratio 8 at T = 1 (other
// attention types come from its PruningCell with their own ratios); ResSnnOptions must match the trained model.
// Per-step CA/SA and a learnable decay have no reference counterpart.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <string>

#include "masnn/models/dvs_net.h"
#include "masnn/models/res_snn.h"

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

/// The reference Res-SNN state dict `reference` (names as above, any "module." prefix already removed) as a
/// ResSnn state dict for `options`. Errors as dvs_net_from_reference.
std::map<std::string, torch::Tensor> res_snn_from_reference(const std::map<std::string, torch::Tensor>& reference,
                                                            const ResSnnOptions& options);

/// The parameters and buffers of `net` under the reference Res-SNN's names and shapes (copies, on the CPU).
/// Throws std::invalid_argument for a net the reference cannot express.
std::map<std::string, torch::Tensor> res_snn_to_reference(const ResSnn& net);

/// Loads a reference state dict into any network the reference has (a DVS network or a Res-SNN): the name map of
/// that network, then load_state_dict. Throws std::invalid_argument naming `what` for another network.
void load_reference_state(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& reference,
                          const std::string& what);
/// The state of any network the reference has, under the reference's names (dvs_net_to_reference or
/// res_snn_to_reference). Throws std::invalid_argument naming `what` for another network.
std::map<std::string, torch::Tensor> to_reference_state(torch::nn::Module& model, const std::string& what);

/// Copies every parameter and buffer of `module` (recursively, dotted names) from `state`. Every key of
/// the module must be present and every key of `state` must belong to the module, with the same shape;
/// otherwise throws std::runtime_error naming the key (and both shapes). Values are converted to the
/// module's dtype and device.
void load_state_dict(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state);

}  // namespace masnn
