// N-MNIST, N-Caltech101 and N-CARS in their published folder layouts, on small generated fixtures: splits, labels,
// sensors, the events read back, the errors for a wrong folder, and a short training run from each preset.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "masnn/data/dataset_factory.h"
#include "masnn/data/events.h"
#include "masnn/data/folder_dataset.h"
#include "masnn/data/nmnist_bin.h"
#include "masnn/data/prophesee.h"
#include "masnn/util/file_io.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::expect_error;
using masnn::testing::TempDir;
using namespace masnn::data;

namespace {

// A sample of `n` events within width x height over `duration_us`, its pattern depending on the label (a bar whose
// row moves with the label), so a network can tell the classes apart.
Events sample(int label, int index, int width, int height, int64_t duration_us, int n = 400) {
  std::mt19937 rng(static_cast<uint32_t>(label * 1000 + index));
  Events e;
  for (int i = 0; i < n; ++i) {
    const int64_t t = duration_us * i / n;
    const int row = (label * 7 + static_cast<int>(rng() % 3)) % height;
    e.push_back(t, static_cast<uint16_t>(rng() % static_cast<uint32_t>(width)), static_cast<uint16_t>(row),
                static_cast<uint8_t>(i % 2));
  }
  return e;
}

void write_nmnist(const fs::path& root, int per_class) {
  for (const char* split : {"Train", "Test"})
    for (int d = 0; d < 10; ++d) {
      fs::create_directories(root / split / std::to_string(d));
      for (int i = 0; i < per_class; ++i) {
        char name[16];
        std::snprintf(name, sizeof name, "%05d.bin", i + 1);
        masnn::write_file_atomic((root / split / std::to_string(d) / name).string(),
                                 encode_nmnist_bin(sample(d, i, 34, 34, 300000)));
      }
    }
}

void write_ncars(const fs::path& root, int per_class, bool extra_level) {
  PropheseeGeometry g;
  g.width = 120;
  g.height = 100;
  for (const std::string split : {"train", "test"})
    for (int c = 0; c < 2; ++c) {
      fs::path dir = root / ("n-cars_" + split);
      if (extra_level) dir /= split;
      dir /= c == 0 ? "background" : "cars";
      fs::create_directories(dir);
      for (int i = 0; i < per_class; ++i)
        masnn::write_file_atomic((dir / ("obj_00" + std::to_string(1000 + i) + "_td.dat")).string(),
                                 encode_dat(sample(c, i, 120, 100, 100000), g));
    }
}

}  // namespace

TEST(NMnistDataset, ReadsTheTrainAndTestFoldersOnA36SquareSensor) {
  TempDir dir("nmnist_ds");
  write_nmnist(dir.path, 2);
  const auto train = open_event_dataset(DatasetKind::NMnist, dir.path.string(), Split::Train);
  const auto test = open_event_dataset(DatasetKind::NMnist, dir.path.string(), Split::Test);
  EXPECT_EQ(train->size(), 20u);
  EXPECT_EQ(test->size(), 20u);
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->width(), 36);
  EXPECT_EQ(train->height(), 36);
  EXPECT_EQ(train->label(5), 2);  // two files per digit, digits in order
  const Events e = train->events(5);
  const Events want = sample(2, 1, 34, 34, 300000);
  EXPECT_EQ(e.t, want.t);
  EXPECT_EQ(e.x, want.x);
  EXPECT_EQ(parse_dataset_kind("n-mnist"), DatasetKind::NMnist);
  fs::remove_all(dir.path / "Test" / "7");
  EXPECT_NE(expect_error([&] { make_nmnist_dataset(dir.path.string(), Split::Test); }).find("Test/7: digit folder not found"),
            std::string::npos);
  EXPECT_NE(expect_error([&] { make_nmnist_dataset((dir.path / "none").string(), Split::Train); })
                .find("N-MNIST train folder not found (expected Train/ or train/)"),
            std::string::npos);
}

