// The energy model of the paper (REFERENCE.md 5 and 6), layer by layer.
//
// A layer fed with real values does MACs (E_MAC each): the first conv (its input is event frames, treated as
// the paper treats an encoding layer) and every attention layer (TA/CA shared MLPs, SA conv). A layer fed with
// spikes does accumulates (E_AC each), one per synapse a spike reaches: its synaptic operations.
//   exact     = sum over input spikes of the outputs each one reaches (conv: valid output positions it touches
//               x Cout/groups, border effects included; linear: out_features)
//   estimate  = input firing rate x dense MACs  (the paper's "firing rate x T x FLOPs"; dense MACs include T)
// Every figure is per sample (one network input of T time steps). BN folds into the conv and costs nothing.
// The ANN energy of a layer is its dense MACs x E_MAC (the same network with real-valued activations).
//
// That model counts computation only. Beside it, the memory model of Lemaire et al. 2022 ("An analytical estimation
// of spiking neural networks energy efficiency", ICONIP; the model SpikingJelly's op_counter and Qualia follow) adds
// the memory accesses, each costing what an access to a memory of that data's size costs (Horowitz, ISSCC 2014,
// 45 nm, a 64-bit access: SRAM of 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ, linear in between, 10 pJ below 8 KB;
// DRAM 1.3-2.6 nJ, its middle 1.95 nJ, above 1 MB). Every value is 4 bytes; each layer keeps its own memories:
//   SNN, a spike-fed layer: a weight read per synaptic operation; a membrane-potential read and write per synaptic
//     operation and per neuron and time step (the update: leak, fire, reset), plus a bias read per neuron and step;
//     a spike written by the layer before and read by this one per input spike (a FIFO of spike_fifo_bytes).
//   SNN, a layer with real-valued input (the first conv, attention): as the ANN's layer below; a conv or linear
//     layer feeding neurons adds their membrane update (a read and a write per neuron and step).
//   ANN: per MAC a weight read and, for a conv, an input read (no reuse, as Lemaire et al.), for a linear layer an
//     input read per input and application; a bias read and an output write per output and application.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/analysis/operation_count.h"
#include "masnn/util/monitor.h"

namespace masnn::analysis {

/// Energy per operation and per memory access, in picojoules (45 nm CMOS, Horowitz 2014).
struct EnergyOptions {
  double e_mac_pj = 4.6;  ///< one multiply-accumulate
  double e_ac_pj = 0.9;   ///< one accumulate (a spike reaching a synapse)
  /// Memory model: an access to an SRAM of 8 KB, 32 KB, 1 MB (linear in between), and to DRAM (data over 1 MB).
  double sram_8kb_pj = 10, sram_32kb_pj = 20, sram_1mb_pj = 100, dram_pj = 1950;
  int64_t bytes_per_value = 4;      ///< weights, potentials, activations and spikes as 32-bit values
  int64_t spike_fifo_bytes = 4000;  ///< the FIFO spikes pass through between layers (SpikingJelly's 1000 values)
  /// Throws std::invalid_argument naming the field when a value is negative or not finite.
  void validate() const;
  /// The energy of one access to a value held in a memory of `bytes` bytes.
  double access_pj(double bytes) const;
};

/// Memory accesses of one layer per sample, and their energy.
struct MemoryAccesses {
  double weight_reads = 0;        ///< weights (and biases) read
  double potential_accesses = 0;  ///< membrane potentials read and written (SNN)
  double activation_accesses = 0; ///< real-valued inputs read and outputs written
  double spike_accesses = 0;      ///< spikes written and read (SNN)
  double energy_pj = 0;           ///< the accesses, each at the energy of its memory's size
};

/// Fan-out map of a 2-D convolution over an input of height x width: [height,width] float64, entry (h,w) = the
/// (output position, kernel tap) pairs that read input position (h,w), i.e. the output positions of ONE output
/// channel that an input at (h,w) reaches. Honours stride, dilation, explicit and 'same' padding. Throws
/// std::invalid_argument for a padding mode other than zeros (reflect/circular reuse inputs at the border).
torch::Tensor conv_fan_out(const torch::nn::Conv2dImpl& conv, int64_t height, int64_t width);

/// Exact synaptic operations of `conv` fed with `spikes` [...,C_in,H,W] (any leading dims, e.g. [T,B]):
/// each input value is a number of spikes (1 for a LIF spike, the event count of a DVS frame cell); sum over spikes
/// of fan_out(h,w) x C_out/groups.
double conv_synaptic_ops(const torch::nn::Conv2dImpl& conv, const torch::Tensor& spikes);

/// Exact synaptic operations of `linear` fed with `spikes` [...,in_features]: spikes (sum of the values) x
/// out_features.
double linear_synaptic_ops(const torch::nn::LinearImpl& linear, const torch::Tensor& spikes);

/// What entered one conv or linear layer over the inputs seen (sums, not yet per sample).
struct LayerInput {
  std::string name;         ///< the layer, as LayerOperations::name (e.g. convs.1.conv, stages.0.1.conv2)
  bool spikes = true;       ///< fed with spikes (costs ACs) or with real values (costs MACs)
  double nonzero = 0;       ///< spike-fed: spikes entering (event counts summed); otherwise non-zero elements
  double elements = 0;      ///< input elements (T x input size, per sample, summed over samples)
  double synaptic_ops = 0;  ///< exact synaptic operations (spike-fed layers; 0 otherwise)
  int64_t samples = 0;      ///< network inputs (samples of T steps) seen
};

/// Records what enters every synaptic layer (conv, linear) of the network it is attached to, from the layers' own
/// reports (masnn/util/monitor.h), so it works on any network. An input is spikes (ACs) when its layer says it is
/// fed by neurons (SynapseEvent::Kind::Spikes), or when the network's input frames hold event counts (Kind::Frames
/// of non-negative integers: a DVS network's first conv, REFERENCE.md 5); real values (normalised images, a residual
/// block's membrane shortcut, a head's firing rates) cost MACs.
class SynapseRecorder : public Monitor {
 public:
  void on_synapse(const std::string& name, const SynapseEvent& event) override;
  /// Per synaptic layer, in the order they first ran.
  const std::vector<LayerInput>& inputs() const { return inputs_; }

