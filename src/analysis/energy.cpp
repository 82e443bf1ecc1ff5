#include "masnn/analysis/energy.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "compat/torch_variant.h"

namespace masnn::analysis {
namespace {

// How many (output position, kernel tap) pairs read input index i along one dimension of length n.
std::vector<double> fan_out_1d(int64_t n, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_left,
                               int64_t outputs) {
  std::vector<double> f(static_cast<size_t>(n), 0.0);
  for (int64_t o = 0; o < outputs; ++o)
    for (int64_t j = 0; j < kernel; ++j) {
      const int64_t i = o * stride - pad_left + j * dilation;
      if (i >= 0 && i < n) f[static_cast<size_t>(i)] += 1;
    }
  return f;
}

torch::Tensor as_tensor(const std::vector<double>& v) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kDouble));
}

}  // namespace

void EnergyOptions::validate() const {
  const std::pair<const char*, double> energies[] = {{"e_mac_pj", e_mac_pj},         {"e_ac_pj", e_ac_pj},
                                                     {"sram_8kb_pj", sram_8kb_pj},   {"sram_32kb_pj", sram_32kb_pj},
                                                     {"sram_1mb_pj", sram_1mb_pj},   {"dram_pj", dram_pj}};
  for (const auto& [name, value] : energies)
    if (!std::isfinite(value) || value < 0)
      throw std::invalid_argument(fmt::format("{}: expected a finite energy >= 0 (pJ), got {}", name, value));
  if (bytes_per_value < 1) throw std::invalid_argument(fmt::format("bytes_per_value: expected >= 1, got {}", bytes_per_value));
  if (spike_fifo_bytes < 1)
    throw std::invalid_argument(fmt::format("spike_fifo_bytes: expected >= 1, got {}", spike_fifo_bytes));
}

double EnergyOptions::access_pj(double bytes) const {
  constexpr double k8 = 8 * 1024.0, k32 = 32 * 1024.0, m1 = 1024 * 1024.0;
  if (bytes <= k8) return sram_8kb_pj;
  if (bytes <= k32) return sram_8kb_pj + (sram_32kb_pj - sram_8kb_pj) * (bytes - k8) / (k32 - k8);
  if (bytes <= m1) return sram_32kb_pj + (sram_1mb_pj - sram_32kb_pj) * (bytes - k32) / (m1 - k32);
  return dram_pj;
}

namespace {

double product(const std::vector<int64_t>& shape) {
  double n = 1;
  for (const int64_t d : shape) n *= static_cast<double>(d);
  return n;
}

// A layer with real-valued input (every layer of the ANN, and the SNN's MAC layers), per sample.
MemoryAccesses mac_layer_memory(const LayerOperations& op, const EnergyOptions& o) {
  const double value = static_cast<double>(o.bytes_per_value), macs = static_cast<double>(op.macs);
  const double apps = static_cast<double>(op.applications), in = product(op.input_shape), out = product(op.output_shape);
  const bool conv = op.kind == "conv2d" || op.kind == "attention-conv";
  MemoryAccesses m;
  m.weight_reads = macs + out * apps;                           // a weight per MAC, a bias per output
  const double input_reads = conv ? macs : in * apps, output_writes = out * apps;
  m.activation_accesses = input_reads + output_writes;
  m.energy_pj = m.weight_reads * o.access_pj(static_cast<double>(op.params) * value) +
                input_reads * o.access_pj(in * value) + output_writes * o.access_pj(out * value);
  return m;
}

// The membrane update of the neurons a conv or linear layer feeds: a potential read and write per neuron and step.
void add_neuron_update(MemoryAccesses& m, const LayerOperations& op, const EnergyOptions& o) {
  const double neurons = product(op.output_shape), accesses = 2 * neurons * static_cast<double>(op.applications);
  m.potential_accesses += accesses;
  m.energy_pj += accesses * o.access_pj(neurons * static_cast<double>(o.bytes_per_value));
}

// A spike-fed layer of the SNN, per sample.
MemoryAccesses spike_layer_memory(const LayerOperations& op, const LayerEnergy& e, const EnergyOptions& o) {
  const double value = static_cast<double>(o.bytes_per_value), neurons = product(op.output_shape);
  const double steps = static_cast<double>(op.applications);
  MemoryAccesses m;
  m.weight_reads = e.synaptic_ops + neurons * steps;  // a weight per synaptic operation, a bias per neuron and step
  m.potential_accesses = 2 * e.synaptic_ops;          // the update per neuron and step: add_neuron_update
  m.spike_accesses = 2 * e.input_spikes;              // written by the layer before, read here
  m.energy_pj = m.weight_reads * o.access_pj(static_cast<double>(op.params) * value) +
                m.potential_accesses * o.access_pj(neurons * value) +
                m.spike_accesses * o.access_pj(static_cast<double>(o.spike_fifo_bytes));
  add_neuron_update(m, op, o);
  return m;
}

}  // namespace