TEST(NCaltech101Dataset, SplitsEveryClassByFileName) {
  TempDir dir("ncaltech_ds");
  const fs::path base = dir.path / "Caltech101";
  for (const std::string c : {"BACKGROUND_Google", "accordion", "airplanes"}) {
    fs::create_directories(base / c);
    for (int i = 0; i < 10; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "image_%04d.bin", i + 1);
      masnn::write_file_atomic((base / c / name).string(), encode_nmnist_bin(sample(static_cast<int>(c.size()), i, 240, 180, 300000)));
    }
  }
  fs::create_directories(dir.path / "Caltech101_annotations" / "accordion");  // beside the samples, ignored
  const FolderDataset train = make_ncaltech101_dataset(dir.path.string(), Split::Train);
  const FolderDataset test = make_ncaltech101_dataset(dir.path.string(), Split::Test);
  EXPECT_EQ(train.size(), 27u);  // ceil(0.9 x 10) = 9 per class
  EXPECT_EQ(test.size(), 3u);
  EXPECT_EQ(train.num_classes(), 3);
  EXPECT_EQ(train.classes()[0], "BACKGROUND_Google");
  EXPECT_EQ(fs::path(test.describe(0)).filename(), "image_0010.bin");
  EXPECT_EQ(train.width(), 240);
  EXPECT_EQ(train.height(), 240);
  EXPECT_EQ(parse_dataset_kind("n-caltech101"), DatasetKind::NCaltech101);
}

TEST(NCarsDataset, FindsItsClassFoldersInEitherLayout) {
  for (bool extra_level : {false, true}) {
    SCOPED_TRACE(extra_level);
    TempDir dir("ncars_ds");
    write_ncars(dir.path, 3, extra_level);
    const FolderDataset train = make_ncars_dataset(dir.path.string(), Split::Train);
    EXPECT_EQ(train.size(), 6u);
    EXPECT_EQ(train.num_classes(), 2);
    EXPECT_EQ(train.label(0), 0);  // background
    EXPECT_EQ(train.label(5), 1);  // cars
    EXPECT_EQ(train.width(), 120);
    const Events e = train.events(4);
    EXPECT_EQ(e.y, sample(1, 1, 120, 100, 100000).y);
  }
  TempDir dir("ncars_bad");
  fs::create_directories(dir.path / "n-cars_train" / "cars");
  EXPECT_NE(expect_error([&] { make_ncars_dataset(dir.path.string(), Split::Train); })
                .find("background: class folder not found (background/ and cars/ expected)"),
            std::string::npos);
  EXPECT_EQ(parse_dataset_kind("n-cars"), DatasetKind::NCars);
}

TEST(CameraDatasetPresets, TrainAndEvaluateOnGeneratedFixtures) {
  TempDir dir("camera_presets");
  write_nmnist(dir.path / "nmnist", 2);
  write_ncars(dir.path / "ncars", 4, false);
  const std::string cli = MASNN_CLI;
  for (const auto& [preset, root] : {std::pair{"n-mnist", "nmnist"}, std::pair{"n-cars", "ncars"}}) {
    SCOPED_TRACE(preset);
    const std::string out = (dir.path / (std::string("run_") + preset)).string();
    const std::string common = " --config " + std::string(MASNN_SOURCE_DIR) + "/configs/" + preset + ".toml --set data.root=" +
                               (dir.path / root).string() + " --set model.name=dvs-small --set data.steps=4 --set model.t_ratio=2 ";
    const std::string train = cli + " train" + common + "--set train.epochs=1 --set train.batch_size=8 --set train.out_dir=" +
                              out + " > " + out + ".log 2>&1";
    ASSERT_EQ(std::system(train.c_str()), 0) << train;
    const std::string eval = cli + " eval --checkpoint " + out + "/last.pt > " + out + "_eval.log 2>&1";
    EXPECT_EQ(std::system(eval.c_str()), 0) << eval;
    EXPECT_TRUE(fs::exists(out + "/last.pt"));
  }
}
