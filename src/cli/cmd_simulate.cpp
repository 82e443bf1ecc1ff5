// `masnn simulate`: event recordings made with the DVS pixel model from a video, a folder of still images (moved by
// saccades, as N-MNIST was recorded) or an image dataset of masnn (written in N-MNIST's folder layout).
#include <chrono>
#include <cstdio>
#include <string>

#include "checks.h"
#include "command.h"
#include "masnn/data/dataset_export.h"
#include "masnn/data/event_simulation.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/fashion_mnist.h"

namespace {

namespace md = masnn::data;

struct SimulateArgs {
  std::string video, images, dataset, root, out, format, split = "both";
  md::DvsSimulatorOptions pixels;
  md::SaccadeOptions saccades;
  md::VideoSimulationOptions video_options;
  double saccade_ms = 105;
  size_t limit = 0;
  int workers = 1;
  bool quiet = false;
};

// A progress line rewritten in place, every 2% of the files.
std::function<void(size_t, size_t)> progress_line(bool quiet, const std::string& what) {
  if (quiet) return {};
  return [what](size_t done, size_t total) {
    if (done == total || done % std::max<size_t>(1, total / 50) == 0)
      std::fprintf(stderr, "\r%s: %zu / %zu%s", what.c_str(), done, total, done == total ? "\n" : "");
  };
}

void print_report(const SimulateArgs& a, const md::ExportReport& r, const std::string& where, double seconds) {
  if (!a.quiet)
    std::printf("wrote %zu recordings (%zu events, %.1f MB) to %s in %.1f s\n", r.files, r.events,
                static_cast<double>(r.bytes) / 1e6, where.c_str(), seconds);
}

void simulate(SimulateArgs a) {
  const int inputs = !a.video.empty() + !a.images.empty() + !a.dataset.empty();
  if (inputs != 1) throw std::invalid_argument("simulate: give one input: --video FILE, --images DIR or --dataset NAME");
  a.saccades.saccade_us = static_cast<int64_t>(a.saccade_ms * 1000.0 + 0.5);
  auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  if (!a.video.empty()) {
    const md::EventOutputFormat format =
        a.format.empty() ? md::output_format_for(a.out) : md::parse_output_format(a.format);
    md::EventWriterOptions stated;
    stated.source = "masnn simulate";
    std::unique_ptr<md::EventFileWriter> writer;
    const auto report = md::simulate_video(a.video, a.video_options, a.pixels, [&](const md::Events& events) {
      if (!writer) writer = md::make_event_writer(format, a.out, stated);
      writer->write(events);
    });
    if (!writer) writer = md::make_event_writer(format, a.out, stated);  // a still video: an empty recording
    writer->commit();
    if (!a.quiet)
      std::printf("%s: %lld frames %dx%d at %.2f fps -> %s: %zu events in %.1f s\n", a.video.c_str(),
                  static_cast<long long>(report.frames), report.width, report.height, report.fps, a.out.c_str(),
                  report.events, seconds());
    return;
  }
  const md::EventOutputFormat format =
      a.format.empty() ? md::EventOutputFormat::NmnistBin : md::parse_output_format(a.format);
  if (!a.images.empty()) {
    md::ImageFolderSimulationOptions o;
    o.saccades = a.saccades;
    o.pixels = a.pixels;
    o.format = format;
    o.workers = a.workers;
    o.progress = progress_line(a.quiet, "simulate " + a.images);
    const md::ExportReport report = md::simulate_image_folder(a.images, a.out, o);
    print_report(a, report, a.out, seconds());
    return;
  }
  if (a.dataset != "fashion-mnist")
    throw std::invalid_argument("simulate: --dataset: fashion-mnist is the image dataset simulated (got '" + a.dataset +
                                "'); for a folder of images give --images DIR");
  md::SimulatedDatasetOptions o;
  o.saccades = a.saccades;
  o.pixels = a.pixels;
  o.seed = a.pixels.seed;
  for (const md::Split split : {md::Split::Train, md::Split::Test}) {
    if (a.split != "both" && a.split != md::split_name(split)) continue;
    start = std::chrono::steady_clock::now();
    auto images = std::make_shared<md::FashionMnist>(a.root.empty() ? md::kFashionMnistDebianRoot : a.root, split);
    const md::SimulatedEventDataset dataset(images, split, "sim-fashion-mnist/" + md::split_name(split), o);
    md::ExportOptions e;
    e.format = format;
    e.limit = a.limit;
    e.workers = a.workers;
    e.progress = progress_line(a.quiet, dataset.name());
    const std::string folder = a.out + (split == md::Split::Train ? "/Train" : "/Test");
    const md::ExportReport report = md::export_event_dataset(dataset, folder, e);
    print_report(a, report, folder, seconds());
  }
}

masnn::cli::RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<SimulateArgs>();
  auto* sub = app.add_subcommand(
      "simulate", "Make event recordings with a DVS pixel model from a video, still images moved by saccades, or "
                  "Fashion-MNIST (N-MNIST's protocol and layout)");
  sub->add_option("--video", a->video, "A video file (OpenCV's reader: FFmpeg's codecs, Motion JPEG AVI)");
  sub->add_option("--images", a->images, "A folder of images (subfolders too): one recording per image");
  sub->add_option("--dataset", a->dataset, "fashion-mnist: every image, written as OUT/{Train,Test}/<label>/N.bin");
  sub->add_option("--root", a->root, "The dataset's folder (default: Debian's dataset-fashion-mnist)");
  sub->add_option("--out", a->out, "Output: a file for --video, a folder otherwise")->required();
  sub->add_option("--format", a->format,
                  "Output format: npy, aedat3, aedat4, nmnist-bin (default: nmnist-bin for images; for a video the "
                  "output's extension)")
      ->check(CLI::IsMember({"npy", "aedat3", "aedat4", "nmnist-bin"}));
  sub->add_option("--split", a->split, "--dataset: train, test or both")
      ->check(CLI::IsMember({"train", "test", "both"}))
      ->capture_default_str();
  sub->add_option("--limit", a->limit, "--dataset: the first N images of each split (0 = all)")->capture_default_str();
  sub->add_option("--workers", a->workers, "Threads (the recordings do not depend on it)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  // The pixel model (defaults: v2e's).
  auto& p = a->pixels;
  sub->add_option("--on-threshold", p.on_threshold, "Log-intensity rise of an ON event")
      ->check(masnn::cli::positive())
      ->capture_default_str();
  sub->add_option("--off-threshold", p.off_threshold, "Log-intensity fall of an OFF event")
      ->check(masnn::cli::positive())
      ->capture_default_str();
  sub->add_option("--threshold-sigma", p.threshold_sigma, "Per-pixel standard deviation of the thresholds")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_option("--refractory-us", p.refractory_us, "Blind time of a pixel after an event (us)")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_option("--leak-hz", p.leak_rate_hz, "Leak (ON) events per pixel per second")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_option("--shot-noise-hz", p.shot_noise_rate_hz, "Shot-noise events (ON + OFF) per pixel per second")
      ->check(masnn::cli::non_negative())
      ->capture_default_str();
  sub->add_option("--seed", p.seed, "Seed of the thresholds' mismatch and the noise")->capture_default_str();
  // Saccades (images and datasets; defaults: N-MNIST's).
  auto& s = a->saccades;
  sub->add_option("--sensor-width", s.sensor_width, "Sensor width (images, datasets)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  sub->add_option("--sensor-height", s.sensor_height, "Sensor height (images, datasets)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  sub->add_option("--saccade-ms", a->saccade_ms, "Duration of each of the three saccades (ms)")
      ->check(masnn::cli::positive())
      ->capture_default_str();
  sub->add_option("--frame-us", s.frame_us, "Time between the rendered frames (us)")
      ->check(CLI::Range(int64_t{1}, int64_t{1000000}))
      ->capture_default_str();
  // Video.
  auto& v = a->video_options;
  sub->add_option("--width", v.width, "--video: resize the frames to this width (0 = as they are)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--height", v.height, "--video: resize the frames to this height (0 = as they are)")
      ->check(CLI::Range(0, 65535));
  sub->add_option("--fps", v.fps, "--video: the recording's frame rate (default: the file's; 120 fps played at 30: 120)")
      ->check(masnn::cli::non_negative());
  sub->add_option("--max-frames", v.max_frames, "--video: stop after this many frames (0 = all)")
      ->check(masnn::cli::non_negative());
  sub->add_flag("--quiet", a->quiet, "Print nothing on success");
  sub->callback([a] { simulate(*a); });
});

}  // namespace
