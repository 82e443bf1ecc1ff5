// masnn sweep: the grid, a run's result read from its files, the aggregation against hand-computed statistics,
// the tables, and a small sweep end to end that is killed (a result removed) and resumed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "masnn/apps/sweep.h"
#include "masnn/util/file_io.h"
#include "test_support.h"

using namespace masnn::apps;
using masnn::testing::expect_error;
using masnn::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

SweepRunResult run(const std::string& cell, int64_t seed, double accuracy, double spikes, double energy) {
  SweepRunResult r;
  r.cell = cell;
  r.seed = seed;
  r.epochs = 2;
  r.test_accuracy = accuracy;
  r.best_test_accuracy = accuracy;
  r.test_curve = {accuracy - 0.1, accuracy};
  r.spikes_per_sample = spikes;
  r.firing_rate = spikes / 1000;
  r.layer_firing_rates = {{"convs.0.lif", spikes / 2000}, {"fcs.0.lif", spikes / 4000}};
  r.energy_pj = energy;
  r.energy_with_memory_pj = 10 * energy;
  return r;
}

}  // namespace

TEST(Sweep, GridAxesExpandIntoNamedCells) {
  const SweepAxis a = parse_sweep_axis("model.attention=none,TA,TCSA");
  EXPECT_EQ(a.key, "model.attention");
  EXPECT_EQ(a.values, (std::vector<std::string>{"none", "TA", "TCSA"}));
  const auto cells = expand_grid({a, parse_sweep_axis("train.lr=0.001,1e-4")});
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[1].name(), "attention-none_lr-1e-4");  // the last axis varies fastest
  EXPECT_EQ(cells[1].label(), "model.attention=none, train.lr=1e-4");
  EXPECT_EQ(expand_grid({}).size(), 1u);
  EXPECT_NE(expect_error([] { parse_sweep_axis("attention=TA"); }).find("section.name"), std::string::npos);
  EXPECT_NE(expect_error([] { parse_sweep_axis("model.attention"); }).find("key=value1,value2"), std::string::npos);
  EXPECT_NE(expect_error([] { parse_sweep_axis("model.attention=TA,,CA"); }).find("an empty value"), std::string::npos);
  EXPECT_NE(expect_error([] { parse_sweep_axis("model.attention=TA,TA"); }).find("'TA' twice"), std::string::npos);
  EXPECT_NE(expect_error([&] { expand_grid({a, a}); }).find("model.attention twice"), std::string::npos);
}

TEST(Sweep, AggregatesAHandMadeSetOfRuns) {
  const auto cells = expand_grid({parse_sweep_axis("model.attention=none,TA,CA")});
  const std::vector<SweepRunResult> results = {
      run("attention-none", 0, 0.80, 1000, 100), run("attention-none", 1, 0.82, 1200, 120),
      run("attention-none", 2, 0.84, 1400, 140), run("attention-TA", 0, 0.90, 500, 50),
      run("attention-TA", 1, 0.86, 700, 70)};  // CA: no finished run
  const SweepTable t = aggregate_sweep(cells, results, "model.attention=none");
  ASSERT_EQ(t.rows.size(), 2u);
  const SweepRow& none = t.rows[0];
  EXPECT_EQ(none.runs, 3);
  EXPECT_NEAR(none.test_accuracy.mean, 0.82, 1e-12);
  EXPECT_NEAR(none.test_accuracy.sd, 0.02, 1e-12);                        // sample sd (n - 1)
  EXPECT_NEAR(none.test_accuracy.ci95, 4.303 * 0.02 / std::sqrt(3.0), 1e-12);  // t(0.975, 2) = 4.303
  EXPECT_NEAR(none.spikes_per_sample.mean, 1200, 1e-9);
  EXPECT_NEAR(none.spikes_per_sample.sd, 200, 1e-9);
  EXPECT_DOUBLE_EQ(none.ree, 1.0);
  const SweepRow& ta = t.rows[1];
  EXPECT_NEAR(ta.test_accuracy.mean, 0.88, 1e-12);
  EXPECT_NEAR(ta.test_accuracy.ci95, 12.706 * std::sqrt(0.0008) / std::sqrt(2.0), 1e-9);  // sd = 0.02828
  EXPECT_NEAR(ta.ree, 120.0 / 60.0, 1e-12);  // E_base / E_cell with the means
  EXPECT_NEAR(ta.ree_with_memory, 1200.0 / 600.0, 1e-12);
  ASSERT_EQ(ta.layer_firing_rates.size(), 2u);
  EXPECT_NEAR(ta.layer_firing_rates[0].second, 0.3, 1e-12);  // (0.25 + 0.35) / 2
  ASSERT_EQ(ta.test_curve.size(), 2u);
  EXPECT_NEAR(ta.test_curve[0], 0.78, 1e-12);
  const Statistic one = describe({0.5});
  EXPECT_EQ(one.n, 1);
  EXPECT_DOUBLE_EQ(one.sd, 0);
  EXPECT_DOUBLE_EQ(one.ci95, 0);
  // A baseline without a finished run leaves rEE out; one that names no cell is an error.
  EXPECT_TRUE(std::isnan(aggregate_sweep(cells, results, "model.attention=CA").rows[0].ree));
  EXPECT_NE(expect_error([&] { aggregate_sweep(cells, results, "model.attention=SA"); }).find("no cell"),
            std::string::npos);
}

