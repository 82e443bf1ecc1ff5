// Recordings made with the DVS pixel model: still images moved by saccades, video files, and a dataset of
// simulated recordings of an image dataset.
#include "masnn/data/event_simulation.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "image_ops.h"
#include "masnn/data/batch_loader.h"
#include "masnn/data/fashion_mnist.h"
#include "masnn/util/file_io.h"
#include "util/parallel.h"

namespace masnn::data {
namespace {

// A float plane with a border of one zero pixel on every side, for translate().
struct PaddedPlane {
  int width = 0, height = 0;  ///< with the border
  std::vector<float> values;
  const float* row(int y) const { return values.data() + static_cast<size_t>(y) * static_cast<size_t>(width); }
};

PaddedPlane pad_by_one(const std::vector<float>& plane, int width, int height) {
  PaddedPlane p{width + 2, height + 2, std::vector<float>(static_cast<size_t>(width + 2) * (height + 2), 0.0f)};
  for (int y = 0; y < height; ++y)
    std::copy_n(plane.data() + static_cast<size_t>(y) * width, width,
                p.values.data() + static_cast<size_t>(y + 1) * p.width + 1);
  return p;
}

// dst (width x height) = `padded` moved by (ox, oy) pixels, bilinear. `padded` is the image with a border of one
// zero pixel, so every sample outside the image reads a zero of the border (indices clamped into it). Written out:
// OpenCV's warpAffine takes 8 us for a 34x34 frame, more than the pixel model; this takes well under 1.
void translate(const PaddedPlane& padded, double ox, double oy, int width, int height, float* dst) {
  const int ix = static_cast<int>(std::floor(ox)), iy = static_cast<int>(std::floor(oy));
  const float fx = static_cast<float>(ox - ix), fy = static_cast<float>(oy - iy);
  // dst(x, y) = padded(y - iy + {0, 1}, x - ix + {0, 1}) with weights (fy, 1 - fy) x (fx, 1 - fx): source pixel
  // x - ox = (x - ix - 1) + (1 - fx), and the border shifts padded indices by one.
  const float w00 = fy * fx, w01 = fy * (1 - fx), w10 = (1 - fy) * fx, w11 = (1 - fy) * (1 - fx);
  const int pw = padded.width, ph = padded.height;
  const auto clamp_col = [pw](int c) { return std::clamp(c, 0, pw - 1); };
  const int xa = std::clamp(ix, 0, width), xb = std::clamp(pw - 1 + ix, xa, width);  // x - ix, x - ix + 1 inside
  for (int y = 0; y < height; ++y) {
    const float* p0 = padded.row(std::clamp(y - iy, 0, ph - 1));
    const float* p1 = padded.row(std::clamp(y - iy + 1, 0, ph - 1));
    float* out = dst + static_cast<size_t>(y) * static_cast<size_t>(width);
    const auto sample = [&](int x) {
      const int c0 = clamp_col(x - ix), c1 = clamp_col(x - ix + 1);
      return w00 * p0[c0] + w01 * p0[c1] + w10 * p1[c0] + w11 * p1[c1];
    };
    for (int x = 0; x < xa; ++x) out[x] = sample(x);
    const float *q0 = p0 - ix, *q1 = p1 - ix;
    for (int x = xa; x < xb; ++x) out[x] = w00 * q0[x] + w01 * q0[x + 1] + w10 * q1[x] + w11 * q1[x + 1];
    for (int x = xb; x < width; ++x) out[x] = sample(x);
  }
}

}  // namespace

void SaccadeOptions::validate() const {
  if (sensor_width < 1 || sensor_height < 1 || sensor_width > 65535 || sensor_height > 65535)
    throw std::invalid_argument("simulate: the sensor must be 1..65535 pixels wide and high, got " +
                                std::to_string(sensor_width) + "x" + std::to_string(sensor_height));
  if (path.size() < 2) throw std::invalid_argument("simulate: a saccade path needs at least 2 points");
  for (const auto& p : path)
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || std::abs(p.x) > 1e4 || std::abs(p.y) > 1e4)
      throw std::invalid_argument("simulate: saccade path points must be finite pixel offsets (|v| <= 10000)");
  if (saccade_us < 1 || saccade_us > 3'600'000'000LL)
    throw std::invalid_argument("simulate: saccade_us must be in 1..3.6e9 us, got " + std::to_string(saccade_us));
  if (frame_us < 1 || frame_us > saccade_us)
    throw std::invalid_argument("simulate: frame_us must be in 1..saccade_us (" + std::to_string(saccade_us) +
                                "), got " + std::to_string(frame_us));
}

Events simulate_saccades(const Image& image, const SaccadeOptions& saccades, const DvsSimulatorOptions& pixels) {
  saccades.validate();
  if (image.empty()) throw std::invalid_argument("simulate: empty image");
  if (image.channels != 1 && image.channels != 3)
    throw std::invalid_argument("simulate: images must have 1 or 3 channels, got " + std::to_string(image.channels));
  double min_x = saccades.path[0].x, max_x = min_x, min_y = saccades.path[0].y, max_y = min_y;
  for (const auto& p : saccades.path) {
    min_x = std::min(min_x, p.x), max_x = std::max(max_x, p.x);
    min_y = std::min(min_y, p.y), max_y = std::max(max_y, p.y);
  }
  // Scale down an image larger than the room the path leaves it (at least one pixel).
  const double room_w = std::max(1.0, saccades.sensor_width - (max_x - min_x));
  const double room_h = std::max(1.0, saccades.sensor_height - (max_y - min_y));
  const double scale = std::min({1.0, room_w / image.width, room_h / image.height});
  int w = image.width, h = image.height;
  if (scale < 1.0) {
    w = std::max(1, static_cast<int>(std::lround(image.width * scale)));
    h = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  }
  const PaddedPlane padded = pad_by_one(image_ops::grey_float(image, w, h), w, h);
  // The image's top-left corner at path point p: centred at the middle of the path's bounding box.
  const double base_x = (saccades.sensor_width - w - (max_x - min_x)) / 2.0 - min_x;
  const double base_y = (saccades.sensor_height - h - (max_y - min_y)) / 2.0 - min_y;

  DvsSimulator sensor(saccades.sensor_width, saccades.sensor_height, pixels);
  std::vector<float> frame(static_cast<size_t>(saccades.sensor_width) * static_cast<size_t>(saccades.sensor_height));
  Events events;
  const int64_t duration = saccades.duration_us();
  const int64_t legs = static_cast<int64_t>(saccades.path.size()) - 1;
  for (int64_t t = 0;; t = std::min(duration, t + saccades.frame_us)) {
    const int64_t leg = std::min(legs - 1, t / saccades.saccade_us);
    const double s = static_cast<double>(t - leg * saccades.saccade_us) / static_cast<double>(saccades.saccade_us);
    const SaccadePoint& a = saccades.path[static_cast<size_t>(leg)];
    const SaccadePoint& b = saccades.path[static_cast<size_t>(leg) + 1];
    translate(padded, base_x + a.x + (b.x - a.x) * s, base_y + a.y + (b.y - a.y) * s, saccades.sensor_width,
              saccades.sensor_height, frame.data());
    sensor.add_frame(frame.data(), t, events);
    if (t == duration) break;
  }
  return events;
}

VideoSimulationReport simulate_video(const std::string& path, const VideoSimulationOptions& video,
                                     const DvsSimulatorOptions& pixels,
                                     const std::function<void(const Events&)>& sink) {
  pixels.validate();
  if (video.width < 0 || video.height < 0 || (video.width == 0) != (video.height == 0))
    throw std::invalid_argument("simulate: give both the width and the height of the sensor, or neither");
  if (!(video.fps >= 0) || !std::isfinite(video.fps))
    throw std::invalid_argument("simulate: fps must be >= 0 (0 = the file's), got " + std::to_string(video.fps));
  require_regular_file(path);
  image_ops::VideoFrames frames(path);
  VideoSimulationReport report;
  report.fps = video.fps > 0 ? video.fps : frames.fps();
  if (!(report.fps > 0) || !std::isfinite(report.fps))
    throw std::runtime_error(path + ": the file states no frame rate; give one (--fps)");
  std::unique_ptr<DvsSimulator> sensor;
  std::vector<float> intensity;
  int width = 0, height = 0;
  Events events;
  while (video.max_frames == 0 || report.frames < video.max_frames) {
    if (!frames.next(video.width, video.height, intensity, width, height)) break;
    if (!sensor) {
      sensor = std::make_unique<DvsSimulator>(width, height, pixels);
      report.width = width;
      report.height = height;
    }
    const int64_t t = std::llround(static_cast<double>(report.frames) * 1e6 / report.fps);
    events.clear();
    sensor->add_frame(intensity.data(), t, events);
    ++report.frames;
    report.events += events.size();
    if (!events.empty()) sink(events);
  }
  if (report.frames == 0) throw std::runtime_error(path + ": no frame could be decoded");
  return report;
}

ExportReport simulate_image_folder(const std::string& input, const std::string& output,
                                   const ImageFolderSimulationOptions& options) {
  namespace fs = std::filesystem;
  options.saccades.validate();
  options.pixels.validate();
  std::error_code ec;
  if (!fs::is_directory(input, ec)) throw std::invalid_argument(input + ": not a folder of images");
  std::vector<fs::path> images;
  for (const auto& entry : fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied))
    if (entry.is_regular_file() && has_image_extension(entry.path().filename().string()))
      images.push_back(fs::relative(entry.path(), input));
  if (images.empty())
    throw std::invalid_argument(input + ": no image files in the folder (.jpg, .jpeg, .png, .bmp, .ppm, .pgm, .webp, "
                                        ".tif, .tiff)");
  std::sort(images.begin(), images.end());
  ExportReport report;
  std::mutex mutex;
  parallel_tasks(images.size(), std::max(1, options.workers), [&](size_t i) {
    DvsSimulatorOptions pixels = options.pixels;
    pixels.seed = mix_seed(options.pixels.seed, i);
    const Events events =
        simulate_saccades(read_image((fs::path(input) / images[i]).string(), ColorMode::Grey), options.saccades, pixels);
    fs::path target = fs::path(output) / images[i];
    target.replace_extension(output_extension(options.format));
    fs::create_directories(target.parent_path());
    EventWriterOptions writer_options;
    writer_options.width = options.saccades.sensor_width;
    writer_options.height = options.saccades.sensor_height;
    writer_options.source = "masnn simulate";
    const uint64_t bytes = write_event_file(target.string(), events, options.format, writer_options);
    std::lock_guard<std::mutex> lock(mutex);
    report.add(events.size(), bytes);
    if (options.progress) options.progress(report.files, images.size());
  });
  return report;
}

