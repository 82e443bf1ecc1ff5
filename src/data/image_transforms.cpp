// torchvision's image transforms on 8-bit images; resizing and warping through image_ops (OpenCV), the rest in
// plain C++. The colour operations compute in float32 and truncate to uint8, as torchvision's uint8 tensor path does.
#include "masnn/data/image_transforms.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "image_ops.h"

namespace masnn::data {
namespace {

void check_image(const Image& image, const char* what) {
  if (image.empty() || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.height) * image.width * image.channels)
    throw std::invalid_argument(std::string(what) + ": expected a non-empty image with 1 or 3 channels");
}

uint8_t saturate(float v) {
  // clamp(0, 255) then .to(uint8): truncation toward zero.
  return static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)));
}

// torchvision's _blend for uint8: (ratio * a + (1 - ratio) * b).clamp(0, 255) in float32, truncated.
template <typename B>
Image blend(const Image& a, const B& b_at, double ratio) {
  Image out = a;
  const auto r = static_cast<float>(ratio), q = static_cast<float>(1.0 - ratio);
  for (size_t i = 0; i < a.pixels.size(); ++i)
    out.pixels[i] = saturate(r * static_cast<float>(a.pixels[i]) + q * static_cast<float>(b_at(i)));
  return out;
}

// torch.linspace(start, end, 10)[bin] in float32 (torch fills the second half from the end).
double linspace10(float start, float end, int bin) {
  const int steps = 10;
  const float step = (end - start) / static_cast<float>(steps - 1);
  return bin < steps / 2 ? start + step * static_cast<float>(bin) : end - step * static_cast<float>(steps - bin - 1);
}

// Where the pixel in row y, column x of `image` starts.
const uint8_t* pixel(const Image& image, int y, int x) {
  return image.pixels.data() + (static_cast<size_t>(y) * static_cast<size_t>(image.width) + static_cast<size_t>(x)) *
                                   static_cast<size_t>(image.channels);
}

// Copies rows [y0, y1) x columns [x0, x1) of `src` to `dst` at (dy, dx); same channels.
void copy_block(const Image& src, int y0, int y1, int x0, int x1, Image& dst, int dy, int dx) {
  const size_t row = static_cast<size_t>(x1 - x0) * static_cast<size_t>(src.channels);
  for (int y = y0; y < y1; ++y) std::memcpy(&dst.at(dy + y - y0, dx), pixel(src, y, x0), row);
}

Image resized_roi(const Image& image, const CropBox& box, int height, int width) {
  if (box.height == height && box.width == width) {
    Image out(height, width, image.channels);
    copy_block(image, box.top, box.top + box.height, box.left, box.left + box.width, out, 0, 0);
    return out;
  }
  return image_ops::resize(image, box, height, width);
}

}  // namespace

// ---- random numbers -----------------------------------------------------------------------------------------------

double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

double uniform(std::mt19937_64& rng, double low, double high) {
  return low + (high - low) * uniform01(rng);
}

int64_t random_index(std::mt19937_64& rng, int64_t n) {
  if (n < 1) throw std::invalid_argument("random_index: n must be >= 1");
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
}

// ---- geometry -----------------------------------------------------------------------------------------------------

Image hflip(const Image& image) {
  check_image(image, "hflip");
  Image out(image.height, image.width, image.channels);
  const auto c = static_cast<size_t>(image.channels);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) std::memcpy(&out.at(y, image.width - 1 - x), pixel(image, y, x), c);
  return out;
}

Image crop(const Image& image, const CropBox& box) {
  check_image(image, "crop");
  if (box.height < 1 || box.width < 1) throw std::invalid_argument("crop: the box must have a positive size");
  Image out(box.height, box.width, image.channels, 0);
  // The part of the box inside the image.
  const int y0 = std::max(box.top, 0), y1 = std::min(box.top + box.height, image.height);
  const int x0 = std::max(box.left, 0), x1 = std::min(box.left + box.width, image.width);
  if (y0 >= y1 || x0 >= x1) return out;
  copy_block(image, y0, y1, x0, x1, out, y0 - box.top, x0 - box.left);
  return out;
}

