// `masnn sweep`: the grid, the runs (each a `masnn train` and a `masnn analyze` in a child process, so that runs can
// go side by side and a crash stays in its run), their results and the aggregate tables.
#include "masnn/apps/sweep.h"

#include <fmt/format.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "analysis/svg_charts.h"
#include "masnn/train/config.h"
#include "train/metrics_csv.h"
#include "masnn/util/file_io.h"
#include "util/parallel.h"

extern char** environ;

namespace masnn::apps {
namespace fs = std::filesystem;
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) parts.push_back(part);
  if (!text.empty() && text.back() == sep) parts.emplace_back();
  return parts;
}

std::string file_text(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return std::string(bytes.begin(), bytes.end());
}

// 97.5% quantile of Student's t with df degrees of freedom.
double t_quantile(int64_t df) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                 2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) return kNaN;
  if (df <= 30) return table[df - 1];
  return 1.960 + (2.042 - 1.960) * 30.0 / static_cast<double>(df);  // 2.000 at 60, 1.980 at 120: within 0.001
}

// Runs `args` with stdout and stderr appended to `log`, OMP_NUM_THREADS set to `threads` when it is not set;
// returns its exit status (or 128 + signal).
int run_process(const std::vector<std::string>& args, const std::string& log, int threads) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  if (!std::getenv("OMP_NUM_THREADS")) env_strings.push_back("OMP_NUM_THREADS=" + std::to_string(threads));
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error(args[0] + ": cannot start (" + std::strerror(rc) + ")");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error(args[0] + ": waitpid failed (" + std::strerror(errno) + ")");
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

nlohmann::json statistic_json(const Statistic& s) {
  return {{"n", s.n}, {"mean", s.mean}, {"sd", s.sd}, {"ci95", s.ci95}};
}

// Numbers in JSON: NaN and infinities as null.
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double from_json(const nlohmann::json& v) { return v.is_number() ? v.get<double>() : kNaN; }

std::string mean_sd(const Statistic& s, int decimals, double scale = 1) {
  if (s.n == 0) return "-";
  if (s.n == 1) return fmt::format("{:.{}f}", s.mean * scale, decimals);
  return fmt::format("{:.{}f} ± {:.{}f}", s.mean * scale, decimals, s.sd * scale, decimals);
}

std::string ratio(double v) { return std::isfinite(v) ? fmt::format("{:.3f}x", v) : "-"; }

}  // namespace

SweepAxis parse_sweep_axis(const std::string& text) {
  const auto eq = text.find('=');
  SweepAxis axis;
  if (eq == std::string::npos || eq == 0 || eq + 1 >= text.size())
    throw std::invalid_argument("--grid '" + text + "': expected key=value1,value2,... (e.g. model.attention=none,TA)");
  axis.key = text.substr(0, eq);
  if (axis.key.find('.') == std::string::npos)
    throw std::invalid_argument("--grid '" + text + "': the key is section.name (e.g. model.attention)");
  for (const auto& v : split(text.substr(eq + 1), ',')) {
    if (v.empty()) throw std::invalid_argument("--grid '" + text + "': an empty value");
    if (std::find(axis.values.begin(), axis.values.end(), v) != axis.values.end())
      throw std::invalid_argument("--grid '" + text + "': the value '" + v + "' twice");
    axis.values.push_back(v);
  }
  return axis;
}

std::string SweepCell::name() const {
  if (settings.empty()) return "all";
  std::string name;
  for (const auto& [key, value] : settings) {
    if (!name.empty()) name += "_";
    name += key.substr(key.rfind('.') + 1) + "-";
    for (char c : value) name += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '+';
  }
  return name;
}

std::string SweepCell::label() const {
  std::string label;
  for (const auto& [key, value] : settings) label += (label.empty() ? "" : ", ") + key + "=" + value;
  return label.empty() ? "(config)" : label;
}

std::vector<SweepCell> expand_grid(const std::vector<SweepAxis>& axes) {
  std::vector<SweepCell> cells(1);
  for (const auto& axis : axes) {
    if (axis.values.empty()) throw std::invalid_argument("--grid " + axis.key + ": no values");
    for (const auto& cell : cells)
      for (const auto& [key, value] : cell.settings)
        if (key == axis.key) throw std::invalid_argument("--grid: the key " + axis.key + " twice");
    std::vector<SweepCell> next;
    for (const auto& cell : cells)
      for (const auto& value : axis.values) {
        SweepCell c = cell;
        c.settings.emplace_back(axis.key, value);
        next.push_back(std::move(c));
      }
    cells = std::move(next);
  }
  return cells;
}

