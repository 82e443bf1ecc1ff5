#include "masnn/analysis/energy.h"

#include <fmt/format.h>
#include <torch/torch.h>

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
  if (!std::isfinite(e_mac_pj) || e_mac_pj < 0)
    throw std::invalid_argument(fmt::format("e_mac_pj: expected a finite energy >= 0 (pJ), got {}", e_mac_pj));
  if (!std::isfinite(e_ac_pj) || e_ac_pj < 0)
    throw std::invalid_argument(fmt::format("e_ac_pj: expected a finite energy >= 0 (pJ), got {}", e_ac_pj));
}

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

DvsNetRecorder::DvsNetRecorder(DvsNetImpl& net) : net_(net) {
  // DvsNet's wiring (see the class comment): convs.0.conv reads frames (spikes or not: decided in forward).
  for (size_t i = 0; i < net_.convs->size(); ++i) {
    LayerInput in;
    in.name = fmt::format("convs.{}.conv", i);
    in.spikes = i > 0;
    inputs_.push_back(in);
    BlockOutput out;
    out.name = fmt::format("convs.{}.lif", i);
    outputs_.push_back(out);
  }
  for (size_t i = 0; i < net_.fcs->size(); ++i) {
    LayerInput in;
    in.name = fmt::format("fcs.{}.linear", i);
    in.spikes = true;
    inputs_.push_back(in);
    BlockOutput out;
    out.name = fmt::format("fcs.{}.lif", i);
    outputs_.push_back(out);
  }
  last_outputs_.resize(outputs_.size());
}

void DvsNetRecorder::record_output(size_t index, const torch::Tensor& spikes) {
  // spikes [T,B,...] -> per step, per neuron.
  BlockOutput& o = outputs_[index];
  last_outputs_[index] = spikes;
  const int64_t steps = spikes.size(0), batch = spikes.size(1);
  const torch::Tensor flat = spikes.reshape({steps, batch, -1}).ne(0);
  const int64_t neurons = flat.size(2);
  if (o.samples == 0) {
    o.neurons = neurons;
    o.steps = steps;
    o.spikes_per_step.assign(static_cast<size_t>(steps), 0.0);
    o.fired = torch::zeros({neurons}, torch::kBool);
  }
  TORCH_CHECK(o.neurons == neurons && o.steps == steps, "DvsNetRecorder: ", o.name, " changed shape between calls");
  const torch::Tensor per_step = flat.sum({1, 2}, false, torch::kLong);
  const auto acc = per_step.accessor<int64_t, 1>();
  for (int64_t t = 0; t < steps; ++t) {
    o.spikes_per_step[static_cast<size_t>(t)] += static_cast<double>(acc[t]);
    o.spikes += static_cast<double>(acc[t]);
  }
  const torch::Tensor per_neuron = flat.any(0);  // [B,neurons]: fired during this sample
  o.silent += static_cast<double>(batch * neurons - per_neuron.sum(torch::kLong).item<int64_t>());
  o.fired = o.fired.logical_or(per_neuron.any(0));
  o.samples += batch;
}

torch::Tensor DvsNetRecorder::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 5, "DvsNetRecorder: input must be [T,B,C,H,W], got ", x.sizes());
  const int64_t batch = x.size(1);
  // Adds what enters layer `index` (its input tensor, [T,B,...]).
  auto add_input = [&](size_t index, const torch::Tensor& in, double ops) {
    LayerInput& l = inputs_[index];
    l.nonzero += l.spikes ? in.to(torch::kDouble).sum().item<double>()
                          : static_cast<double>(in.ne(0).sum(torch::kLong).item<int64_t>());
    l.elements += static_cast<double>(in.numel());
    l.synaptic_ops += ops;
    l.samples += batch;
  };
  // Frames of event counts (non-negative integers) are spikes: the first conv then does ACs, one per event and
  // target, as every later layer does (REFERENCE.md 5). Normalised (real-valued) frames cost MACs.
  inputs_[0].spikes = (x >= 0).all().item<bool>() && x.eq(x.round()).all().item<bool>();
  torch::Tensor y = x;
  size_t index = 0;
  for (size_t i = 0; i < net_.convs->size(); ++i, ++index) {
    auto& block = net_.convs->at<SpikingConvBlockImpl>(i);
    add_input(index, y, inputs_[index].spikes ? conv_synaptic_ops(*block.conv, y) : 0.0);
    y = block.forward(y);
    record_output(index, y);
  }
  y = y.flatten(2);  // [T,B,C*H*W], as DvsNetImpl::forward does
  for (size_t i = 0; i < net_.fcs->size(); ++i, ++index) {
    auto& block = net_.fcs->at<SpikingLinearBlockImpl>(i);
    add_input(index, y, linear_synaptic_ops(*block.linear, y));
    y = block.forward(y);
    record_output(index, y);
  }
  return y.mean(0);
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
    EnergyTotals& t = r.total;
    t.dense_macs += e.dense_macs;
    t.macs += e.macs;
    t.synaptic_ops += e.synaptic_ops;
    t.estimated_ops += e.estimated_ops;
    t.snn_energy_pj += e.snn_energy_pj;
    t.snn_energy_estimate_pj += e.snn_energy_estimate_pj;
    t.ann_energy_pj += e.ann_energy_pj;
    r.layers.push_back(e);
  }
  r.total.ann_to_snn = r.total.snn_energy_pj > 0 ? r.total.ann_energy_pj / r.total.snn_energy_pj
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
