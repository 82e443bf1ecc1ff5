// `masnn analyze`'s report (masnn/analysis/analyze.h): attention weights, membrane statistics and chosen samples
// against a direct run of the network, the comparison of two checkpoints, the JSON against the returned numbers and
// the printed text, and the HTML page in headless Chromium (skipped when Chromium is absent).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "masnn/analysis/analyze.h"
#include "masnn/apps/demo.h"
#include "masnn/data/loader.h"
#include "masnn/data/synth_gestures.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"
#include "masnn/util/monitor.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::expect_error;
using masnn::testing::TempDir;
using namespace masnn;
using namespace masnn::analysis;

namespace {

// Synthetic gestures shared by every test of this file, and tiny untrained dvs-small checkpoints over them:
// T = 8, 16x16 frames, 2 clips per test sample.
class ReportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new TempDir("analysis_report_data");
    data::SynthOptions s;
    s.users = 3;
    s.lightings = {"lab"};
    s.gesture_seconds = 0.5;
    s.pause_seconds = 0.1;
    s.seed = 5;
    data::write_synthetic_gestures((data_dir_->path / "data").string(), s);
  }
  static void TearDownTestSuite() {
    delete data_dir_;
    data_dir_ = nullptr;
  }

  train::TrainConfig config(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> sets{"data.root=\"" + (data_dir_->path / "data").string() + "\"",
                                  "train.out_dir=\"" + (dir.path / "run").string() + "\"",
                                  "data.steps=8",
                                  "data.dt_ms=60",
                                  "data.ds=8",
                                  "model.t_ratio=2",
                                  "data.clips=2",
                                  "train.batch_size=4",
                                  "train.quiet=true",
                                  "data.workers=1"};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return train::parse_config(apps::kDemoConfig, "demo config", sets);
  }

  // An untrained checkpoint of dvs-small with `sets` (e.g. model.attention) applied, at dir/name.pt.
  std::string checkpoint(const std::string& name, const std::vector<std::string>& sets, uint64_t seed) const {
    const train::TrainConfig c = config(sets);
    auto test_set = train::make_dataset(c, data::Split::Test);
    train::CheckpointInfo info;
    info.config_toml = train::to_toml(c);
    info.spec = train::model_spec(c, *test_set);
    torch::manual_seed(seed);
    auto model = build_model(info.spec);
    const std::string path = (dir.path / (name + ".pt")).string();
    train::save_checkpoint(path, *model.ptr(), nullptr, info);
    return path;
  }

  AnalyzeOptions options(const std::string& ckpt) const {
    AnalyzeOptions o;
    o.checkpoint = ckpt;
    o.samples = 3;
    o.quiet = true;
    return o;
  }

  TempDir dir{"analysis_report"};
  static TempDir* data_dir_;
};
TempDir* ReportTest::data_dir_ = nullptr;

// Every float in `text` (after `from`, when given) in order.
std::vector<double> numbers_in(const std::string& text, size_t from = 0) {
  static const std::regex number(R"([-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
  std::vector<double> out;
  const std::string rest = text.substr(from);
  for (auto it = std::sregex_iterator(rest.begin(), rest.end(), number); it != std::sregex_iterator(); ++it)
    out.push_back(std::stod(it->str()));
  return out;
}

// The line of `text` that starts with `start`; "" when none.
std::string line_starting(const std::string& text, const std::string& start, size_t skip = 0) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(start, 0) == 0 && skip-- == 0) return line;
  return {};
}

void expect_tensor_json(const nlohmann::json& j, const torch::Tensor& t, const std::string& what) {
  if (!t.defined()) {
    EXPECT_TRUE(j.is_null()) << what;
    return;
  }
  // Flatten the nested arrays and compare values exactly (JSON holds doubles at full precision).
  std::vector<double> flat;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& v) {
    if (v.is_array())
      for (const auto& e : v) walk(e);
    else
      flat.push_back(v.get<double>());
  };
  walk(j);
  const torch::Tensor c = t.to(torch::kDouble).contiguous().flatten();
  ASSERT_EQ(static_cast<int64_t>(flat.size()), c.numel()) << what;
  for (int64_t i = 0; i < c.numel(); ++i) EXPECT_EQ(flat[static_cast<size_t>(i)], c[i].item<double>()) << what;
}