 private:
  std::vector<LayerInput> inputs_;
};

/// Energy and operations of one layer, per sample.
struct LayerEnergy {
  std::string name;                   ///< e.g. convs.1.conv, convs.0.attention.ca.mlp.fc1
  std::string block;                  ///< the block holding it (LayerOperations::block)
  std::string kind;                   ///< conv2d, linear, attention-mlp, attention-conv
  bool spike_input = false;           ///< true: costs ACs (synaptic operations); false: costs MACs
  double dense_macs = 0;              ///< dense-equivalent MACs (operation_count.h)
  double input_firing_rate = 0;       ///< spike-fed: input spikes / input elements; MAC layers: non-zero fraction
                                      ///< of the input when recorded (first conv), else NaN (not measured)
  double input_spikes = 0;            ///< spike-fed: input spikes; 0 otherwise
  double synaptic_ops = 0;            ///< spike-fed: exact ACs; 0 otherwise
  double estimated_ops = 0;           ///< spike-fed: input_firing_rate x dense_macs (the paper's estimate); 0 otherwise
  double macs = 0;                    ///< MACs done: dense_macs for MAC layers, 0 for spike-fed layers
  double snn_energy_pj = 0;           ///< macs x E_MAC + synaptic_ops x E_AC
  double snn_energy_estimate_pj = 0;  ///< macs x E_MAC + estimated_ops x E_AC
  double ann_energy_pj = 0;           ///< dense_macs x E_MAC
  MemoryAccesses snn_memory;          ///< the SNN's memory accesses (Lemaire et al.'s model)
  MemoryAccesses ann_memory;          ///< the same layer's in the ANN
};

/// Sums over the layers, per sample.
struct EnergyTotals {
  double dense_macs = 0, macs = 0, synaptic_ops = 0, estimated_ops = 0;
  double snn_energy_pj = 0, snn_energy_estimate_pj = 0, ann_energy_pj = 0;
  double ann_to_snn = 0;  ///< ann_energy_pj / snn_energy_pj (infinity when the SNN costs nothing)
  /// With memory: compute (the paper's model) + memory accesses (Lemaire et al.'s).
  double snn_memory_pj = 0, ann_memory_pj = 0;
  double snn_with_memory_pj = 0, ann_with_memory_pj = 0;
  double ann_to_snn_with_memory = 0;  ///< ann_with_memory_pj / snn_with_memory_pj
};

struct EnergyReport {
  EnergyOptions options;
  std::vector<LayerEnergy> layers;  ///< in forward order (as count_operations lists them)
  EnergyTotals total;
};

/// The energy model over the layers of `operations` (count_operations) with what entered them (`inputs`, sums
/// over `inputs[i].samples` samples). A layer without an entry in `inputs` (attention) costs its dense MACs.
/// Throws std::invalid_argument for an input naming no layer of `operations` or recorded over 0 samples.
EnergyReport energy_model(const std::vector<LayerOperations>& operations, const std::vector<LayerInput>& inputs,
                          const EnergyOptions& options = {});

/// A model against a base (REFERENCE.md 6): dE = E_MAC x dMAC - E_AC x dAC, dMAC = MACs added (model - base),
/// dAC = ACs removed (base - model); rEE = E_base / (E_base + dE), which equals E_base / E_model.
struct EnergyComparison {
  double delta_macs = 0;                    ///< MACs added by the model
  double delta_acs = 0;                     ///< ACs (exact synaptic operations) removed by the model
  double delta_energy_pj = 0;               ///< dE
  double relative_efficiency = 0;           ///< rEE with exact synaptic operations
  double relative_efficiency_estimate = 0;  ///< rEE with the paper's estimate of the ACs
};

/// rEE = base_energy / (base_energy + dE) with dE = E_MAC x delta_macs - E_AC x delta_acs.
double relative_energy_efficiency(double base_energy_pj, double delta_macs, double delta_acs,
                                  const EnergyOptions& options = {});

/// Compares the totals of two runs of the energy model (both computed with `options`).
EnergyComparison compare_energy(const EnergyTotals& base, const EnergyTotals& model, const EnergyOptions& options = {});

}  // namespace masnn::analysis
