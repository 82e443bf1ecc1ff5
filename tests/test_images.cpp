// The image data path: codecs, torchvision's transforms and AutoAugment, ImageFolder (with bad files), the image
// loader, IDX files and Fashion-MNIST, the [data] keys of image datasets, and a training step on images.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "masnn/data/fashion_mnist.h"
#include "data/idx.h"
#include "masnn/data/image.h"
#include "masnn/data/image_folder.h"
#include "masnn/data/image_loader.h"
#include "masnn/data/image_transforms.h"
#include "masnn/train/config.h"
#include "masnn/train/train_data.h"
#include "masnn/train/trainer.h"
#include "masnn/util/file_io.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::expect_error;
using masnn::testing::TempDir;
using namespace masnn;
using namespace masnn::data;

namespace {

// An image whose value at (y, x, c) is f(y, x, c).
template <typename F>
Image make_image(int h, int w, int c, F f) {
  Image img(h, w, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) img.at(y, x, k) = static_cast<uint8_t>(f(y, x, k));
  return img;
}

// A smooth colourful picture (JPEG keeps it well), different per seed.
Image picture(int h, int w, int seed) {
  return make_image(h, w, 3, [&](int y, int x, int c) {
    return 128 + 100 * std::sin(0.07 * (x + 3 * seed) * (c + 1) + 0.05 * y * (2 - c) + seed);
  });
}

bool same(const Image& a, const Image& b) {
  return a.height == b.height && a.width == b.width && a.channels == b.channels && a.pixels == b.pixels;
}

// root/{train,val}/{ant,bee,cat}/ with 3 (train) and 1 (val) JPEGs each, plus bad files in train.
struct TinyFolder {
  TempDir dir{"images_folder"};
  fs::path root = dir.path;
  TinyFolder() {
    const char* classes[] = {"cat", "ant", "bee"};  // written unsorted: labels must follow the sorted names
    int seed = 0;
    for (const char* cls : classes) {
      fs::create_directories(root / "train" / cls);
      fs::create_directories(root / "val" / cls);
      for (int i = 0; i < 3; ++i)
        write_image((root / "train" / cls / ("img" + std::to_string(i) + ".JPEG")).string(), picture(30, 40, ++seed));
      write_image((root / "val" / cls / "v.png").string(), picture(40, 30, ++seed));
    }
    // A corrupt JPEG (an image extension, garbage inside) and a text file.
    write_file_atomic((root / "train" / "bee" / "img1b_corrupt.jpg").string(), {'n', 'o', 't', ' ', 'j', 'p', 'g'});
    std::ofstream((root / "train" / "cat" / "notes.txt").string()) << "not an image\n";
  }
};

train::TrainConfig image_config(const fs::path& root, const fs::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> sets = {"data.dataset=imagefolder",
                                   "data.root=\"" + root.string() + "\"",
                                   "data.image_size=16",
                                   "data.resize_size=18",
                                   "data.auto_augment=true",
                                   "data.flip=0.5",
                                   "data.steps=1",
                                   "data.workers=1",
                                   "model.name=res-snn-mini",
                                   "model.attention=CSA",
                                   "model.lif.neuron=reference-resnet",
                                   "train.batch_size=4",
                                   "train.epochs=1",
                                   "train.optimizer=sgd",
                                   "train.lr=0.1",
                                   "train.scheduler=cosine",
                                   "train.loss=ce",
                                   "train.label_smoothing=0.1",
                                   "train.quiet=true",
                                   "train.out_dir=\"" + out.string() + "\""};
  sets.insert(sets.end(), extra.begin(), extra.end());
  return train::parse_config("", "test config", sets);
}

}  // namespace

// ---- codecs
// -----------------------------------------------------------------------------------------------------------

TEST(ImageCodec, PngRoundTripsExactlyJpegClosely) {
  const TempDir dir("images_codec");
  const Image img = picture(20, 30, 1);
  if (!opencv_built()) {  // a build without OpenCV names what it leaves out, with the file
    EXPECT_NE(expect_error([&] { write_image(dir.file("a.png"), img); }).find("-DMASNN_OPENCV=OFF"),
              std::string::npos);
    std::ofstream(dir.file("b.png")) << "not decoded";
    EXPECT_NE(expect_error([&] { read_image(dir.file("b.png")); }).find("b.png: decoding an image file needs OpenCV"),
              std::string::npos);
    return;
  }
  write_image(dir.file("a.png"), img);
  EXPECT_TRUE(same(read_image(dir.file("a.png")), img));
  write_image(dir.file("a.JPG"), img, 95);  // the extension's case does not matter
  const Image jpg = read_image(dir.file("a.JPG"));
  ASSERT_EQ(jpg.height, 20);
  ASSERT_EQ(jpg.width, 30);
  double err = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) err += std::abs(int(jpg.pixels[i]) - int(img.pixels[i]));
  EXPECT_LT(err / img.pixels.size(), 4.0);
  // RGB order survives the BGR codecs: a pure red image stays red.
  write_image(dir.file("red.png"), Image(4, 4, 3, 0));
  Image red(4, 4, 3, 0);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) red.at(y, x, 0) = 255;
  write_image(dir.file("red.png"), red);
  EXPECT_EQ(read_image(dir.file("red.png")).at(1, 1, 0), 255);
  EXPECT_EQ(read_image(dir.file("red.png")).at(1, 1, 2), 0);
  // Grey reading of a colour file, and an RGB reading of a grey file.
  EXPECT_EQ(read_image(dir.file("a.png"), ColorMode::Grey).channels, 1);
  write_image(dir.file("g.png"), Image(3, 5, 1, 77));
  const Image g3 = read_image(dir.file("g.png"));
  EXPECT_EQ(g3.channels, 3);
  EXPECT_EQ(g3.at(2, 4, 1), 77);

  write_file_atomic(dir.file("bad.jpg"), {1, 2, 3, 4});
  EXPECT_NE(expect_error([&] { read_image(dir.file("bad.jpg")); }).find("bad.jpg: not an image"), std::string::npos);
  EXPECT_NE(expect_error([&] { write_image(dir.file("x.gif2"), img); }).find("unknown image extension"),
            std::string::npos);
  EXPECT_TRUE(has_image_extension("x/y/IMG_1.JPEG"));
  EXPECT_TRUE(has_image_extension("a.png"));
  EXPECT_FALSE(has_image_extension("a.txt"));
  EXPECT_FALSE(has_image_extension("jpg"));
}

