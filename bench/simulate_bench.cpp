// `masnn bench simulate`: the simulator's speed against a training step's, and the recordings' statistics.
#include "bench/simulate_bench.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "bench/bench_util.h"
#include "masnn/data/event_simulation.h"
#include "masnn/data/frames.h"

namespace masnn::bench {

SimulateBenchResult run_simulate_bench(const SimulateBenchConfig& c) {
  if (c.recordings < 1) throw std::invalid_argument("bench simulate: --recordings must be >= 1");
  const auto dataset = data::make_sim_fashion_mnist(c.root, data::Split::Train);
  SimulateBenchResult r;
  r.recordings = std::min<int64_t>(c.recordings, static_cast<int64_t>(dataset->size()));
  const int saved_threads = torch::get_num_threads();
  torch::set_num_threads(1);
  // The preset's frames: T equal time bins of each recording, 36x36, counts.
  const auto frames = data::FrameOptions()
                          .steps(c.steps)
                          .slicing(data::FrameSlicing::TimeBins)
                          .width(dataset->width())
                          .height(dataset->height())
                          .ds(1);
  // Each recording is made, binned into frames and dropped, as the loader does.
  double sum = 0, sum2 = 0, on = 0;
  double legs[3] = {0, 0, 0};
  r.events_min = INT64_MAX;
  for (int64_t i = 0; i < r.recordings; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    const data::Events e = dataset->events(static_cast<size_t>(i));
    r.simulate_s += ms_since(t0) / 1e3;
    t0 = std::chrono::steady_clock::now();
    data::events_to_frames(e, frames, 0);
    r.frames_s += ms_since(t0) / 1e3;
    const double n = static_cast<double>(e.size());
    sum += n, sum2 += n * n;
    r.events_min = std::min<int64_t>(r.events_min, static_cast<int64_t>(e.size()));
    r.events_max = std::max<int64_t>(r.events_max, static_cast<int64_t>(e.size()));
    for (size_t k = 0; k < e.size(); ++k) {
      on += e.p[k];
      legs[std::min<int64_t>(2, (e.t[k] - 1) / 105000)] += 1;
    }
  }
  const double n = static_cast<double>(r.recordings);
  r.events_mean = sum / n;
  r.events_sd = std::sqrt(std::max(0.0, sum2 / n - r.events_mean * r.events_mean));
  r.on_fraction = sum > 0 ? on / sum : 0;
  for (int k = 0; k < 3; ++k) r.saccade_share[k] = sum > 0 ? legs[k] / sum : 0;

  TrainStepBenchConfig train;
  train.model = c.model;
  train.steps = c.steps;
  train.batch = c.batch;
  train.input_size = dataset->width();
  train.iterations = c.iterations;
  r.train = run_train_step_bench(train);
  torch::set_num_threads(saved_threads);
  return r;
}

}  // namespace masnn::bench
