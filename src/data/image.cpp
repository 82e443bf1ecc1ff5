// Image decoding and encoding with OpenCV's imgcodecs (libjpeg-turbo, libpng, ... underneath).
#include "masnn/data/image.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn::data {

Image::Image(int h, int w, int c, uint8_t fill)
    : height(h),
      width(w),
      channels(c),
      pixels(static_cast<size_t>(h) * static_cast<size_t>(w) * static_cast<size_t>(c), fill) {}

Image decode_image(const uint8_t* data, size_t size, ColorMode mode) {
  if (size == 0) throw std::runtime_error("empty file, not an image");
  // PIL (what torchvision's ImageFolder decodes with) ignores the EXIF orientation; so does this.
  const int flags = (mode == ColorMode::RGB ? cv::IMREAD_COLOR : cv::IMREAD_GRAYSCALE) | cv::IMREAD_IGNORE_ORIENTATION;
  cv::Mat decoded;
  try {
    const cv::Mat raw(1, static_cast<int>(size), CV_8UC1, const_cast<uint8_t*>(data));
    decoded = cv::imdecode(raw, flags);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(std::string("cannot decode the image (") + e.what() + ")");
  }
  if (decoded.empty() || decoded.depth() != CV_8U)
    throw std::runtime_error("not an image in a format the installed codecs decode (JPEG, PNG, ...)");
  Image out(decoded.rows, decoded.cols, decoded.channels());
  cv::Mat wrapped(out.height, out.width, CV_8UC(out.channels), out.pixels.data());
  if (out.channels == 3)
    cv::cvtColor(decoded, wrapped, cv::COLOR_BGR2RGB);
  else
    decoded.copyTo(wrapped);
  return out;
}

Image read_image(const std::string& path, ColorMode mode) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  try {
    return decode_image(bytes.data(), bytes.size(), mode);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::vector<uint8_t> encode_image(const Image& image, const std::string& extension, int jpeg_quality) {
  if (image.empty() || (image.channels != 1 && image.channels != 3))
    throw std::invalid_argument("encode_image: expected a non-empty image with 1 or 3 channels");
  if (jpeg_quality < 1 || jpeg_quality > 100)
    throw std::invalid_argument("encode_image: jpeg_quality must be in [1, 100], got " + std::to_string(jpeg_quality));
  // "png", ".png" or "PNG" alike: as the extension of a name.
  const std::string name = "image" + (extension.empty() || extension[0] != '.' ? "." + extension : extension);
  const std::string ext = lower_extension(name);
  if (!has_image_extension(name))
    throw std::invalid_argument("encode_image: unknown image extension '" + extension + "'");
  const cv::Mat wrapped(image.height, image.width, CV_8UC(image.channels), const_cast<uint8_t*>(image.pixels.data()));
  cv::Mat bgr;
  if (image.channels == 3)
    cv::cvtColor(wrapped, bgr, cv::COLOR_RGB2BGR);
  else
    bgr = wrapped;
  std::vector<uchar> buffer;
  bool ok = false;
  try {
    ok = cv::imencode(ext, bgr, buffer, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality});
  } catch (const cv::Exception& e) {
    throw std::invalid_argument("encode_image: cannot encode as " + ext + " (" + e.what() + ")");
  }
  if (!ok) throw std::invalid_argument("encode_image: cannot encode as " + ext);
  return std::vector<uint8_t>(buffer.begin(), buffer.end());
}

void write_image(const std::string& path, const Image& image, int jpeg_quality) {
  write_file_atomic(path, encode_image(image, lower_extension(path), jpeg_quality));
}

bool has_image_extension(const std::string& filename) {
  static const char* const known[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff"};
  const std::string ext = lower_extension(filename);
  return std::any_of(std::begin(known), std::end(known), [&](const char* k) { return ext == k; });
}

}  // namespace masnn::data