torch::Tensor conv_fan_out(const torch::nn::Conv2dImpl& conv, int64_t height, int64_t width) {
  const auto& o = conv.options;
  if (!compat::get_if<torch::enumtype::kZeros>(&o.padding_mode()))
    throw std::invalid_argument("conv: exact synaptic operations need zero padding, got padding mode " +
                                torch::enumtype::get_enum_name(o.padding_mode()));
  if (height < 1 || width < 1)
    throw std::invalid_argument(fmt::format("conv: input must be at least 1x1, got {}x{}", height, width));
  std::vector<double> f[2];
  const int64_t sides[2] = {height, width};
  for (size_t d = 0; d < 2; ++d) {
    const int64_t n = sides[d], k = o.kernel_size()->at(d), s = o.stride()->at(d), dil = o.dilation()->at(d);
    int64_t pad_left = 0, outputs = 0;
    if (compat::get_if<torch::enumtype::kSame>(&o.padding())) {
      pad_left = dil * (k - 1) / 2;  // PyTorch puts the odd extra pad on the right
      outputs = n;
    } else {
      if (const auto* p = compat::get_if<torch::ExpandingArray<2>>(&o.padding())) pad_left = (*p)->at(d);
      outputs = (n + 2 * pad_left - dil * (k - 1) - 1) / s + 1;
    }
    f[d] = fan_out_1d(n, k, s, dil, pad_left, std::max<int64_t>(outputs, 0));
  }
  return torch::outer(as_tensor(f[0]), as_tensor(f[1]));
}

double conv_synaptic_ops(const torch::nn::Conv2dImpl& conv, const torch::Tensor& spikes) {
  const auto& o = conv.options;
  TORCH_CHECK(spikes.dim() >= 3 && spikes.size(-3) == o.in_channels(), "conv_synaptic_ops: spikes must be [...,",
              o.in_channels(), ",H,W], got ", spikes.sizes());
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < spikes.dim() - 2; ++d) dims.push_back(d);
  // Spikes per input position, summed over every leading dim and the channels: [H,W].
  // Each value is a number of spikes: 1 for a LIF spike, the event count for DVS frames.
  const torch::Tensor per_position = spikes.to(torch::kDouble).sum(dims, /*keepdim=*/false);
  const torch::Tensor fan_out = conv_fan_out(conv, spikes.size(-2), spikes.size(-1));
  const double per_channel = (per_position * fan_out).sum().item<double>();
  return per_channel * static_cast<double>(o.out_channels() / o.groups());
}

double linear_synaptic_ops(const torch::nn::LinearImpl& linear, const torch::Tensor& spikes) {
  TORCH_CHECK(spikes.dim() >= 1 && spikes.size(-1) == linear.options.in_features(),
              "linear_synaptic_ops: spikes must be [...,", linear.options.in_features(), "], got ", spikes.sizes());
  return spikes.to(torch::kDouble).sum().item<double>() * static_cast<double>(linear.options.out_features());
}

// ---------------------------------------------------------------------------------------------------------------

void SynapseRecorder::on_synapse(const std::string& name, const SynapseEvent& event) {
  auto it = std::find_if(inputs_.begin(), inputs_.end(), [&](const LayerInput& l) { return l.name == name; });
  if (it == inputs_.end()) {
    inputs_.emplace_back();
    it = inputs_.end() - 1;
    it->name = name;
  }
  LayerInput& l = *it;
  const torch::Tensor& in = event.input;
  // Frames of event counts (non-negative integers) are spikes: the layer then does ACs, one per event and target,
  // as every layer fed by neurons does (REFERENCE.md 5). Real values (normalised frames, images) cost MACs.
  using Kind = SynapseEvent::Kind;
  l.spikes = event.kind == Kind::Spikes ||
             (event.kind == Kind::Frames && (in >= 0).all().item<bool>() && in.eq(in.round()).all().item<bool>());
  l.nonzero += l.spikes ? in.to(torch::kDouble).sum().item<double>()
                        : static_cast<double>(in.ne(0).sum(torch::kLong).item<int64_t>());
  l.elements += static_cast<double>(in.numel());
  if (l.spikes) {
    if (const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(event.layer))
      l.synaptic_ops += conv_synaptic_ops(*conv, in);
    else if (const auto* linear = dynamic_cast<const torch::nn::LinearImpl*>(event.layer))
      l.synaptic_ops += linear_synaptic_ops(*linear, in);
    else
      throw std::invalid_argument("energy: synaptic layer " + name + " is neither a Conv2d nor a Linear");
  }
  l.samples += event.time_major ? in.size(1) : in.size(0);
}