SweepRunResult read_run_result(const std::string& run_dir, const std::string& cell, int64_t seed) {
  SweepRunResult r;
  r.cell = cell;
  r.seed = seed;
  const std::string csv_path = (fs::path(run_dir) / "metrics.csv").string();
  const train::MetricsTable metrics = train::MetricsCsv::read(csv_path);
  const size_t epoch_col = metrics.column("epoch"), test_col = metrics.column("test_accuracy"),
               seconds_col = metrics.column("seconds");
  r.test_accuracy = kNaN;
  r.best_test_accuracy = kNaN;
  for (const std::vector<double>& row : metrics.rows) {
    const double epoch = row[epoch_col];
    if (!(epoch >= 1 && epoch == std::floor(epoch)))
      throw std::runtime_error(fmt::format("{}: epoch {} is not a number from 1", csv_path, epoch));
    r.test_curve.resize(static_cast<size_t>(epoch), kNaN);
    const double test = row[test_col];
    r.test_curve[static_cast<size_t>(epoch - 1)] = test;
    if (std::isfinite(test)) {
      r.test_accuracy = test;
      r.best_test_accuracy = std::isfinite(r.best_test_accuracy) ? std::max(r.best_test_accuracy, test) : test;
    }
    if (std::isfinite(row[seconds_col])) r.train_seconds += row[seconds_col];
    r.epochs = static_cast<int64_t>(epoch);
  }
  if (!std::isfinite(r.test_accuracy)) throw std::runtime_error(csv_path + ": no epoch was evaluated on the test split");
  const std::string json_path = (fs::path(run_dir) / "analysis" / "analysis.json").string();
  try {
    const nlohmann::json a = nlohmann::json::parse(file_text(json_path));
    r.spikes_per_sample = from_json(a.at("spiking_total").at("spikes_per_sample"));
    r.firing_rate = from_json(a.at("spiking_total").at("firing_rate"));
    for (const auto& l : a.at("spiking_layers"))
      r.layer_firing_rates.emplace_back(l.at("name").get<std::string>(), from_json(l.at("firing_rate")));
    const auto& t = a.at("energy").at("total");
    r.energy_pj = from_json(t.at("snn_energy_pj"));
    r.energy_with_memory_pj = from_json(t.at("snn_with_memory_pj"));
    r.ann_energy_pj = from_json(t.at("ann_energy_pj"));
    r.ann_energy_with_memory_pj = from_json(t.at("ann_with_memory_pj"));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(json_path + ": not an analysis of masnn analyze (" + e.what() + ")");
  }
  return r;
}

void write_run_result(const std::string& path, const SweepRunResult& r) {
  nlohmann::json j = {{"cell", r.cell},
                      {"seed", r.seed},
                      {"epochs", r.epochs},
                      {"test_accuracy", number(r.test_accuracy)},
                      {"best_test_accuracy", number(r.best_test_accuracy)},
                      {"train_seconds", r.train_seconds},
                      {"spikes_per_sample", number(r.spikes_per_sample)},
                      {"firing_rate", number(r.firing_rate)},
                      {"energy_pj", number(r.energy_pj)},
                      {"energy_with_memory_pj", number(r.energy_with_memory_pj)},
                      {"ann_energy_pj", number(r.ann_energy_pj)},
                      {"ann_energy_with_memory_pj", number(r.ann_energy_with_memory_pj)}};
  j["test_curve"] = nlohmann::json::array();
  for (double v : r.test_curve) j["test_curve"].push_back(number(v));
  j["layer_firing_rates"] = nlohmann::json::array();
  for (const auto& [name, rate] : r.layer_firing_rates) j["layer_firing_rates"].push_back({{"name", name}, {"firing_rate", number(rate)}});
  const std::string text = j.dump(2) + "\n";
  write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()));
}