SimulatedEventDataset::SimulatedEventDataset(std::shared_ptr<const ImageDataset> images, Split split, std::string name,
                                             SimulatedDatasetOptions options)
    : images_(std::move(images)), split_(split), name_(std::move(name)), options_(std::move(options)) {
  if (!images_) throw std::invalid_argument("SimulatedEventDataset: no image dataset");
  options_.saccades.validate();
  options_.pixels.validate();
}

Events SimulatedEventDataset::events(size_t i) const {
  DvsSimulatorOptions pixels = options_.pixels;
  pixels.seed = mix_seed(mix_seed(options_.seed, split_ == Split::Train ? 1 : 2), i);
  return simulate_saccades(images_->image(i), options_.saccades, pixels);
}

int SimulatedEventDataset::width() const {
  return std::max(options_.served_width, options_.saccades.sensor_width);
}

int SimulatedEventDataset::height() const {
  return std::max(options_.served_height, options_.saccades.sensor_height);
}

std::string SimulatedEventDataset::describe(size_t i) const { return images_->describe(i) + ", simulated"; }

std::shared_ptr<const EventDataset> make_sim_fashion_mnist(const std::string& root, Split split) {
  auto images = std::make_shared<FashionMnist>(root.empty() ? kFashionMnistDebianRoot : root, split);
  return std::make_shared<SimulatedEventDataset>(images, split, "sim-fashion-mnist/" + split_name(split));
}

}  // namespace masnn::data
