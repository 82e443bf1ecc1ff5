// The energy model (masnn/analysis/energy.h) on hand-counted layers, and `masnn analyze`'s library side
// (masnn/analysis/analyze.h) on a tiny checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "masnn/analysis/analyze.h"
#include "masnn/analysis/energy.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/analysis/spike_monitor.h"
#include "masnn/apps/demo.h"
#include "masnn/data/synth_gestures.h"
#include "masnn/models/dvs_net.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::expect_error;
using masnn::testing::TempDir;
using namespace masnn;
using namespace masnn::analysis;

namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t padding, int64_t stride = 1,
                       int64_t groups = 1) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).padding(padding).stride(stride).groups(groups).bias(false));
}

// 2x8x8 input -> conv 4 (pool 1) -> conv 6 (pool 2) -> fc 5 -> fc 3, T = 4, with the given neuron threshold.
DvsNet tiny_net(const std::string& attention, double threshold) {
  LayerAttention a;
  a.type = AttentionType::parse(attention);
  a.t_ratio = 2;
  a.c_ratio = 2;
  return DvsNet(DvsNetOptions()
                    .in_channels(2)
                    .input_size(8)
                    .channels({4, 6})
                    .pools({1, 2})
                    .hidden({5})
                    .num_classes(3)
                    .steps(4)
                    .attention(a)
                    .lif(LIFOptions::reference_dvs().threshold(threshold)));
}

// One forward of `net` on x (eval, no autograd) with the analysis monitors attached.
struct Recorded {
  SpikeMonitor spikes;
  SynapseRecorder synapses;
  std::vector<LayerOperations> ops;
  torch::Tensor out;
};

std::unique_ptr<Recorded> record(DvsNet& net, const torch::Tensor& x) {
  net->eval();
  torch::NoGradGuard ng;
  auto r = std::make_unique<Recorded>();
  OperationCounter counter(*net);
  {
    MonitorScope a(r->spikes, *net), b(r->synapses, *net), c(counter, *net);
    r->out = net->forward(x);
  }
  r->ops = counter.layers();
  return r;
}

}  // namespace

TEST(EnergySynapticOps, ConvSamePaddingCountsBordersByHand) {
  // 3x3, pad 1, on 4x4: an input at a corner reaches 4 output positions, at an edge 6, inside 9.
  auto c = conv(1, 2, 3, 1);
  const torch::Tensor f = conv_fan_out(*c, 4, 4);
  const torch::Tensor expected =
      torch::tensor({{4., 6., 6., 4.}, {6., 9., 9., 6.}, {6., 9., 9., 6.}, {4., 6., 6., 4.}}, torch::kDouble);
  EXPECT_TRUE(torch::equal(f, expected)) << f;
  torch::Tensor s = torch::zeros({1, 4, 4});
  s[0][0][0] = 1;                                                   // corner: 4
  s[0][0][1] = 1;                                                   // edge: 6
  s[0][1][1] = 1;                                                   // inside: 9
  s[0][3][3] = 1;                                                   // corner: 4
  EXPECT_DOUBLE_EQ(conv_synaptic_ops(*c, s), 2 * (4 + 6 + 9 + 4));  // x Cout = 2
  // Leading dims [T,B] add up; a value is a number of spikes (an event count of 2 reaches its targets twice).
  torch::Tensor tb = torch::zeros({3, 2, 1, 4, 4});
  tb[0][0] = s;
  tb[2][1][0][3][3] = 1;
  tb[1][1][0][2][2] = 2;
  EXPECT_DOUBLE_EQ(conv_synaptic_ops(*c, tb), 2 * (23 + 4 + 2 * 9));
}

