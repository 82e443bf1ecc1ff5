// The synthetic generator read back through the Gesture dataset, the folder datasets, and the cache.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "data/dataset_cache.h"
#include "masnn/data/aedat3.h"
#include "masnn/data/dataset_factory.h"
#include "masnn/data/event_file.h"
#include "masnn/data/event_writer.h"
#include "masnn/data/folder_dataset.h"
#include "masnn/data/gesture_dataset.h"
#include "masnn/data/gesture_labels.h"
#include "masnn/data/synth_gestures.h"
#include "masnn/util/file_io.h"

#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::expect_error;
using masnn::testing::TempDir;
using namespace masnn::data;
using masnn::read_file_bytes;
using masnn::write_file_atomic;

namespace {

SynthOptions small_synth() {
  SynthOptions o;
  o.users = 3;
  o.lightings = {"lab"};
  o.gesture_seconds = 0.5;
  o.pause_seconds = 0.1;
  o.seed = 5;
  return o;
}

void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}

}  // namespace

TEST(DataSynth, GestureDatasetReadsItBack) {
  TempDir dir("datasets");
  const SynthReport report = write_synthetic_gestures(dir.path.string(), small_synth());
  EXPECT_EQ(report.recordings, 3u);
  EXPECT_EQ(report.train_samples, 22u);  // users 1-2, 11 gestures each
  EXPECT_EQ(report.test_samples, 11u);   // user 3
  for (const char* f : {"user01_lab.aedat", "user01_lab_labels.csv", "trials_to_train.txt", "trials_to_test.txt"})
    EXPECT_TRUE(fs::exists(dir.path / "DvsGesture" / f)) << f;
  GestureDataset train({dir.path.string(), Split::Train});
  GestureDataset test({(dir.path / "DvsGesture").string(), Split::Test});
  EXPECT_EQ(train.size(), 22u);
  EXPECT_EQ(test.size(), 11u);
  EXPECT_EQ(train.recordings().size(), 2u);
  std::set<int> classes;
  for (size_t i = 0; i < test.size(); ++i) {
    classes.insert(test.label(i));
    const Events ev = test.events(i);
    EXPECT_GT(ev.size(), 500u) << test.describe(i);
    EXPECT_TRUE(ev.is_time_sorted());
    const auto segments = read_gesture_labels(gesture_labels_path(test.recordings()[0]));
    EXPECT_GE(ev.t.front(), segments[i].start_us);
    EXPECT_LT(ev.t.back(), segments[i].end_us);
  }
  EXPECT_EQ(classes.size(), 11u);
  EXPECT_EQ(*classes.begin(), 0);
  EXPECT_EQ(*classes.rbegin(), 10);
  // Without the trial lists the split is by user number.
  fs::remove(dir.path / "DvsGesture" / "trials_to_train.txt");
  GestureOptions by_user{dir.path.string(), Split::Test};
  by_user.last_train_user = 1;
  EXPECT_EQ(GestureDataset(by_user).size(), 22u);
  // A recording converted to AEDAT 4 (as DV writes them) gives the same samples.
  GestureOptions test_users{dir.path.string(), Split::Test};
  test_users.last_train_user = 2;
  const Events before = GestureDataset(test_users).events(3);
  const fs::path aedat3 = dir.path / "DvsGesture" / "user03_lab.aedat";
  auto writer = make_event_writer(EventOutputFormat::Aedat4, (dir.path / "DvsGesture" / "user03_lab.aedat4").string());
  writer->write(read_events(aedat3.string()));
  writer->commit();
  fs::remove(aedat3);
  fs::remove(dir.path / "DvsGesture" / "trials_to_test.txt");
  const GestureDataset converted(test_users);
  EXPECT_EQ(converted.size(), 11u);
  EXPECT_EQ(converted.events(3).t, before.t);
  EXPECT_EQ(converted.events(3).x, before.x);
}

TEST(DataSynth, DeterministicForASeedAndWriterRoundTrip) {
  SynthOptions o = small_synth();
  const SynthRecording a = synthesize_recording(o, 2, 0);
  const SynthRecording b = synthesize_recording(o, 2, 0);
  EXPECT_EQ(a.events.t, b.events.t);
  EXPECT_EQ(a.events.x, b.events.x);
  EXPECT_EQ(a.segments.size(), 11u);
  o.seed = 6;
  const SynthRecording c = synthesize_recording(o, 2, 0);
  EXPECT_NE(a.events.t, c.events.t);
  EXPECT_TRUE(a.events.is_time_sorted());
  const EventSummary s = summarize(a.events);
  EXPECT_LE(s.width_seen, 128);
  EXPECT_LE(s.height_seen, 128);
  EXPECT_GT(s.on, s.count / 4);  // both polarities present
  EXPECT_GT(s.off, s.count / 4);
  const auto bytes = encode_aedat3(a.events);
  const Events back = parse_aedat3(bytes.data(), bytes.size(), "mem");
  EXPECT_EQ(back.t, a.events.t);
  EXPECT_EQ(back.x, a.events.x);
  EXPECT_EQ(back.y, a.events.y);
  EXPECT_EQ(back.p, a.events.p);
  // The files do not depend on the number of threads.
  TempDir d1("datasets_a"), d2("datasets_b");
  SynthOptions one = small_synth(), two = small_synth();
  one.threads = 1;
  two.threads = 3;
  write_synthetic_gestures((d1.path / "a").string(), one);
  write_synthetic_gestures((d2.path / "b").string(), two);
  EXPECT_EQ(read_file_bytes((d1.path / "a/DvsGesture/user03_lab.aedat").string()),
            read_file_bytes((d2.path / "b/DvsGesture/user03_lab.aedat").string()));
}