// The figures a report must show, by id, for a TCSA (conv-post) model against a vanilla base with one sample.
const std::vector<std::string> kComparisonFigures = {"compare-firing-rate",
                                                     "compare-spikes-time",
                                                     "compare-energy",
                                                     "model-firing-rate",
                                                     "model-spikes-time",
                                                     "model-raster-0",
                                                     "model-ta",
                                                     "model-ca",
                                                     "model-sa",
                                                     "model-membrane",
                                                     "model-energy",
                                                     "base-firing-rate",
                                                     "base-spikes-time",
                                                     "base-raster-0",
                                                     "base-energy"};

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Keeps the last event of each module as the modules report it: the raw values analysis digests.
class Tap : public Monitor {
 public:
  bool wants_attention_values() const override { return true; }
  void on_attention(const std::string& name, const AttentionEvent& e) override { attention[name] = e; }
  void on_spikes(const std::string& name, const torch::nn::Module&, const torch::Tensor& s) override {
    if (!spikes.count(name)) neurons.push_back(name);
    spikes[name] = s;
  }
  std::map<std::string, AttentionEvent> attention;
  std::map<std::string, torch::Tensor> spikes;
  std::vector<std::string> neurons;  // in the order they first fired
};

}  // namespace

// The recorded weights, membrane values and the chosen sample equal a direct run of the network over the same
// batches (the loader's, so the arithmetic is the same to the bit).
TEST_F(ReportTest, AttentionMembraneAndSampleMatchADirectRun) {
  for (const std::string placement : {"conv-post", "activate-pre"}) {
    SCOPED_TRACE(placement);
    const std::vector<std::string> sets{"model.attention=\"TCSA\"", "model.placement=\"" + placement + "\""};
    const std::string ckpt = checkpoint("ma-" + placement, sets, 3);
    train::CheckpointInfo info;
    auto model = train::load_model(ckpt, &info);
    torch::nn::Module& net = *model.ptr();
    const train::TrainConfig c = train::parse_config(info.config_toml, "ckpt", {"data.limit_test=3"});
    auto test_set = train::make_dataset(c, data::Split::Test);
    const data::LoaderOptions lo = train::loader_options(c, *test_set, data::ClipMode::Test);
    DetailOptions detail;
    detail.sample_indices = {1};
    detail.frame_steps = 8;  // every step: the frames are the whole input of the clip
    detail.raster_neurons = 50;
    train::SplitData split = train::event_split(c, test_set, data::Split::Test);
    net.train();
    const Analysis a = analyze_network(model, split, {}, true, detail);
    // Analysis leaves the network as it found it: its training flag back, no monitor attached.
    EXPECT_TRUE(net.is_training());
    EXPECT_FALSE(monitoring::active());
    ASSERT_EQ(a.examples.size(), 1u);
    const SampleRecord& r = a.examples[0];
    EXPECT_EQ(r.index, 1);
    EXPECT_EQ(r.clip, 0);
    EXPECT_EQ(r.frame_steps, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));

    // The attention modules, in forward order, with the shapes of their weights.
    const bool pre = placement == "activate-pre";
    const std::vector<std::string> names =
        pre ? std::vector<std::string>{"convs.0.attention", "convs.0.lif",     "convs.1.attention",
                                       "convs.1.lif",       "fcs.0.attention", "fcs.1.attention"}
            : std::vector<std::string>{"convs.0.attention", "convs.1.attention", "fcs.0.attention", "fcs.1.attention"};
    ASSERT_EQ(a.attention_weights.size(), names.size());
    ASSERT_EQ(a.membrane.size(), names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      const auto& w = a.attention_weights[i];
      EXPECT_EQ(w.name, names[i]);
      EXPECT_EQ(a.membrane[i].name, names[i]);
      const bool in_neuron = names[i].find(".lif") != std::string::npos;
      EXPECT_EQ(w.placement, in_neuron ? "activate-pre" : "conv-post");
      EXPECT_EQ(a.membrane[i].quantity, in_neuron ? "membrane potential U" : "membrane input X");
      EXPECT_EQ(a.membrane[i].threshold, 0.3);
      const bool conv = names[i].rfind("convs", 0) == 0;
      EXPECT_EQ(w.temporal.defined(), !in_neuron) << w.name;
      if (w.temporal.defined()) {
        EXPECT_EQ(w.temporal.sizes(), (std::vector<int64_t>{8}));
      }
      EXPECT_EQ(w.channel.defined(), conv && (in_neuron || !pre)) << w.name;
      EXPECT_EQ(w.spatial.defined(), conv && (in_neuron || !pre)) << w.name;
      if (w.channel.defined()) {
        EXPECT_EQ(w.channel.size(0), in_neuron ? 8 : 1) << w.name;
      }
      if (w.spatial.defined()) {
        EXPECT_EQ(w.spatial.size(0), in_neuron ? 8 : 1) << w.name;
        EXPECT_EQ(w.spatial.size(1), names[i].rfind("convs.0", 0) == 0 ? 8 : 4) << w.name;  // 16 -> pool 2 -> pool 2
      }
      for (const auto* t : {&w.temporal, &w.channel, &w.spatial})
        if (t->defined()) {
          EXPECT_GT(t->min().item<double>(), 0) << w.name;
          EXPECT_LT(t->max().item<double>(), 1) << w.name;
        }
      if (w.channel.defined()) {
        EXPECT_DOUBLE_EQ(w.channel_summary.mean, w.channel.mean().item<double>());
      }
      EXPECT_GT(a.membrane[i].elements, 0);
    }

    // The same batches again, through the network itself with its modules' raw reports tapped.
    net.eval();
    torch::NoGradGuard no_grad;
    Tap tap;
    MonitorScope scope(tap, net);
    data::EventLoader loader(test_set, lo);
    loader.start_epoch(0);
    data::Batch batch;
    const size_t sites = names.size();
    std::vector<std::vector<torch::Tensor>> before(sites), after(sites), wt(sites), wc(sites), ws(sites);
    int64_t samples = 0;
    bool seen = false;
    while (loader.next(batch)) {
      const torch::Tensor out = model.forward(batch.x);
      samples += out.size(0);
      for (size_t i = 0; i < sites; ++i) {
        const AttentionEvent& e = tap.attention.at(names[i]);
        before[i].push_back(e.before.flatten());
        after[i].push_back(e.after.flatten());
        if (e.temporal.defined()) wt[i].push_back(e.temporal.reshape({8, -1}).to(torch::kDouble).sum(1));
        if (e.channel.defined()) wc[i].push_back(e.channel.flatten(2).to(torch::kDouble).sum(1));
        if (e.spatial.defined()) ws[i].push_back(e.spatial.squeeze(2).to(torch::kDouble).sum(1));
      }
      // The chosen sample: test sample 1, clip 0.
      const torch::Tensor hit = batch.sample.eq(1).logical_and(batch.clip.eq(0)).nonzero();
      if (hit.numel() == 0 || seen) continue;
      seen = true;
      const int64_t col = hit[0][0].item<int64_t>();
      EXPECT_TRUE(torch::equal(r.frames, batch.x.select(1, col).to(torch::kDouble)));
      EXPECT_EQ(r.label, batch.labels[col].item<int64_t>());
      const torch::Tensor o_col = out[col].to(torch::kDouble);
      EXPECT_EQ(r.output, std::vector<double>(o_col.data_ptr<double>(), o_col.data_ptr<double>() + o_col.numel()));
      EXPECT_EQ(r.prediction, o_col.argmax().item<int64_t>());
      ASSERT_EQ(r.raster.size(), tap.neurons.size());
      for (size_t k = 0; k < r.raster.size(); ++k) {
        const RasterLayer& l = r.raster[k];
        EXPECT_EQ(l.name, tap.neurons[k]);
        const torch::Tensor s = tap.spikes.at(tap.neurons[k]).select(1, col).reshape({8, -1});
        EXPECT_EQ(l.neurons, s.size(1));
        EXPECT_EQ(l.spikes, s.sum().item<double>()) << l.name;
        EXPECT_EQ(l.shown.size(), static_cast<size_t>(std::min<int64_t>(50, l.neurons))) << l.name;
        EXPECT_TRUE(std::is_sorted(l.shown.begin(), l.shown.end())) << l.name;
        for (size_t n = 0; n < l.shown.size(); ++n) {
          std::vector<int64_t> times;
          for (int64_t t = 0; t < 8; ++t)
            if (s[t][l.shown[n]].item<double>() != 0) times.push_back(t);
          EXPECT_EQ(l.spike_times[n], times) << l.name << " neuron " << l.shown[n];
        }
      }
      for (size_t i = 0; i < sites; ++i) {
        const AttentionSiteWeights& w = r.attention[i];
        const AttentionEvent& m = tap.attention.at(names[i]);
        if (m.temporal.defined()) {
          EXPECT_TRUE(torch::equal(w.temporal, m.temporal.reshape({8, -1}).select(1, col).to(torch::kDouble)));
        }
        if (m.channel.defined()) {
          EXPECT_TRUE(torch::equal(w.channel, m.channel.select(1, col).flatten(1).to(torch::kDouble)));
        }
        if (m.spatial.defined()) {
          EXPECT_TRUE(torch::equal(w.spatial, m.spatial.select(1, col).squeeze(1).to(torch::kDouble)));
        }
        if (m.potential) {  // after the neuron's CA and SA: U' = U x w_c x w_s at every step
          EXPECT_TRUE(torch::allclose(m.after, m.before * m.channel * m.spatial, 1e-5, 1e-6));
        }
      }
    }
    EXPECT_TRUE(seen);
    EXPECT_EQ(samples, a.samples);
    for (size_t i = 0; i < sites; ++i) {
      const MembraneStats& m = a.membrane[i];
      const torch::Tensor vb = torch::cat(before[i]).to(torch::kDouble), va = torch::cat(after[i]).to(torch::kDouble);
      EXPECT_EQ(m.elements * samples, vb.numel()) << m.name;
      EXPECT_NEAR(m.before.mean, vb.mean().item<double>(), 1e-9) << m.name;
      EXPECT_NEAR(m.after.mean, va.mean().item<double>(), 1e-9) << m.name;
      EXPECT_NEAR(m.before.std, vb.std(/*unbiased=*/false).item<double>(), 1e-7) << m.name;
      EXPECT_NEAR(m.after.std, va.std(/*unbiased=*/false).item<double>(), 1e-7) << m.name;
      EXPECT_DOUBLE_EQ(m.before.above_threshold, vb.ge(0.3).to(torch::kDouble).mean().item<double>()) << m.name;
      EXPECT_DOUBLE_EQ(m.after.above_threshold, va.ge(0.3).to(torch::kDouble).mean().item<double>()) << m.name;
      if (!pre) {
        EXPECT_GE(va.min().item<double>(), 0) << m.name;  // conv-post: X' = ReLU(X x weights)
      }
      const AttentionSiteWeights& w = a.attention_weights[i];
      const double n = static_cast<double>(samples);
      if (!wt[i].empty()) {
        EXPECT_TRUE(torch::allclose(w.temporal, torch::stack(wt[i]).sum(0) / n, 1e-9, 1e-12));
      }
      if (!wc[i].empty()) {
        EXPECT_TRUE(torch::allclose(w.channel, torch::stack(wc[i]).sum(0) / n, 1e-9, 1e-12));
      }
      if (!ws[i].empty()) {
        EXPECT_TRUE(torch::allclose(w.spatial, torch::stack(ws[i]).sum(0) / n, 1e-9, 1e-12));
      }
    }
  }
}

