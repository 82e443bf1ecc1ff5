// Replacing a network's layer by another implementation of it, as torch::nn::Module::replace_module does: an
// event-driven synapse for sparse inference (masnn/serve/sparse.h), synchronised BatchNorm for a distributed run
// (src/train/sync_batch_norm.h). A replacement derives from the layer's Impl (the same parameters and buffers
// under the same names, so state dicts and checkpoints do not change) and from LayerReplacement; it is registered
// in place of the layer, so named_modules() and pretty_print show it, and the block calls it. clone() of a
// network gives the layers of its definition (LibTorch clones a layer as its Impl type). torch::nn::Module is a
// virtual base of LibTorch 1.13's layers: a replacement's constructor (in a source file) copies it with
// MASNN_COPY_MODULE_BASE (src/compat/torch_module_base.h), or the replacement would have no parameters there.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace masnn {

/// The forward of a replacement layer (what the block calls instead of the layer's own forward).
class LayerReplacement {
 public:
  virtual ~LayerReplacement() = default;
  virtual torch::Tensor replaced_forward(const torch::Tensor& x) = 0;
};

/// The replacement installed in `layer`'s place, or nullptr for the layer itself.
template <typename Holder>
LayerReplacement* replacement_of(Holder& layer) {
  return dynamic_cast<LayerReplacement*>(layer.get());
}

/// x through `layer`, or through its replacement when one is installed.
template <typename Holder>
torch::Tensor call_layer(Holder& layer, const torch::Tensor& x) {
  if (LayerReplacement* r = replacement_of(layer)) return r->replaced_forward(x);
  return layer(x);
}

/// A module that owns layers others may replace (the blocks of masnn's networks).
class ReplaceableLayers {
 public:
  virtual ~ReplaceableLayers() = default;
  /// Registers `replacement` in place of the child `name` and points the member that calls it there. Returns
  /// false when the module has no replaceable layer of that name; throws std::invalid_argument when the
  /// replacement is not of the layer's type.
  virtual bool replace_layer(const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) = 0;
};

/// For ReplaceableLayers::replace_layer: replaces `member`, registered as `member_name` in `owner`, when `name`
/// is that name.
template <typename Impl>
bool replace_member(torch::nn::Module& owner, torch::nn::ModuleHolder<Impl>& member, const char* member_name,
                    const std::string& name, const std::shared_ptr<torch::nn::Module>& replacement) {
  if (name != member_name || member.is_empty()) return false;
  auto typed = std::dynamic_pointer_cast<Impl>(replacement);
  if (!typed)
    throw std::invalid_argument("replace layer '" + name + "': the replacement " + replacement->name() +
                                " is not a " + member->name());
  member = owner.replace_module(name, torch::nn::ModuleHolder<Impl>(typed));
  return true;
}

/// Replaces the layer at `path` of `model` (a name of model.named_modules(), e.g. "convs.0.conv" or
/// "stages.0.1.bn2") by `replacement`, of the layer's Impl type or derived from it. Throws std::invalid_argument
/// naming the path when there is no such layer or its owner cannot replace it.
void replace_layer(torch::nn::Module& model, const std::string& path,
                   const std::shared_ptr<torch::nn::Module>& replacement);

}  // namespace masnn