TEST(EnergySynapticOps, ConvValidPaddingStrideAndGroups) {
  // 3x3, no padding, on 4x4 (2x2 outputs): per dimension fan-out [1,2,2,1].
  auto valid = conv(2, 3, 3, 0);
  EXPECT_TRUE(torch::equal(conv_fan_out(*valid, 4, 4), torch::outer(torch::tensor({1., 2., 2., 1.}, torch::kDouble),
                                                                    torch::tensor({1., 2., 2., 1.}, torch::kDouble))));
  // All inputs spiking: every tap of every output is real, so exact = dense MACs = Cout*Cin*9*Hout*Wout.
  EXPECT_DOUBLE_EQ(conv_synaptic_ops(*valid, torch::ones({2, 4, 4})), 3 * 2 * 9 * 4);
  // Stride 2, pad 1, on 4x4 (2x2 outputs): rows read by output 0 are -1,0,1 and by output 1 are 1,2,3.
  auto strided = conv(1, 1, 3, 1, 2);
  EXPECT_TRUE(torch::equal(
      conv_fan_out(*strided, 4, 4),
      torch::outer(torch::tensor({1., 2., 1., 1.}, torch::kDouble), torch::tensor({1., 2., 1., 1.}, torch::kDouble))));
  // Groups: Cin 4 -> Cout 6 in 2 groups, each input channel reaches 3 output channels.
  auto grouped = conv(4, 6, 3, 1, 1, 2);
  torch::Tensor s = torch::zeros({4, 4, 4});
  s[3][1][2] = 1;  // inside: 9 positions
  EXPECT_DOUBLE_EQ(conv_synaptic_ops(*grouped, s), 9 * 3);
  // 'same' padding equals pad 1 for 3x3.
  auto same = torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 1, 3).padding(torch::kSame));
  EXPECT_TRUE(torch::equal(conv_fan_out(*same, 5, 4), conv_fan_out(*conv(1, 1, 3, 1), 5, 4)));
  // Reflect padding reuses border inputs: refused.
  auto reflect = torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 1, 3).padding(1).padding_mode(torch::kReflect));
  EXPECT_NE(expect_error([&] { conv_fan_out(*reflect, 4, 4); }).find("zero padding"), std::string::npos);
  EXPECT_THROW(conv_synaptic_ops(*valid, torch::ones({3, 4, 4})), c10::Error);  // wrong channel count
}

TEST(EnergySynapticOps, LinearIsSpikesTimesOutFeatures) {
  torch::nn::Linear fc(5, 7);
  torch::Tensor s = torch::zeros({2, 3, 5});
  s[0][0][0] = 1;
  s[1][2][4] = 1;
  s[1][1][1] = 1;
  EXPECT_DOUBLE_EQ(linear_synaptic_ops(*fc, s), 3 * 7);
  EXPECT_DOUBLE_EQ(linear_synaptic_ops(*fc, torch::ones({4, 5})), 4 * 5 * 7);  // = dense MACs of 4 steps
}

TEST(EnergyModel, SilentNetworkCostsOnlyItsMacLayers) {
  auto net = tiny_net("TCSA", 1e9);  // no neuron ever reaches the threshold
  torch::manual_seed(0);
  const torch::Tensor x = torch::rand({4, 3, 2, 8, 8});
  const auto rec = record(net, x);
  {
    torch::NoGradGuard ng;
    EXPECT_TRUE(torch::allclose(rec->out, net->forward(x)));  // monitoring changes nothing
  }
  const auto& ops = rec->ops;
  const auto counted = count_operations(torch::nn::AnyModule(net), x);  // the same rows from its own forward
  ASSERT_EQ(ops.size(), counted.size());
  for (size_t i = 0; i < ops.size(); ++i)
    EXPECT_EQ(ops[i].name + std::to_string(ops[i].macs), counted[i].name + std::to_string(counted[i].macs));
  const EnergyReport r = energy_model(ops, rec->synapses.inputs());
  ASSERT_EQ(r.layers.size(), ops.size());
  double mac_layers = 0;
  for (const auto& e : r.layers) {
    const bool real_input = e.name == "convs.0.conv" || e.kind == "attention-mlp" || e.kind == "attention-conv";
    EXPECT_EQ(e.spike_input, !real_input) << e.name;
    EXPECT_EQ(e.synaptic_ops, 0) << e.name;
    EXPECT_EQ(e.estimated_ops, 0) << e.name;
    if (real_input) {
      EXPECT_EQ(e.macs, e.dense_macs) << e.name;
      mac_layers += e.dense_macs;
    } else {
      EXPECT_EQ(e.snn_energy_pj, 0) << e.name;
      EXPECT_EQ(e.input_firing_rate, 0) << e.name;
    }
    EXPECT_DOUBLE_EQ(e.ann_energy_pj, 4.6 * e.dense_macs);
  }
  EXPECT_GT(mac_layers, 0);
  // Sums of per-layer energies: equal up to the rounding of the sum.
  EXPECT_NEAR(r.total.snn_energy_pj, 4.6 * mac_layers, 1e-9 * r.total.snn_energy_pj);
  EXPECT_NEAR(r.total.ann_energy_pj, 4.6 * static_cast<double>(total_macs(ops)), 1e-9 * r.total.ann_energy_pj);
  EXPECT_NEAR(r.total.ann_to_snn, static_cast<double>(total_macs(ops)) / mac_layers, 1e-9);
  EXPECT_DOUBLE_EQ(r.total.macs, mac_layers);
  ASSERT_EQ(rec->spikes.layers().size(), 4u);
  for (const auto& o : rec->spikes.layers()) {
    EXPECT_EQ(o.spikes, 0) << o.name;
    EXPECT_EQ(o.silent, 3.0 * static_cast<double>(o.neurons)) << o.name;
  }
}