// ---------------------------------------------------------------------------------------------------------------

EnergyReport energy_model(const std::vector<LayerOperations>& operations, const std::vector<LayerInput>& inputs,
                          const EnergyOptions& options) {
  options.validate();
  std::map<std::string, const LayerInput*> by_name;
  for (const auto& in : inputs) {
    bool known = false;
    for (const auto& op : operations) known = known || op.name == in.name;
    if (!known)
      throw std::invalid_argument("energy model: input recorded for '" + in.name +
                                  "', not a layer of the "
                                  "operation count");
    if (in.samples <= 0)
      throw std::invalid_argument("energy model: the input of '" + in.name + "' was recorded over 0 samples");
    by_name[in.name] = &in;
  }
  EnergyReport r;
  r.options = options;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& op : operations) {
    LayerEnergy e;
    e.name = op.name;
    e.block = op.block;
    e.kind = op.kind;
    e.dense_macs = static_cast<double>(op.macs);
    e.input_firing_rate = nan;
    const auto it = by_name.find(op.name);
    if (it != by_name.end()) {
      const LayerInput& in = *it->second;
      const double n = static_cast<double>(in.samples);
      e.input_firing_rate = in.elements > 0 ? in.nonzero / in.elements : 0.0;
      e.spike_input = in.spikes;
      if (in.spikes) {
        e.input_spikes = in.nonzero / n;
        e.synaptic_ops = in.synaptic_ops / n;
        e.estimated_ops = e.input_firing_rate * e.dense_macs;
      }
    }
    e.macs = e.spike_input ? 0.0 : e.dense_macs;
    e.snn_energy_pj = e.macs * options.e_mac_pj + e.synaptic_ops * options.e_ac_pj;
    e.snn_energy_estimate_pj = e.macs * options.e_mac_pj + e.estimated_ops * options.e_ac_pj;
    e.ann_energy_pj = e.dense_macs * options.e_mac_pj;
    e.ann_memory = mac_layer_memory(op, options);
    if (e.spike_input) {
      e.snn_memory = spike_layer_memory(op, e, options);
    } else {
      e.snn_memory = mac_layer_memory(op, options);
      if (op.kind == "conv2d" || op.kind == "linear") add_neuron_update(e.snn_memory, op, options);
    }
    EnergyTotals& t = r.total;
    t.snn_memory_pj += e.snn_memory.energy_pj;
    t.ann_memory_pj += e.ann_memory.energy_pj;
    t.dense_macs += e.dense_macs;
    t.macs += e.macs;
    t.synaptic_ops += e.synaptic_ops;
    t.estimated_ops += e.estimated_ops;
    t.snn_energy_pj += e.snn_energy_pj;
    t.snn_energy_estimate_pj += e.snn_energy_estimate_pj;
    t.ann_energy_pj += e.ann_energy_pj;
    r.layers.push_back(e);
  }
  EnergyTotals& t = r.total;
  t.ann_to_snn = t.snn_energy_pj > 0 ? t.ann_energy_pj / t.snn_energy_pj : std::numeric_limits<double>::infinity();
  t.snn_with_memory_pj = t.snn_energy_pj + t.snn_memory_pj;
  t.ann_with_memory_pj = t.ann_energy_pj + t.ann_memory_pj;
  t.ann_to_snn_with_memory = t.snn_with_memory_pj > 0 ? t.ann_with_memory_pj / t.snn_with_memory_pj
                                                      : std::numeric_limits<double>::infinity();
  return r;
}

double relative_energy_efficiency(double base_energy_pj, double delta_macs, double delta_acs,
                                  const EnergyOptions& options) {
  options.validate();
  const double delta_energy = options.e_mac_pj * delta_macs - options.e_ac_pj * delta_acs;
  const double model_energy = base_energy_pj + delta_energy;
  if (!(model_energy > 0))
    throw std::invalid_argument(fmt::format("relative energy efficiency: E_base + dE must be > 0, got {} + {} pJ",
                                            base_energy_pj, delta_energy));
  return base_energy_pj / model_energy;
}

EnergyComparison compare_energy(const EnergyTotals& base, const EnergyTotals& model, const EnergyOptions& options) {
  EnergyComparison c;
  c.delta_macs = model.macs - base.macs;
  c.delta_acs = base.synaptic_ops - model.synaptic_ops;
  c.delta_energy_pj = options.e_mac_pj * c.delta_macs - options.e_ac_pj * c.delta_acs;
  c.relative_efficiency = relative_energy_efficiency(base.snn_energy_pj, c.delta_macs, c.delta_acs, options);
  c.relative_efficiency_estimate = relative_energy_efficiency(base.snn_energy_estimate_pj, c.delta_macs,
                                                              base.estimated_ops - model.estimated_ops, options);
  return c;
}

}  // namespace masnn::analysis
