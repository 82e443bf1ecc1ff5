// Every tool on every network: monitors (masnn/util/monitor.h) attached to any registry network report its
// spikes, synaptic inputs and attention by module name, so operation counts, the energy model and `masnn analyze`
// work on the Res-SNNs as on the DVS networks.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "masnn/analysis/analyze.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/analysis/spike_monitor.h"
#include "masnn/analysis/training_sparsity.h"
#include "masnn/models/registry.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/train/factory.h"
#include "masnn/train/train_data.h"
#include "masnn/util/monitor.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::small_spec;
using masnn::testing::TempDir;
using namespace masnn;
using namespace masnn::analysis;

namespace {

// Counts the events of each kind by name.
class Counts : public Monitor {
 public:
  void on_spikes(const std::string& name, const torch::nn::Module&, const torch::Tensor&) override { ++spikes[name]; }
  void on_synapse(const std::string& name, const SynapseEvent&) override { ++synapses[name]; }
  std::map<std::string, int> spikes, synapses;
};

}  // namespace

TEST(Monitor, ScopesNestAndReportOnlyTheModulesOfTheirRoot) {
  torch::manual_seed(0);
  auto a = build_model(small_spec("dvs-small"));
  auto b = build_model(small_spec("dvs-small"));
  const torch::Tensor x = example_input(small_spec("dvs-small"), 2);
  Counts outer, inner;
  {
    MonitorScope s1(outer, *a.ptr());
    EXPECT_TRUE(monitoring::active());
    {
      MonitorScope s2(inner, *b.ptr());
      a.forward(x);
      b.forward(x);
    }
    a.forward(x);
  }
  EXPECT_FALSE(monitoring::active());
  a.forward(x);  // nothing attached: nothing counted
  // dvs-small: 2 conv blocks and 2 linear blocks, each one synapse and one neuron.
  EXPECT_EQ(outer.spikes,
            (std::map<std::string, int>{{"convs.0.lif", 2}, {"convs.1.lif", 2}, {"fcs.0.lif", 2}, {"fcs.1.lif", 2}}));
  EXPECT_EQ(outer.synapses.at("convs.0.conv"), 2);
  EXPECT_EQ(inner.spikes.at("fcs.1.lif"), 1);  // b ran once inside its scope
  EXPECT_EQ(inner.synapses.size(), 4u);
}

TEST(Monitor, EveryRegistryNetworkIsCountedByItsOwnLayers) {
  for (const auto& [name, _] : model_names()) {
    SCOPED_TRACE(name);
    const ModelSpec spec = small_spec(name);
    torch::manual_seed(0);
    const auto model = build_model(spec);
    const ModelSummary s = summarize_model(model, example_input(spec));
    ASSERT_FALSE(s.layers.empty());
    ASSERT_FALSE(s.blocks.empty());
    const auto modules = model.ptr()->named_modules();
    int64_t block_macs = 0, block_params = 0;
    for (const auto& b : s.blocks) {
      EXPECT_TRUE(modules.contains(b.name)) << b.name;
      block_macs += b.macs;
      block_params += b.params;
    }
    for (const auto& l : s.layers) EXPECT_TRUE(modules.contains(l.name)) << l.name;
    EXPECT_EQ(block_macs, total_macs(s.layers));  // every layer belongs to a block
    EXPECT_LE(block_params, count_parameters(*model.ptr()));
    if (is_res_snn(name)) {  // the stage table from the options agrees with the counted layers
      int64_t table = 0;
      for (const auto& row : summarize_res_snn(res_snn_options(spec), spec.input_size)) table += row.macs;
      EXPECT_EQ(total_macs(s.layers), table);
    } else {
      EXPECT_EQ(block_params, count_parameters(*model.ptr()));
    }
  }
}

