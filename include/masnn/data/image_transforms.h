// Image transforms with torchvision's semantics, on 8-bit images (image.h): the geometric ones (crop, resize,
// flip, affine), the colour ones AutoAugment draws from, AutoAugment with the ImageNet policy, and the training
// and evaluation pipelines of an image classifier (RandomResizedCrop + flip + AutoAugment, or Resize + CenterCrop;
// then ToTensor + Normalize).
//
// Each function follows the definition of the torchvision function of the same name (uint8 tensor path), so a
// pipeline here augments as the Python reference does; randomness comes from a std::mt19937_64 the caller seeds
// (the loaders seed it per sample from (seed, epoch, position), so results do not depend on worker threads).
// Differences, by design: resizing down averages over the covered area (OpenCV's INTER_AREA) where PIL applies
// its antialiased bilinear filter; resizing up is bilinear as in torchvision; and torch's random stream is not
// reproduced — only the distributions are.
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "masnn/data/image.h"

namespace masnn::data {

// ---- random numbers (identical on every platform, unlike std::uniform_real_distribution) -------------------------

/// A uniform double in [0, 1).
double uniform01(std::mt19937_64& rng);
/// A uniform double in [low, high).
double uniform(std::mt19937_64& rng, double low, double high);
/// A uniform integer in [0, n) (n >= 1).
int64_t random_index(std::mt19937_64& rng, int64_t n);

// ---- geometry -------------------------------------------------------------------------------------------------------

/// A rectangle of an image: top row, left column, height, width (it may reach outside the image).
struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
};

/// The image mirrored left to right (F.hflip).
Image hflip(const Image& image);
/// The pixels of `box`; the part outside the image is 0 (F.crop).
Image crop(const Image& image, const CropBox& box);
/// The centre height x width of the image, padded with 0 where the image is smaller (F.center_crop: the offset
/// is round((H - h) / 2), halves to even, as Python rounds).
Image center_crop(const Image& image, int height, int width);
/// Resized to height x width: area averaging where an axis shrinks on both axes, bilinear otherwise.
Image resize(const Image& image, int height, int width);
/// Resized so that the shorter side is `size` and the aspect ratio kept, the longer side truncated as
/// torchvision does (F.resize with an int).
Image resize_shorter(const Image& image, int size);
/// Padded by `padding` pixels of value `fill` on every side.
Image pad(const Image& image, int padding, uint8_t fill = 0);

/// RandomResizedCrop.get_params: up to 10 tries of an area fraction in [scale_min, scale_max] and a log-uniform
/// aspect ratio in [ratio_min, ratio_max] that fits; else the central crop of the largest allowed ratio.
CropBox random_resized_crop_box(int height, int width, double scale_min, double scale_max, double ratio_min,
                                double ratio_max, std::mt19937_64& rng);

/// F.affine with nearest-neighbour sampling and fill 0: rotation by `angle` degrees clockwise, translation by
/// (translate_x, translate_y) pixels, `scale`, and shears `shear_x`, `shear_y` in degrees, about `center`
/// ((x, y) in pixels from the top-left corner of the image; the image centre when center_x/center_y are NaN).
Image affine(const Image& image, double angle, double translate_x, double translate_y, double scale, double shear_x,
             double shear_y, double center_x = std::nan(""), double center_y = std::nan(""));
/// F.rotate: `angle` degrees counter-clockwise about the centre, nearest neighbour, fill 0, same size.
Image rotate(const Image& image, double angle);

// ---- colour (F.adjust_*, posterize, solarize, ...; values blended in float32 and truncated as torch does) ---------

/// Luma (0.2989 R + 0.587 G + 0.114 B, truncated) of an RGB image as one channel; a grey image as it is.
Image rgb_to_grey(const Image& image);
/// factor * image, clamped (0 black, 1 unchanged).
Image adjust_brightness(const Image& image, double factor);
/// Blend with the grey version (0 grey, 1 unchanged); grey images are returned unchanged.
Image adjust_saturation(const Image& image, double factor);
/// Blend with the mean luma (0 uniform grey, 1 unchanged).
Image adjust_contrast(const Image& image, double factor);
/// Blend with a 3x3 smoothed version ([1 1 1; 1 5 1; 1 1 1] / 13 inside, border kept; 0 smooth, 1 unchanged).
Image adjust_sharpness(const Image& image, double factor);
/// Keeps the `bits` highest bits of every value (bits in [0, 8]).
Image posterize(const Image& image, int bits);
/// Inverts every value >= threshold.
Image solarize(const Image& image, double threshold);
/// Stretches each channel linearly so that its minimum becomes 0 and its maximum 255 (flat channels unchanged).
Image autocontrast(const Image& image);
/// Equalises the histogram of each channel (PIL's ImageOps.equalize, as torchvision defines it).
Image equalize(const Image& image);
/// 255 - value.
Image invert(const Image& image);