TEST(DataSynth, RotationClassesDifferOnlyInTimeDirection) {
  // Clockwise and counter-clockwise rotations of the same arm cover the same area: their time-summed
  // event maps overlap strongly, so telling them apart needs time.
  SynthOptions o = small_synth();
  o.gesture_seconds = 1.5;
  const SynthRecording r = synthesize_recording(o, 1, 0);
  std::vector<double> maps[11];
  for (const auto& seg : r.segments) {
    auto& m = maps[seg.label];
    m.assign(32 * 32, 0.0);
    for (size_t i = r.events.lower_bound(seg.start_us); i < r.events.lower_bound(seg.end_us); ++i)
      m[static_cast<size_t>(r.events.y[i] / 4 * 32 + r.events.x[i] / 4)] += 1;
  }
  auto cosine = [](const std::vector<double>& a, const std::vector<double>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
    return ab / std::sqrt(aa * bb);
  };
  EXPECT_GT(cosine(maps[3], maps[4]), 0.8);  // right arm clockwise vs counter-clockwise
  EXPECT_LT(cosine(maps[1], maps[2]), 0.5);  // right vs left hand wave: different places
}

TEST(DataGesture, BadLayoutsGiveClearErrors) {
  TempDir dir("datasets");
  EXPECT_NE(expect_error([&] {
              GestureDataset({(dir.path / "none").string(), Split::Train});
            }).find("not found"),
            std::string::npos);
  fs::create_directories(dir.path / "DvsGesture");
  EXPECT_NE(expect_error([&] {
              GestureDataset({dir.path.string(), Split::Train});
            }).find("no train recordings"),
            std::string::npos);
  write_file_atomic((dir.path / "DvsGesture/user01_lab.aedat").string(), encode_aedat3(Events{}));
  EXPECT_NE(expect_error([&] {
              GestureDataset({dir.path.string(), Split::Train});
            }).find("labels CSV missing"),
            std::string::npos);
  write_text(dir.path / "DvsGesture/user01_lab_labels.csv", "class,startTime_usec,endTime_usec\n1,0,100\n12,5,10\n");
  const std::string msg = expect_error([&] { GestureDataset({dir.path.string(), Split::Train}); });
  EXPECT_NE(msg.find("user01_lab_labels.csv: line 3: class 12 outside 1..11"), std::string::npos) << msg;
  write_text(dir.path / "DvsGesture/user01_lab_labels.csv", "class,startTime_usec,endTime_usec\n1,0,100\n2,5\n");
  EXPECT_NE(expect_error([&] { GestureDataset({dir.path.string(), Split::Train}); }).find("line 3"), std::string::npos);
  // A segment outside the recording's events: the labels do not match the recording.
  Events ev;
  ev.push_back(10, 1, 1, 1);
  ev.push_back(20, 2, 2, 0);
  write_file_atomic((dir.path / "DvsGesture/user01_lab.aedat").string(), encode_aedat3(ev));
  write_text(dir.path / "DvsGesture/user01_lab_labels.csv", "class,startTime_usec,endTime_usec\n1,0,15\n3,500,900\n");
  GestureDataset ds({dir.path.string(), Split::Train});
  EXPECT_EQ(ds.events(0).size(), 1u);
  EXPECT_NE(expect_error([&] { ds.events(1); }).find("line 3: segment [500, 900) lies outside"), std::string::npos);
}