TEST(EnergyModel, AlwaysFiringNetworkCountsEveryReachableSynapse) {
  auto net = tiny_net("none", -1e9);  // every neuron fires at every step
  const auto rec = record(net, torch::rand({4, 2, 2, 8, 8}));
  const EnergyOptions eo{2.0, 0.5};
  const EnergyReport r = energy_model(rec->ops, rec->synapses.inputs(), eo);
  std::map<std::string, LayerEnergy> by;
  for (const auto& e : r.layers) by[e.name] = e;
  // convs.1.conv: 3x3 pad 1 on 8x8; per dimension fan-out [2,3,3,3,3,3,3,2] (sum 22) instead of 8*3 = 24 taps:
  // exact = dense x (22*22)/(24*24); interior positions alone would give exactly the dense count.
  const auto& c1 = by.at("convs.1.conv");
  EXPECT_DOUBLE_EQ(c1.input_firing_rate, 1.0);
  EXPECT_DOUBLE_EQ(c1.synaptic_ops, c1.dense_macs * 484.0 / 576.0);
  EXPECT_DOUBLE_EQ(c1.estimated_ops, c1.dense_macs);
  EXPECT_DOUBLE_EQ(c1.input_spikes, 4.0 * 4 * 8 * 8);  // T x C x H x W per sample
  EXPECT_DOUBLE_EQ(c1.snn_energy_pj, 0.5 * c1.synaptic_ops);
  EXPECT_DOUBLE_EQ(c1.snn_energy_estimate_pj, 0.5 * c1.dense_macs);
  for (const std::string name : {"fcs.0.linear", "fcs.1.linear"}) {
    EXPECT_DOUBLE_EQ(by.at(name).synaptic_ops, by.at(name).dense_macs) << name;
    EXPECT_DOUBLE_EQ(by.at(name).input_firing_rate, 1.0) << name;
  }
  const auto& c0 = by.at("convs.0.conv");
  EXPECT_FALSE(c0.spike_input);
  EXPECT_DOUBLE_EQ(c0.snn_energy_pj, 2.0 * c0.dense_macs);
  double sum = 0;
  for (const auto& e : r.layers) sum += e.snn_energy_pj;
  EXPECT_DOUBLE_EQ(r.total.snn_energy_pj, sum);
  // Every neuron fired at every step, none was silent.
  const auto& monitored = rec->spikes.layers();
  ASSERT_EQ(monitored.size(), 4u);
  EXPECT_EQ(monitored[0].name, "convs.0.lif");
  EXPECT_EQ(monitored[3].name, "fcs.1.lif");
  for (const auto& l : monitored) {
    EXPECT_DOUBLE_EQ(l.spikes, l.elements()) << l.name;
    EXPECT_EQ(l.silent, 0) << l.name;
  }
  // A layer fed by block i's LIF sees exactly its spikes: the synapse's and the neuron's reports agree.
  const auto& inputs = rec->synapses.inputs();
  ASSERT_EQ(inputs.size(), 4u);
  EXPECT_EQ(inputs[1].name, "convs.1.conv");
  EXPECT_DOUBLE_EQ(inputs[1].nonzero, monitored[0].spikes);
  EXPECT_DOUBLE_EQ(inputs[2].nonzero, monitored[1].spikes);
  EXPECT_DOUBLE_EQ(inputs[3].nonzero, monitored[2].spikes);
}