SweepRunResult load_run_result(const std::string& path) {
  try {
    const nlohmann::json j = nlohmann::json::parse(file_text(path));
    SweepRunResult r;
    r.cell = j.at("cell").get<std::string>();
    r.seed = j.at("seed").get<int64_t>();
    r.epochs = j.at("epochs").get<int64_t>();
    r.test_accuracy = from_json(j.at("test_accuracy"));
    r.best_test_accuracy = from_json(j.at("best_test_accuracy"));
    r.train_seconds = from_json(j.at("train_seconds"));
    r.spikes_per_sample = from_json(j.at("spikes_per_sample"));
    r.firing_rate = from_json(j.at("firing_rate"));
    r.energy_pj = from_json(j.at("energy_pj"));
    r.energy_with_memory_pj = from_json(j.at("energy_with_memory_pj"));
    r.ann_energy_pj = from_json(j.at("ann_energy_pj"));
    r.ann_energy_with_memory_pj = from_json(j.at("ann_energy_with_memory_pj"));
    for (const auto& v : j.at("test_curve")) r.test_curve.push_back(from_json(v));
    for (const auto& l : j.at("layer_firing_rates"))
      r.layer_firing_rates.emplace_back(l.at("name").get<std::string>(), from_json(l.at("firing_rate")));
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not a sweep run result (" + e.what() + ")");
  }
}

Statistic describe(const std::vector<double>& values) {
  Statistic s;
  s.n = static_cast<int64_t>(values.size());
  if (s.n == 0) {
    s.mean = s.sd = s.ci95 = kNaN;
    return s;
  }
  for (double v : values) s.mean += v;
  s.mean /= static_cast<double>(s.n);
  if (s.n == 1) return s;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.sd = std::sqrt(squares / static_cast<double>(s.n - 1));
  s.ci95 = t_quantile(s.n - 1) * s.sd / std::sqrt(static_cast<double>(s.n));
  return s;
}

SweepTable aggregate_sweep(const std::vector<SweepCell>& cells, const std::vector<SweepRunResult>& results,
                           const std::string& baseline) {
  SweepTable table;
  for (const auto& cell : cells) {
    std::vector<const SweepRunResult*> runs;
    for (const auto& r : results)
      if (r.cell == cell.name()) runs.push_back(&r);
    if (runs.empty()) continue;
    SweepRow row;
    row.cell = cell.name();
    row.label = cell.label();
    row.runs = static_cast<int64_t>(runs.size());
    const auto stat = [&](double SweepRunResult::*field) {
      std::vector<double> v;
      for (const auto* r : runs) v.push_back(r->*field);
      return describe(v);
    };
    row.test_accuracy = stat(&SweepRunResult::test_accuracy);
    row.spikes_per_sample = stat(&SweepRunResult::spikes_per_sample);
    row.firing_rate = stat(&SweepRunResult::firing_rate);
    row.energy_pj = stat(&SweepRunResult::energy_pj);
    row.energy_with_memory_pj = stat(&SweepRunResult::energy_with_memory_pj);
    for (const auto& [name, rate] : runs.front()->layer_firing_rates) {
      double sum = 0;
      for (const auto* r : runs)
        for (const auto& [n, v] : r->layer_firing_rates)
          if (n == name) sum += v;
      row.layer_firing_rates.emplace_back(name, sum / static_cast<double>(runs.size()));
    }
    size_t epochs = 0;
    for (const auto* r : runs) epochs = std::max(epochs, r->test_curve.size());
    for (size_t e = 0; e < epochs; ++e) {
      double sum = 0;
      int count = 0;
      for (const auto* r : runs)
        if (e < r->test_curve.size() && std::isfinite(r->test_curve[e])) sum += r->test_curve[e], ++count;
      row.test_curve.push_back(count > 0 ? sum / count : kNaN);
    }
    row.ree = row.ree_with_memory = kNaN;
    table.rows.push_back(std::move(row));
  }
  if (!baseline.empty()) {
    const auto cell = std::find_if(cells.begin(), cells.end(), [&](const SweepCell& c) {
      return c.name() == baseline || c.label() == baseline;
    });
    if (cell == cells.end()) throw std::invalid_argument("--baseline '" + baseline + "': no cell of the sweep has that name");
    table.baseline = cell->label();
    const auto base = std::find_if(table.rows.begin(), table.rows.end(),
                                   [&](const SweepRow& r) { return r.cell == cell->name(); });
    if (base != table.rows.end()) {  // else no run of the baseline has finished yet: rEE stays NaN
      const double e = base->energy_pj.mean, em = base->energy_with_memory_pj.mean;
      for (auto& row : table.rows) {
        row.ree = e / row.energy_pj.mean;
        row.ree_with_memory = em / row.energy_with_memory_pj.mean;
      }
    }
  }
  return table;
}

