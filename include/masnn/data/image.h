// 8-bit images in memory, and their decoding and encoding (OpenCV underneath: JPEG, PNG, BMP, PPM/PGM, WebP,
// TIFF as the installed codecs allow; a build without OpenCV leaves the codecs out). The layout is the one image
// files use: rows top to bottom, pixels left to right, channels interleaved in RGB order (grey images have one
// channel). The transforms of image_transforms.h work on it; the loaders turn it into normalised [C,H,W] float
// tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace masnn::data {

/// An 8-bit image: height x width x channels (1 = grey, 3 = RGB), interleaved, row-major.
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  ///< height * width * channels values

  Image() = default;
  /// An image of the given size with every value `fill`.
  Image(int height, int width, int channels, uint8_t fill = 0);
  bool empty() const { return pixels.empty(); }
  /// The value of channel c of the pixel in row y, column x.
  uint8_t& at(int y, int x, int c = 0) {
    return pixels[(static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) *
                      static_cast<size_t>(channels) +
                  static_cast<size_t>(c)];
  }
  uint8_t at(int y, int x, int c = 0) const {
    return pixels[(static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)) *
                      static_cast<size_t>(channels) +
                  static_cast<size_t>(c)];
  }
};

/// How decode_image returns the pixels.
enum class ColorMode {
  RGB,   ///< three channels (grey files are expanded), the ImageNet convention (PIL's convert("RGB"))
  Grey,  ///< one channel (colour files are converted)
};

/// Decodes an encoded image (the bytes of a file). Throws std::runtime_error when the bytes are not an image the
/// installed codecs can decode.
Image decode_image(const uint8_t* data, size_t size, ColorMode mode = ColorMode::RGB);
/// Reads and decodes the image file at `path`. Throws std::runtime_error naming the file when it cannot be read or
/// decoded.
Image read_image(const std::string& path, ColorMode mode = ColorMode::RGB);

/// Encodes an image in the format of `extension` (".jpg", ".png", ...; case-insensitive). `jpeg_quality` in
/// [1, 100] applies to JPEG. Throws std::invalid_argument for an empty image or an unknown extension.
std::vector<uint8_t> encode_image(const Image& image, const std::string& extension, int jpeg_quality = 95);
/// Encodes and writes an image, the format from the file's extension; written atomically (file_io.h).
void write_image(const std::string& path, const Image& image, int jpeg_quality = 95);

/// A one-channel image through the viridis colour map (OpenCV's COLORMAP_VIRIDIS), as RGB.
Image apply_viridis(const Image& grey);

/// False in a build without OpenCV (-DMASNN_OPENCV=OFF): decoding and encoding image files, resampling (resize,
/// rotation), the simulator's image and video input and the report's pictures then throw or are left out.
bool opencv_built();

/// True when the file name ends in an extension of the image formats read here (.jpg, .jpeg, .png, .bmp, .ppm,
/// .pgm, .webp, .tif, .tiff; case-insensitive), the set torchvision's ImageFolder accepts.
bool has_image_extension(const std::string& filename);

}  // namespace masnn::data
