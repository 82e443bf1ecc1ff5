// Class-folder datasets: DVS128 Gait, CIFAR10-DVS, N-MNIST, N-Caltech101, N-CARS (no tensors here).
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

namespace {

// Class folders under `dir`, each split by file name: the first ceil(train_fraction * n) files train, the rest test.
FolderDataset split_class_folders(const std::string& name, const fs::path& dir, Split split, double train_fraction,
                                  int width, int height) {
  if (!(train_fraction > 0.0 && train_fraction < 1.0))
    throw std::invalid_argument(name + ": train_fraction must be in (0, 1)");
  const auto classes = class_folders(dir);
  std::vector<FolderDataset::Item> items;
  for (size_t c = 0; c < classes.size(); ++c) {
    const auto files = files_in(dir / classes[c]);
    const auto n_train = static_cast<size_t>(std::ceil(train_fraction * static_cast<double>(files.size())));
    const size_t b = split == Split::Train ? 0 : n_train, e = split == Split::Train ? n_train : files.size();
    for (size_t i = b; i < e; ++i) items.push_back({files[i], static_cast<int>(c)});
  }
  if (items.empty()) throw std::runtime_error(dir.string() + ": no " + split_name(split) + " samples");
  return FolderDataset(name + "/" + split_name(split), std::move(items), classes, width, height);
}

// Samples of the given class folders (label = position) under `dir`.
FolderDataset labelled_folders(const std::string& name, const fs::path& dir, const std::vector<std::string>& classes,
                               Split split, int width, int height) {
  std::vector<FolderDataset::Item> items;
  for (size_t c = 0; c < classes.size(); ++c)
    for (auto& f : files_in(dir / classes[c])) items.push_back({std::move(f), static_cast<int>(c)});
  return FolderDataset(name + "/" + split_name(split), std::move(items), classes, width, height);
}

// The first of `names` that is a folder under `root`; throws listing them otherwise.
fs::path first_folder(const fs::path& root, const std::vector<std::string>& names, const std::string& what) {
  std::string tried;
  for (const auto& n : names) {
    if (fs::is_directory(root / n)) return root / n;
    tried += (tried.empty() ? "" : " or ") + n + "/";
  }
  throw std::runtime_error(root.string() + ": " + what + " folder not found (expected " + tried + ")");
}

}  // namespace

FolderDataset make_cifar10dvs_dataset(const std::string& root, Split split, double train_fraction) {
  return split_class_folders("cifar10-dvs", fs::path(root), split, train_fraction, 128, 128);
}

FolderDataset make_nmnist_dataset(const std::string& root, Split split) {
  const bool train = split == Split::Train;
  const fs::path dir =
      first_folder(fs::path(root), train ? std::vector<std::string>{"Train", "train"} : std::vector<std::string>{"Test", "test"},
                   "N-MNIST " + split_name(split));
  std::vector<std::string> digits;
  for (int d = 0; d < 10; ++d) digits.push_back(std::to_string(d));
  for (const auto& d : digits)
    if (!fs::is_directory(dir / d)) throw std::runtime_error((dir / d).string() + ": digit folder not found (0..9 expected)");
  return labelled_folders("n-mnist", dir, digits, split, 36, 36);
}

FolderDataset make_ncaltech101_dataset(const std::string& root, Split split, double train_fraction) {
  const fs::path base(root);
  const fs::path dir = fs::is_directory(base / "Caltech101") ? base / "Caltech101" : base;
  return split_class_folders("n-caltech101", dir, split, train_fraction, 240, 240);
}

FolderDataset make_ncars_dataset(const std::string& root, Split split) {
  const std::string s = split_name(split);
  fs::path dir = first_folder(fs::path(root), {"n-cars_" + s, s}, "N-CARS " + s);
  // Some copies of the archive hold one more folder level (n-cars_train/train/cars).
  if (!fs::is_directory(dir / "cars") && fs::is_directory(dir / s / "cars")) dir /= s;
  for (const char* c : {"background", "cars"})
    if (!fs::is_directory(dir / c))
      throw std::runtime_error((dir / c).string() + ": class folder not found (background/ and cars/ expected)");
  return labelled_folders("n-cars", dir, {"background", "cars"}, split, 120, 120);
}

}  // namespace masnn::data