// ---- transforms: hand-computed expectations ------------------------------------------------------------------------

TEST(ImageTransforms, PixelOperations) {
  const Image img = make_image(2, 3, 1, [](int y, int x, int) { return 40 * (3 * y + x) + 10; });  // 10..210
  EXPECT_EQ(invert(img).at(1, 2), 255 - 210);
  // Solarize inverts values >= threshold.
  const Image s = solarize(img, 130);
  EXPECT_EQ(s.at(0, 2), 90);         // 90 < 130: kept
  EXPECT_EQ(s.at(1, 0), 255 - 130);  // 130 >= 130: inverted
  EXPECT_EQ(s.at(1, 2), 255 - 210);
  // Posterize keeps the highest bits: 210 = 0b11010010 -> 4 bits 0b11010000 = 208, 1 bit 128, 0 bits 0.
  EXPECT_EQ(posterize(img, 4).at(1, 2), 208);
  EXPECT_EQ(posterize(img, 1).at(1, 2), 128);
  EXPECT_EQ(posterize(img, 0).at(1, 2), 0);
  EXPECT_EQ(posterize(img, 8).at(1, 2), 210);
  // Brightness: factor * v, clamped and truncated.
  EXPECT_EQ(adjust_brightness(img, 1.5).at(0, 1), 75);  // 50 * 1.5
  EXPECT_EQ(adjust_brightness(img, 1.5).at(1, 2), 255);
  EXPECT_EQ(adjust_brightness(img, 0.33).at(0, 0), 3);  // 3.3 truncated
  // Contrast on grey: blend with the mean 110: 0.5 * 10 + 0.5 * 110 = 60.
  EXPECT_EQ(adjust_contrast(img, 0.5).at(0, 0), 60);
  // Autocontrast stretches 10..210 to 0..255: 50 -> (50 - 10) * 255 / 200 = 51.
  const Image ac = autocontrast(img);
  EXPECT_EQ(ac.at(0, 0), 0);
  EXPECT_EQ(ac.at(1, 2), 255);
  EXPECT_EQ(ac.at(0, 1), 51);
  EXPECT_TRUE(same(autocontrast(Image(3, 3, 1, 9)), Image(3, 3, 1, 9)));  // flat: unchanged
  // Saturation: grey images unchanged; factor 0 gives the luma in every channel.
  EXPECT_TRUE(same(adjust_saturation(img, 0.0), img));
  Image rgb(1, 1, 3);
  rgb.at(0, 0, 0) = 200;
  rgb.at(0, 0, 1) = 100;
  rgb.at(0, 0, 2) = 50;
  const int luma = static_cast<int>(0.2989f * 200 + 0.587f * 100 + 0.114f * 50);  // 124
  EXPECT_EQ(rgb_to_grey(rgb).at(0, 0), luma);
  EXPECT_EQ(adjust_saturation(rgb, 0.0).at(0, 0, 2), luma);
  EXPECT_EQ(adjust_saturation(rgb, 1.0).at(0, 0, 0), 200);
}