// --compare: the base analysed on the same recordings; reductions and rEE from the two analyses; the JSON holds
// the returned numbers and the printed text shows the same numbers.
TEST_F(ReportTest, ComparisonJsonAndTextHoldTheReturnedNumbers) {
  const std::string ma = checkpoint("ma", {"model.attention=\"TCSA\""}, 3);
  const std::string vanilla = checkpoint("vanilla", {"model.attention=\"none\""}, 4);
  AnalyzeOptions o = options(ma);
  o.compare = vanilla;
  o.detail.sample_indices = {0, 2};
  const Report rep = analyze_report(o);
  ASSERT_TRUE(rep.base.has_value());
  ASSERT_TRUE(rep.comparison.has_value());
  const Analysis &m = rep.model, &b = *rep.base;
  const Comparison& c = *rep.comparison;
  EXPECT_EQ(m.attention, "TCSA");
  EXPECT_EQ(b.attention, "none");
  EXPECT_EQ(b.checkpoint, vanilla);
  EXPECT_EQ(b.dataset, m.dataset);
  EXPECT_EQ(b.samples, m.samples);
  EXPECT_TRUE(b.attention_weights.empty());
  EXPECT_TRUE(b.membrane.empty());
  ASSERT_EQ(m.examples.size(), 2u);
  EXPECT_EQ(m.examples[1].index, 2);
  ASSERT_GT(b.spiking_total.spikes_per_sample, 0);
  EXPECT_DOUBLE_EQ(c.accuracy_change, m.accuracy - b.accuracy);
  EXPECT_DOUBLE_EQ(c.spikes_reduction, 1 - m.spiking_total.spikes_per_sample / b.spiking_total.spikes_per_sample);
  EXPECT_DOUBLE_EQ(c.energy_reduction, 1 - m.energy.total.snn_energy_pj / b.energy.total.snn_energy_pj);
  EXPECT_DOUBLE_EQ(c.synaptic_ops_reduction, 1 - m.energy.total.synaptic_ops / b.energy.total.synaptic_ops);
  // rEE = E_base / (E_base + dE) = E_base / E_model.
  EXPECT_NEAR(c.energy.relative_efficiency, b.energy.total.snn_energy_pj / m.energy.total.snn_energy_pj, 1e-9);
  EXPECT_DOUBLE_EQ(c.energy.delta_macs, m.energy.total.macs - b.energy.total.macs);
  EXPECT_GT(c.energy.delta_macs, 0);  // the attention MLPs and SA convs
  ASSERT_EQ(c.layers.size(), 4u);
  for (size_t i = 0; i < c.layers.size(); ++i) {
    EXPECT_EQ(c.layers[i].name, m.spiking[i].name);
    EXPECT_EQ(c.layers[i].base_spikes, b.spiking[i].spikes_per_sample);
    EXPECT_EQ(c.layers[i].model_spikes, m.spiking[i].spikes_per_sample);
  }
  // The same comparison built from the two analyses.
  const Comparison again = compare_analyses(b, m);
  EXPECT_EQ(again.energy.relative_efficiency, c.energy.relative_efficiency);

  // JSON: the model's analysis at the top, the base and the comparison under "comparison".
  write_report(rep, (dir.path / "report").string());
  const nlohmann::json j = nlohmann::json::parse(read_text(dir.path / "report" / "analysis.json"));
  EXPECT_EQ(j.dump(), nlohmann::json::parse(report_json(rep)).dump());
  EXPECT_EQ(j["attention"], "TCSA");
  const auto& jc = j["comparison"];
  EXPECT_EQ(jc["spikes_reduction"].get<double>(), c.spikes_reduction);
  EXPECT_EQ(jc["energy_reduction"].get<double>(), c.energy_reduction);
  EXPECT_EQ(jc["accuracy_change"].get<double>(), c.accuracy_change);
  EXPECT_EQ(jc["relative_efficiency"].get<double>(), c.energy.relative_efficiency);
  EXPECT_EQ(jc["relative_efficiency_estimate"].get<double>(), c.energy.relative_efficiency_estimate);
  EXPECT_EQ(jc["delta_macs"].get<double>(), c.energy.delta_macs);
  EXPECT_EQ(jc["delta_acs"].get<double>(), c.energy.delta_acs);
  EXPECT_EQ(jc["delta_energy_pj"].get<double>(), c.energy.delta_energy_pj);
  ASSERT_EQ(jc["layers"].size(), c.layers.size());
  for (size_t i = 0; i < c.layers.size(); ++i) {
    EXPECT_EQ(jc["layers"][i]["name"], c.layers[i].name);
    EXPECT_EQ(jc["layers"][i]["base_spikes"].get<double>(), c.layers[i].base_spikes);
    EXPECT_EQ(jc["layers"][i]["model_spikes"].get<double>(), c.layers[i].model_spikes);
  }
  EXPECT_EQ(jc["base"]["checkpoint"], vanilla);
  EXPECT_EQ(jc["base"]["spiking_total"]["spikes_per_sample"].get<double>(), b.spiking_total.spikes_per_sample);
  EXPECT_EQ(jc["base"]["energy"]["total"]["snn_energy_pj"].get<double>(), b.energy.total.snn_energy_pj);
  ASSERT_EQ(j["membrane"].size(), m.membrane.size());
  for (size_t i = 0; i < m.membrane.size(); ++i) {
    const auto& jm = j["membrane"][i];
    EXPECT_EQ(jm["name"], m.membrane[i].name);
    EXPECT_EQ(jm["before"]["mean"].get<double>(), m.membrane[i].before.mean);
    EXPECT_EQ(jm["before"]["std"].get<double>(), m.membrane[i].before.std);
    EXPECT_EQ(jm["before"]["above_threshold"].get<double>(), m.membrane[i].before.above_threshold);
    EXPECT_EQ(jm["after"]["mean"].get<double>(), m.membrane[i].after.mean);
    EXPECT_EQ(jm["after"]["above_threshold"].get<double>(), m.membrane[i].after.above_threshold);
  }
  ASSERT_EQ(j["attention_weights"].size(), m.attention_weights.size());
  for (size_t i = 0; i < m.attention_weights.size(); ++i) {
    const auto& w = m.attention_weights[i];
    const auto& jw = j["attention_weights"][i];
    EXPECT_EQ(jw["name"], w.name);
    expect_tensor_json(jw["temporal"], w.temporal, w.name);
    expect_tensor_json(jw["channel"], w.channel, w.name);
    expect_tensor_json(jw["spatial"], w.spatial, w.name);
    if (w.channel.defined()) {
      EXPECT_EQ(jw["channel_summary"]["max"].get<double>(), w.channel_summary.max);
    }
  }
  ASSERT_EQ(j["examples"].size(), 2u);
  for (size_t k = 0; k < 2; ++k) {
    const SampleRecord& r = m.examples[k];
    const auto& jr = j["examples"][k];
    EXPECT_EQ(jr["index"].get<int64_t>(), r.index);
    EXPECT_EQ(jr["output"].get<std::vector<double>>(), r.output);
    expect_tensor_json(jr["frames"], r.frames, "frames");
    ASSERT_EQ(jr["raster"].size(), r.raster.size());
    for (size_t l = 0; l < r.raster.size(); ++l) {
      EXPECT_EQ(jr["raster"][l]["shown"].get<std::vector<int64_t>>(), r.raster[l].shown);
      EXPECT_EQ(jr["raster"][l]["spike_times"].get<std::vector<std::vector<int64_t>>>(), r.raster[l].spike_times);
    }
    for (size_t i = 0; i < r.attention.size(); ++i)
      expect_tensor_json(jr["attention"][i]["spatial"], r.attention[i].spatial, "sample spatial");
  }

  // The printed text: every number it shows is the JSON's, to the printed precision.
  const std::string text = format_report(rep);
  for (size_t i = 0; i < m.spiking.size(); ++i) {
    const std::string line = line_starting(text, m.spiking[i].name + " ");
    ASSERT_FALSE(line.empty()) << m.spiking[i].name;
    const auto v = numbers_in(line, m.spiking[i].name.size());
    ASSERT_GE(v.size(), 5u) << line;
    const auto& js = j["spiking_layers"][i];
    EXPECT_EQ(v[0], js["neurons"].get<double>()) << line;
    EXPECT_NEAR(v[1], js["spikes_per_sample"].get<double>(), 0.051) << line;
    EXPECT_NEAR(v[2], js["firing_rate"].get<double>(), 5.1e-6) << line;
    EXPECT_NEAR(v[3], 100 * js["silent_fraction"].get<double>(), 0.051) << line;
    EXPECT_NEAR(v[4], 100 * js["dead_fraction"].get<double>(), 0.051) << line;
  }
  for (size_t i = 0; i < m.membrane.size(); ++i) {
    const MembraneStats& mm = m.membrane[i];
    const std::string line = line_starting(text, mm.name + " ");
    const size_t q = line.find(mm.quantity);
    ASSERT_NE(q, std::string::npos) << line;
    const auto v = numbers_in(line, q + mm.quantity.size());
    ASSERT_EQ(v.size(), 7u) << line;
    const auto& jm = j["membrane"][i];
    EXPECT_NEAR(v[0], jm["threshold"].get<double>(), 0.0051);
    EXPECT_NEAR(v[1], jm["before"]["mean"].get<double>(), 5.1e-5) << line;
    EXPECT_NEAR(v[2], jm["before"]["std"].get<double>(), 5.1e-5) << line;
    EXPECT_NEAR(v[3], 100 * jm["before"]["above_threshold"].get<double>(), 0.0051) << line;
    EXPECT_NEAR(v[4], jm["after"]["mean"].get<double>(), 5.1e-5) << line;
    EXPECT_NEAR(v[5], jm["after"]["std"].get<double>(), 5.1e-5) << line;
    EXPECT_NEAR(v[6], 100 * jm["after"]["above_threshold"].get<double>(), 0.0051) << line;
  }
  for (size_t i = 0; i < m.attention_weights.size(); ++i) {
    const auto& jw = j["attention_weights"][i];
    // The attention table comes after the membrane table: the second line starting with the module's name.
    const std::string name = jw["name"];
    const std::string line = line_starting(text, name + " ", 1);
    const auto v = numbers_in(line, line.find(jw["placement"].get<std::string>()) + 9);
    std::vector<double> expected;
    for (const char* key : {"temporal_summary", "channel_summary", "spatial_summary"})
      if (!jw[key].is_null())
        for (const char* s : {"mean", "min", "max"}) expected.push_back(jw[key][s].get<double>());
    ASSERT_EQ(v.size(), expected.size()) << line;
    for (size_t k = 0; k < v.size(); ++k) EXPECT_NEAR(v[k], expected[k], 5.1e-5) << line;
  }
  const std::string spikes = line_starting(text, "spikes ");
  auto v = numbers_in(spikes);
  ASSERT_EQ(v.size(), 3u) << spikes;
  EXPECT_NEAR(v[0], jc["base"]["spiking_total"]["spikes_per_sample"].get<double>(), 0.051);
  EXPECT_NEAR(v[1], j["spiking_total"]["spikes_per_sample"].get<double>(), 0.051);
  EXPECT_NEAR(v[2], -100 * jc["spikes_reduction"].get<double>(), 0.051);
  const std::string acc = line_starting(text, "accuracy ");
  v = numbers_in(acc);
  ASSERT_EQ(v.size(), 3u) << acc;
  EXPECT_NEAR(v[2], 100 * jc["accuracy_change"].get<double>(), 0.0051);
  const std::string energy = line_starting(text, "SNN energy ");
  v = numbers_in(energy);
  ASSERT_EQ(v.size(), 3u) << energy;
  EXPECT_NEAR(v[0], 1e-6 * jc["base"]["energy"]["total"]["snn_energy_pj"].get<double>(), 5.1e-5);
  EXPECT_NEAR(v[1], 1e-6 * j["energy"]["total"]["snn_energy_pj"].get<double>(), 5.1e-5);
  EXPECT_NEAR(v[2], -100 * jc["energy_reduction"].get<double>(), 0.051);
  const std::string ree = line_starting(text, "energy efficiency of the model");
  const size_t eq = ree.find(") = ");
  ASSERT_NE(eq, std::string::npos) << ree;
  v = numbers_in(ree, eq + 4);
  ASSERT_GE(v.size(), 2u) << ree;
  EXPECT_NEAR(v[0], jc["relative_efficiency"].get<double>(), 5.1e-4);
  EXPECT_NEAR(v[1], jc["relative_efficiency_estimate"].get<double>(), 5.1e-4);
  EXPECT_NE(text.find("base of the comparison"), std::string::npos);
  EXPECT_NE(text.find("sample 2 ("), std::string::npos);
}