Image center_crop(const Image& image, int height, int width) {
  check_image(image, "center_crop");
  if (height < 1 || width < 1) throw std::invalid_argument("center_crop: the size must be positive");
  // Larger than the image: torchvision pads (d // 2 before, the rest after) and crops at 0.
  auto offset = [](int have, int want) {
    return want > have ? -((want - have) / 2) : static_cast<int>(std::nearbyint((have - want) / 2.0));
  };
  return crop(image, {offset(image.height, height), offset(image.width, width), height, width});
}

Image resize(const Image& image, int height, int width) {
  check_image(image, "resize");
  if (height < 1 || width < 1) throw std::invalid_argument("resize: the size must be positive");
  return resized_roi(image, {0, 0, image.height, image.width}, height, width);
}

Image resize_shorter(const Image& image, int size) {
  check_image(image, "resize_shorter");
  if (size < 1) throw std::invalid_argument("resize_shorter: the size must be positive");
  const bool wide = image.width > image.height;
  const int shorter = wide ? image.height : image.width, longer = wide ? image.width : image.height;
  const auto new_longer = static_cast<int>(static_cast<double>(size) * longer / shorter);
  return wide ? resize(image, size, new_longer) : resize(image, new_longer, size);
}

Image pad(const Image& image, int padding, uint8_t fill) {
  check_image(image, "pad");
  if (padding < 0) throw std::invalid_argument("pad: padding must be >= 0");
  Image out(image.height + 2 * padding, image.width + 2 * padding, image.channels, fill);
  copy_block(image, 0, image.height, 0, image.width, out, padding, padding);
  return out;
}

CropBox random_resized_crop_box(int height, int width, double scale_min, double scale_max, double ratio_min,
                                double ratio_max, std::mt19937_64& rng) {
  const double area = static_cast<double>(height) * width;
  const double log_r0 = std::log(ratio_min), log_r1 = std::log(ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * uniform(rng, scale_min, scale_max);
    const double aspect = std::exp(uniform(rng, log_r0, log_r1));
    const auto w = static_cast<int>(std::nearbyint(std::sqrt(target * aspect)));
    const auto h = static_cast<int>(std::nearbyint(std::sqrt(target / aspect)));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const auto top = static_cast<int>(random_index(rng, height - h + 1));
      const auto left = static_cast<int>(random_index(rng, width - w + 1));
      return {top, left, h, w};
    }
  }
  // Fallback: the central crop with the ratio clamped to the range.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < ratio_min)
    h = static_cast<int>(std::nearbyint(w / ratio_min));
  else if (in_ratio > ratio_max)
    w = static_cast<int>(std::nearbyint(h * ratio_max));
  return {(height - h) / 2, (width - w) / 2, h, w};
}

Image affine(const Image& image, double angle, double translate_x, double translate_y, double scale, double shear_x,
             double shear_y, double center_x, double center_y) {
  check_image(image, "affine");
  if (!(scale > 0)) throw std::invalid_argument("affine: scale must be positive");
  const double cx = std::isnan(center_x) ? image.width * 0.5 : center_x;
  const double cy = std::isnan(center_y) ? image.height * 0.5 : center_y;
  // The forward map is T * C * RSS * C^-1 with RSS = rotation(angle) * shear(sx, sy) * scale, in continuous
  // coordinates (pixel i covers [i, i+1)); sampling needs its inverse.
  const double deg = M_PI / 180.0;
  const double rot = angle * deg, sx = shear_x * deg, sy = shear_y * deg;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  // det [a b; c d] = 1, so the inverse is [d -b; -c a] / scale.
  const double m0 = d / scale, m1 = -b / scale, m3 = -c / scale, m4 = a / scale;
  const double m2 = m0 * (-cx - translate_x) + m1 * (-cy - translate_y) + cx;
  const double m5 = m3 * (-cx - translate_x) + m4 * (-cy - translate_y) + cy;
  // OpenCV indexes pixel centres at integers: source index = M (dst index + 0.5) - 0.5. Its nearest neighbour
  // rounds, which equals PIL's floor of the continuous coordinate.
  return image_ops::warp_nearest(
      image, {m0, m1, m0 * 0.5 + m1 * 0.5 + m2 - 0.5, m3, m4, m3 * 0.5 + m4 * 0.5 + m5 - 0.5});
}

