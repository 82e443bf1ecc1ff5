// The ImageFolder layout, and subsets of image datasets.
#include "masnn/data/image_folder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>

namespace masnn::data {

namespace fs = std::filesystem;

std::vector<std::string> ImageFolder::list_classes(const std::string& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    throw std::invalid_argument(folder +
                                ": no such folder (expected the ImageFolder layout <root>/train/<class>/*, "
                                "<root>/val/<class>/*)");
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(folder, fs::directory_options::follow_directory_symlink))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    throw std::invalid_argument(folder + ": holds no class folder (expected <class>/<image files> inside)");
  return classes;
}

ImageFolder::ImageFolder(const std::string& root, Split split, bool report_ignored) {
  const fs::path base(root);
  std::error_code ec;
  if (!fs::is_directory(base, ec)) throw std::invalid_argument(root + ": no such dataset folder");
  if (split == Split::Train) {
    folder_ = (base / "train").string();
  } else {
    // ImageNet calls its evaluation split "val"; a folder named "test" serves when there is none.
    folder_ = (base / "val").string();
    if (!fs::is_directory(folder_, ec) && fs::is_directory(base / "test", ec)) folder_ = (base / "test").string();
  }
  const fs::path train_folder = base / "train";
  classes_ = list_classes(fs::is_directory(train_folder, ec) ? train_folder.string() : folder_);
  const std::vector<std::string> here = split == Split::Train ? classes_ : list_classes(folder_);
  std::map<std::string, int> label_of;
  for (size_t k = 0; k < classes_.size(); ++k) label_of[classes_[k]] = static_cast<int>(k);

  for (const std::string& cls : here) {
    const auto it = label_of.find(cls);
    if (it == label_of.end())
      throw std::invalid_argument(folder_ + ": class folder '" + cls + "' is not a class of " + train_folder.string() +
                                  " (the splits must share their class folders)");
    std::vector<std::string> files;
    const fs::path dir = fs::path(folder_) / cls;
    for (const auto& entry : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink)) {
      if (!entry.is_regular_file()) continue;
      const std::string path = entry.path().string();
      if (has_image_extension(path))
        files.push_back(path);
      else
        ignored_.push_back(path);
    }
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      files_.push_back(std::move(f));
      labels_.push_back(it->second);
    }
  }
  std::sort(ignored_.begin(), ignored_.end());
  if (report_ignored && !ignored_.empty()) {
    const size_t shown = std::min<size_t>(ignored_.size(), 10);
    for (size_t k = 0; k < shown; ++k)
      fmt::print(stderr, "masnn: warning: {}: not an image file (by its extension); left out\n", ignored_[k]);
    if (ignored_.size() > shown)
      fmt::print(stderr, "masnn: warning: {}: {} more non-image files left out\n", folder_, ignored_.size() - shown);
  }
  if (files_.empty())
    throw std::invalid_argument(folder_ + ": holds no image files (JPEG, PNG, ...) in its class folders");
}

Image ImageFolder::image(size_t i) const {
  return read_image(files_.at(i), ColorMode::RGB);
}

ImageSubset::ImageSubset(std::shared_ptr<const ImageDataset> base, std::vector<size_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  if (!base_) throw std::invalid_argument("ImageSubset: no dataset");
  for (size_t i : indices_)
    if (i >= base_->size())
      throw std::invalid_argument(
          fmt::format("ImageSubset: index {} outside {} ({} samples)", i, base_->name(), base_->size()));
}

std::shared_ptr<ImageSubset> ImageSubset::evenly_spaced(std::shared_ptr<const ImageDataset> base, size_t count) {
  if (!base) throw std::invalid_argument("ImageSubset: no dataset");
  const size_t n = base->size();
  count = std::min(count, n);
  std::vector<size_t> indices(count);
  for (size_t k = 0; k < count; ++k) indices[k] = k * n / count;
  return std::make_shared<ImageSubset>(std::move(base), std::move(indices));
}

std::string ImageSubset::name() const {
  return base_->name() + "[" + std::to_string(indices_.size()) + " of " + std::to_string(base_->size()) + "]";
}

}  // namespace masnn::data