TEST_F(ReportTest, BadOptionsAreClearErrors) {
  const std::string ma = checkpoint("ma", {"model.attention=\"TCSA\""}, 3);
  AnalyzeOptions o = options(ma);
  o.detail.sample_indices = {3};  // the first 3 test samples are 0..2
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("--sample-index: 3 is beyond the 3 samples"),
            std::string::npos);
  o.detail.sample_indices = {-1};
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("--sample-index"), std::string::npos);
  o.detail = {};
  o.detail.raster_neurons = 0;
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("--raster-neurons"), std::string::npos);
  o.detail = {};
  o.detail.frame_steps = 0;
  EXPECT_NE(expect_error([&] { analyze_checkpoint(o); }).find("--frame-steps"), std::string::npos);
  o.detail = {};
  // Two analyses of different data cannot be compared.
  Analysis a = analyze_checkpoint(o);
  Analysis fewer = a;
  fewer.dataset_samples = 2;
  fewer.checkpoint = "other.pt";
  EXPECT_NE(expect_error([&] { compare_analyses(fewer, a); }).find("compare on the same data"), std::string::npos);
  Analysis other_energy = a;
  other_energy.energy.options.e_ac_pj = 0.5;
  EXPECT_NE(expect_error([&] { compare_analyses(other_energy, a); }).find("E_MAC, E_AC"), std::string::npos);
  o.compare = (dir.path / "missing.pt").string();
  EXPECT_NE(expect_error([&] { analyze_report(o); }).find("missing.pt"), std::string::npos);
}