TEST(Sweep, ARunsResultComesFromItsMetricsAndAnalysisAndTablesAreWritten) {
  TempDir dir("sweep");
  std::ofstream(dir.file("metrics.csv")) << "epoch,lr,test_accuracy,seconds\n1,0.001,,10\n2,0.001,0.7,11\n"
                                           "3,0.001,0.65,12\n";
  fs::create_directories(dir.path / "analysis");
  std::ofstream(dir.file("analysis/analysis.json"))
      << R"({"spiking_total": {"spikes_per_sample": 4513.0, "firing_rate": 0.0287},
            "spiking_layers": [{"name": "convs.0.lif", "firing_rate": 0.04}],
            "energy": {"total": {"snn_energy_pj": 9.3e6, "snn_with_memory_pj": 9.9e8, "ann_energy_pj": 3.4e8,
                                 "ann_with_memory_pj": 1.6e10}}})";
  const SweepRunResult r = read_run_result(dir.path.string(), "attention-TA", 4);
  EXPECT_EQ(r.epochs, 3);
  EXPECT_DOUBLE_EQ(r.test_accuracy, 0.65);  // the last epoch, not the best
  EXPECT_DOUBLE_EQ(r.best_test_accuracy, 0.7);
  ASSERT_EQ(r.test_curve.size(), 3u);
  EXPECT_TRUE(std::isnan(r.test_curve[0]));
  EXPECT_DOUBLE_EQ(r.train_seconds, 33);
  EXPECT_DOUBLE_EQ(r.spikes_per_sample, 4513);
  EXPECT_DOUBLE_EQ(r.energy_with_memory_pj, 9.9e8);
  write_run_result(dir.file("result.json"), r);
  const SweepRunResult back = load_run_result(dir.file("result.json"));
  EXPECT_EQ(back.seed, 4);
  EXPECT_DOUBLE_EQ(back.test_accuracy, 0.65);
  EXPECT_TRUE(std::isnan(back.test_curve[0]));
  EXPECT_EQ(back.layer_firing_rates, r.layer_firing_rates);
  std::ofstream(dir.file("analysis/analysis.json")) << "{}";
  EXPECT_NE(expect_error([&] { read_run_result(dir.path.string(), "x", 0); }).find("analysis.json"),
            std::string::npos);

  const auto cells = expand_grid({parse_sweep_axis("model.attention=none,TA")});
  const SweepTable t = aggregate_sweep(cells, {run("attention-none", 0, 0.8, 1000, 100),
                                               run("attention-TA", 0, 0.9, 500, 50)}, "attention-none");
  write_sweep_table(t, dir.file("tables"), "test");
  EXPECT_NE(read_text(dir.file("tables/table.md")).find("| model.attention=TA | 1 | 90.00 |"), std::string::npos);
  EXPECT_NE(read_text(dir.file("tables/table.csv")).find("attention-TA,\"model.attention=TA\",1,0.9,"),
            std::string::npos);
  EXPECT_NE(read_text(dir.file("tables/table.json")).find("\"ree\": 2.0"), std::string::npos);
  EXPECT_NE(read_text(dir.file("tables/index.html")).find("<svg"), std::string::npos);
}

TEST(Sweep, ASmallSweepRunsResumesAndTabulates) {
  MASNN_SKIP_WITHOUT_OPENCV();  // sim-fashion-mnist resizes its images
  TempDir dir("sweep");
  masnn::testing::write_fake_fashion_mnist(dir.path, "train", 16, true);
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 10, true);
  const std::string out = dir.file("sweep");
  const std::string command = std::string(MASNN_CLI) + " sweep --config " + MASNN_SOURCE_DIR +
                              "/configs/sim-fashion-mnist.toml --set data.root=" + dir.path.string() +
                              " --set data.steps=2 --set model.t_ratio=1 --set train.epochs=1 --set train.batch_size=8"
                              " --grid model.attention=none,TA --seeds 2 --jobs 2 --baseline model.attention=none"
                              " --out " + out + " > " + dir.file("sweep.log") + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_text(dir.file("sweep.log"));
  for (const char* cell : {"attention-none", "attention-TA"})
    for (const char* seed : {"seed0", "seed1"})
      EXPECT_TRUE(fs::exists(fs::path(out) / "runs" / cell / seed / "result.json")) << cell << " " << seed;
  const std::string table = read_text(out + "/table.md");
  EXPECT_NE(table.find("| model.attention=none | 2 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| model.attention=TA | 2 |"), std::string::npos) << table;
  // A run whose result is gone (killed before it was written) runs again, the others are kept.
  fs::remove(fs::path(out) / "runs" / "attention-TA" / "seed1" / "result.json");
  ASSERT_EQ(std::system(command.c_str()), 0) << read_text(dir.file("sweep.log"));
  EXPECT_NE(read_text(dir.file("sweep.log")).find("3 finished before, 1 to run"), std::string::npos)
      << read_text(dir.file("sweep.log"));
  EXPECT_TRUE(fs::exists(fs::path(out) / "runs" / "attention-TA" / "seed1" / "result.json"));
}
