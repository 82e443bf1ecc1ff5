#include "masnn/models/layer_replacement.h"

namespace masnn {

void replace_layer(torch::nn::Module& model, const std::string& path,
                   const std::shared_ptr<torch::nn::Module>& replacement) {
  if (!replacement) throw std::invalid_argument("replace layer '" + path + "': no replacement");
  const auto dot = path.rfind('.');
  const std::string owner_path = dot == std::string::npos ? "" : path.substr(0, dot);
  const std::string name = dot == std::string::npos ? path : path.substr(dot + 1);
  std::shared_ptr<torch::nn::Module> owner;
  for (const auto& item : model.named_modules("", /*include_self=*/true))
    if (item.key() == owner_path) owner = item.value();
  if (!owner || !owner->named_children().contains(name))
    throw std::invalid_argument("replace layer: the model has no layer '" + path + "'");
  auto* replaceable = dynamic_cast<ReplaceableLayers*>(owner.get());
  if (!replaceable || !replaceable->replace_layer(name, replacement))
    throw std::invalid_argument("replace layer: '" + path + "' is not a layer its module (" + owner->name() +
                                ") lets others replace");
}

}  // namespace masnn