void write_sweep_table(const SweepTable& table, const std::string& folder, const std::string& title) {
  fs::create_directories(folder);
  const auto write = [&](const std::string& name, const std::string& text) {
    write_file_atomic((fs::path(folder) / name).string(), std::vector<uint8_t>(text.begin(), text.end()));
  };
  // Markdown.
  std::string md = "| cell | runs | test accuracy (%) | 95% CI | spikes / sample | firing rate | energy, compute (uJ) "
                   "| energy, + memory (uJ) | rEE | rEE, + memory |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : table.rows)
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.label, r.runs,
                      mean_sd(r.test_accuracy, 2, 100),
                      r.test_accuracy.n > 1 ? fmt::format("± {:.2f}", 100 * r.test_accuracy.ci95) : "-",
                      mean_sd(r.spikes_per_sample, 0), mean_sd(r.firing_rate, 4), mean_sd(r.energy_pj, 3, 1e-6),
                      mean_sd(r.energy_with_memory_pj, 1, 1e-6), ratio(r.ree), ratio(r.ree_with_memory));
  if (!table.baseline.empty()) md += "\nrEE: energy of the baseline (" + table.baseline + ") / energy of the cell.\n";
  write("table.md", md);
  // CSV.
  std::string csv = "cell,label,runs";
  for (const char* m : {"test_accuracy", "spikes_per_sample", "firing_rate", "energy_pj", "energy_with_memory_pj"})
    csv += fmt::format(",{0}_mean,{0}_sd,{0}_ci95", m);
  csv += ",ree,ree_with_memory\n";
  for (const auto& r : table.rows) {
    std::string quoted = r.label;  // CSV: a quote inside a quoted field is doubled
    for (size_t at = quoted.find('"'); at != std::string::npos; at = quoted.find('"', at + 2)) quoted.insert(at, "\"");
    csv += fmt::format("{},\"{}\",{}", r.cell, quoted, r.runs);
    for (const Statistic* s : {&r.test_accuracy, &r.spikes_per_sample, &r.firing_rate, &r.energy_pj,
                               &r.energy_with_memory_pj})
      csv += fmt::format(",{},{},{}", s->mean, s->sd, s->ci95);
    csv += fmt::format(",{},{}\n", r.ree, r.ree_with_memory);
  }
  write("table.csv", csv);
  // JSON.
  nlohmann::json j = {{"baseline", table.baseline}, {"rows", nlohmann::json::array()}};
  for (const auto& r : table.rows) {
    nlohmann::json row = {{"cell", r.cell},
                          {"label", r.label},
                          {"runs", r.runs},
                          {"test_accuracy", statistic_json(r.test_accuracy)},
                          {"spikes_per_sample", statistic_json(r.spikes_per_sample)},
                          {"firing_rate", statistic_json(r.firing_rate)},
                          {"energy_pj", statistic_json(r.energy_pj)},
                          {"energy_with_memory_pj", statistic_json(r.energy_with_memory_pj)},
                          {"ree", number(r.ree)},
                          {"ree_with_memory", number(r.ree_with_memory)}};
    for (const auto& [name, rate] : r.layer_firing_rates) row["layer_firing_rates"][name] = number(rate);
    row["test_curve"] = nlohmann::json::array();
    for (double v : r.test_curve) row["test_curve"].push_back(number(v));
    j["rows"].push_back(row);
  }
  write("table.json", j.dump(2) + "\n");
  // HTML with the plots.
  namespace svg = analysis::svg;
  std::vector<svg::ScatterPoint> points;
  std::vector<svg::Series> curves, layer_series;
  std::vector<std::string> layers;
  for (const auto& r : table.rows)
    for (const auto& [name, rate] : r.layer_firing_rates)
      if (std::find(layers.begin(), layers.end(), name) == layers.end()) layers.push_back(name);
  for (size_t i = 0; i < table.rows.size(); ++i) {
    const SweepRow& r = table.rows[i];
    const std::string colour = svg::color(i);
    points.push_back({r.label, colour, r.spikes_per_sample.mean, 100 * r.test_accuracy.mean,
                      r.spikes_per_sample.ci95, 100 * r.test_accuracy.ci95});
    svg::Series curve{r.label, colour, {}, ""};
    for (double v : r.test_curve) curve.values.push_back(100 * v);
    curves.push_back(curve);
    svg::Series rates{r.label, colour, {}, ""};
    for (const auto& name : layers) {
      double v = kNaN;
      for (const auto& [n, rate] : r.layer_firing_rates)
        if (n == name) v = rate;
      rates.values.push_back(v);
    }
    layer_series.push_back(rates);
  }
  std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + svg::escape(title) +
                     "</title><style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:"
                     "collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-"
                     "align:left}</style></head><body>\n<h1>" + svg::escape(title) + "</h1>\n";
  html += "<table><tr><th>cell</th><th>runs</th><th>test accuracy (%)</th><th>95% CI</th><th>spikes / sample</th>"
          "<th>firing rate</th><th>energy, compute (uJ)</th><th>energy, + memory (uJ)</th><th>rEE</th>"
          "<th>rEE, + memory</th></tr>\n";
  for (const auto& r : table.rows)
    html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                        "<td>{}</td><td>{}</td></tr>\n",
                        svg::escape(r.label), r.runs, mean_sd(r.test_accuracy, 2, 100),
                        r.test_accuracy.n > 1 ? fmt::format("± {:.2f}", 100 * r.test_accuracy.ci95) : "-",
                        mean_sd(r.spikes_per_sample, 0), mean_sd(r.firing_rate, 4), mean_sd(r.energy_pj, 3, 1e-6),
                        mean_sd(r.energy_with_memory_pj, 1, 1e-6), ratio(r.ree), ratio(r.ree_with_memory));
  html += "</table>\n";
  if (!table.baseline.empty())
    html += "<p>rEE: energy of the baseline (" + svg::escape(table.baseline) + ") / energy of the cell.</p>\n";
  html += "<h2>Test accuracy against spikes (means, 95% confidence intervals)</h2>\n" +
          svg::scatter_chart("accuracy against spikes", points, "spikes per sample", "test accuracy (%)");
  html += "<h2>Firing rate per layer (mean over the runs)</h2>\n" +
          svg::bar_chart("firing rate per layer", layers, layer_series, "{:.4f}");
  html += "<h2>Learning curves (test accuracy per epoch, mean over the runs)</h2>\n" +
          svg::line_chart("learning curves", curves, "test accuracy (%)", 0, 640, 260, "epoch", 1);
  html += "</body></html>\n";
  write("index.html", html);
}

