// `masnn stream --checkpoint CKPT --input FILE|- [--realtime] [--window T] [--hop N] [--json]`: online
// classification of an event stream (any format masnn reads), one prediction per window, with each step's latency.
#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "checks.h"
#include "command.h"
#include "masnn/analysis/operation_count.h"
#include "masnn/data/gesture_labels.h"
#include "masnn/models/registry.h"
#include "masnn/serve/frame_binner.h"
#include "masnn/serve/sparse.h"
#include "masnn/serve/stream_classifier.h"
#include "masnn/serve/stream_runner.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/train/factory.h"

namespace masnn::cli {
namespace {

struct StreamArgs {
  std::string checkpoint, input, state = "window", attention = "causal", sparse = "auto", labels, format;
  std::vector<std::string> sets;
  bool realtime = false, json = false, quiet = false, follow = false;
  int64_t window = 0, hop = 0, max_steps = 0, start_us = -1;
  double idle_timeout = 0;
};

// The labelled segment covering most of [begin, end) (at least half of it), or -1.
int true_label(const std::vector<data::GestureSegment>& segments, int64_t begin, int64_t end) {
  int best = -1;
  int64_t best_overlap = 0;
  for (const auto& s : segments) {
    const int64_t overlap = std::min(end, s.end_us) - std::max(begin, s.start_us);
    if (overlap > best_overlap) best_overlap = overlap, best = s.label;
  }
  return 2 * best_overlap >= end - begin ? best : -1;
}

void run(const StreamArgs& a) {
  train::CheckpointInfo info;
  torch::nn::AnyModule model = train::load_model(a.checkpoint, &info);
  const train::TrainConfig config = train::parse_checkpoint_config(info.config_toml, a.checkpoint, a.sets);
  const ModelSpec& spec = info.spec;
  // The sensor is the one the network was trained on: its input side times the trained data.ds.
  const int64_t trained_ds = train::parse_checkpoint_config(info.config_toml, a.checkpoint, {}).data.ds;
  const int sensor = static_cast<int>(spec.input_size * trained_ds);
  if (config.data.ds != trained_ds)
    throw std::invalid_argument(fmt::format(
        "data.ds: the network takes {}x{} frames of a {}x{} sensor (data.ds = {} when trained); data.ds = {} would "
        "not give them",
        spec.input_size, spec.input_size, sensor, sensor, trained_ds, config.data.ds));
  const data::FrameOptions frames = train::frame_options(config.data, sensor, sensor);
  const bool gesture_names = spec.num_classes == data::kGestureClasses &&
                             (config.data.dataset == "dvs128-gesture" || config.data.dataset == "synthetic-gesture");
  auto class_name = [&](int64_t c) {
    if (c < 0) return std::string("silent");
    return gesture_names ? data::gesture_class_names().at(static_cast<size_t>(c)) : "class " + std::to_string(c);
  };
  std::vector<data::GestureSegment> segments;
  if (!a.labels.empty()) {
    segments = data::read_gesture_labels(a.labels);
    if (segments.empty())  // as offline: labels that label nothing are a mistake, not "no labels"
      throw std::invalid_argument(a.labels + ": no labelled segment (only a header); expected lines of "
                                  "class,startTime_usec,endTime_usec");
  }

  serve::StreamOptions so;
  so.window = a.window;
  so.hop = a.hop;
  so.state = serve::parse_state_policy(a.state);
  so.attention = serve::parse_attention_mode(a.attention);
  serve::StreamClassifier classifier(model, so);
  serve::SparseOptions sparse;
  sparse.mode = serve::parse_synapse_mode(a.sparse, "--sparse");
  sparse.calibrate_batches = {so.attention == serve::AttentionMode::Batch ? classifier.window() : classifier.rows()};
  if (sparse.mode != serve::SynapseMode::Dense) serve::enable_sparse(model, example_input(spec), sparse);
  // A silence gives the window's steps of empty frames (then the network has seen only silence), the rest skipped.
  serve::StreamingFrameBinner binner(frames, a.start_us, classifier.window());

  serve::StreamRunOptions ro;
  ro.input = a.input;
  ro.realtime = a.realtime;
  ro.idle_timeout_s = a.idle_timeout;
  ro.format = a.format;
  ro.follow = a.follow;
  ro.filters = train::event_filter_options(config.data);
  ro.max_steps = a.max_steps;
  data::EventReadOptions read;
  read.width = sensor;
  read.height = sensor;
  const double dt_ms = static_cast<double>(frames.dt_us()) / 1000.0;
  if (!a.quiet)
    std::cerr << fmt::format(
        "stream: {} ({}, attention {} {}, T={}), frames {}x{} of {} ms (ds {}), window {} steps ({:.0f} ms), hop {} "
        "({:.0f} ms), state {}, attention {}, synapses {}, threads {}{}\n",
        a.checkpoint, spec.name, spec.attention.name(), to_string(spec.placement), spec.steps, frames.rows(),
        frames.cols(), dt_ms, frames.ds(), classifier.window(), classifier.window() * dt_ms, classifier.hop(),
        classifier.hop() * dt_ms, a.state, a.attention, a.sparse, torch::get_num_threads(),
        a.realtime ? ", real time" : "");

  int64_t labelled = 0, correct = 0;
  auto on_window = [&](const serve::WindowReport& w) {
    const serve::Prediction& p = w.prediction;
    const int truth = segments.empty() ? -1 : true_label(segments, w.t_begin_us, w.t_end_us);
    if (truth >= 0) {
      ++labelled;
      correct += truth == p.label;
    }
    if (a.json) {
      nlohmann::json j = {{"window", p.index},
                          {"first_step", p.first_step},
                          {"last_step", p.last_step},
                          {"t_begin_us", w.t_begin_us},
                          {"t_end_us", w.t_end_us},
                          {"label", p.label},
                          {"class", class_name(p.label)},
                          {"confidence", p.confidence},
                          {"runner_up", p.runner_up},
                          {"runner_up_rate", p.runner_up_rate},
                          {"step_ms", w.step_ms},
                          {"window_mean_step_ms", w.window_mean_step_ms}};
      const torch::Tensor r = p.rates.to(torch::kDouble).contiguous();
      j["rates"] = std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
      if (a.realtime) j["lag_ms"] = w.lag_ms;
      if (truth >= 0) j["true_label"] = truth;
      std::cout << j.dump() << std::endl;
      return;
    }
    std::string line =
        fmt::format("[{:8.3f} s - {:8.3f} s] window {:4}: {:2} {:<26} confidence {:.3f}", w.t_begin_us * 1e-6,
                    w.t_end_us * 1e-6, p.index, p.label, "(" + class_name(p.label) + ")", p.confidence);
    if (p.runner_up >= 0) line += fmt::format("  runner-up {} {:.3f}", p.runner_up, p.runner_up_rate);
    if (truth >= 0) line += fmt::format("  true {}{}", truth, truth == p.label ? "" : " (wrong)");
    line += fmt::format("  | step {:.2f} ms, window mean {:.2f} ms", w.step_ms, w.window_mean_step_ms);
    if (a.realtime) line += fmt::format(", lag {:.1f} ms", w.lag_ms);
    std::cout << line << std::endl;
  };
  const serve::StreamSummary s = serve::run_stream(classifier, binner, ro, read, on_window);

  const double accuracy = labelled > 0 ? static_cast<double>(correct) / static_cast<double>(labelled) : -1;
  if (a.json) {
    nlohmann::json j = {{"steps", s.steps},
                        {"windows", s.windows},
                        {"bytes", s.bytes},
                        {"format", data::format_name(s.format)},
                        {"events", s.parser.events},
                        {"late_events_dropped", s.binner.late_dropped},
                        {"silences_cut", s.binner.gaps},
                        {"silent_steps_skipped", s.binner.skipped_steps},
                        {"dt_ms", s.dt_ms},
                        {"step_ms_median", s.median_ms()},
                        {"step_ms_mean", s.mean_ms()},
                        {"step_ms_p99", s.p99_ms()},
                        {"step_ms_max", s.max_ms()},
                        {"wall_s", s.wall_s},
                        {"idle_timeout", s.idle_timeout},
                        {"threads", torch::get_num_threads()}};
    if (labelled > 0) j["labelled_windows"] = labelled, j["accuracy"] = accuracy;
    std::cout << nlohmann::json{{"summary", j}}.dump() << std::endl;
    return;
  }
  std::cout << fmt::format("stream: {} steps, {} windows, {} events ({} late, dropped), {:.1f} s wall{}{}\n", s.steps,
                           s.windows, s.parser.events, s.binner.late_dropped, s.wall_s,
                           s.binner.gaps > 0 ? fmt::format(", {} silent steps skipped in {} silence{} longer than "
                                                           "the window",
                                                           s.binner.skipped_steps, s.binner.gaps,
                                                           s.binner.gaps == 1 ? "" : "s")
                                             : "",
                           s.idle_timeout ? fmt::format(", ended after {:g} s without data", a.idle_timeout) : "");
  std::cout << fmt::format(
      "latency per step: median {:.3f} ms, mean {:.3f} ms, p99 {:.3f} ms, max {:.3f} ms, against {:.0f} ms of real "
      "time per step ({:.0f}x faster than real time at the median; {} threads)\n",
      s.median_ms(), s.mean_ms(), s.p99_ms(), s.max_ms(), s.dt_ms, s.median_ms() > 0 ? s.dt_ms / s.median_ms() : 0.0,
      torch::get_num_threads());
  if (labelled > 0) std::cout << fmt::format("accuracy over {} labelled windows: {:.2f}%\n", labelled, 100 * accuracy);
}

RegisterCommand reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("stream", "Classify a live event stream online, window by window");
  auto a = std::make_shared<StreamArgs>();
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint (.pt) of a network trained on events")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", a->input,
                  "event file (AEDAT 2.0/3.1/4.0, Prophesee EVT 2.0/3.0 or DAT, N-MNIST .bin), or - for standard input")
      ->required();
  cmd->add_option("--format", a->format,
                  "the input's format when it cannot be detected from its first bytes (aedat3, aedat2, aedat4, evt2, "
                  "evt3, dat, nmnist-bin)");
  cmd->add_flag("--follow", a->follow,
                "the input is a file still being written: at its end wait for more, until --idle-timeout passes "
                "without new data");
  cmd->add_flag("--realtime", a->realtime, "replay at the pace of the timestamps (default: as fast as possible)");
  cmd->add_option("--window", a->window, "steps per prediction window (default: the model's T)")
      ->check(positive());
  cmd->add_option("--hop", a->hop, "steps between predictions (default: the window)")->check(positive());
  cmd->add_flag("--json", a->json, "one JSON object per window and a final summary, instead of text");
  cmd->add_option("--state", a->state,
                  "window: every window from rest as in training (ceil(window/hop) rows per step); continuous: one "
                  "running state, one row per step")
      ->capture_default_str();
  cmd->add_option("--attention", a->attention,
                  "causal: step by step, attention over the steps seen so far; batch: the offline forward at each "
                  "window's end (exact, non-causal)")
      ->capture_default_str();
  cmd->add_option("--sparse", a->sparse, "synaptic layers: dense, sparse (event-driven) or auto (by firing rate)")
      ->capture_default_str();
  cmd->add_option("--max-steps", a->max_steps, "stop after this many steps (0 = the whole input)")
      ->check(non_negative());
  cmd->add_option("--idle-timeout", a->idle_timeout,
                  "end when the input sends nothing for this many seconds (0 = wait)")
      ->check(non_negative());
  cmd->add_option("--start-us", a->start_us, "start of frame 0 in the stream's clock (default: the first event)");
  cmd->add_option("--labels", a->labels, "labels CSV of the recording (DVS128 Gesture layout): accuracy per window")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", a->sets, "override a key of the checkpoint's config, e.g. data.dt_ms (repeatable)");
  cmd->add_flag("--quiet,-q", a->quiet, "no settings line on standard error");
  cmd->callback([a] { run(*a); });
});

}  // namespace
}  // namespace masnn::cli
