#include "masnn/models/reference_names.h"

#include <torch/torch.h>

#include <cctype>
#include <sstream>
#include <stdexcept>

namespace masnn {

namespace {

// One entry of a layer: its name after the layer prefix in the reference and in masnn, and the rank of
// the reference tensor when it is a 1x1-conv MLP weight (0: same shape on both sides).
struct EntryRule {
  const char* reference;
  const char* masnn;
  int64_t reference_rank;
};

const std::vector<EntryRule>& conv_rules() {
  static const std::vector<EntryRule> rules = {
      {"conv2d.weight", "conv.weight", 0},
      {"conv2d.bias", "conv.bias", 0},
      {"BNLayer.weight", "bn.weight", 0},
      {"BNLayer.bias", "bn.bias", 0},
      {"BNLayer.running_mean", "bn.running_mean", 0},
      {"BNLayer.running_var", "bn.running_var", 0},
      {"BNLayer.num_batches_tracked", "bn.num_batches_tracked", 0},
      {"attention.ta.sharedMLP.0.weight", "attention.ta.mlp.fc1.weight", 5},  // Conv3d [out,in,1,1,1]
      {"attention.ta.sharedMLP.2.weight", "attention.ta.mlp.fc2.weight", 5},
      {"attention.ca.sharedMLP.0.weight", "attention.ca.mlp.fc1.weight", 5},
      {"attention.ca.sharedMLP.2.weight", "attention.ca.mlp.fc2.weight", 5},
      {"attention.sa.conv.weight", "attention.sa.conv.weight", 0},
  };
  return rules;
}

const std::vector<EntryRule>& fc_rules() {
  static const std::vector<EntryRule> rules = {
      {"linear.weight", "linear.weight", 0},
      {"linear.bias", "linear.bias", 0},
      {"BNLayer.weight", "bn.weight", 0},
      {"BNLayer.bias", "bn.bias", 0},
      {"BNLayer.running_mean", "bn.running_mean", 0},
      {"BNLayer.running_var", "bn.running_var", 0},
      {"BNLayer.num_batches_tracked", "bn.num_batches_tracked", 0},
      {"attention.ta.sharedMLP.0.weight", "attention.ta.mlp.fc1.weight", 3},  // Conv1d [out,in,1]
      {"attention.ta.sharedMLP.2.weight", "attention.ta.mlp.fc2.weight", 3},
  };
  return rules;
}

struct Layer {
  const char* reference;  ///< "convAttLIF" or "FC"
  const char* masnn;      ///< "convs." or "fcs."
  const std::vector<EntryRule>& (*rules)();
};
const Layer kLayers[] = {{"convAttLIF", "convs.", conv_rules}, {"FC", "fcs.", fc_rules}};

// "<prefix><digits>.<rest>" -> index and rest.
bool split_layer(const std::string& name, const std::string& prefix, const std::string& separator, std::string* index,
                 std::string* rest) {
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t p = prefix.size(), q = p;
  while (q < name.size() && std::isdigit(static_cast<unsigned char>(name[q]))) ++q;
  if (q == p || name.compare(q, separator.size(), separator) != 0) return false;
  *index = name.substr(p, q - p);
  *rest = name.substr(q + separator.size());
  return true;
}

struct Translation {
  std::string name;
  int64_t reference_rank = 0;
};

bool reference_to_masnn(const std::string& ref, Translation* out) {
  for (const Layer& layer : kLayers) {
    std::string index, rest;
    if (!split_layer(ref, layer.reference, ".", &index, &rest)) continue;
    for (const EntryRule& r : layer.rules())
      if (rest == r.reference) {
        *out = {std::string(layer.masnn) + index + "." + r.masnn, r.reference_rank};
        return true;
      }
  }
  return false;
}

bool masnn_to_reference(const std::string& name, Translation* out) {
  for (const Layer& layer : kLayers) {
    std::string index, rest;
    if (!split_layer(name, layer.masnn, ".", &index, &rest)) continue;
    for (const EntryRule& r : layer.rules())
      if (rest == r.masnn) {
        *out = {std::string(layer.reference) + index + "." + r.reference, r.reference_rank};
        return true;
      }
  }
  return false;
}

std::string shape(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

void check_expressible(const DvsNetOptions& o) {
  const LayerAttention& a = o.attention();
  if (a.type.any() && a.placement != AttentionPlacement::ConvPost)
    throw std::invalid_argument(
        "reference weights: the reference code has only the conv-post attention placement; this DvsNet uses " +
        to_string(a.placement) + " (set the attention placement to conv-post)");
  if (a.per_step && (a.type.channel || a.type.spatial))
    throw std::invalid_argument(
        "reference weights: the reference computes CA and SA over all time steps; per-step CA/SA (the paper's "
        "variant) has no reference counterpart");
  if (o.lif().learnable_decay())
    throw std::invalid_argument(
        "reference weights: the reference DVS neuron has a fixed decay; a DvsNet with learnable decay has no "
        "reference counterpart");
}

std::string describe(const DvsNetOptions& o) {
  std::ostringstream s;
  s << "a DvsNet with " << o.channels().size() << " conv layers, " << o.hidden().size() + 1 << " fc layers, attention "
    << o.attention().type.name() << ", T = " << o.steps();
  return s.str();
}

std::map<std::string, torch::Tensor> entries(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> all;
  for (const auto& p : module.named_parameters(true)) all[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) all[b.key()] = b.value();
  return all;
}

}  // namespace

std::map<std::string, torch::Tensor> dvs_net_from_reference(const std::map<std::string, torch::Tensor>& reference,
                                                            const DvsNetOptions& options) {
  check_expressible(options);
  DvsNet net(options);
  const auto expected = entries(*net);
  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, value] : reference) {
    Translation tr;
    if (!reference_to_masnn(key, &tr)) {
      std::string why =
          "reference weights: unknown key '" + key +
          "'; expected the entries of the reference DVS network (convAttLIF<i>.{conv2d, BNLayer, attention.ta, "
          "attention.ca, attention.sa}.*, FC<j>.{linear, BNLayer, attention.ta}.*)";
      if (key.find(".network.") != std::string::npos)
        why += "; trained neuron constants (pa_train_self=True) are not supported";
      throw std::runtime_error(why);
    }
    auto it = expected.find(tr.name);
    if (it == expected.end())
      throw std::runtime_error("reference weights: unexpected key '" + key + "' (DvsNet '" + tr.name + "'): " +
                               describe(options) + " has no such entry; check the network and the attention type");
    if (!value.defined()) throw std::runtime_error("reference weights: key '" + key + "' holds no tensor");
    torch::Tensor t = value;
    if (tr.reference_rank) {
      bool ok = t.dim() == tr.reference_rank;
      for (int64_t d = 2; ok && d < t.dim(); ++d) ok = t.size(d) == 1;
      if (!ok)
        throw std::runtime_error("reference weights: key '" + key + "' has shape " + shape(t.sizes()) +
                                 ", expected a 1x1 convolution weight of rank " + std::to_string(tr.reference_rank) +
                                 " [out,in,1,...]");
      t = t.reshape({t.size(0), t.size(1)});
    }
    if (t.sizes() != it->second.sizes()) {
      std::string why = "reference weights: key '" + key + "' (DvsNet '" + tr.name + "') has shape " +
                        shape(value.sizes()) + ", " + describe(options) + " expects " + shape(it->second.sizes()) +
                        (tr.reference_rank ? " (as a Linear weight)" : "");
      if (tr.name.find(".attention.ta.") != std::string::npos)
        why += "; T (steps) and t_ratio must be the reference's";
      else if (tr.name.find(".attention.ca.") != std::string::npos)
        why += "; c_ratio must be the reference's";
      throw std::runtime_error(why);
    }
    out[tr.name] = t;
  }
  for (const auto& [name, tensor] : expected) {
    if (out.count(name)) continue;
    Translation tr;
    const std::string ref = masnn_to_reference(name, &tr) ? tr.name : std::string("?");
    std::string why = "reference weights: missing key '" + ref + "' (DvsNet '" + name + "', shape " +
                      shape(tensor.sizes()) + ") needed by " + describe(options);
    if (name.find(".running_") != std::string::npos || name.find(".num_batches_tracked") != std::string::npos)
      why += "; a reference trained with track_running_stats=False keeps no BN statistics, which eval needs";
    else if (name.find(".attention.") != std::string::npos)
      why += "; was the reference trained with attention " + options.attention().type.name() + "?";
    throw std::runtime_error(why);
  }
  return out;
}