Image rotate(const Image& image, double angle) {
  return affine(image, -angle, 0, 0, 1, 0, 0);
}

// ---- colour -------------------------------------------------------------------------------------------------------

Image rgb_to_grey(const Image& image) {
  check_image(image, "rgb_to_grey");
  if (image.channels == 1) return image;
  Image out(image.height, image.width, 1);
  const size_t n = out.pixels.size();
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = &image.pixels[3 * i];
    const float l =
        0.2989f * static_cast<float>(p[0]) + 0.587f * static_cast<float>(p[1]) + 0.114f * static_cast<float>(p[2]);
    out.pixels[i] = saturate(l);
  }
  return out;
}

Image adjust_brightness(const Image& image, double factor) {
  check_image(image, "adjust_brightness");
  if (factor < 0) throw std::invalid_argument("adjust_brightness: factor must be >= 0");
  return blend(
      image, [](size_t) { return 0.0f; }, factor);
}

Image adjust_saturation(const Image& image, double factor) {
  check_image(image, "adjust_saturation");
  if (factor < 0) throw std::invalid_argument("adjust_saturation: factor must be >= 0");
  if (image.channels == 1) return image;
  const Image grey = rgb_to_grey(image);
  return blend(
      image, [&](size_t i) { return static_cast<float>(grey.pixels[i / 3]); }, factor);
}

Image adjust_contrast(const Image& image, double factor) {
  check_image(image, "adjust_contrast");
  if (factor < 0) throw std::invalid_argument("adjust_contrast: factor must be >= 0");
  const Image grey = rgb_to_grey(image);
  double sum = 0;
  for (uint8_t v : grey.pixels) sum += v;
  const auto mean = static_cast<float>(sum / static_cast<double>(grey.pixels.size()));
  return blend(
      image, [&](size_t) { return mean; }, factor);
}

Image adjust_sharpness(const Image& image, double factor) {
  check_image(image, "adjust_sharpness");
  if (factor < 0) throw std::invalid_argument("adjust_sharpness: factor must be >= 0");
  if (image.height <= 2 || image.width <= 2) return image;
  Image smooth = image;
  const int C = image.channels;
  for (int y = 1; y + 1 < image.height; ++y)
    for (int x = 1; x + 1 < image.width; ++x)
      for (int c = 0; c < C; ++c) {
        int sum = 4 * image.at(y, x, c);  // centre weight 5 = 1 (in the 3x3 sum) + 4
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) sum += image.at(y + dy, x + dx, c);
        // k / 13 is never half-way between integers, so this equals torch's float32 conv + round.
        smooth.at(y, x, c) = static_cast<uint8_t>(std::nearbyint(sum / 13.0));
      }
  return blend(
      image, [&](size_t i) { return static_cast<float>(smooth.pixels[i]); }, factor);
}

Image posterize(const Image& image, int bits) {
  check_image(image, "posterize");
  if (bits < 0 || bits > 8) throw std::invalid_argument("posterize: bits must be in [0, 8]");
  const auto mask = static_cast<uint8_t>((0xFFu << (8 - bits)) & 0xFFu);
  Image out = image;
  for (auto& v : out.pixels) v &= mask;
  return out;
}

Image solarize(const Image& image, double threshold) {
  check_image(image, "solarize");
  if (threshold > 255) throw std::invalid_argument("solarize: threshold must be <= 255");
  Image out = image;
  for (auto& v : out.pixels)
    if (v >= threshold) v = static_cast<uint8_t>(255 - v);
  return out;
}

Image autocontrast(const Image& image) {
  check_image(image, "autocontrast");
  Image out = image;
  const int C = image.channels;
  const size_t n = image.pixels.size() / static_cast<size_t>(C);
  for (int c = 0; c < C; ++c) {
    uint8_t lo = 255, hi = 0;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t v = image.pixels[i * C + c];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    if (lo == hi) continue;  // a flat channel stays as it is
    const float scale = 255.0f / static_cast<float>(hi - lo);
    for (size_t i = 0; i < n; ++i)
      out.pixels[i * C + c] = saturate((static_cast<float>(image.pixels[i * C + c]) - lo) * scale);
  }
  return out;
}