TEST(ImageTransforms, EqualizeAndSharpnessFollowTorchvision) {
  // Histogram: 0 x4, 100 x4, 200 x8 (16 pixels). step = (16 - 8) // 255 = 0 -> unchanged.
  const Image small = make_image(4, 4, 1, [](int y, int, int) { return y < 1 ? 0 : y < 2 ? 100 : 200; });
  EXPECT_TRUE(same(equalize(small), small));
  // 1020 pixels: 255 of value 10, 255 of 20, 510 of 30. step = (1020 - 510) // 255 = 2;
  // lut[v] = (pixels below v + 1) // 2: 10 -> 0, 20 -> (255 + 1) // 2 = 128, 30 -> (510 + 1) // 2 = 255.
  const Image big = make_image(1, 1020, 1, [](int, int x, int) { return x < 255 ? 10 : x < 510 ? 20 : 30; });
  const Image eq = equalize(big);
  EXPECT_EQ(eq.at(0, 0), 0);
  EXPECT_EQ(eq.at(0, 300), 128);
  EXPECT_EQ(eq.at(0, 1000), 255);
  // Sharpness 0 = the smoothed image: only the centre of a 3x3 changes: (8 * 0 + 5 * 130) / 13 = 50.
  Image dot(3, 3, 1, 0);
  dot.at(1, 1) = 130;
  const Image smooth = adjust_sharpness(dot, 0.0);
  EXPECT_EQ(smooth.at(1, 1), 50);
  EXPECT_EQ(smooth.at(0, 0), 0);
  // Factor 2: 2 * 130 - 50 = 210; factor 1: unchanged.
  EXPECT_EQ(adjust_sharpness(dot, 2.0).at(1, 1), 210);
  EXPECT_TRUE(same(adjust_sharpness(dot, 1.0), dot));
}

TEST(ImageTransforms, GeometryCropsFlipsAndResizes) {
  const Image img = make_image(4, 5, 1, [](int y, int x, int) { return 10 * y + x; });
  const Image f = hflip(img);
  EXPECT_EQ(f.at(2, 0), img.at(2, 4));
  EXPECT_EQ(f.at(3, 4), img.at(3, 0));
  // Centre crop: top = round((4 - 2) / 2) = 1, left = round((5 - 2) / 2) = round(1.5) = 2 (halves to even).
  const Image cc = center_crop(img, 2, 2);
  EXPECT_EQ(cc.at(0, 0), img.at(1, 2));
  EXPECT_EQ(cc.at(1, 1), img.at(2, 3));
  // A crop larger than the image pads with 0: width 5 -> 8 puts 1 column before, 2 after.
  const Image big = center_crop(img, 4, 8);
  EXPECT_EQ(big.at(0, 0), 0);
  EXPECT_EQ(big.at(0, 1), img.at(0, 0));
  EXPECT_EQ(big.at(3, 5), img.at(3, 4));
  EXPECT_EQ(big.at(3, 6), 0);
  // Crop outside the image: zeros there.
  const Image c = crop(img, {-1, 3, 2, 3});
  EXPECT_EQ(c.at(0, 0), 0);
  EXPECT_EQ(c.at(1, 0), img.at(0, 3));
  EXPECT_EQ(c.at(1, 2), 0);
  const Image p = pad(img, 2);
  EXPECT_EQ(p.height, 8);
  EXPECT_EQ(p.at(0, 0), 0);
  EXPECT_EQ(p.at(2, 2), img.at(0, 0));
  // Resizing to the same size is a copy; any other size needs OpenCV.
  EXPECT_TRUE(same(resize(img, 4, 5), img));
  if (!opencv_built()) {
    EXPECT_NE(expect_error([&] { resize(img, 2, 2); }).find("resizing an image needs OpenCV"), std::string::npos);
    return;
  }
  // Resize of the shorter side keeps the ratio, the longer side truncated: 375x500 -> 256x341.
  const Image photo = picture(375, 500, 3);
  const Image r = resize_shorter(photo, 256);
  EXPECT_EQ(r.height, 256);
  EXPECT_EQ(r.width, 341);
  const Image tall = resize_shorter(picture(500, 375, 3), 256);
  EXPECT_EQ(tall.width, 256);
  EXPECT_EQ(tall.height, 341);
  // A uniform image stays uniform through resizing.
  EXPECT_TRUE(same(resize(Image(7, 9, 3, 42), 4, 3), Image(4, 3, 3, 42)));
}

TEST(ImageTransforms, AffineTranslateRotateAndShear) {
  const Image img = make_image(5, 5, 1, [](int y, int x, int) { return 1 + 10 * y + x; });
  if (!opencv_built()) {
    EXPECT_NE(expect_error([&] { rotate(img, 30); }).find("rotating or shearing an image needs OpenCV"),
              std::string::npos);
    return;
  }
  // Translation by whole pixels: out(y, x) = in(y - ty, x - tx), zeros where the source is outside.
  const Image t = apply_augment_op(img, AugmentOp::TranslateX, 2.9);  // truncated to 2
  EXPECT_EQ(t.at(1, 2), img.at(1, 0));
  EXPECT_EQ(t.at(1, 1), 0);
  const Image ty = apply_augment_op(img, AugmentOp::TranslateY, -1);
  EXPECT_EQ(ty.at(0, 3), img.at(1, 3));
  EXPECT_EQ(ty.at(4, 3), 0);
  // Rotation by 90 degrees counter-clockwise about the centre is numpy's rot90.
  const Image r = rotate(img, 90);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 5; ++x) EXPECT_EQ(r.at(y, x), img.at(x, 4 - y)) << y << "," << x;
  // Rotation by 0 and shear by 0 are the identity.
  EXPECT_TRUE(same(rotate(img, 0), img));
  EXPECT_TRUE(same(apply_augment_op(img, AugmentOp::ShearX, 0), img));
  // ShearX about the top-left corner: out(y, x) = in(y, floor(x + 0.5 + m (y + 0.5))); m = 0.5 shifts row 0 by
  // 0, rows 1 and 2 by 1, row 3 by 2.
  const Image sh = apply_augment_op(img, AugmentOp::ShearX, 0.5);
  EXPECT_EQ(sh.at(0, 0), img.at(0, 0));
  EXPECT_EQ(sh.at(1, 0), img.at(1, 1));
  EXPECT_EQ(sh.at(2, 2), img.at(2, 3));
  EXPECT_EQ(sh.at(3, 0), img.at(3, 2));
  EXPECT_EQ(sh.at(3, 3), 0);  // column 5: outside
  const Image shy = apply_augment_op(img, AugmentOp::ShearY, 0.5);
  EXPECT_EQ(shy.at(0, 1), img.at(1, 1));
  EXPECT_EQ(shy.at(0, 0), img.at(0, 0));
}

