// Class-folder datasets: DVS128 Gait and CIFAR10-DVS (no tensors here).
#include "masnn/data/folder_dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

namespace masnn::data {

namespace fs = std::filesystem;

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string> class_folders(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + ": folder not found");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  if (names.empty()) throw std::runtime_error(dir.string() + ": no class folders");
  const bool numeric = std::all_of(names.begin(), names.end(), all_digits);
  std::sort(names.begin(), names.end(), [numeric](const std::string& a, const std::string& b) {
    return numeric ? std::stoll(a) < std::stoll(b) : a < b;
  });
  return names;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::runtime_error(dir.string() + ": class folder has no files");
  return files;
}

}  // namespace

FolderDataset::FolderDataset(std::string name, std::vector<Item> items, std::vector<std::string> classes, int width,
                             int height)
    : name_(std::move(name)), items_(std::move(items)), classes_(std::move(classes)), width_(width), height_(height) {
  if (items_.empty()) throw std::invalid_argument(name_ + ": no samples");
  if (width_ < 1 || height_ < 1) throw std::invalid_argument(name_ + ": bad sensor size");
  for (const auto& it : items_)
    if (it.label < 0 || it.label >= static_cast<int>(classes_.size()))
      throw std::invalid_argument(it.path + ": label outside the class list");
}

Events FolderDataset::events(size_t i) const {
  EventReadOptions read;
  read.width = width_;
  read.height = height_;
  return read_events(items_.at(i).path, read);
}

std::vector<SourceFile> FolderDataset::source_files() const {
  std::vector<SourceFile> files;
  files.reserve(items_.size());
  for (const auto& it : items_) files.push_back(stat_source(it.path));
  return files;
}

FolderDataset make_gait_dataset(const std::string& root, Split split) {
  const fs::path base(root);
  if (!fs::is_directory(base))
    throw std::runtime_error(root + ": DVS128 Gait folder not found (expected train/ and test/)");
  const auto classes = class_folders(base / "train");
  const fs::path dir = base / split_name(split);
  if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + ": folder not found");
  for (const auto& c : class_folders(dir))
    if (std::find(classes.begin(), classes.end(), c) == classes.end())
      throw std::runtime_error((dir / c).string() + ": class folder not present in the train split");
  std::vector<FolderDataset::Item> items;
  for (size_t c = 0; c < classes.size(); ++c) {
    if (!fs::is_directory(dir / classes[c])) continue;
    for (auto& f : files_in(dir / classes[c])) items.push_back({std::move(f), static_cast<int>(c)});
  }
  return FolderDataset("dvs128-gait/" + split_name(split), std::move(items), classes, 128, 128);
}

FolderDataset make_cifar10dvs_dataset(const std::string& root, Split split, double train_fraction) {
  if (!(train_fraction > 0.0 && train_fraction < 1.0))
    throw std::invalid_argument("cifar10-dvs: train_fraction must be in (0, 1)");
  const auto classes = class_folders(fs::path(root));
  std::vector<FolderDataset::Item> items;
  for (size_t c = 0; c < classes.size(); ++c) {
    const auto files = files_in(fs::path(root) / classes[c]);
    const auto n_train = static_cast<size_t>(std::ceil(train_fraction * static_cast<double>(files.size())));
    const size_t b = split == Split::Train ? 0 : n_train, e = split == Split::Train ? n_train : files.size();
    for (size_t i = b; i < e; ++i) items.push_back({files[i], static_cast<int>(c)});
  }
  if (items.empty()) throw std::runtime_error(root + ": no " + split_name(split) + " samples");
  return FolderDataset("cifar10-dvs/" + split_name(split), std::move(items), classes, 128, 128);
}

}  // namespace masnn::data
