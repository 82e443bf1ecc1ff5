// The image operations in a build without OpenCV (-DMASNN_OPENCV=OFF): each says what is missing.
#include "image_ops.h"

#include <stdexcept>

namespace masnn::data {

bool opencv_built() { return false; }

namespace image_ops {
namespace {

[[noreturn]] void absent(const std::string& what) {
  throw std::runtime_error(what + " needs OpenCV, which this build of masnn leaves out (-DMASNN_OPENCV=OFF); "
                                  "rebuild with OpenCV (docs/building.md)");
}

}  // namespace

Image decode(const uint8_t*, size_t, ColorMode) { absent("decoding an image file"); }
std::vector<uint8_t> encode(const Image&, const std::string& ext, int) { absent("encoding an image as " + ext); }
Image resize(const Image&, const CropBox&, int, int) { absent("resizing an image"); }
Image warp_nearest(const Image&, const std::array<double, 6>&) { absent("rotating or shearing an image"); }
Image viridis(const Image&) { absent("the viridis colour map"); }
std::vector<float> grey_float(const Image&, int, int) { absent("simulating events from an image"); }
void use_caller_threads() {}

struct VideoFrames::State {};
VideoFrames::VideoFrames(const std::string& path) { absent(path + ": reading a video"); }
VideoFrames::~VideoFrames() = default;
double VideoFrames::fps() const { return 0; }
bool VideoFrames::next(int, int, std::vector<float>&, int&, int&) { return false; }

}  // namespace image_ops
}  // namespace masnn::data
