// `masnn synth --out DIR [--users N] [--seed S]`: write synthetic DVS gestures in the DVS128 Gesture layout.
#include <chrono>
#include <cstdio>
#include <string>

#include "checks.h"
#include "command.h"
#include "masnn/data/synth_gestures.h"

namespace {

struct SynthArgs {
  std::string out;
  masnn::data::SynthOptions options;
  bool quiet = false;
};

masnn::cli::RegisterCommand reg([](CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  auto* sub =
      app.add_subcommand("synth", "Write synthetic DVS gesture recordings in the DVS128 Gesture layout (AEDAT 3.1)");
  sub->add_option("--out", args->out, "Output folder (recordings go to OUT/DvsGesture)")->required();
  sub->add_option("--users", args->options.users, "Users (subjects); the last third form the test split")
      ->check(CLI::Range(2, 99))
      ->capture_default_str();
  sub->add_option("--test-users", args->options.test_users, "Users in the test split (0 = users / 3)")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_option("--seed", args->options.seed, "Seed of everything random")->capture_default_str();
  sub->add_option("--repeats", args->options.repeats, "Repetitions of each class per recording")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  sub->add_option("--gesture-seconds", args->options.gesture_seconds, "Mean gesture duration (s)")
      ->check(masnn::cli::positive())
      ->capture_default_str();
  sub->add_option("--noise-hz", args->options.noise_hz, "Background noise events per pixel per second")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_option("--workers", args->options.threads, "Threads (0 = all cores; the output does not depend on it)")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_flag("--quiet", args->quiet, "Print nothing on success");
  sub->callback([args] {
    const auto start = std::chrono::steady_clock::now();
    const auto report = masnn::data::write_synthetic_gestures(args->out, args->options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!args->quiet)
      std::printf("wrote %zu recordings to %s: %zu train + %zu test samples, %zu events, %.1f MB in %.1f s\n",
                  report.recordings, report.folder.c_str(), report.train_samples, report.test_samples, report.events,
                  static_cast<double>(report.bytes) / 1e6, seconds);
  });
});

}  // namespace