Image equalize(const Image& image) {
  check_image(image, "equalize");
  Image out = image;
  const int C = image.channels;
  const size_t n = image.pixels.size() / static_cast<size_t>(C);
  for (int c = 0; c < C; ++c) {
    int64_t hist[256] = {};
    for (size_t i = 0; i < n; ++i) ++hist[image.pixels[i * C + c]];
    // step: the pixels outside the last non-empty bin, over 255.
    int64_t total = 0, last = 0;
    for (int64_t h : hist)
      if (h) {
        total += h;
        last = h;
      }
    const int64_t step = (total - last) / 255;
    if (step == 0) continue;
    uint8_t lut[256];
    int64_t cum = 0;
    for (int v = 0; v < 256; ++v) {
      lut[v] = static_cast<uint8_t>(std::min<int64_t>(255, (cum + step / 2) / step));  // uses the bins below v
      cum += hist[v];
    }
    for (size_t i = 0; i < n; ++i) out.pixels[i * C + c] = lut[image.pixels[i * C + c]];
  }
  return out;
}

Image invert(const Image& image) {
  check_image(image, "invert");
  Image out = image;
  for (auto& v : out.pixels) v = static_cast<uint8_t>(255 - v);
  return out;
}

// ---- AutoAugment --------------------------------------------------------------------------------------------------

std::string augment_op_name(AugmentOp op) {
  switch (op) {
    case AugmentOp::ShearX: return "ShearX";
    case AugmentOp::ShearY: return "ShearY";
    case AugmentOp::TranslateX: return "TranslateX";
    case AugmentOp::TranslateY: return "TranslateY";
    case AugmentOp::Rotate: return "Rotate";
    case AugmentOp::Brightness: return "Brightness";
    case AugmentOp::Color: return "Color";
    case AugmentOp::Contrast: return "Contrast";
    case AugmentOp::Sharpness: return "Sharpness";
    case AugmentOp::Posterize: return "Posterize";
    case AugmentOp::Solarize: return "Solarize";
    case AugmentOp::AutoContrast: return "AutoContrast";
    case AugmentOp::Equalize: return "Equalize";
    case AugmentOp::Invert: return "Invert";
  }
  return "?";
}

bool augment_op_signed(AugmentOp op) {
  switch (op) {
    case AugmentOp::ShearX:
    case AugmentOp::ShearY:
    case AugmentOp::TranslateX:
    case AugmentOp::TranslateY:
    case AugmentOp::Rotate:
    case AugmentOp::Brightness:
    case AugmentOp::Color:
    case AugmentOp::Contrast:
    case AugmentOp::Sharpness: return true;
    default: return false;
  }
}

double augment_magnitude(AugmentOp op, int bin, int width, int height) {
  if (bin < 0 || bin > 9) throw std::invalid_argument("augment_magnitude: bin must be in [0, 9]");
  switch (op) {
    case AugmentOp::ShearX:
    case AugmentOp::ShearY: return linspace10(0.0f, 0.3f, bin);
    case AugmentOp::TranslateX: return linspace10(0.0f, static_cast<float>(150.0 / 331.0 * width), bin);
    case AugmentOp::TranslateY: return linspace10(0.0f, static_cast<float>(150.0 / 331.0 * height), bin);
    case AugmentOp::Rotate: return linspace10(0.0f, 30.0f, bin);
    case AugmentOp::Brightness:
    case AugmentOp::Color:
    case AugmentOp::Contrast:
    case AugmentOp::Sharpness: return linspace10(0.0f, 0.9f, bin);
    case AugmentOp::Posterize: {
      static const int bits[10] = {8, 8, 7, 7, 6, 6, 5, 5, 4, 4};  // 8 - round(bin / (9 / 4))
      return bits[bin];
    }
    case AugmentOp::Solarize: return linspace10(255.0f, 0.0f, bin);
    default: return 0.0;
  }
}

