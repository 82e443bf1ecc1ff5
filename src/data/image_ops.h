// The pixel operations masnn takes from OpenCV, behind one small interface: image codecs, resampling, warping,
// the viridis colour map and video frames. image_ops_opencv.cpp implements them; a build without OpenCV
// (-DMASNN_OPENCV=OFF, for a machine that has only LibTorch) compiles image_ops_absent.cpp instead, whose
// functions throw std::runtime_error naming the option. The rest of the image pipeline (crops, flips, padding,
// the colour operations, normalisation) is plain C++ and works in both builds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "masnn/data/image.h"
#include "masnn/data/image_transforms.h"

namespace masnn::data::image_ops {

/// Decodes the bytes of an image file (EXIF orientation ignored, as PIL does). Throws std::runtime_error.
Image decode(const uint8_t* data, size_t size, ColorMode mode);
/// Encodes a 1- or 3-channel image as `ext` (".png", ".jpg", ...: lower case, checked by the caller).
std::vector<uint8_t> encode(const Image& image, const std::string& ext, int jpeg_quality);
/// The region `box` (inside the image) resized to a different height x width (a region of the same size is copied
/// by the caller, with no library): area averaging when it shrinks both ways, else bilinear.
Image resize(const Image& image, const CropBox& box, int height, int width);
/// The image sampled through an inverse affine map (source index = inverse * destination index, pixel centres at
/// integers), nearest neighbour, zero outside.
Image warp_nearest(const Image& image, const std::array<double, 6>& inverse);
/// A one-channel image through the viridis colour map, as RGB.
Image viridis(const Image& grey);
/// The image as one float channel in 0..255 (RGB by BT.601 luma), area-resized to width x height where that
/// differs; row-major.
std::vector<float> grey_float(const Image& image, int width, int height);
/// Stops the library's own thread pool (the data loader's threads are the parallelism).
void use_caller_threads();

/// The frames of a video file as grey float planes in 0..255.
class VideoFrames {
 public:
  /// Opens the file; throws std::runtime_error naming it when no reader can open it.
  explicit VideoFrames(const std::string& path);
  ~VideoFrames();
  VideoFrames(const VideoFrames&) = delete;
  VideoFrames& operator=(const VideoFrames&) = delete;
  /// The frame rate the file states (0 if none).
  double fps() const;
  /// The next frame, area-resized to width x height when both are > 0 and it differs; false at the end.
  bool next(int width, int height, std::vector<float>& grey, int& frame_width, int& frame_height);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace masnn::data::image_ops
