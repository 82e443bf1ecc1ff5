// Static image datasets: what the image loader (image_loader.h) reads, and the ImageFolder layout of ImageNet.
//
// ImageFolder layout (torchvision's datasets.ImageFolder, one folder per class):
//   root/train/<class>/**/<file>.JPEG     root/val/<class>/**/<file>.JPEG
// Classes are the sub-folders of root/train sorted by name (label = position); the val split uses the same
// list, so its labels agree with train's (a val class missing from train is an error). Image files are found by
// extension (has_image_extension in image.h, case-insensitive) and sorted by path; other files are reported once
// on stderr and left out. Files with an image extension that do not decode are found when read: the loader
// reports each once and substitutes the next decodable sample (image_loader.h).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "masnn/data/event_dataset.h"
#include "masnn/data/image.h"

namespace masnn::data {

/// A dataset of labelled static images, decoded on demand (thread-safe: the loader's workers call image()).
class ImageDataset {
 public:
  virtual ~ImageDataset() = default;
  virtual size_t size() const = 0;
  /// Label of sample i, in [0, num_classes()).
  virtual int label(size_t i) const = 0;
  /// The decoded image of sample i, with channels() channels. Throws std::runtime_error naming the file when
  /// it cannot be read or decoded.
  virtual Image image(size_t i) const = 0;
  virtual int num_classes() const = 0;
  /// Channels of every image: 3 (RGB) or 1 (grey).
  virtual int channels() const = 0;
  /// Short name for messages, e.g. "imagefolder:/data/imagenet/val".
  virtual std::string name() const = 0;
  /// Where sample i comes from (its file, or file and index).
  virtual std::string describe(size_t i) const = 0;
  /// Class names by label.
  virtual std::vector<std::string> class_names() const = 0;
};

/// The images of root/<split folder>/<class>/..., train = "train", test = "val".
class ImageFolder : public ImageDataset {
 public:
  /// Scans the split's folder (classes from root/train when it exists, else from the split's own folder).
  /// Throws std::invalid_argument naming the folder when it is missing, holds no class folder or no image, or
  /// has a class that train lacks. `report_ignored`: print the non-image files left out to stderr.
  ImageFolder(const std::string& root, Split split, bool report_ignored = true);

  size_t size() const override { return files_.size(); }
  int label(size_t i) const override { return labels_.at(i); }
  Image image(size_t i) const override;
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  int channels() const override { return 3; }
  std::string name() const override { return "imagefolder:" + folder_; }
  std::string describe(size_t i) const override { return files_.at(i); }
  std::vector<std::string> class_names() const override { return classes_; }

  /// The split's folder (root/train or root/val).
  const std::string& folder() const { return folder_; }
  /// The files of the folder that were left out because their extension is not an image's.
  const std::vector<std::string>& ignored_files() const { return ignored_; }

  /// The class folders of root/train (sorted), as the labels are numbered.
  static std::vector<std::string> list_classes(const std::string& folder);

 private:
  std::string folder_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;
  std::vector<int> labels_;
  std::vector<std::string> ignored_;
};

/// The samples of `base` at the given indices (a subset for quick runs: data.limit_train / limit_test).
class ImageSubset : public ImageDataset {
 public:
  ImageSubset(std::shared_ptr<const ImageDataset> base, std::vector<size_t> indices);
  /// `count` samples spread evenly over `base` (every class of a sorted folder keeps its share).
  static std::shared_ptr<ImageSubset> evenly_spaced(std::shared_ptr<const ImageDataset> base, size_t count);

  size_t size() const override { return indices_.size(); }
  int label(size_t i) const override { return base_->label(indices_.at(i)); }
  Image image(size_t i) const override { return base_->image(indices_.at(i)); }
  int num_classes() const override { return base_->num_classes(); }
  int channels() const override { return base_->channels(); }
  std::string name() const override;
  std::string describe(size_t i) const override { return base_->describe(indices_.at(i)); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }

 private:
  std::shared_ptr<const ImageDataset> base_;
  std::vector<size_t> indices_;
};

}  // namespace masnn::data