TEST(EnergyModel, RelativeEfficiencyByHand) {
  // The model adds 10 MACs and removes 500 ACs: dE = 4.6*10 - 0.9*500 = -404 pJ.
  EXPECT_DOUBLE_EQ(relative_energy_efficiency(1000, 10, 500), 1000.0 / 596.0);
  EXPECT_DOUBLE_EQ(relative_energy_efficiency(1000, 0, 0), 1.0);
  EnergyTotals base, model;
  base.macs = 100;
  base.synaptic_ops = 1000;
  base.snn_energy_pj = 4.6 * 100 + 0.9 * 1000;
  base.estimated_ops = 800;
  base.snn_energy_estimate_pj = 4.6 * 100 + 0.9 * 800;
  model.macs = 120;
  model.synaptic_ops = 200;
  model.snn_energy_pj = 4.6 * 120 + 0.9 * 200;
  model.estimated_ops = 100;
  model.snn_energy_estimate_pj = 4.6 * 120 + 0.9 * 100;
  const EnergyComparison c = compare_energy(base, model);
  EXPECT_DOUBLE_EQ(c.delta_macs, 20);
  EXPECT_DOUBLE_EQ(c.delta_acs, 800);
  EXPECT_DOUBLE_EQ(c.delta_energy_pj, 4.6 * 20 - 0.9 * 800);
  EXPECT_DOUBLE_EQ(c.relative_efficiency, base.snn_energy_pj / model.snn_energy_pj);  // = E_base / E_model
  EXPECT_DOUBLE_EQ(c.relative_efficiency_estimate, base.snn_energy_estimate_pj / model.snn_energy_estimate_pj);
  EXPECT_NE(expect_error([] { relative_energy_efficiency(10, 0, 100); }).find("E_base + dE"), std::string::npos);
}