TEST(Monitor, SpikeAndSynapseReportsAgreeOnAResSnn) {
  // Every conv fed by a neuron reads exactly that neuron's spikes: the two reports of one tensor.
  ModelSpec spec = small_spec("res-snn-mini");
  spec.input_size = 28;
  spec.lif = LIFOptions::reference_resnet().threshold(0.05);  // fire on random weights
  torch::manual_seed(1);
  auto model = build_model(spec);
  model.ptr()->eval();
  torch::NoGradGuard ng;
  SpikeMonitor spikes;
  SynapseRecorder synapses;
  {
    MonitorScope s1(spikes, *model.ptr()), s2(synapses, *model.ptr());
    model.forward(torch::randn({3, 1, 28, 28}));
  }
  std::map<std::string, double> fired, read;
  for (const auto& l : spikes.layers()) fired[l.name] = l.spikes;
  for (const auto& i : synapses.inputs()) read[i.name] = i.nonzero;
  ASSERT_GT(fired.at("stages.0.0.lif1"), 0);
  for (const std::string block : {"stages.0.0", "stages.1.0", "stages.2.0"}) {
    EXPECT_EQ(read.at(block + ".conv1"), fired.at(block + ".lif1")) << block;
    EXPECT_EQ(read.at(block + ".conv2"), fired.at(block + ".lif2")) << block;
  }
  for (const auto& i : synapses.inputs()) {
    const bool from_neuron = i.name.find(".conv1") != std::string::npos || i.name.find(".conv2") != std::string::npos;
    EXPECT_EQ(i.spikes, from_neuron) << i.name;  // stem (image), shortcuts (membrane), head (rates): MACs
    EXPECT_EQ(i.samples, 3) << i.name;
  }
}

TEST(TrainingSparsity, EveryRegistryNetworkReportsInputDensityAndSurrogateSupport) {
  for (const auto& [name, _] : model_names()) {
    SCOPED_TRACE(name);
    ModelSpec spec = small_spec(name);
    if (is_res_snn(name)) spec.lif = LIFOptions::reference_resnet().threshold(0.05);  // fire on random weights
    torch::manual_seed(2);
    auto model = build_model(spec);
    model.ptr()->eval();
    const auto buffers_before = model.ptr()->named_buffers();
    std::map<std::string, torch::Tensor> before;
    for (const auto& b : buffers_before) before[b.key()] = b.value().clone();
    const torch::Tensor x = example_input(spec);
    const TrainingSparsity s = measure_training_sparsity(model, x);
    ASSERT_FALSE(s.synapses.empty());
    ASSERT_FALSE(s.neurons.empty());
    std::map<std::string, NeuronSparsity> neurons;
    for (const auto& n : s.neurons) {
      neurons[n.name] = n;
      EXPECT_GE(n.firing_rate, 0);
      EXPECT_LE(n.firing_rate, 1);
      if (spec.placement == AttentionPlacement::ConvPost) {  // a masnn::LIF: its support is measured
        EXPECT_GE(n.surrogate_support, 0) << n.name;
        EXPECT_LE(n.surrogate_support, 1) << n.name;
      }
    }
    const auto modules = model.ptr()->named_modules();
    int from_neurons = 0;
    for (const auto& l : s.synapses) {
      EXPECT_TRUE(modules.contains(l.name)) << l.name;
      EXPECT_GE(l.input_density, 0);
      EXPECT_LE(l.input_density, 1);
      if (l.source.empty()) continue;
      ++from_neurons;
      // The layer reads that neuron's spikes: its input density is the neuron's firing rate.
      ASSERT_TRUE(neurons.count(l.source)) << l.source;
      EXPECT_DOUBLE_EQ(l.input_density, neurons[l.source].firing_rate) << l.name;
      EXPECT_EQ(l.source_support, neurons[l.source].surrogate_support) << l.name;
      EXPECT_EQ(l.input, SynapseEvent::Kind::Spikes) << l.name;
    }
    EXPECT_GT(from_neurons, 0);
    // Measured on a copy in training mode: the model's BN statistics are untouched.
    for (const auto& b : model.ptr()->named_buffers())
      EXPECT_TRUE(torch::equal(b.value(), before.at(b.key()))) << b.key();
  }
}