Image apply_augment_op(const Image& image, AugmentOp op, double m) {
  const double deg = 180.0 / M_PI;
  switch (op) {
    case AugmentOp::ShearX: return affine(image, 0, 0, 0, 1, std::atan(m) * deg, 0, 0, 0);
    case AugmentOp::ShearY: return affine(image, 0, 0, 0, 1, 0, std::atan(m) * deg, 0, 0);
    case AugmentOp::TranslateX: return affine(image, 0, static_cast<int>(m), 0, 1, 0, 0);
    case AugmentOp::TranslateY: return affine(image, 0, 0, static_cast<int>(m), 1, 0, 0);
    case AugmentOp::Rotate: return rotate(image, m);
    case AugmentOp::Brightness: return adjust_brightness(image, 1.0 + m);
    case AugmentOp::Color: return adjust_saturation(image, 1.0 + m);
    case AugmentOp::Contrast: return adjust_contrast(image, 1.0 + m);
    case AugmentOp::Sharpness: return adjust_sharpness(image, 1.0 + m);
    case AugmentOp::Posterize: return posterize(image, static_cast<int>(m));
    case AugmentOp::Solarize: return solarize(image, m);
    case AugmentOp::AutoContrast: return autocontrast(image);
    case AugmentOp::Equalize: return equalize(image);
    case AugmentOp::Invert: return invert(image);
  }
  return image;
}

const std::vector<std::array<AugmentStep, 2>>& imagenet_policy() {
  using O = AugmentOp;
  // AutoAugment's ImageNet policy (Cubuk et al. 2019) as torchvision lists it: (operation, probability, bin).
  static const std::vector<std::array<AugmentStep, 2>> policy = {{
      {{{O::Posterize, 0.4, 8}, {O::Rotate, 0.6, 9}}},    {{{O::Solarize, 0.6, 5}, {O::AutoContrast, 0.6, -1}}},
      {{{O::Equalize, 0.8, -1}, {O::Equalize, 0.6, -1}}}, {{{O::Posterize, 0.6, 7}, {O::Posterize, 0.6, 6}}},
      {{{O::Equalize, 0.4, -1}, {O::Solarize, 0.2, 4}}},  {{{O::Equalize, 0.4, -1}, {O::Rotate, 0.8, 8}}},
      {{{O::Solarize, 0.6, 3}, {O::Equalize, 0.6, -1}}},  {{{O::Posterize, 0.8, 5}, {O::Equalize, 1.0, -1}}},
      {{{O::Rotate, 0.2, 3}, {O::Solarize, 0.6, 8}}},     {{{O::Equalize, 0.6, -1}, {O::Posterize, 0.4, 6}}},
      {{{O::Rotate, 0.8, 8}, {O::Color, 0.4, 0}}},        {{{O::Rotate, 0.4, 9}, {O::Equalize, 0.6, -1}}},
      {{{O::Equalize, 0.0, -1}, {O::Equalize, 0.8, -1}}}, {{{O::Invert, 0.6, -1}, {O::Equalize, 1.0, -1}}},
      {{{O::Color, 0.6, 4}, {O::Contrast, 1.0, 8}}},      {{{O::Rotate, 0.8, 8}, {O::Color, 1.0, 2}}},
      {{{O::Color, 0.8, 8}, {O::Solarize, 0.8, 7}}},      {{{O::Sharpness, 0.4, 7}, {O::Invert, 0.6, -1}}},
      {{{O::ShearX, 0.6, 5}, {O::Equalize, 1.0, -1}}},    {{{O::Color, 0.4, 0}, {O::Equalize, 0.6, -1}}},
      {{{O::Equalize, 0.4, -1}, {O::Solarize, 0.2, 4}}},  {{{O::Solarize, 0.6, 5}, {O::AutoContrast, 0.6, -1}}},
      {{{O::Invert, 0.6, -1}, {O::Equalize, 1.0, -1}}},   {{{O::Color, 0.6, 4}, {O::Contrast, 1.0, 8}}},
      {{{O::Equalize, 0.8, -1}, {O::Equalize, 0.6, -1}}},
  }};
  return policy;
}

Image auto_augment(const Image& image, std::mt19937_64& rng) {
  const auto& policy = imagenet_policy();
  // Drawn up front, as torchvision's get_params: the sub-policy, two probabilities, two signs.
  const auto& sub = policy[static_cast<size_t>(random_index(rng, static_cast<int64_t>(policy.size())))];
  const double probs[2] = {uniform01(rng), uniform01(rng)};
  const bool negative[2] = {random_index(rng, 2) == 0, random_index(rng, 2) == 0};
  Image out = image;
  for (int i = 0; i < 2; ++i) {
    const AugmentStep& s = sub[static_cast<size_t>(i)];
    if (probs[i] > s.probability) continue;
    double m = s.bin >= 0 ? augment_magnitude(s.op, s.bin, out.width, out.height) : 0.0;
    if (augment_op_signed(s.op) && negative[i]) m = -m;
    out = apply_augment_op(out, s.op, m);
  }
  return out;
}