TEST(EnergyModel, MemoryAccessesOfHandComputedLayers) {
  // Two layers, per sample, T = 2: a conv from frames (real-valued input: MACs) feeding 8x4x4 neurons, then a
  // linear layer of 128 -> 10 fed with 30 spikes.
  LayerOperations conv;
  conv.name = "convs.0.conv";
  conv.block = "convs.0";
  conv.kind = "conv2d";
  conv.input_shape = {2, 4, 4};
  conv.output_shape = {8, 4, 4};
  conv.applications = 2;
  conv.params = 8 * 2 * 9 + 8;  // 152: 608 bytes
  conv.macs = 2 * 8 * 4 * 4 * 2 * 9;  // 4608
  LayerOperations fc = conv;
  fc.name = "fcs.0.fc";
  fc.block = "fcs.0";
  fc.kind = "linear";
  fc.input_shape = {128};
  fc.output_shape = {10};
  fc.params = 1290;  // 5160 bytes
  fc.macs = 2 * 128 * 10;
  LayerInput frames;
  frames.name = conv.name;
  frames.spikes = false;
  frames.nonzero = 10;
  frames.elements = 64;
  frames.samples = 1;
  LayerInput spikes;
  spikes.name = fc.name;
  spikes.nonzero = 30;
  spikes.elements = 256;
  spikes.synaptic_ops = 300;
  spikes.samples = 1;
  EnergyOptions o;  // every memory here is under 8 KB: 10 pJ per access
  const EnergyReport r = energy_model({conv, fc}, {frames, spikes}, o);
  ASSERT_EQ(r.layers.size(), 2u);
  // The conv in the SNN, as in the ANN: 4608 weight reads + 256 bias reads, 4608 input reads, 256 output writes;
  // the SNN adds the membrane update of its 256 neuron-steps (a read and a write each).
  const MemoryAccesses& c = r.layers[0].snn_memory;
  EXPECT_DOUBLE_EQ(c.weight_reads, 4608 + 256);
  EXPECT_DOUBLE_EQ(c.activation_accesses, 4608 + 256);
  EXPECT_DOUBLE_EQ(c.potential_accesses, 512);
  EXPECT_DOUBLE_EQ(c.energy_pj, 10.0 * (4864 + 4864 + 512));
  EXPECT_DOUBLE_EQ(r.layers[0].ann_memory.energy_pj, 10.0 * (4864 + 4864));
  // The linear layer in the SNN: 300 weight reads (one per synaptic op) + 20 bias reads; potentials read and
  // written per synaptic op (600) and per neuron-step (40); 30 spikes written and read (60).
  const MemoryAccesses& l = r.layers[1].snn_memory;
  EXPECT_DOUBLE_EQ(l.weight_reads, 320);
  EXPECT_DOUBLE_EQ(l.potential_accesses, 640);
  EXPECT_DOUBLE_EQ(l.spike_accesses, 60);
  EXPECT_DOUBLE_EQ(l.energy_pj, 10.0 * (320 + 640 + 60));
  // As an ANN layer: 2560 weight reads + 20 bias reads, 256 input reads (128 per application), 20 output writes.
  EXPECT_DOUBLE_EQ(r.layers[1].ann_memory.weight_reads, 2580);
  EXPECT_DOUBLE_EQ(r.layers[1].ann_memory.activation_accesses, 276);
  EXPECT_DOUBLE_EQ(r.total.snn_memory_pj, c.energy_pj + l.energy_pj);
  EXPECT_DOUBLE_EQ(r.total.snn_with_memory_pj, r.total.snn_energy_pj + r.total.snn_memory_pj);
  EXPECT_DOUBLE_EQ(r.total.snn_energy_pj, 4.6 * 4608 + 0.9 * 300);  // compute alone: the paper's model
  EXPECT_DOUBLE_EQ(r.total.ann_to_snn_with_memory, r.total.ann_with_memory_pj / r.total.snn_with_memory_pj);
  // Access energy by memory size: 10 pJ to 8 KB, 20 at 32 KB, 100 at 1 MB, linear between, DRAM above.
  EXPECT_DOUBLE_EQ(o.access_pj(100), 10);
  EXPECT_DOUBLE_EQ(o.access_pj(20 * 1024), 15);
  EXPECT_DOUBLE_EQ(o.access_pj(32 * 1024), 20);
  EXPECT_DOUBLE_EQ(o.access_pj(1024 * 1024), 100);
  EXPECT_DOUBLE_EQ(o.access_pj(2e6), 1950);
  // A larger weight memory costs more per read: 1290 -> 129,010 parameters (516 KB).
  fc.params = 129010;
  const double bigger = energy_model({conv, fc}, {frames, spikes}, o).layers[1].snn_memory.energy_pj;
  EXPECT_DOUBLE_EQ(bigger, 320 * o.access_pj(129010.0 * 4) + 10.0 * (640 + 60));
}

TEST(EnergyModel, BadArgumentsAreClearErrors) {
  auto net = tiny_net("none", 0.3);
  const auto ops = count_operations(torch::nn::AnyModule(net), torch::zeros({4, 1, 2, 8, 8}));
  LayerInput stray;
  stray.name = "convs.9.conv";
  stray.samples = 1;
  EXPECT_NE(expect_error([&] { energy_model(ops, {stray}); }).find("convs.9.conv"), std::string::npos);
  LayerInput empty;
  empty.name = "convs.1.conv";
  EXPECT_NE(expect_error([&] { energy_model(ops, {empty}); }).find("0 samples"), std::string::npos);
  EXPECT_NE(expect_error([&] { energy_model(ops, {}, EnergyOptions{-1, 0.9}); }).find("e_mac_pj"), std::string::npos);
  EXPECT_NE(expect_error([&] { energy_model(ops, {}, EnergyOptions{4.6, NAN}); }).find("e_ac_pj"), std::string::npos);
}