// `masnn analyze` on a Res-SNN over an image dataset: spikes per layer, energy, attention and a chosen sample.
TEST(AnalyzeNetworks, ResSnnOnImages) {
  TempDir dir("analysis_networks");
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 6, false);
  const train::TrainConfig config = train::parse_config(
      "", "res-snn config",
      {"data.dataset=fashion-mnist", "data.root=\"" + dir.path.string() + "\"", "data.steps=2", "data.workers=1",
       "model.name=res-snn-mini", "model.attention=TCSA", "model.t_ratio=1", "model.lif.neuron=reference-resnet",
       "train.batch_size=4", "train.quiet=true", "train.out_dir=\"" + (dir.path / "run").string() + "\""});
  train::CheckpointInfo info;
  info.config_toml = train::to_toml(config);
  info.spec = train::model_spec(config, train::open_split(config, data::Split::Test).input);
  torch::manual_seed(2);
  auto model = build_model(info.spec);
  const std::string checkpoint = (dir.path / "run" / "best.pt").string();
  train::save_checkpoint(checkpoint, *model.ptr(), nullptr, info);

  AnalyzeOptions o;
  o.checkpoint = checkpoint;
  o.quiet = true;
  o.detail.sample_indices = {4};
  const Analysis a = analyze_checkpoint(o);
  EXPECT_EQ(a.model, "res-snn-mini");
  EXPECT_EQ(a.steps, 2);
  EXPECT_EQ(a.samples, 6);
  EXPECT_EQ(a.clips, 1);
  std::vector<std::string> neurons;
  for (const auto& l : a.spiking) neurons.push_back(l.name);
  EXPECT_EQ(neurons, (std::vector<std::string>{"stages.0.0.lif1", "stages.0.0.lif2", "stages.1.0.lif1",
                                               "stages.1.0.lif2", "stages.2.0.lif1", "stages.2.0.lif2", "head_lif"}));
  EXPECT_EQ(a.spiking[0].neurons, 16 * 28 * 28);

  // Energy: the stem reads a normalised image, the shortcuts a membrane and the head firing rates (MACs); the
  // branch convs read spikes (ACs), exactly those their neuron emitted.
  std::map<std::string, LayerEnergy> by;
  for (const auto& e : a.energy.layers) by[e.name] = e;
  EXPECT_FALSE(by.at("stem_conv").spike_input);
  EXPECT_EQ(by.at("stem_conv").macs, by.at("stem_conv").dense_macs);
  EXPECT_FALSE(by.at("stages.1.0.shortcut_conv").spike_input);
  EXPECT_FALSE(by.at("fc").spike_input);
  EXPECT_TRUE(by.at("stages.0.0.conv1").spike_input);
  EXPECT_DOUBLE_EQ(by.at("stages.0.0.conv1").input_spikes, a.spiking[0].spikes_per_sample);
  EXPECT_DOUBLE_EQ(by.at("stages.0.0.conv2").input_spikes, a.spiking[1].spikes_per_sample);
  EXPECT_EQ(by.at("stages.0.0.attention.ta.mlp.fc1").kind, "attention-mlp");
  int64_t table = 0;
  for (const auto& row : summarize_res_snn(res_snn_options(info.spec), 28)) table += row.macs;
  EXPECT_DOUBLE_EQ(a.energy.total.dense_macs, static_cast<double>(table));
  std::vector<std::string> blocks;
  for (const auto& b : a.energy_blocks) blocks.push_back(b.block);
  EXPECT_EQ(blocks, (std::vector<std::string>{"stem_conv", "stages.0.0", "stages.1.0", "stages.2.0", "fc"}));

  // Attention: one module per residual block, judged against the Res-SNN neuron's threshold.
  ASSERT_EQ(a.attention_weights.size(), 3u);
  EXPECT_EQ(a.attention_weights[0].name, "stages.0.0.attention");
  EXPECT_EQ(a.attention_weights[0].block, "stages.0.0");
  EXPECT_EQ(a.attention_weights[0].temporal.sizes(), (std::vector<int64_t>{2}));
  EXPECT_EQ(a.attention_weights[0].channel.sizes(), (std::vector<int64_t>{1, 16}));
  EXPECT_EQ(a.attention_weights[2].spatial.sizes(), (std::vector<int64_t>{1, 7, 7}));
  EXPECT_EQ(a.membrane[0].threshold, 0.5);
  EXPECT_EQ(a.membrane[0].elements, 2 * 16 * 28 * 28);

  // The chosen sample: its static image, its spikes per layer.
  ASSERT_EQ(a.examples.size(), 1u);
  const SampleRecord& r = a.examples[0];
  EXPECT_EQ(r.index, 4);
  EXPECT_FALSE(r.frames_are_events);
  EXPECT_EQ(r.frames.sizes(), (std::vector<int64_t>{1, 1, 28, 28}));
  EXPECT_EQ(r.raster.size(), a.spiking.size());
  EXPECT_NE(r.description.find("t10k"), std::string::npos) << r.description;

  write_analysis(a, (dir.path / "report").string());
  std::ifstream html(dir.path / "report" / "analysis.html");
  std::stringstream text;
  text << html.rdbuf();
  EXPECT_NE(text.str().find("stages.0.0.lif1"), std::string::npos);
  EXPECT_NE(text.str().find("stages.2.0.attention"), std::string::npos);
}