// ---- pipelines ----------------------------------------------------------------------------------------------------

void ImageTransformOptions::validate() const {
  auto bad = [](const std::string& what) { throw std::invalid_argument("image transform: " + what); };
  if (image_size_ < 1) bad("image_size must be >= 1");
  if (resize_size_ < 0) bad("resize_size must be >= 0 (0 = no resize)");
  if (!(scale_min_ > 0 && scale_min_ <= scale_max_ && scale_max_ <= 1))
    bad("the scale range must be 0 < min <= max <= 1");
  if (!(ratio_min_ > 0 && ratio_min_ <= ratio_max_)) bad("the ratio range must be 0 < min <= max");
  if (padding_ < 0) bad("padding must be >= 0");
  if (!(flip_ >= 0 && flip_ <= 1)) bad("flip must be a probability in [0, 1]");
  if (mean_.empty() || mean_.size() != std_.size()) bad("mean and std need one value per channel");
  for (double s : std_)
    if (!(s > 0)) bad("std values must be > 0");
}

Image train_transform(const Image& image, const ImageTransformOptions& o, std::mt19937_64& rng) {
  check_image(image, "train_transform");
  const auto size = static_cast<int>(o.image_size());
  Image out;
  if (o.train_crop() == TrainCrop::RandomResized) {
    const CropBox box = random_resized_crop_box(image.height, image.width, o.scale_min(), o.scale_max(), o.ratio_min(),
                                                o.ratio_max(), rng);
    out = resized_roi(image, box, size, size);
  } else {
    const Image padded = o.padding() > 0 ? pad(image, static_cast<int>(o.padding())) : image;
    if (padded.height < size || padded.width < size)
      throw std::invalid_argument("train_transform: a " + std::to_string(image.height) + "x" +
                                  std::to_string(image.width) + " image padded by " + std::to_string(o.padding()) +
                                  " is smaller than the crop " + std::to_string(size));
    const auto top = static_cast<int>(random_index(rng, padded.height - size + 1));
    const auto left = static_cast<int>(random_index(rng, padded.width - size + 1));
    out = crop(padded, {top, left, size, size});
  }
  if (uniform01(rng) < o.flip()) out = hflip(out);
  if (o.auto_augment()) out = auto_augment(out, rng);
  return out;
}

Image eval_transform(const Image& image, const ImageTransformOptions& o) {
  check_image(image, "eval_transform");
  const auto size = static_cast<int>(o.image_size());
  if (o.resize_size() > 0) return center_crop(resize_shorter(image, static_cast<int>(o.resize_size())), size, size);
  return center_crop(image, size, size);
}

void normalize_into(const Image& image, const std::vector<double>& mean, const std::vector<double>& std, float* out) {
  const int C = image.channels;
  if (mean.size() != static_cast<size_t>(C) || std.size() != static_cast<size_t>(C))
    throw std::invalid_argument("normalize: mean and std need " + std::to_string(C) + " values for a " +
                                std::to_string(C) + "-channel image, got " + std::to_string(mean.size()) + " and " +
                                std::to_string(std.size()));
  const size_t plane = static_cast<size_t>(image.height) * image.width;
  for (int c = 0; c < C; ++c) {
    const auto m = static_cast<float>(mean[c]), s = static_cast<float>(std[c]);
    float* o = out + c * plane;
    for (size_t i = 0; i < plane; ++i) o[i] = (static_cast<float>(image.pixels[i * C + c]) / 255.0f - m) / s;
  }
}

torch::Tensor to_tensor(const Image& image, const std::vector<double>& mean, const std::vector<double>& std) {
  check_image(image, "to_tensor");
  torch::Tensor t = torch::empty({image.channels, image.height, image.width}, torch::kFloat32);
  normalize_into(image, mean, std, t.data_ptr<float>());
  return t;
}

}  // namespace masnn::data
