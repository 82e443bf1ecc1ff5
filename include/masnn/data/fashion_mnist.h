// Fashion-MNIST (Xiao et al. 2017): 28x28 grey images of 10 kinds of clothing, 60000 for training and 10000 for
// testing, in IDX files (idx.h). Debian's dataset-fashion-mnist package installs them in
// /usr/share/datasets/fashion-mnist as {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz; the uncompressed names
// (without .gz) are read as well.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "masnn/data/event_dataset.h"
#include "masnn/data/image_folder.h"

namespace masnn::data {

/// Where Debian's dataset-fashion-mnist package puts the files.
inline constexpr const char* kFashionMnistDebianRoot = "/usr/share/datasets/fashion-mnist";

/// Mean and standard deviation of the training images' pixels (scaled to [0, 1]), for Normalize.
inline constexpr double kFashionMnistMean = 0.2860;
inline constexpr double kFashionMnistStd = 0.3530;

/// One split of Fashion-MNIST (or of MNIST, which has the same layout), held in memory (47 MB for train).
class FashionMnist : public ImageDataset {
 public:
  /// Reads root/{train,t10k}-images-idx3-ubyte[.gz] and the labels beside them. Throws std::runtime_error naming
  /// the file when one is missing, not IDX, or does not match (image dimensions [N, H, W], labels [N] in 0..9).
  FashionMnist(const std::string& root, Split split);

  size_t size() const override { return labels_.size(); }
  int label(size_t i) const override { return labels_.at(i); }
  Image image(size_t i) const override;
  int num_classes() const override { return 10; }
  int channels() const override { return 1; }
  std::string name() const override { return "fashion-mnist/" + split_name(split_); }
  std::string describe(size_t i) const override;
  std::vector<std::string> class_names() const override;

  int height() const { return height_; }
  int width() const { return width_; }

  /// The file root/<stem> or root/<stem>.gz, whichever exists (the plain one first). Throws std::runtime_error
  /// naming both when neither does.
  static std::string find_file(const std::string& root, const std::string& stem);

 private:
  Split split_;
  std::string images_path_;
  int height_ = 0, width_ = 0;
  std::vector<uint8_t> pixels_;  // N * height * width
  std::vector<int> labels_;
};

}  // namespace masnn::data
