// Datasets of one event file per sample in class folders: DVS128 Gait (REFERENCE.md 4.2), CIFAR10-DVS
// (REFERENCE.md 4.3), N-MNIST and N-Caltech101 (4.4), N-CARS (4.5).
#pragma once

#include <string>
#include <vector>

#include "masnn/data/event_dataset.h"
#include "masnn/data/event_file.h"

namespace masnn::data {

/// One file per sample; the file format is detected per file. Labels are the class folders' order.
class FolderDataset : public EventDataset {
 public:
  /// A sample: its file and 0-based label.
  struct Item {
    std::string path;
    int label = 0;
  };
  /// `items` must be non-empty; `classes` names the class folders in label order.
  FolderDataset(std::string name, std::vector<Item> items, std::vector<std::string> classes, int width, int height);
  size_t size() const override { return items_.size(); }
  int label(size_t i) const override { return items_.at(i).label; }
  /// Reads the file (events outside the sensor dropped, sorted by t).
  Events events(size_t i) const override;
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  int width() const override { return width_; }
  int height() const override { return height_; }
  std::string name() const override { return name_; }
  std::string describe(size_t i) const override { return items_.at(i).path; }
  std::vector<SourceFile> source_files() const override;
  /// Class folder names, index = label.
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<Item>& items() const { return items_; }

 private:
  std::string name_;
  std::vector<Item> items_;
  std::vector<std::string> classes_;
  int width_, height_;
};

/// DVS128 Gait: `<root>/train/<class>/<file>` and `<root>/test/<class>/<file>`, text `t x y p` files (any
/// supported format is accepted), 128x128. Class folders are ordered numerically when all names are numbers
/// (0..20), by name otherwise; the test split must use the train split's class folders. Throws naming the
/// folder when it is missing, has no class folders, or a class folder has no files.
FolderDataset make_gait_dataset(const std::string& root, Split split);

/// CIFAR10-DVS: `<root>/<class>/*.aedat` (AEDAT 2.0), 10 class folders sorted by name, 128x128.
/// Deterministic split: within each class, files sorted by name; the first ceil(train_fraction * n) are
/// train, the rest test (train_fraction 0.9 gives the usual 9000 / 1000).
FolderDataset make_cifar10dvs_dataset(const std::string& root, Split split, double train_fraction = 0.9);

/// N-MNIST: `<root>/Train/<0..9>/*.bin` and `<root>/Test/<0..9>/*.bin` (or lower-case train/test), the 40-bit
/// binary format, 10 classes. The recordings are 34x34; they are served on a 36x36 sensor (the last two rows and
/// columns stay empty) so that the DVS networks' pools divide the frame.
FolderDataset make_nmnist_dataset(const std::string& root, Split split);

/// N-Caltech101: `<root>/Caltech101/<class>/image_NNNN.bin` (or `<root>/<class>/...`), 101 class folders (100
/// objects and BACKGROUND_Google) sorted by name. No official split exists: within each class, files sorted by
/// name, the first ceil(train_fraction * n) are train, the rest test. The recordings are at most 240x180; they are
/// served on a square 240x240 sensor (the rows below 180 stay empty), as the DVS networks take square frames.
FolderDataset make_ncaltech101_dataset(const std::string& root, Split split, double train_fraction = 0.9);

/// N-CARS: `<root>/n-cars_train` and `<root>/n-cars_test` (or train/test), each holding class folders
/// `background` (label 0) and `cars` (label 1) of Prophesee DAT files, possibly one folder deeper (the archive's
/// layouts differ). The 100 ms samples are crops of at most 120x100 pixels, served on a square 120x120 sensor.
FolderDataset make_ncars_dataset(const std::string& root, Split split);

}  // namespace masnn::data
