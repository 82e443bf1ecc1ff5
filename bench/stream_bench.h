// Benchmark of streaming inference: the compute time of one time step at batch 1 (step-at-a-time, state carried,
// causal attention), on a given number of threads, against the real time one step covers (dt), plus the cost of
// parsing and binning the events of a step. Input: a synthetic DVS gesture recording (AEDAT 3.1 bytes in memory).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn::bench {

struct StreamBenchConfig {
  std::string checkpoint;          ///< a trained network; empty = `model` with random weights
  std::string model = "gesture";   ///< registry name (random weights) when no checkpoint
  std::string attention = "TCSA";  ///< attention of the random model
  int64_t steps = 60;              ///< T of the random model
  double dt_ms = 25;               ///< frame length of the random model (a checkpoint uses its own)
  int64_t measure_steps = 300;     ///< steps timed (after one window of warm-up)
  int threads = 1;                 ///< LibTorch threads
  std::vector<std::string> synapses = {"dense", "auto"};  ///< synaptic paths to time (dense, sparse, auto)
  uint64_t seed = 1;
};

struct StreamBenchRow {
  std::string synapses;
  double median_ms = 0, mean_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  double calibration_s = 0;  ///< auto: time spent timing both paths per layer at start-up
};

struct StreamBenchResult {
  std::string model;   ///< what ran: checkpoint path or model name, attention, T
  double dt_ms = 0;    ///< real time one step covers
  int64_t events = 0;  ///< events in the recording
  int64_t recording_steps = 0;
  double parse_bin_ms_per_step = 0;  ///< incremental AEDAT 3.1 parse + binning, per step
  double events_per_step = 0;
  int threads = 1;
  std::vector<StreamBenchRow> rows;
};

StreamBenchResult run_stream_bench(const StreamBenchConfig& config);

}  // namespace masnn::bench
