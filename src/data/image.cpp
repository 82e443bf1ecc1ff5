// Images in memory; decoding and encoding through image_ops (OpenCV's imgcodecs).
#include "masnn/data/image.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "image_ops.h"
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
  return image_ops::decode(data, size, mode);
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
  return image_ops::encode(image, ext, jpeg_quality);
}

void write_image(const std::string& path, const Image& image, int jpeg_quality) {
  write_file_atomic(path, encode_image(image, lower_extension(path), jpeg_quality));
}

Image apply_viridis(const Image& grey) {
  if (grey.empty() || grey.channels != 1) throw std::invalid_argument("apply_viridis: expected a one-channel image");
  return image_ops::viridis(grey);
}

bool has_image_extension(const std::string& filename) {
  static const char* const known[] = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff"};
  const std::string ext = lower_extension(filename);
  return std::any_of(std::begin(known), std::end(known), [&](const char* k) { return ext == k; });
}

}  // namespace masnn::data