TEST(ImageTransforms, AutoAugmentPolicyAndMagnitudes) {
  MASNN_SKIP_WITHOUT_OPENCV();
  ASSERT_EQ(imagenet_policy().size(), 25u);
  EXPECT_EQ(imagenet_policy()[0][0].op, AugmentOp::Posterize);
  EXPECT_EQ(imagenet_policy()[18][0].op, AugmentOp::ShearX);
  EXPECT_DOUBLE_EQ(imagenet_policy()[13][1].probability, 1.0);
  EXPECT_DOUBLE_EQ(augment_magnitude(AugmentOp::Rotate, 9, 10, 10), 30.0);
  EXPECT_NEAR(augment_magnitude(AugmentOp::Rotate, 3, 10, 10), 10.0, 1e-5);
  EXPECT_NEAR(augment_magnitude(AugmentOp::ShearX, 5, 10, 10), 0.3 * 5 / 9, 1e-6);
  EXPECT_NEAR(augment_magnitude(AugmentOp::TranslateX, 9, 331, 10), 150.0, 1e-3);
  EXPECT_NEAR(augment_magnitude(AugmentOp::TranslateY, 9, 10, 662), 300.0, 1e-3);
  EXPECT_DOUBLE_EQ(augment_magnitude(AugmentOp::Solarize, 0, 1, 1), 255.0);
  EXPECT_DOUBLE_EQ(augment_magnitude(AugmentOp::Solarize, 9, 1, 1), 0.0);
  EXPECT_DOUBLE_EQ(augment_magnitude(AugmentOp::Posterize, 8, 1, 1), 4.0);
  EXPECT_DOUBLE_EQ(augment_magnitude(AugmentOp::Posterize, 2, 1, 1), 7.0);
  EXPECT_DOUBLE_EQ(augment_magnitude(AugmentOp::Equalize, 0, 1, 1), 0.0);
  EXPECT_TRUE(augment_op_signed(AugmentOp::Color));
  EXPECT_FALSE(augment_op_signed(AugmentOp::Solarize));
  // The Color op with magnitude -1 is full desaturation (factor 0).
  Image rgb = picture(6, 6, 2);
  const Image grey = apply_augment_op(rgb, AugmentOp::Color, -1.0);
  EXPECT_EQ(grey.at(3, 3, 0), grey.at(3, 3, 2));
  // AutoAugment: same generator state, same result; over many draws it changes some images and keeps size.
  const Image base = picture(24, 24, 5);
  int changed = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    std::mt19937_64 a(seed), b(seed);
    const Image x = auto_augment(base, a), y = auto_augment(base, b);
    EXPECT_TRUE(same(x, y));
    EXPECT_EQ(x.height, 24);
    changed += !same(x, base);
  }
  EXPECT_GT(changed, 10);
}