SweepSummary run_sweep(const SweepOptions& o) {
  require_regular_file(o.config);
  if (o.seeds < 1) throw std::invalid_argument(fmt::format("--seeds: expected >= 1, got {}", o.seeds));
  if (o.jobs < 1) throw std::invalid_argument(fmt::format("--jobs: expected >= 1, got {}", o.jobs));
  if (o.analyze_samples < 0) throw std::invalid_argument("--analyze-samples: expected >= 0");
  if (o.out_dir.empty()) throw std::invalid_argument("--out: give the sweep's folder");
  if (o.executable.empty()) throw std::invalid_argument("sweep: no masnn executable to run");
  for (const auto& s : o.overrides)
    if (s.rfind("train.seed=", 0) == 0 || s.rfind("train.out_dir=", 0) == 0)
      throw std::invalid_argument("--set " + s + ": the sweep sets train.seed and train.out_dir of each run");
  for (const auto& axis : o.grid)
    if (axis.key == "train.seed" || axis.key == "train.out_dir")
      throw std::invalid_argument("--grid " + axis.key + ": the sweep sets it itself (--seeds for seeds)");
  const std::vector<SweepCell> cells = expand_grid(o.grid);
  if (!o.baseline.empty() && std::none_of(cells.begin(), cells.end(), [&](const SweepCell& c) {
        return c.name() == o.baseline || c.label() == o.baseline;
      }))
    throw std::invalid_argument("--baseline '" + o.baseline + "': not a cell of the grid (cells are named like '" +
                                cells.front().label() + "')");
  // Every run's settings are checked before the first starts: a bad value of an axis is one error, not N failed runs
  // (--set alone first: a run gives its --set before the cell's, and each assignment must hold on its own).
  try {
    (void)train::load_config(o.config, o.overrides);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("sweep: ") + e.what());
  }
  for (const auto& cell : cells) {
    std::vector<std::string> settings = o.overrides;
    for (const auto& [key, value] : cell.settings) settings.push_back(key + "=" + value);
    try {
      (void)train::load_config(o.config, settings);
    } catch (const std::exception& e) {
      throw std::invalid_argument("sweep: the cell " + cell.label() + ": " + e.what());
    }
  }
  fs::create_directories(o.out_dir);
  struct Run {
    const SweepCell* cell;
    int64_t seed;
    fs::path dir;
  };
  std::vector<Run> runs, pending;
  for (int64_t k = 0; k < o.seeds; ++k)  // seed by seed: each round gives a whole table
    for (const auto& cell : cells)
      runs.push_back({&cell, o.seed_base + k, fs::path(o.out_dir) / "runs" / cell.name() / ("seed" + std::to_string(o.seed_base + k))});
  SweepSummary summary;
  summary.runs = static_cast<int64_t>(runs.size());
  for (const auto& r : runs)
    if (fs::exists(r.dir / "result.json"))
      ++summary.skipped;
    else
      pending.push_back(r);
  std::mutex mutex;
  std::mutex log_mutex;  // o.log is called one line at a time
  const auto log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(log_mutex);
    if (o.log) o.log(line);
  };
  const auto tables = [&] {
    std::vector<SweepRunResult> results;
    for (const auto& r : runs)
      if (fs::exists(r.dir / "result.json")) results.push_back(load_run_result((r.dir / "result.json").string()));
    SweepTable table = aggregate_sweep(cells, results, o.baseline);
    write_sweep_table(table, o.out_dir, "masnn sweep: " + fs::path(o.config).filename().string());
    return table;
  };
  const int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / o.jobs);
  std::vector<std::string> base_args = {o.executable, "train", "--config", o.config};
  for (const auto& s : o.overrides) base_args.insert(base_args.end(), {"--set", s});
  log(fmt::format("sweep: {} cells x {} seeds = {} runs, {} finished before, {} to run, {} at a time", cells.size(),
                  o.seeds, runs.size(), summary.skipped, pending.size(), o.jobs));
  parallel_tasks(pending.size(), o.jobs, [&](size_t i) {
    const Run& run = pending[i];
    const std::string what = fmt::format("{} seed {}", run.cell->label(), run.seed);
    try {
      fs::create_directories(run.dir);
      std::vector<std::string> args = base_args;
      for (const auto& [key, value] : run.cell->settings) args.insert(args.end(), {"--set", key + "=" + value});
      args.insert(args.end(), {"--set", "train.seed=" + std::to_string(run.seed), "--set",
                               "train.out_dir=" + run.dir.string(), "--set", "train.quiet=true"});
      const bool resume = fs::exists(run.dir / "last.pt");
      if (resume) args.insert(args.end(), {"--resume", (run.dir / "last.pt").string()});
      log(fmt::format("start  {}{}", what, resume ? " (resuming)" : ""));
      const auto start = std::chrono::steady_clock::now();
      if (run_process(args, (run.dir / "train.log").string(), threads) != 0)
        throw std::runtime_error("train failed: see " + (run.dir / "train.log").string());
      std::vector<std::string> analyze = {o.executable, "analyze", "--checkpoint", (run.dir / "last.pt").string(),
                                          "--report", (run.dir / "analysis").string(), "--quiet"};
      if (o.analyze_samples > 0) analyze.insert(analyze.end(), {"--samples", std::to_string(o.analyze_samples)});
      if (run_process(analyze, (run.dir / "analyze.log").string(), threads) != 0)
        throw std::runtime_error("analyze failed: see " + (run.dir / "analyze.log").string());
      const SweepRunResult result = read_run_result(run.dir.string(), run.cell->name(), run.seed);
      write_run_result((run.dir / "result.json").string(), result);
      std::lock_guard<std::mutex> lock(mutex);
      ++summary.finished;
      try {
        tables();  // the table so far, so a long sweep can be read while it runs
      } catch (const std::exception& e) {
        log(std::string("tables not written: ") + e.what());
      }
      log(fmt::format("done   {}: test {:.2f}%, {:.0f} spikes/sample, {:.1f} min", what, 100 * result.test_accuracy,
                      result.spikes_per_sample,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60));
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mutex);
      summary.failed.push_back(run.dir.string());
      log(fmt::format("FAILED {}: {}", what, e.what()));
    }
  });
  summary.table = tables();
  return summary;
}

}  // namespace masnn::apps