namespace {

// A tiny TCSA dvs-small checkpoint (untrained) over a synthetic gesture set: T = 8, 16x16 frames, 2 clips.
struct TinyCheckpoint {
  TempDir dir{"analysis_energy"};
  std::string checkpoint;
  TinyCheckpoint() {
    data::SynthOptions s;
    s.users = 3;
    s.lightings = {"lab"};
    s.gesture_seconds = 0.5;
    s.pause_seconds = 0.1;
    s.seed = 5;
    data::write_synthetic_gestures((dir.path / "data").string(), s);
    const train::TrainConfig config = train::parse_config(
        apps::kDemoConfig, "demo config",
        {"data.root=\"" + (dir.path / "data").string() + "\"", "train.out_dir=\"" + (dir.path / "run").string() + "\"",
         "data.steps=8", "data.dt_ms=60", "data.ds=8", "model.t_ratio=2", "data.clips=2", "train.batch_size=4",
         "train.quiet=true", "data.workers=1"});
    auto test_set = train::make_dataset(config, data::Split::Test);
    train::CheckpointInfo info;
    info.config_toml = train::to_toml(config);
    info.spec = train::model_spec(config, *test_set);
    torch::manual_seed(3);
    auto model = build_model(info.spec);
    checkpoint = (dir.path / "run" / "best.pt").string();
    train::save_checkpoint(checkpoint, *model.ptr(), nullptr, info);
  }
};

void expect_number(const nlohmann::json& j, double v, const std::string& what) {
  if (std::isfinite(v)) {
    ASSERT_TRUE(j.is_number()) << what;
    EXPECT_EQ(j.get<double>(), v) << what;  // the same double, not a rounded one
  } else {
    EXPECT_TRUE(j.is_null()) << what;
  }
}

}  // namespace

TEST(Analyze, CheckpointReportHoldsTheReturnedNumbers) {
  TinyCheckpoint t;
  AnalyzeOptions o;
  o.checkpoint = t.checkpoint;
  o.samples = 3;
  o.quiet = true;
  const Analysis a = analyze_checkpoint(o);
  EXPECT_EQ(a.model, "dvs-small");
  EXPECT_EQ(a.attention, "TCSA");
  EXPECT_EQ(a.steps, 8);
  EXPECT_EQ(a.dataset_samples, 3);
  EXPECT_EQ(a.clips, 2);
  EXPECT_EQ(a.samples, 6);
  ASSERT_EQ(a.spiking.size(), 4u);  // convs.0, convs.1, fcs.0, fcs.1
  EXPECT_EQ(a.spiking[0].name, "convs.0.lif");
  EXPECT_EQ(a.spiking[0].neurons, 32 * 8 * 8);
  EXPECT_EQ(a.spiking[0].spikes_per_step.size(), 8u);
  double spikes = 0;
  for (const auto& s : a.spiking) {
    spikes += s.spikes_per_sample;
    EXPECT_GE(s.silent_fraction, s.dead_fraction) << s.name;
    double per_step = 0;
    for (double v : s.spikes_per_step) per_step += v;
    EXPECT_NEAR(per_step, s.spikes_per_sample, 1e-9 * (1 + per_step)) << s.name;
  }
  EXPECT_NEAR(a.spiking_total.spikes_per_sample, spikes, 1e-9 * (1 + spikes));
  ASSERT_FALSE(a.energy.layers.empty());
  EXPECT_TRUE(a.energy.layers[0].spike_input);  // convs.0.conv reads frames of event counts: spikes
  bool attention_seen = false;
  for (const auto& e : a.energy.layers) attention_seen = attention_seen || e.kind == "attention-mlp";
  EXPECT_TRUE(attention_seen);

  // The input spikes of a layer fed by a LIF are that LIF's spikes (per sample).
  std::map<std::string, LayerEnergy> by;
  for (const auto& e : a.energy.layers) by[e.name] = e;
  EXPECT_NEAR(by.at("convs.1.conv").input_spikes, a.spiking[0].spikes_per_sample, 1e-9);
  EXPECT_NEAR(by.at("fcs.0.linear").input_spikes, a.spiking[1].spikes_per_sample, 1e-9);
  EXPECT_NEAR(by.at("fcs.0.linear").synaptic_ops, a.spiking[1].spikes_per_sample * 128, 1e-6);

  // analysis.json holds the very same numbers.
  write_analysis(a, (t.dir.path / "report").string());
  std::ifstream in(t.dir.path / "report" / "analysis.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j.dump(), nlohmann::json::parse(analysis_json(a)).dump());
  EXPECT_EQ(j["samples"].get<int64_t>(), a.samples);
  expect_number(j["accuracy"], a.accuracy, "accuracy");
  ASSERT_EQ(j["spiking_layers"].size(), a.spiking.size());
  for (size_t i = 0; i < a.spiking.size(); ++i) {
    const auto& s = a.spiking[i];
    const auto& js = j["spiking_layers"][i];
    EXPECT_EQ(js["name"], s.name);
    expect_number(js["spikes_per_sample"], s.spikes_per_sample, s.name);
    expect_number(js["firing_rate"], s.firing_rate, s.name);
    expect_number(js["silent_fraction"], s.silent_fraction, s.name);
    expect_number(js["dead_fraction"], s.dead_fraction, s.name);
    EXPECT_EQ(js["spikes_per_step"].get<std::vector<double>>(), s.spikes_per_step);
  }
  ASSERT_EQ(j["energy"]["layers"].size(), a.energy.layers.size());
  for (size_t i = 0; i < a.energy.layers.size(); ++i) {
    const auto& e = a.energy.layers[i];
    const auto& je = j["energy"]["layers"][i];
    EXPECT_EQ(je["name"], e.name);
    EXPECT_EQ(je["spike_input"], e.spike_input);
    expect_number(je["dense_macs"], e.dense_macs, e.name);
    expect_number(je["input_firing_rate"], e.input_firing_rate, e.name);
    expect_number(je["synaptic_ops"], e.synaptic_ops, e.name);
    expect_number(je["estimated_ops"], e.estimated_ops, e.name);
    expect_number(je["snn_energy_pj"], e.snn_energy_pj, e.name);
    expect_number(je["ann_energy_pj"], e.ann_energy_pj, e.name);
  }
  const auto& jt = j["energy"]["total"];
  expect_number(jt["snn_energy_pj"], a.energy.total.snn_energy_pj, "total");
  expect_number(jt["ann_energy_pj"], a.energy.total.ann_energy_pj, "total");
  expect_number(jt["ann_to_snn"], a.energy.total.ann_to_snn, "total");
  EXPECT_EQ(j["energy"]["e_mac_pj"].get<double>(), 4.6);

  // The terminal text names every layer; the HTML page has its chart.
  const std::string text = format_analysis(a);
  for (const auto& e : a.energy.layers) EXPECT_NE(text.find(e.name), std::string::npos) << e.name;
  std::ifstream html_in(t.dir.path / "report" / "analysis.html");
  std::stringstream html;
  html << html_in.rdbuf();
  EXPECT_NE(html.str().find("<svg"), std::string::npos);
  EXPECT_NE(html.str().find("convs.1.lif"), std::string::npos);
}

TEST(Analyze, BadOptionsAreClearErrors) {
  TinyCheckpoint t;
  AnalyzeOptions o;
  o.checkpoint = t.checkpoint;
  o.quiet = true;
  o.samples = -2;
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("--samples"), std::string::npos);
  o.samples = 1;
  o.energy.e_ac_pj = -1;
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("e_ac_pj"), std::string::npos);
  o.energy = {};
  o.overrides = {"data.steps=4"};
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("data.steps"), std::string::npos);
  o.overrides = {"data.bogus=1"};
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("data.bogus"), std::string::npos);
  o.overrides = {};
  o.checkpoint = (t.dir.path / "missing.pt").string();
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("missing.pt"), std::string::npos);
}