TEST(ImageTransforms, RandomResizedCropBoxesAndPipelines) {
  MASNN_SKIP_WITHOUT_OPENCV();
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    const CropBox b = random_resized_crop_box(375, 500, 0.08, 1.0, 3.0 / 4, 4.0 / 3, rng);
    ASSERT_GE(b.top, 0);
    ASSERT_GE(b.left, 0);
    ASSERT_LE(b.top + b.height, 375);
    ASSERT_LE(b.left + b.width, 500);
    const double area = static_cast<double>(b.height) * b.width / (375.0 * 500.0);
    ASSERT_GT(area, 0.07);
    const double ratio = static_cast<double>(b.width) / b.height;
    ASSERT_GT(ratio, 0.7);
    ASSERT_LT(ratio, 1.4);
  }
  // Nothing of that ratio fits a 1000x10 strip: the fallback is the central crop of ratio 4/3.
  const CropBox f = random_resized_crop_box(1000, 10, 0.9, 1.0, 3.0 / 4, 4.0 / 3, rng);
  EXPECT_EQ(f.width, 10);
  EXPECT_EQ(f.height, 13);
  EXPECT_EQ(f.top, (1000 - 13) / 2);

  ImageTransformOptions o;
  o.image_size(32).resize_size(36);
  const Image photo = picture(60, 80, 4);
  std::mt19937_64 a(11), b(11), c(12);
  const Image ta = train_transform(photo, o, a), tb = train_transform(photo, o, b), tc = train_transform(photo, o, c);
  EXPECT_EQ(ta.height, 32);
  EXPECT_EQ(ta.width, 32);
  EXPECT_TRUE(same(ta, tb));
  EXPECT_FALSE(same(ta, tc));
  const Image e = eval_transform(photo, o);
  EXPECT_EQ(e.height, 32);
  EXPECT_TRUE(same(e, center_crop(resize_shorter(photo, 36), 32, 32)));
  // Padded crop (small images): the crop is a shifted window of the padded image.
  ImageTransformOptions p;
  p.image_size(28).train_crop(TrainCrop::Padded).padding(2).flip(0).auto_augment(false).mean({0.5}).std({0.5});
  const Image digit = make_image(28, 28, 1, [](int y, int x, int) { return 1 + y * 28 + x; });
  std::mt19937_64 r(5);
  const Image shifted = train_transform(digit, p, r);
  ASSERT_EQ(shifted.height, 28);
  int zeros = 0;
  for (uint8_t v : shifted.pixels) zeros += v == 0;
  EXPECT_LE(zeros, 2 * 28 * 2 + 2 * 28 * 2);
  // Too small even after padding: a clear error.
  p.image_size(40);
  EXPECT_NE(expect_error([&] { train_transform(digit, p, r); }).find("smaller than the crop 40"), std::string::npos);
  // Normalisation: (v / 255 - mean) / std per channel, [C,H,W].
  const torch::Tensor t = to_tensor(Image(2, 3, 3, 255), {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
  EXPECT_EQ(t.sizes(), torch::IntArrayRef({3, 2, 3}));
  EXPECT_NEAR(t[0][1][2].item<float>(), (1 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(t[2][0][0].item<float>(), (1 - 0.406) / 0.225, 1e-5);
  EXPECT_THROW(to_tensor(Image(2, 2, 1, 0), {0.5, 0.5}, {1, 1}), std::invalid_argument);
  ImageTransformOptions bad;
  bad.flip(1.5);
  EXPECT_NE(expect_error([&] { bad.validate(); }).find("flip"), std::string::npos);
}

// ---- ImageFolder and the loader ------------------------------------------------------------------------------------

TEST(ImageFolder, ClassesSortedBadFilesReportedAndSkipped) {
  MASNN_SKIP_WITHOUT_OPENCV();
  const TinyFolder tiny;
  ::testing::internal::CaptureStderr();
  const auto train = std::make_shared<ImageFolder>(tiny.root.string(), Split::Train);
  const std::string scan_warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"ant", "bee", "cat"}));
  EXPECT_EQ(train->size(), 10u);  // 9 JPEGs + the corrupt .jpg (found by extension); notes.txt left out
  ASSERT_EQ(train->ignored_files().size(), 1u);
  EXPECT_NE(scan_warnings.find("notes.txt: not an image file"), std::string::npos);
  EXPECT_EQ(train->label(0), 0);
  EXPECT_EQ(train->label(9), 2);
  const ImageFolder val(tiny.root.string(), Split::Test);
  EXPECT_EQ(val.size(), 3u);
  EXPECT_EQ(val.num_classes(), 3);
  EXPECT_EQ(val.label(2), 2);

  // An evaluation epoch over every sample: the corrupt file is reported once and replaced by the next sample.
  ImageLoaderOptions o;
  o.batch_size(4).shuffle(false).workers(2).train(false).transform(
      ImageTransformOptions().image_size(16).resize_size(18));
  ImageLoader loader(train, o);
  ::testing::internal::CaptureStderr();
  std::vector<int64_t> samples, labels;
  for (int epoch = 0; epoch < 2; ++epoch) {
    loader.start_epoch(static_cast<uint64_t>(epoch));
    Batch b;
    while (loader.next(b)) {
      EXPECT_EQ(b.x.sizes(), torch::IntArrayRef({b.labels.size(0), 3, 16, 16}));
      EXPECT_TRUE(torch::all(b.clip == -1).item<bool>());
      for (int64_t i = 0; i < b.labels.size(0); ++i) {
        samples.push_back(b.sample[i].item<int64_t>());
        labels.push_back(b.labels[i].item<int64_t>());
      }
    }
  }
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(loader.skipped(), 1u);
  ASSERT_EQ(loader.skipped_files().size(), 1u);
  EXPECT_NE(loader.skipped_files()[0].find("img1b_corrupt.jpg"), std::string::npos);
  EXPECT_NE(warnings.find("img1b_corrupt.jpg"), std::string::npos);
  EXPECT_EQ(warnings.find("img1b_corrupt.jpg", warnings.find("img1b_corrupt.jpg") + 1), std::string::npos);  // once
  // The corrupt file is sample 5 (ant 0-2; bee: img0, img1, img1b_corrupt, img2): its column holds sample 6.
  ASSERT_EQ(samples.size(), 20u);
  EXPECT_NE(train->describe(5).find("img1b_corrupt"), std::string::npos);
  EXPECT_EQ(samples[4], 4);
  EXPECT_EQ(samples[5], 6);
  EXPECT_EQ(samples[6], 6);
  EXPECT_EQ(samples[15], 6);  // the same in the next epoch, without a second warning
  for (size_t k = 0; k < samples.size(); ++k) EXPECT_EQ(labels[k], train->label(static_cast<size_t>(samples[k])));

  // A val class that train lacks is an error naming it.
  fs::create_directories(tiny.root / "val" / "dog");
  write_image((tiny.root / "val" / "dog" / "d.jpg").string(), picture(8, 8, 1));
  EXPECT_NE(expect_error([&] { ImageFolder(tiny.root.string(), Split::Test); }).find("'dog' is not a class"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { ImageFolder((tiny.root / "nope").string(), Split::Train); }).find("no such"),
            std::string::npos);
}