TEST(DataFolderDatasets, GaitAndCifar10Dvs) {
  TempDir dir("datasets");
  const fs::path gait = dir.path / "gait";
  for (const char* c : {"0", "2", "10"}) {
    write_text(gait / "train" / c / "a.txt", "1 1 1 1\n2 2 2 0\n");
    write_text(gait / "train" / c / "b.txt", "5 3 3 1\n");
  }
  write_text(gait / "test" / "10" / "z.txt", "7 200 1 1\n8 4 4 0\n");  // x = 200 is outside 128: dropped
  const FolderDataset train = make_gait_dataset(gait.string(), Split::Train);
  EXPECT_EQ(train.classes(), (std::vector<std::string>{"0", "2", "10"}));  // numeric order
  EXPECT_EQ(train.size(), 6u);
  EXPECT_EQ(train.label(4), 2);
  EXPECT_EQ(train.events(0).size(), 2u);
  const FolderDataset test = make_gait_dataset(gait.string(), Split::Test);
  ASSERT_EQ(test.size(), 1u);
  EXPECT_EQ(test.label(0), 2);
  EXPECT_EQ(test.events(0).size(), 1u);
  write_text(gait / "test" / "99" / "q.txt", "1 1 1 1\n");
  EXPECT_THROW(make_gait_dataset(gait.string(), Split::Test), std::runtime_error);
  EXPECT_THROW(make_gait_dataset((dir.path / "nope").string(), Split::Train), std::runtime_error);

  const fs::path cifar = dir.path / "cifar";
  for (const char* c : {"airplane", "cat"})
    for (int i = 0; i < 10; ++i) write_text(cifar / c / ("f" + std::to_string(i) + ".aedat"), "#!AER-DAT2.0\r\n");
  const FolderDataset ctrain = make_cifar10dvs_dataset(cifar.string(), Split::Train);
  const FolderDataset ctest = make_cifar10dvs_dataset(cifar.string(), Split::Test);
  EXPECT_EQ(ctrain.size(), 18u);
  EXPECT_EQ(ctest.size(), 2u);
  EXPECT_EQ(fs::path(ctest.describe(0)).filename(), "f9.aedat");  // the last file of each class tests
  EXPECT_EQ(ctest.label(1), 1);
  EXPECT_TRUE(ctest.events(0).empty());
  fs::create_directories(cifar / "dog");
  EXPECT_NE(expect_error([&] { make_cifar10dvs_dataset(cifar.string(), Split::Train); }).find("has no files"),
            std::string::npos);
}

TEST(DataCache, BuiltReusedAndRebuiltOnChangeOrCorruption) {
  TempDir dir("datasets");
  write_synthetic_gestures(dir.path.string(), small_synth());
  auto source = std::make_shared<GestureDataset>(GestureOptions{dir.path.string(), Split::Test});
  const std::string path = (dir.path / "cache" / "test.mev").string();
  {
    CachedDataset cache(source, path);
    EXPECT_EQ(cache.state(), CacheState::Built);
    ASSERT_EQ(cache.size(), source->size());
    for (size_t i = 0; i < cache.size(); ++i) {
      const Events a = cache.events(i), b = source->events(i);
      EXPECT_EQ(a.t, b.t);
      EXPECT_EQ(a.x, b.x);
      EXPECT_EQ(a.y, b.y);
      EXPECT_EQ(a.p, b.p);
      EXPECT_EQ(cache.label(i), source->label(i));
    }
  }
  {
    CachedDataset cache(source, path);
    EXPECT_EQ(cache.state(), CacheState::Reused);
  }
  // Corrupt one payload byte: detected by the checksum, rebuilt.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(path) - 3));
    f.put('\x5A');
  }
  {
    CachedDataset cache(source, path);
    EXPECT_EQ(cache.state(), CacheState::Rebuilt);
    EXPECT_NE(cache.reason().find("checksum"), std::string::npos) << cache.reason();
    EXPECT_EQ(cache.events(0).t, source->events(0).t);
  }
  // Truncated: rebuilt.
  fs::resize_file(path, fs::file_size(path) / 2);
  EXPECT_EQ(CachedDataset(source, path).state(), CacheState::Rebuilt);
  // Garbage: rebuilt.
  write_text(path, "not a cache");
  EXPECT_EQ(CachedDataset(source, path).state(), CacheState::Rebuilt);
  EXPECT_EQ(CachedDataset(source, path).state(), CacheState::Reused);
  // The source recording changes: rebuilt with the new events.
  const std::string rec = source->recordings()[0];
  Events ev = read_aedat3(rec);
  for (auto& x : ev.x) x = static_cast<uint16_t>(127 - x);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_aedat3(rec, ev);
  auto changed = std::make_shared<GestureDataset>(GestureOptions{dir.path.string(), Split::Test});
  CachedDataset cache(changed, path);
  EXPECT_EQ(cache.state(), CacheState::Rebuilt);
  EXPECT_NE(cache.reason().find("changed"), std::string::npos) << cache.reason();
  EXPECT_EQ(cache.events(3).x, changed->events(3).x);
}

TEST(DataFactory, OpensByNameWithCache) {
  TempDir dir("datasets");
  write_synthetic_gestures(dir.path.string(), small_synth());
  EXPECT_EQ(parse_dataset_kind("synth"), DatasetKind::Gesture);
  EXPECT_EQ(parse_dataset_kind("cifar10-dvs"), DatasetKind::Cifar10Dvs);
  EXPECT_THROW(parse_dataset_kind("mnist"), std::invalid_argument);
  const auto plain = open_event_dataset(DatasetKind::Gesture, dir.path.string(), Split::Train);
  const auto cached =
      open_event_dataset(DatasetKind::Gesture, dir.path.string(), Split::Train, (dir.path / "cache").string());
  EXPECT_TRUE(fs::exists(dir.path / "cache" / "dvs128-gesture-train.mev"));
  ASSERT_EQ(cached->size(), plain->size());
  EXPECT_EQ(cached->events(5).t, plain->events(5).t);
  EXPECT_EQ(cached->name(), "dvs128-gesture/train");
}
