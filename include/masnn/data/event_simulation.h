// Event recordings made with the DVS pixel model (dvs_simulator.h) from still images moved by saccades (the way
// N-MNIST and N-Caltech101 were recorded: a camera on a pan-tilt unit looking at a monitor) and from video files,
// and a dataset of such recordings made from an image dataset on the fly (`sim-fashion-mnist`).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "masnn/data/dataset_export.h"
#include "masnn/data/dvs_simulator.h"
#include "masnn/data/event_dataset.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/events.h"
#include "masnn/data/image.h"
#include "masnn/data/image_folder.h"

namespace masnn::data {

/// A point of a saccade path: the image's displacement on the sensor, in pixels (x right, y down).
struct SaccadePoint {
  double x = 0, y = 0;
};

/// How a still image is moved in front of the simulated camera. Defaults: the N-MNIST protocol as its authors'
/// code undoes it (Orchard et al. 2015; gorchard's stabilize.m): three saccades of 105 ms each, the image moving
/// 3.5 px right and 7 px down, then 3.5 px right and 7 px up, then 7 px left, on a 34x34 sensor.
struct SaccadeOptions {
  int sensor_width = 34;   ///< sensor size (pixels)
  int sensor_height = 34;
  /// The path's corners, visited in order at constant speed; the image is centred on the sensor at the middle of
  /// the path's bounding box.
  std::vector<SaccadePoint> path = {{0, 0}, {3.5, 7}, {7, 0}, {0, 0}};
  int64_t saccade_us = 105000;  ///< duration of each leg of the path
  int64_t frame_us = 3000;      ///< time between rendered frames (the image moves < 0.25 px between two)
  /// Throws std::invalid_argument naming the setting when one is out of range.
  void validate() const;
  /// Total duration (us) of the path.
  int64_t duration_us() const { return saccade_us * static_cast<int64_t>(path.size() > 1 ? path.size() - 1 : 0); }
};

/// The events of `image` (grey, or RGB converted to grey; at most sensor - path extent per side, else scaled down
/// to fit, keeping its aspect) moved along the saccade path. Intensity 0..255 maps to the pixel model's units; the
/// area around the image is black. Timestamps from 1 us to duration_us().
Events simulate_saccades(const Image& image, const SaccadeOptions& saccades, const DvsSimulatorOptions& pixels);

/// How a video file is turned into events.
struct VideoSimulationOptions {
  int width = 0;        ///< sensor width (0 = the video's); frames are resized (area interpolation) to it
  int height = 0;       ///< sensor height (0 = the video's)
  double fps = 0;       ///< frame rate of the recording (0 = the file's); 120 fps slowed to 30 fps: give 120
  int64_t max_frames = 0;  ///< stop after this many frames (0 = all)
};

/// What simulate_video read.
struct VideoSimulationReport {
  int64_t frames = 0;
  int width = 0, height = 0;
  double fps = 0;
  size_t events = 0;
};

/// Decodes the video at `path` (OpenCV's video reader: the codecs of the installed FFmpeg, and Motion JPEG AVI
/// always) frame by frame, in grey, and passes the events of each frame interval to `sink` (sorted by time;
/// the first frame at t = 0). Throws std::runtime_error naming the file when it cannot be opened or decoded or
/// states no frame rate (then give one), std::invalid_argument for bad settings.
VideoSimulationReport simulate_video(const std::string& path, const VideoSimulationOptions& video,
                                     const DvsSimulatorOptions& pixels,
                                     const std::function<void(const Events&)>& sink);

/// Settings of simulate_image_folder.
struct ImageFolderSimulationOptions {
  SaccadeOptions saccades;
  DvsSimulatorOptions pixels;      ///< its seed is mixed with each image's number (in sorted path order)
  EventOutputFormat format = EventOutputFormat::NmnistBin;
  int workers = 1;                 ///< threads (the files do not depend on it)
  std::function<void(size_t done, size_t total)> progress;  ///< after each file, one call at a time
};

/// Makes a recording of every image under `input` (its subfolders too; the extensions has_image_extension
/// accepts) and writes it to the same relative path under `output`, with the format's extension. Throws
/// std::invalid_argument naming the folder when it is missing or holds no image, std::runtime_error naming the
/// file that cannot be read or written.
ExportReport simulate_image_folder(const std::string& input, const std::string& output,
                                   const ImageFolderSimulationOptions& options);

/// The settings of a simulated dataset: the saccades, the pixel model and the seed the recordings are made from.
struct SimulatedDatasetOptions {
  SaccadeOptions saccades;
  DvsSimulatorOptions pixels;
  /// Recording i of a split is made with the pixel model seeded by (seed, split, i), so it is the same whenever it
  /// is read, in any order, by any thread.
  uint64_t seed = 0;
  /// The sensor size the dataset states to the frame builder (0 = the saccades' sensor); larger than the sensor
  /// pads it with empty rows and columns (36 lets the DVS networks' pools divide a 34x34 sensor, as for N-MNIST).
  int served_width = 36;
  int served_height = 36;
};

/// Event recordings of the images of an image dataset, made when read (nothing is stored).
class SimulatedEventDataset : public EventDataset {
 public:
  SimulatedEventDataset(std::shared_ptr<const ImageDataset> images, Split split, std::string name,
                        SimulatedDatasetOptions options = {});
  size_t size() const override { return images_->size(); }
  int label(size_t i) const override { return images_->label(i); }
  Events events(size_t i) const override;
  int num_classes() const override { return images_->num_classes(); }
  int width() const override;
  int height() const override;
  std::string name() const override { return name_; }
  std::string describe(size_t i) const override;
  /// None: the recordings depend on the code and the options, not on files a cache could watch.
  std::vector<SourceFile> source_files() const override { return {}; }
  const SimulatedDatasetOptions& options() const { return options_; }

 private:
  std::shared_ptr<const ImageDataset> images_;
  Split split_;
  std::string name_;
  SimulatedDatasetOptions options_;
};

/// `sim-fashion-mnist`: Fashion-MNIST (fashion_mnist.h; root "" = Debian's dataset-fashion-mnist folder) as event
/// recordings, N-MNIST's protocol and v2e's pixel defaults, seed 0.
std::shared_ptr<const EventDataset> make_sim_fashion_mnist(const std::string& root, Split split);

}  // namespace masnn::data