TEST(ImageLoader, AugmentsDeterministicallyForASeedWhateverTheWorkers) {
  MASNN_SKIP_WITHOUT_OPENCV();
  const TinyFolder tiny;
  ::testing::internal::CaptureStderr();
  const auto train = std::make_shared<ImageFolder>(tiny.root.string(), Split::Train, /*report_ignored=*/false);
  auto epoch_x = [&](uint64_t seed, int workers, uint64_t epoch) {
    ImageLoaderOptions o;
    o.batch_size(3).seed(seed).workers(workers).train(true).transform(
        ImageTransformOptions().image_size(16).resize_size(18).flip(0.5).auto_augment(true));
    ImageLoader loader(train, o);
    loader.start_epoch(epoch);
    std::vector<torch::Tensor> xs;
    Batch b;
    while (loader.next(b)) xs.push_back(b.x);
    return torch::cat(xs);
  };
  const torch::Tensor a = epoch_x(1, 0, 0), b = epoch_x(1, 2, 0), c = epoch_x(2, 2, 0), d = epoch_x(1, 2, 1);
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(a.sizes(), torch::IntArrayRef({10, 3, 16, 16}));
  EXPECT_TRUE(torch::equal(a, b));   // same seed: same tensor, 0 or 2 workers
  EXPECT_FALSE(torch::equal(a, c));  // another seed: other crops and order
  EXPECT_FALSE(torch::equal(a, d));  // another epoch too
  EXPECT_TRUE(torch::isfinite(a).all().item<bool>());

  // Normalisation of a uniform image in evaluation: every value (v / 255 - mean) / std.
  const TempDir dir("images_uniform");
  fs::create_directories(dir.path / "train" / "a");
  write_image((dir.path / "train" / "a" / "u.png").string(), Image(20, 20, 3, 128));
  ImageLoaderOptions e;
  e.batch_size(1).train(false).workers(0).transform(ImageTransformOptions().image_size(8).resize_size(10));
  ImageLoader uniform(std::make_shared<ImageFolder>(dir.path.string(), Split::Train), e);
  uniform.start_epoch(0);
  Batch u;
  ASSERT_TRUE(uniform.next(u));
  EXPECT_NEAR(u.x[0][0][3][3].item<float>(), (128 / 255.0 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(u.x[0][2][7][0].item<float>(), (128 / 255.0 - 0.406) / 0.225, 1e-5);
  // Mean/std that do not match the channels are refused.
  e.transform(ImageTransformOptions().mean({0.5}).std({0.5}));
  EXPECT_THROW(ImageLoader(std::make_shared<ImageFolder>(dir.path.string(), Split::Train), e), std::invalid_argument);
}

// ---- IDX and Fashion-MNIST ---------------------------------------------------------------------------------------

TEST(Idx, RawAndGzipFilesAndClearErrors) {
  const TempDir dir("images_idx");
  IdxArray a{{2, 3, 4}, {}};
  for (int i = 0; i < 24; ++i) a.data.push_back(static_cast<uint8_t>(i * 7));
  write_idx(dir.file("a.idx"), a, false);
  write_idx(dir.file("a.idx.gz"), a, true);
  const std::vector<uint8_t> raw = read_file_bytes(dir.file("a.idx"));
  ASSERT_EQ(raw.size(), 4u + 3 * 4 + 24);
  EXPECT_EQ(raw[2], 0x08);
  EXPECT_EQ(raw[3], 3);
  EXPECT_EQ(raw[7], 2);  // big-endian dimension 2
  const std::vector<uint8_t> gz = read_file_bytes(dir.file("a.idx.gz"));
  EXPECT_EQ(gz[0], 0x1f);
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const IdxArray b = read_idx(dir.file(name));
    EXPECT_EQ(b.dims, a.dims);
    EXPECT_EQ(b.data, a.data);
  }
  // Bad magic, another element type, sizes that do not match, truncated gzip: errors naming the file.
  std::vector<uint8_t> bad = raw;
  bad[0] = 7;
  write_file_atomic(dir.file("magic.idx"), bad);
  EXPECT_NE(expect_error([&] { read_idx(dir.file("magic.idx")); }).find("magic.idx: not an IDX file"),
            std::string::npos);
  bad = raw;
  bad[2] = 0x0D;
  write_file_atomic(dir.file("float.idx"), bad);
  EXPECT_NE(expect_error([&] { read_idx(dir.file("float.idx")); }).find("float.idx: IDX element type 0x0D (float)"),
            std::string::npos);
  bad = raw;
  bad.pop_back();
  write_file_atomic(dir.file("short.idx"), bad);
  EXPECT_NE(expect_error([&] { read_idx(dir.file("short.idx")); }).find("24 values, the file holds 23 (truncated)"),
            std::string::npos);
  write_file_atomic(dir.file("cut.idx.gz"), std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));
  EXPECT_NE(expect_error([&] { read_idx(dir.file("cut.idx.gz")); }).find("cut.idx.gz: gzip data is truncated"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { read_idx(dir.file("missing.idx")); }).find("missing.idx"), std::string::npos);
}