// The page loads in headless Chromium without an error and every figure renders (its inline check script marks
// each figure and the body). Skipped where Chromium is not installed; chromium runs under `timeout`.
TEST_F(ReportTest, HtmlLoadsInHeadlessChromiumWithEveryFigure) {
  // $MASNN_CHROMIUM, or the first of these on the PATH (Debian: chromium).
  std::string chromium = std::getenv("MASNN_CHROMIUM") ? std::getenv("MASNN_CHROMIUM") : "";
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    if (!chromium.empty()) break;
    if (FILE* p = popen((std::string("command -v ") + name + " 2>/dev/null").c_str(), "r")) {
      char buffer[4096] = {0};
      if (std::fgets(buffer, sizeof(buffer), p)) chromium = std::string(buffer, std::strcspn(buffer, "\n"));
      pclose(p);
    }
  }
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  if (std::system("command -v timeout >/dev/null 2>&1") != 0) GTEST_SKIP() << "no timeout command";

  const std::string ma = checkpoint("ma", {"model.attention=\"TCSA\""}, 3);
  const std::string vanilla = checkpoint("vanilla", {"model.attention=\"none\""}, 4);
  AnalyzeOptions o = options(ma);
  o.compare = vanilla;
  const Report rep = analyze_report(o);
  const fs::path report = dir.path / "report";
  write_report(rep, report.string());
  const std::string html = read_text(report / "analysis.html");
  // Self-contained: no external resource.
  for (const char* external : {"src=\"http", "href=\"http", "src=\"//", "@import", "<link"})
    EXPECT_EQ(html.find(external), std::string::npos) << external;

  const fs::path dom = dir.path / "dom.html", log = dir.path / "chromium.log";
  const std::string command =
      "timeout 60 " + chromium +
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
      " --disable-component-update --disable-sync --disable-extensions --enable-logging=stderr --v=0"
      " --user-data-dir=" +
      (dir.path / "chromium-profile").string() + " --dump-dom file://" + (report / "analysis.html").string() + " >" +
      dom.string() + " 2>" + log.string();
  const int rc = std::system(command.c_str());
  ASSERT_EQ(rc, 0) << command << "\n" << read_text(log);
  const std::string out = read_text(dom);
  std::smatch body;
  ASSERT_TRUE(std::regex_search(out, body, std::regex("<body([^>]*)>"))) << out.substr(0, 400);
  const std::string attributes = body[1];
  EXPECT_EQ(attributes.find("data-errors"), std::string::npos) << attributes;
  const std::string total = std::to_string(kComparisonFigures.size());
  EXPECT_NE(attributes.find("data-figures=\"" + total + "\""), std::string::npos) << attributes;
  EXPECT_NE(attributes.find("data-figures-rendered=\"" + total + "/" + total + "\""), std::string::npos) << attributes;
  for (const auto& id : kComparisonFigures)
    EXPECT_NE(out.find("id=\"" + id + "\" data-rendered=\"1\""), std::string::npos) << id;
  // No error from the page's scripts in Chromium's console log.
  std::istringstream lines(read_text(log));
  std::string line;
  while (std::getline(lines, line))
    EXPECT_TRUE(line.find("CONSOLE") == std::string::npos || line.find("rror") == std::string::npos) << line;
}
