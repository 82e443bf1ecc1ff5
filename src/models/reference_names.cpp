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
  std::string reference;
  std::string masnn;
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

bool dvs_reference_to_masnn(const std::string& ref, Translation* out) {
  for (const Layer& layer : kLayers) {
    std::string index, rest;
    if (!split_layer(ref, layer.reference, ".", &index, &rest)) continue;
    for (const EntryRule& r : layer.rules())
      if (rest == r.reference) {
        *out = {layer.masnn + index + "." + r.masnn, r.reference_rank};
        return true;
      }
  }
  return false;
}

bool dvs_masnn_to_reference(const std::string& name, Translation* out) {
  for (const Layer& layer : kLayers) {
    std::string index, rest;
    if (!split_layer(name, layer.masnn, ".", &index, &rest)) continue;
    for (const EntryRule& r : layer.rules())
      if (rest == r.masnn) {
        *out = {layer.reference + index + "." + r.reference, r.reference_rank};
        return true;
      }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// Res-SNN names

const char* const kBnEntries[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};

// Rules for the entries of the whole net outside the stages.
const std::vector<EntryRule>& res_top_rules() {
  static const std::vector<EntryRule> rules = [] {
    std::vector<EntryRule> r = {
        {"conv1.0.weight", "stem_conv.weight", 0}, {"fc.weight", "fc.weight", 0}, {"fc.bias", "fc.bias", 0}};
    for (const char* w : kBnEntries) r.push_back({std::string("conv1.1.bn.") + w, std::string("stem_bn.") + w, 0});
    return r;
  }();
  return rules;
}

// Rules for the entries of one block, after "conv<k>_x.<b>." / "stages.<k>.<b>.".
const std::vector<EntryRule>& res_block_rules() {
  static const std::vector<EntryRule> rules = [] {
    std::vector<EntryRule> r = {
        {"residual_function.1.weight", "conv1.weight", 0},
        {"residual_function.4.weight", "conv2.weight", 0},
        {"residual_function.6.attention.ta.sharedMLP.0.weight", "attention.ta.mlp.fc1.weight", 5},  // Conv3d
        {"residual_function.6.attention.ta.sharedMLP.2.weight", "attention.ta.mlp.fc2.weight", 5},
        {"residual_function.6.attention.ca.sharedMLP.0.weight", "attention.ca.mlp.fc1.weight", 5},
        {"residual_function.6.attention.ca.sharedMLP.2.weight", "attention.ca.mlp.fc2.weight", 5},
        {"residual_function.6.attention.sa.conv.weight", "attention.sa.conv.weight", 0},
        {"shortcut.1.weight", "shortcut_conv.weight", 0}};
    for (const char* w : kBnEntries) {
      r.push_back({std::string("residual_function.2.bn.") + w, std::string("bn1.") + w, 0});
      r.push_back({std::string("residual_function.5.bn.") + w, std::string("bn2.") + w, 0});
      r.push_back({std::string("shortcut.2.bn.") + w, std::string("shortcut_bn.") + w, 0});
    }
    return r;
  }();
  return rules;
}

bool res_reference_to_masnn(const std::string& ref, Translation* out) {
  for (const EntryRule& r : res_top_rules())
    if (ref == r.reference) {
      *out = {r.masnn, r.reference_rank};
      return true;
    }
  std::string stage, rest, block, entry;
  if (!split_layer(ref, "conv", "_x.", &stage, &rest) || !split_layer(rest, "", ".", &block, &entry)) return false;
  if (stage.size() > 6) return false;  // no such network; keeps stoll in range
  const long long k = std::stoll(stage);
  if (k < 2) return false;
  for (const EntryRule& r : res_block_rules())
    if (entry == r.reference) {
      *out = {"stages." + std::to_string(k - 2) + "." + block + "." + r.masnn, r.reference_rank};
      return true;
    }
  return false;
}

bool res_masnn_to_reference(const std::string& name, Translation* out) {
  for (const EntryRule& r : res_top_rules())
    if (name == r.masnn) {
      *out = {r.reference, r.reference_rank};
      return true;
    }
  std::string stage, rest, block, entry;
  if (!split_layer(name, "stages.", ".", &stage, &rest) || !split_layer(rest, "", ".", &block, &entry)) return false;
  if (stage.size() > 6) return false;
  for (const EntryRule& r : res_block_rules())
    if (entry == r.masnn) {
      *out = {"conv" + std::to_string(std::stoll(stage) + 2) + "_x." + block + "." + r.reference, r.reference_rank};
      return true;
    }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// The conversion, for either family

std::string shape(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

using Translate = bool (*)(const std::string&, Translation*);

// What the conversion needs to know of one network family.
struct Family {
  const char* model;  ///< "DvsNet" or "ResSnn", in messages
  Translate to_masnn, to_reference;
  std::string description;     ///< the network being converted, e.g. "a DvsNet with 3 conv layers, ..."
  std::string expected_keys;   ///< what the reference's entries look like, for an unknown key
  std::string attention_name;  ///< the net's attention type, for a missing attention entry
  std::string unit_prefix;     ///< masnn names of a repeated unit start so: "convs." / "stages."
  int unit_parts;              ///< dot-separated parts naming one unit: convs.0 (2), stages.1.0 (3)
  std::string unit_hint;       ///< why, when a whole unit is missing
};

// "stages.1.0.bn1.weight" -> "stages.1.0." for 3 parts; "" when the name has fewer parts.
std::string unit_of(const std::string& name, int parts) {
  size_t pos = 0;
  for (int i = 0; i < parts; ++i) {
    pos = name.find('.', pos);
    if (pos == std::string::npos) return "";
    ++pos;
  }
  return name.substr(0, pos);
}

void check_expressible(const LayerAttention& a, const LIFOptions& lif, const char* model) {
  if (a.type.any() && a.placement != AttentionPlacement::ConvPost)
    throw std::invalid_argument(std::string("reference weights: the reference code has only the conv-post attention "
                                            "placement; this ") +
                                model + " uses " + to_string(a.placement) +
                                " (set the attention placement to conv-post)");
  if (a.per_step && (a.type.channel || a.type.spatial))
    throw std::invalid_argument(
        "reference weights: the reference computes CA and SA over all time steps; per-step CA/SA (the paper's "
        "variant) has no reference counterpart");
  if (lif.learnable_decay())
    throw std::invalid_argument(std::string("reference weights: the reference neuron has a fixed decay; a ") + model +
                                " with learnable decay has no reference counterpart");
}

Family dvs_family(const DvsNetOptions& o) {
  std::ostringstream s;
  s << "a DvsNet with " << o.channels().size() << " conv layers, " << o.hidden().size() + 1 << " fc layers, attention "
    << o.attention().type.name() << ", T = " << o.steps();
  return {"DvsNet",
          dvs_reference_to_masnn,
          dvs_masnn_to_reference,
          s.str(),
          "the entries of the reference DVS network (convAttLIF<i>.{conv2d, BNLayer, attention.ta, attention.ca, "
          "attention.sa}.*, FC<j>.{linear, BNLayer, attention.ta}.*)",
          o.attention().type.name(),
          "convs.",
          2,
          "the reference has no entry of that conv layer: check the number of conv layers"};
}

Family res_family(const ResSnnOptions& o) {
  std::ostringstream s;
  s << "a ResSnn with blocks " << c10::IntArrayRef(o.blocks()) << ", widths " << c10::IntArrayRef(o.widths())
    << ", attention " << o.attention().type.name() << ", T = " << o.steps() << ", " << o.num_classes() << " classes";
  return {"ResSnn",
          res_reference_to_masnn,
          res_masnn_to_reference,
          s.str(),
          "the entries of the reference Res-SNN (conv1.{0,1.bn}.*, conv<k>_x.<b>.residual_function.{1,2.bn,4,5.bn,"
          "6.attention}.*, conv<k>_x.<b>.shortcut.{1,2.bn}.*, fc.*)",
          o.attention().type.name(),
          "stages.",
          3,
          "the reference has no entry of that block: check the depth (blocks per stage: res-snn-18 [2,2,2,2], -34 "
          "[3,4,6,3], -104 [3,8,32,8])"};
}

std::map<std::string, torch::Tensor> entries(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> all;
  for (const auto& p : module.named_parameters(true)) all[p.key()] = p.value();
  for (const auto& b : module.named_buffers(true)) all[b.key()] = b.value();
  return all;
}

std::map<std::string, torch::Tensor> from_reference(const std::map<std::string, torch::Tensor>& reference,
                                                    const std::map<std::string, torch::Tensor>& expected,
                                                    const Family& f) {
  const std::string model = f.model;
  std::map<std::string, torch::Tensor> out;
  for (const auto& [key, value] : reference) {
    Translation tr;
    if (!f.to_masnn(key, &tr)) {
      std::string why = "reference weights: unknown key '" + key + "'; expected " + f.expected_keys;
      if (key.find(".network.") != std::string::npos)
        why += "; trained neuron constants (pa_train_self=True) are not supported";
      throw std::runtime_error(why);
    }
    auto it = expected.find(tr.name);
    if (it == expected.end())
      throw std::runtime_error("reference weights: unexpected key '" + key + "' (" + model + " '" + tr.name +
                               "'): " + f.description + " has no such entry; check the network and the attention type");
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
      std::string why = "reference weights: key '" + key + "' (" + model + " '" + tr.name + "') has shape " +
                        shape(value.sizes()) + ", " + f.description + " expects " + shape(it->second.sizes()) +
                        (tr.reference_rank ? " (as a Linear weight)" : "");
      if (tr.name.find(".attention.ta.") != std::string::npos)
        why += "; T (steps) and t_ratio must be the reference's";
      else if (tr.name.find(".attention.ca.") != std::string::npos)
        why += "; c_ratio must be the reference's";
      else if (tr.name.rfind("fc.", 0) == 0)
        why += "; the number of classes must be the reference's";
      else if (tr.name.rfind("stem_conv.", 0) == 0)
        why += "; the input channels and the stem must be the reference's";
      throw std::runtime_error(why);
    }
    out[tr.name] = t;
  }
  for (const auto& [name, tensor] : expected) {
    if (out.count(name)) continue;
    Translation tr;
    const std::string ref = f.to_reference(name, &tr) ? tr.name : std::string("?");
    std::string why = "reference weights: missing key '" + ref + "' (" + model + " '" + name + "', shape " +
                      shape(tensor.sizes()) + ") needed by " + f.description;
    const std::string unit = name.rfind(f.unit_prefix, 0) == 0 ? unit_of(name, f.unit_parts) : std::string();
    bool unit_present = false;
    for (const auto& [k, v] : out) unit_present = unit_present || (!unit.empty() && k.rfind(unit, 0) == 0);
    if (!unit.empty() && !unit_present)
      why += "; " + f.unit_hint;
    else if (name.find(".running_") != std::string::npos || name.find(".num_batches_tracked") != std::string::npos)
      why += "; a reference trained with track_running_stats=False keeps no BN statistics, which eval needs";
    else if (name.find(".attention.") != std::string::npos)
      why += "; was the reference trained with attention " + f.attention_name + "?";
    throw std::runtime_error(why);
  }
  return out;
}

std::map<std::string, torch::Tensor> to_reference(const torch::nn::Module& net, const Family& f) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, tensor] : entries(net)) {
    Translation tr;
    if (!f.to_reference(name, &tr))
      throw std::invalid_argument("reference weights: " + std::string(f.model) + " entry '" + name +
                                  "' has no reference counterpart");
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

}  // namespace

std::map<std::string, torch::Tensor> dvs_net_from_reference(const std::map<std::string, torch::Tensor>& reference,
                                                            const DvsNetOptions& options) {
  check_expressible(options.attention(), options.lif(), "DvsNet");
  DvsNet net(options);
  return from_reference(reference, entries(*net), dvs_family(options));
}

std::map<std::string, torch::Tensor> dvs_net_to_reference(const DvsNet& net) {
  check_expressible(net->options.attention(), net->options.lif(), "DvsNet");
  return to_reference(*net, dvs_family(net->options));
}

std::map<std::string, torch::Tensor> res_snn_from_reference(const std::map<std::string, torch::Tensor>& reference,
                                                            const ResSnnOptions& options) {
  check_expressible(options.attention(), options.lif(), "ResSnn");
  ResSnn net(options);  // for the expected names and shapes
  return from_reference(reference, entries(*net), res_family(options));
}

std::map<std::string, torch::Tensor> res_snn_to_reference(const ResSnn& net) {
  check_expressible(net->options.attention(), net->options.lif(), "ResSnn");
  return to_reference(*net, res_family(net->options));
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

namespace {
[[noreturn]] void no_reference_network(const std::string& what) {
  throw std::invalid_argument(what +
                              ": only the DVS networks and the Res-SNNs can be imported from or exported to the "
                              "reference");
}
}  // namespace

void load_reference_state(torch::nn::Module& model, const std::map<std::string, torch::Tensor>& reference,
                          const std::string& what) {
  if (auto* res = dynamic_cast<ResSnnImpl*>(&model))
    load_state_dict(model, res_snn_from_reference(reference, res->options));
  else if (auto* dvs = dynamic_cast<DvsNetImpl*>(&model))
    load_state_dict(model, dvs_net_from_reference(reference, dvs->options));
  else
    no_reference_network(what);
}

std::map<std::string, torch::Tensor> to_reference_state(torch::nn::Module& model, const std::string& what) {
  const auto self = model.shared_from_this();
  if (auto res = std::dynamic_pointer_cast<ResSnnImpl>(self)) return res_snn_to_reference(ResSnn(res));
  if (auto dvs = std::dynamic_pointer_cast<DvsNetImpl>(self)) return dvs_net_to_reference(DvsNet(dvs));
  no_reference_network(what);
}

}  // namespace masnn