TEST(FashionMnist, ReadsIdxFilesAndChecksThem) {
  const TempDir dir("images_fmnist");
  masnn::testing::write_fake_fashion_mnist(dir.path, "train", 30, /*gzip=*/true);
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 20, /*gzip=*/false);  // plain files are read as well
  const FashionMnist train(dir.path.string(), Split::Train), test(dir.path.string(), Split::Test);
  EXPECT_EQ(train.size(), 30u);
  EXPECT_EQ(test.size(), 20u);
  EXPECT_EQ(train.channels(), 1);
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(train.label(13), 3);
  const Image img = train.image(2);
  EXPECT_EQ(img.height, 28);
  EXPECT_EQ(img.at(1, 2), (2 * 37 + 30 * 3) % 256);
  EXPECT_EQ(train.class_names()[9], "Ankle boot");

  // The loader gives [B,1,28,28], normalised with Fashion-MNIST's mean and std.
  ImageLoaderOptions o;
  o.batch_size(8).shuffle(false).workers(1).train(false).transform(
      ImageTransformOptions().image_size(28).resize_size(0).mean({kFashionMnistMean}).std({kFashionMnistStd}));
  ImageLoader loader(std::make_shared<FashionMnist>(dir.path.string(), Split::Test), o);
  loader.start_epoch(0);
  Batch b;
  ASSERT_TRUE(loader.next(b));
  EXPECT_EQ(b.x.sizes(), torch::IntArrayRef({8, 1, 28, 28}));
  EXPECT_NEAR(b.x[1][0][0][1].item<float>(), ((37 + 2) % 256 / 255.0 - kFashionMnistMean) / kFashionMnistStd, 1e-5);
  EXPECT_EQ(b.labels[7].item<int64_t>(), 7);

  // Mismatches: label count, label range, a missing file (the message names the Debian package).
  IdxArray few{{5}, {0, 1, 2, 3, 4}};
  write_idx(dir.file("t10k-labels-idx1-ubyte"), few, false);
  EXPECT_NE(expect_error([&] { FashionMnist(dir.path.string(), Split::Test); }).find("holds 5 labels"),
            std::string::npos);
  IdxArray big{{20}, std::vector<uint8_t>(20, 11)};
  write_idx(dir.file("t10k-labels-idx1-ubyte"), big, false);
  EXPECT_NE(expect_error([&] { FashionMnist(dir.path.string(), Split::Test); }).find("label 11 of sample 0"),
            std::string::npos);
  EXPECT_NE(
      expect_error([&] { FashionMnist((dir.path / "none").string(), Split::Train); }).find("dataset-fashion-mnist"),
      std::string::npos);
}

// ---- config and training -------------------------------------------------------------------------------------------

TEST(ImageConfig, KeysAreCheckedAndOpenSplitGivesTheInput) {
  MASNN_SKIP_WITHOUT_OPENCV();
  const TinyFolder tiny;
  const TempDir out("images_cfg");
  const train::TrainConfig c = image_config(tiny.root, out.path);
  EXPECT_EQ(c.data.image_size, 16);
  EXPECT_TRUE(c.data.auto_augment);
  EXPECT_EQ(train::parse_config(train::to_toml(c), "again").data.resize_size, 18);  // round trip
  ::testing::internal::CaptureStderr();
  const train::SplitData split = train::open_split(c, Split::Train);
  const train::SplitData val = train::open_split(c, Split::Test);
  ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(split.input.in_channels, 3);
  EXPECT_EQ(split.input.input_size, 16);
  EXPECT_EQ(split.input.num_classes, 3);
  EXPECT_EQ(split.loader->columns_per_sample(), 1);
  EXPECT_EQ(val.samples, 3u);
  // The imagenet alias and the default sizes (224, evaluation resize 256).
  const train::TrainConfig n =
      image_config(tiny.root, out.path, {"data.dataset=imagenet", "data.image_size=0", "data.resize_size=0"});
  ::testing::internal::CaptureStderr();
  const auto ds = train::make_image_dataset(n, Split::Train);
  ::testing::internal::GetCapturedStderr();
  const ImageTransformOptions t = train::image_transform_options(n, *ds);
  EXPECT_EQ(t.image_size(), 224);
  EXPECT_EQ(t.resize_size(), 256);
  EXPECT_DOUBLE_EQ(t.scale_min(), 0.08);
  // limit_train: samples spread over every class.
  const train::TrainConfig l = image_config(tiny.root, out.path, {"data.limit_train=5"});
  ::testing::internal::CaptureStderr();
  const auto limited = train::make_image_dataset(l, Split::Train);
  ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(limited->size(), 5u);  // samples 0, 2, 4, 6, 8
  EXPECT_EQ(limited->label(0), 0);
  EXPECT_EQ(limited->label(2), 1);
  EXPECT_EQ(limited->label(4), 2);

  auto error = [&](std::vector<std::string> sets) {
    return expect_error([&] { train::parse_config("", "cfg.toml", sets); });
  };
  EXPECT_NE(error({"data.dataset=imagefolder", "data.max_shift=4"}).find("data.max_shift"), std::string::npos);
  EXPECT_NE(error({"data.dataset=fashion-mnist", "data.image_size=32"}).find("28 (or 0) for fashion-mnist"),
            std::string::npos);
  EXPECT_NE(error({"data.dataset=fashion-mnist", "data.min_scale=0.5"}).find("data.min_scale"), std::string::npos);
  EXPECT_NE(error({"data.auto_augment=true"}).find("apply to image datasets"), std::string::npos);
  EXPECT_NE(error({"data.dataset=imagenet", "data.min_scale=0"}).find("data.min_scale"), std::string::npos);
  EXPECT_NE(error({"data.dataset=imagenet", "data.image_size=-1"}).find("data.image_size"), std::string::npos);
  EXPECT_NE(error({"data.dataset=imagenet", "data.auto_augment=1"}).find("true or false"), std::string::npos);
  EXPECT_NE(error({"data.dataset=pictures"}).find("imagefolder"), std::string::npos);
  const train::TrainConfig noroot = train::parse_config("", "cfg", {"data.dataset=imagefolder"});
  EXPECT_NE(expect_error([&] { train::open_split(noroot, Split::Train); }).find("data.root"), std::string::npos);
}