TEST(EnergyModel, EventCountFramesAreSpikesForTheFirstConv) {
  auto net = tiny_net("none", 1e9);  // silent network: only the first conv and attention could cost
  torch::Tensor x = torch::zeros({4, 1, 2, 8, 8});
  x[0][0][1][3][3] = 2;  // two events at an interior pixel (fan-out 9 per output channel)
  x[2][0][0][0][0] = 1;  // one event at a corner (fan-out 4)
  const auto rec = record(net, x);
  const EnergyReport r = energy_model(rec->ops, rec->synapses.inputs());
  const LayerEnergy& c0 = r.layers.at(0);
  ASSERT_EQ(c0.name, "convs.0.conv");
  EXPECT_TRUE(c0.spike_input);
  const int64_t cout = net->convs->at<SpikingConvBlockImpl>(0).conv->options.out_channels();
  EXPECT_DOUBLE_EQ(c0.synaptic_ops, static_cast<double>(cout) * (2 * 9 + 4));
  EXPECT_DOUBLE_EQ(c0.input_spikes, 3.0);
  // The same frames scaled to real values cost the dense MACs.
  const auto real = record(net, x * 0.3);
  EXPECT_FALSE(energy_model(real->ops, real->synapses.inputs()).layers.at(0).spike_input);
}