// ---- AutoAugment ----------------------------------------------------------------------------------------------------

/// The operations AutoAugment chooses from.
enum class AugmentOp {
  ShearX,
  ShearY,
  TranslateX,
  TranslateY,
  Rotate,
  Brightness,
  Color,
  Contrast,
  Sharpness,
  Posterize,
  Solarize,
  AutoContrast,
  Equalize,
  Invert,
};
/// The operation's name as torchvision writes it ("ShearX", ...).
std::string augment_op_name(AugmentOp op);

/// The magnitude of bin `bin` (0..9) of torchvision's AutoAugment augmentation space for an image of the given
/// size (unsigned; signed operations are negated with probability 1/2). Operations without a magnitude give 0.
double augment_magnitude(AugmentOp op, int bin, int width, int height);
/// Whether the operation's magnitude is negated with probability 1/2.
bool augment_op_signed(AugmentOp op);
/// Applies one operation with a signed magnitude, as torchvision's _apply_op (shears about the top-left corner,
/// translations truncated to whole pixels, nearest neighbour, fill 0).
Image apply_augment_op(const Image& image, AugmentOp op, double magnitude);

/// One step of a sub-policy: apply `op` with `probability`, at magnitude bin `bin` (-1: no magnitude).
struct AugmentStep {
  AugmentOp op;
  double probability;
  int bin;
};
/// The 25 sub-policies of two steps of AutoAugmentPolicy.IMAGENET.
const std::vector<std::array<AugmentStep, 2>>& imagenet_policy();
/// AutoAugment (ImageNet policy): a uniformly drawn sub-policy, each step applied with its probability and a
/// random sign for signed operations.
Image auto_augment(const Image& image, std::mt19937_64& rng);

// ---- pipelines ------------------------------------------------------------------------------------------------------

/// How training images are cropped.
enum class TrainCrop {
  RandomResized,  ///< RandomResizedCrop(image_size, scale, ratio): the ImageNet recipe
  Padded,         ///< pad by `padding` zero pixels, then a random image_size crop (RandomCrop; small images)
};

/// The transforms of a split. Train: crop (random-resized or padded), horizontal flip, AutoAugment, then
/// ToTensor + Normalize. Evaluation: Resize(resize_size) of the shorter side (none when 0) + CenterCrop(image_size),
/// then ToTensor + Normalize. Defaults: the ImageNet recipe of the reference (224, 256, ImageNet mean and std).
struct ImageTransformOptions {
  /// Side of the square network input.
  TORCH_ARG(int64_t, image_size) = 224;
  /// Evaluation: the shorter side is resized to this before the centre crop (0 = no resize).
  TORCH_ARG(int64_t, resize_size) = 256;
  TORCH_ARG(TrainCrop, train_crop) = TrainCrop::RandomResized;
  /// RandomResizedCrop: range of the crop's area as a fraction of the image's.
  TORCH_ARG(double, scale_min) = 0.08;
  TORCH_ARG(double, scale_max) = 1.0;
  /// RandomResizedCrop: range of the crop's aspect ratio (width / height), drawn log-uniformly.
  TORCH_ARG(double, ratio_min) = 3.0 / 4.0;
  TORCH_ARG(double, ratio_max) = 4.0 / 3.0;
  /// Padded crop: zero pixels added on each side before the random crop.
  TORCH_ARG(int64_t, padding) = 0;
  /// Probability of a horizontal flip (training).
  TORCH_ARG(double, flip) = 0.5;
  /// AutoAugment with the ImageNet policy (training).
  TORCH_ARG(bool, auto_augment) = true;
  /// Per-channel mean and standard deviation of Normalize (one value per channel of the images).
  TORCH_ARG(std::vector<double>, mean) = std::vector<double>{0.485, 0.456, 0.406};
  TORCH_ARG(std::vector<double>, std) = std::vector<double>{0.229, 0.224, 0.225};

 public:
  /// Throws std::invalid_argument naming the bad field.
  void validate() const;
};

/// The training transform up to (not including) ToTensor: crop, flip, AutoAugment. Returns an image_size square.
Image train_transform(const Image& image, const ImageTransformOptions& options, std::mt19937_64& rng);
/// The evaluation transform up to ToTensor: resize of the shorter side, centre crop. Returns an image_size square.
Image eval_transform(const Image& image, const ImageTransformOptions& options);

/// ToTensor + Normalize into `out` ([C,H,W] float32, C = image.channels): (value / 255 - mean[c]) / std[c].
void normalize_into(const Image& image, const std::vector<double>& mean, const std::vector<double>& std, float* out);
/// The same as a new [C,H,W] float32 tensor.
torch::Tensor to_tensor(const Image& image, const std::vector<double>& mean, const std::vector<double>& std);

}  // namespace masnn::data