std::map<std::string, torch::Tensor> dvs_net_to_reference(const DvsNet& net) {
  check_expressible(net->options);
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, tensor] : entries(*net)) {
    Translation tr;
    if (!masnn_to_reference(name, &tr))
      throw std::invalid_argument("reference weights: DvsNet entry '" + name + "' has no reference counterpart");
    torch::Tensor t = tensor.detach().to(torch::kCPU).clone(at::MemoryFormat::Contiguous);
    if (tr.reference_rank) {
      std::vector<int64_t> sizes(static_cast<size_t>(tr.reference_rank), 1);
      sizes[0] = t.size(0);
      sizes[1] = t.size(1);
      t = t.reshape(sizes);
    }
    out[tr.name] = t;
  }
  return out;
}

void load_state_dict(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& state) {
  const auto targets = entries(module);
  for (const auto& [key, value] : state) {
    auto it = targets.find(key);
    if (it == targets.end())
      throw std::runtime_error("load_state_dict: unexpected key '" + key + "'" +
                               (value.defined() ? " (shape " + shape(value.sizes()) + ")" : std::string()) + "; " +
                               module.name() + " has no such parameter or buffer");
    if (!value.defined()) throw std::runtime_error("load_state_dict: key '" + key + "' holds no tensor");
    if (value.sizes() != it->second.sizes())
      throw std::runtime_error("load_state_dict: key '" + key + "' has shape " + shape(value.sizes()) + ", " +
                               module.name() + " expects " + shape(it->second.sizes()));
  }
  for (const auto& [key, target] : targets)
    if (!state.count(key))
      throw std::runtime_error("load_state_dict: missing key '" + key + "' (shape " + shape(target.sizes()) + ") of " +
                               module.name());
  torch::NoGradGuard no_grad;
  for (const auto& [key, target] : targets) {
    torch::Tensor t = target;  // shares the module's storage
    t.copy_(state.at(key));
  }
}

}  // namespace masnn
