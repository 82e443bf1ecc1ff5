#include "stream_bench.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>

#include "bench_util.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/synth_gestures.h"
#include "masnn/models/registry.h"
#include "masnn/data/event_decoder.h"
#include "masnn/serve/frame_binner.h"
#include "masnn/serve/sparse.h"
#include "masnn/serve/stream_classifier.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/train/factory.h"

namespace masnn::bench {
namespace {

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

StreamBenchResult run_stream_bench(const StreamBenchConfig& c) {
  if (c.measure_steps < 1) throw std::invalid_argument("bench stream: --measure-steps must be >= 1");
  if (c.threads < 1) throw std::invalid_argument("bench stream: --threads must be >= 1");
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(c.threads);
  StreamBenchResult r;
  r.threads = c.threads;

  // The network and its frame settings.
  torch::nn::AnyModule model;
  ModelSpec spec_of_model;
  data::FrameOptions frames;
  if (!c.checkpoint.empty()) {
    train::CheckpointInfo info;
    model = train::load_model(c.checkpoint, &info);
    spec_of_model = info.spec;
    const train::TrainConfig config = train::parse_checkpoint_config(info.config_toml, c.checkpoint);
    const int sensor = static_cast<int>(info.spec.input_size * config.data.ds);
    frames = train::frame_options(config.data, sensor, sensor);
    r.model = fmt::format("{} ({}, {} {}, T={})", c.checkpoint, info.spec.name, info.spec.attention.name(),
                          to_string(info.spec.placement), info.spec.steps);
  } else {
    ModelSpec spec = default_model_spec(c.model);
    spec.attention = AttentionType::parse(c.attention);
    spec.steps = c.steps;
    torch::manual_seed(static_cast<int64_t>(c.seed));
    model = build_model(spec);
    spec_of_model = spec;
    frames.dt_us(static_cast<int64_t>(c.dt_ms * 1000 + 0.5)).ds(128 / spec.input_size);
    r.model = fmt::format("{} (random weights, {}, T={})", spec.name, spec.attention.name(), spec.steps);
  }
  model.ptr()->eval();
  r.dt_ms = static_cast<double>(frames.dt_us()) / 1000.0;

  // A synthetic recording, as AEDAT 3.1 bytes, parsed and binned incrementally (timed).
  data::SynthOptions so;
  so.seed = c.seed;
  so.threads = 1;
  const data::Events events = data::synthesize_recording(so, 1, 0).events;
  const std::vector<uint8_t> bytes = data::encode_aedat3(events);
  r.events = static_cast<int64_t>(events.size());
  std::vector<torch::Tensor> stream_frames;
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto parser = data::make_event_decoder(data::EventFormat::Aedat3, "synthetic recording");
    serve::StreamingFrameBinner binner(frames);
    data::Events chunk;
    for (size_t i = 0; i < bytes.size(); i += 65536) {
      chunk.clear();
      parser->feed(bytes.data() + i, std::min<size_t>(65536, bytes.size() - i), chunk);
      binner.push(chunk, stream_frames);
    }
    binner.flush(stream_frames);
  }
  const double bin_ms = ms_since(t0);
  r.recording_steps = static_cast<int64_t>(stream_frames.size());
  if (stream_frames.empty()) throw std::runtime_error("bench stream: the synthetic recording gave no frames");
  r.parse_bin_ms_per_step = bin_ms / static_cast<double>(stream_frames.size());
  r.events_per_step = static_cast<double>(events.size()) / static_cast<double>(stream_frames.size());

  for (const std::string& mode_name : c.synapses) {
    StreamBenchRow row;
    row.synapses = mode_name;
    const serve::SynapseMode mode = serve::parse_synapse_mode(mode_name);
    serve::disable_sparse(*model.ptr());
    if (mode != serve::SynapseMode::Dense) {
      serve::SparseOptions sp;
      sp.mode = mode;
      sp.calibrate_batches = {1};
      const auto c0 = std::chrono::steady_clock::now();
      serve::enable_sparse(model, example_input(spec_of_model), sp);
      row.calibration_s = ms_since(c0) / 1000.0;
    }
    serve::StreamClassifier classifier(model, {});
    const int64_t warmup = classifier.window();
    std::vector<double> ms;
    for (int64_t k = 0; k < warmup + c.measure_steps; ++k) {
      const torch::Tensor& f = stream_frames[static_cast<size_t>(k) % stream_frames.size()];
      const auto s0 = std::chrono::steady_clock::now();
      classifier.step(f);
      if (k >= warmup) ms.push_back(ms_since(s0));
    }
    row.median_ms = median(ms);
    row.mean_ms = std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size());
    row.p90_ms = percentile(ms, 0.9);
    row.p99_ms = percentile(ms, 0.99);
    row.max_ms = *std::max_element(ms.begin(), ms.end());
    r.rows.push_back(row);
  }
  serve::disable_sparse(*model.ptr());
  torch::set_num_threads(saved_threads);
  return r;
}

}  // namespace masnn::bench
