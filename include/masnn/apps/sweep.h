// `masnn sweep`: one config trained over a grid of settings times several seeds, each run analysed (accuracy, spikes,
// firing rates, energy with both models), and the runs aggregated per grid cell: mean, standard deviation and 95%
// confidence interval, and the energy efficiency against a baseline cell. Runs go to
// <out>/runs/<cell>/seed<k>/; a run is finished when its result.json exists, so a killed sweep started again skips
// the finished runs and resumes the unfinished ones from their last checkpoint (also in a later session).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace masnn::apps {

/// One axis of the grid: a config key and its values ("model.attention" = none, TA, ...).
struct SweepAxis {
  std::string key;
  std::vector<std::string> values;
};

/// Parses "key=v1,v2,..." (a --grid argument). Throws std::invalid_argument naming the argument otherwise.
SweepAxis parse_sweep_axis(const std::string& text);

/// One cell of the grid: a value per axis.
struct SweepCell {
  std::vector<std::pair<std::string, std::string>> settings;  ///< key, value, in axis order
  /// "attention-TA" (each key's last part, '-', its value; '_' between axes): the cell's folder.
  std::string name() const;
  /// "model.attention=TA" (axes joined by ", "), for tables.
  std::string label() const;
};

/// Every cell of the grid, the last axis varying fastest. No axis: one cell without settings.
std::vector<SweepCell> expand_grid(const std::vector<SweepAxis>& axes);

/// What one run gave (the run's result.json).
struct SweepRunResult {
  std::string cell;  ///< SweepCell::name()
  int64_t seed = 0;
  int64_t epochs = 0;
  double test_accuracy = 0;       ///< at the last epoch (the run's result; the best epoch would select on the test set)
  double best_test_accuracy = 0;  ///< the highest over the epochs evaluated
  std::vector<double> test_curve; ///< test accuracy per epoch, NaN where not evaluated
  double train_seconds = 0;
  double spikes_per_sample = 0, firing_rate = 0;
  std::vector<std::pair<std::string, double>> layer_firing_rates;  ///< per spiking layer
  double energy_pj = 0;              ///< SNN, compute only (the paper's model)
  double energy_with_memory_pj = 0;  ///< SNN, compute + memory accesses (Lemaire et al. 2022)
  double ann_energy_pj = 0, ann_energy_with_memory_pj = 0;
};

/// Reads a run's metrics.csv (test accuracy per epoch, time) and analysis/analysis.json (spikes, energy) into a
/// result. Throws std::runtime_error naming the file that is missing or malformed.
SweepRunResult read_run_result(const std::string& run_dir, const std::string& cell, int64_t seed);
/// Writes `result` as JSON to `path` (atomically) / reads it back.
void write_run_result(const std::string& path, const SweepRunResult& result);
SweepRunResult load_run_result(const std::string& path);

/// Mean, sample standard deviation and the half-width of the 95% confidence interval of the mean (Student's t with
/// n - 1 degrees of freedom; 0 for one value).
struct Statistic {
  int64_t n = 0;
  double mean = 0, sd = 0, ci95 = 0;
};
Statistic describe(const std::vector<double>& values);

/// One row of the table: a cell's runs aggregated.
struct SweepRow {
  std::string cell, label;
  Statistic test_accuracy, spikes_per_sample, firing_rate, energy_pj, energy_with_memory_pj;
  /// Energy efficiency against the baseline cell (the paper's rEE = E_base / E_cell, with the cells' mean
  /// energies), compute only and with memory; NaN without a baseline.
  double ree = 0, ree_with_memory = 0;
  std::vector<std::pair<std::string, double>> layer_firing_rates;  ///< means over the runs
  std::vector<double> test_curve;  ///< mean test accuracy per epoch over the runs
  int64_t runs = 0;
};

struct SweepTable {
  std::string baseline;  ///< the baseline cell's label ("" = none)
  std::vector<SweepRow> rows;
};

/// Aggregates `results` per cell, in the order of `cells`; cells without a result are left out. `baseline`: a
/// cell's name or label, or "" for none (rEE is NaN while the baseline has no result). Throws std::invalid_argument
/// when the baseline names no cell.
SweepTable aggregate_sweep(const std::vector<SweepCell>& cells, const std::vector<SweepRunResult>& results,
                           const std::string& baseline);

/// Writes table.md, table.csv, table.json and index.html (plots: accuracy against spikes, per-layer firing rates,
/// learning curves) into `folder`.
void write_sweep_table(const SweepTable& table, const std::string& folder, const std::string& title);

/// What to sweep.
struct SweepOptions {
  std::string config;                  ///< the TOML config every run starts from
  std::vector<std::string> overrides;  ///< "key=value" for every run
  std::vector<SweepAxis> grid;
  int64_t seeds = 3;      ///< runs per cell, train.seed = seed_base .. seed_base + seeds - 1
  int64_t seed_base = 0;
  std::string out_dir;    ///< runs, logs and tables
  int jobs = 1;           ///< runs at once (each gets OMP_NUM_THREADS = cores / jobs unless set)
  std::string baseline;   ///< the cell the energy efficiency is measured against ("" = none)
  int64_t analyze_samples = 0;  ///< test samples the analysis of each run uses (0 = the whole test split)
  std::string executable;       ///< the masnn program that runs `train` and `analyze`
  /// Called when a run starts or ends (one call at a time): a line to print.
  std::function<void(const std::string&)> log;
};

/// What a sweep did.
struct SweepSummary {
  int64_t runs = 0, skipped = 0, finished = 0;
  std::vector<std::string> failed;  ///< run folders whose train or analyze failed (their logs name why)
  SweepTable table;
};

/// Runs the unfinished runs (`jobs` at a time; a run's train.log and analyze.log in its folder), then aggregates
/// every finished run and writes the tables. Throws std::invalid_argument for bad options.
SweepSummary run_sweep(const SweepOptions& options);

}  // namespace masnn::apps