TEST(ImageTraining, StepsOnTheTinyFolderAndOnFashionMnistFiles) {
  const TempDir out("images_train");
  if (opencv_built()) {  // JPEG files (Fashion-MNIST's need no codec)
    const TinyFolder tiny;
    const train::TrainConfig c = image_config(tiny.root, out.path / "folder");
    ::testing::internal::CaptureStderr();
    train::Trainer trainer(c, train::open_split(c, Split::Train), train::open_split(c, Split::Test));
    EXPECT_EQ(trainer.spec().in_channels, 3);
    EXPECT_EQ(trainer.spec().num_classes, 3);
    const auto before = trainer.module().parameters()[0].detach().clone();
    const train::TrainSummary s = trainer.fit();
    ::testing::internal::GetCapturedStderr();
    ASSERT_EQ(s.epochs.size(), 1u);
    EXPECT_TRUE(std::isfinite(s.epochs[0].train_loss));
    ASSERT_TRUE(s.epochs[0].test.has_value());
    EXPECT_EQ(s.epochs[0].test->samples, 3);
    EXPECT_GE(s.epochs[0].test->top5_accuracy, 1.0);  // 3 classes: always among the top 5
    EXPECT_FALSE(torch::equal(before, trainer.module().parameters()[0]));
    EXPECT_TRUE(fs::exists(out.path / "folder" / "last.pt"));
    // What `masnn eval` does with the checkpoint (its own config, the test split) gives the same numbers.
    train::CheckpointInfo info;
    auto model = train::load_model((out.path / "folder" / "last.pt").string(), &info);
    const train::TrainConfig back = train::parse_config(info.config_toml, "its config", {});
    const train::SplitData test = train::open_split(back, Split::Test);
    EXPECT_EQ(test.loader->columns_per_sample(), 1);
    const train::Evaluation e =
        train::evaluate_model(model, *test.loader, test.input.num_classes, back.train.loss, /*quiet=*/true);
    EXPECT_EQ(e.samples, 3);
    EXPECT_DOUBLE_EQ(e.accuracy, s.epochs[0].test->accuracy);
    EXPECT_NEAR(e.loss, s.epochs[0].test->loss, 1e-5);
  }
  {
    masnn::testing::write_fake_fashion_mnist(out.path, "train", 24, true);
    masnn::testing::write_fake_fashion_mnist(out.path, "t10k", 8, true);
    const train::TrainConfig c = train::parse_config(
        "", "fm config",
        {"data.dataset=fashion-mnist", "data.root=\"" + out.path.string() + "\"", "data.max_shift=2", "data.flip=0.5",
         "data.steps=1", "data.workers=1", "model.name=res-snn-mini", "model.attention=CSA",
         "model.lif.neuron=reference-resnet", "train.batch_size=8", "train.epochs=1", "train.optimizer=sgd",
         "train.lr=0.1", "train.loss=ce", "train.scheduler=cosine", "train.quiet=true",
         "train.out_dir=\"" + (out.path / "fm").string() + "\""});
    train::Trainer trainer(c, train::open_split(c, Split::Train), train::open_split(c, Split::Test));
    EXPECT_EQ(trainer.spec().in_channels, 1);
    EXPECT_EQ(trainer.spec().input_size, 28);
    const train::TrainSummary s = trainer.fit();
    EXPECT_TRUE(std::isfinite(s.epochs[0].train_loss));
    EXPECT_EQ(s.epochs[0].test->samples, 8);
  }
}
