// The DVS pixel model against hand-computed events (a step, a ramp, a still image; noise off), its noise and
// mismatch statistics, saccades over an image, video input, the simulated dataset, and its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include "masnn/data/dataset_export.h"
#include "masnn/data/event_file.h"
#include "masnn/data/event_simulation.h"
#include "masnn/data/fashion_mnist.h"
#include "masnn/data/folder_dataset.h"
#include "test_support.h"

using namespace masnn::data;
using masnn::testing::expect_error;
using masnn::testing::TempDir;

namespace {

// The pixel model without mismatch, refractory period or noise: its events follow from the thresholds alone.
DvsSimulatorOptions noiseless() {
  DvsSimulatorOptions o;
  o.threshold_sigma = 0;
  o.refractory_us = 0;
  o.leak_rate_hz = 0;
  o.shot_noise_rate_hz = 0;
  return o;
}

Events feed(DvsSimulator& sensor, const std::vector<std::pair<int64_t, float>>& frames) {
  Events out;
  std::vector<float> frame(static_cast<size_t>(sensor.width()) * static_cast<size_t>(sensor.height()));
  for (const auto& [t, value] : frames) {
    std::fill(frame.begin(), frame.end(), value);
    sensor.add_frame(frame.data(), t, out);
  }
  return out;
}

Image square_image(int size, int lo, int hi) {
  Image image(size, size, 1, 0);
  for (int y = lo; y < hi; ++y)
    for (int x = lo; x < hi; ++x) image.at(y, x) = 200;
  return image;
}

}  // namespace

TEST(DvsSimulator, AStepGivesOneEventPerThresholdAtTheInterpolatedCrossingTimes) {
  DvsSimulator sensor(1, 1, noiseless());
  // Log intensity up by 0.5 between t = 0 and 1000 us, then back down by 0.5 until 2000 us. Thresholds 0.2: ON at
  // 0.2 and 0.4 of the rise (t = 400, 800); the reference ends 0.1 below the top, so OFF at 0.3 and 0.5 of the
  // fall (t = 1600 and 2000), back at the start level.
  const float base = 100.0f, top = 100.0f * std::exp(0.5f);
  const Events e = feed(sensor, {{0, base}, {1000, top}, {2000, base}, {3000, base}});
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e.t, (EventArray<int64_t>{400, 800, 1600, 2000}));
  EXPECT_EQ(e.p, (EventArray<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(e.x, (EventArray<uint16_t>{0, 0, 0, 0}));
}

TEST(DvsSimulator, ARampGivesEventsEveryThresholdAcrossFrames) {
  DvsSimulator sensor(2, 1, noiseless());
  // Log intensity rising 0.13 per 1 ms frame for 10 frames: crossings at 0.2 k / 0.13 ms, k = 1..6, on both pixels.
  std::vector<std::pair<int64_t, float>> frames;
  for (int k = 0; k <= 10; ++k) frames.emplace_back(1000 * k, 50.0f * std::exp(0.13f * static_cast<float>(k)));
  const Events e = feed(sensor, frames);
  ASSERT_EQ(e.size(), 12u);
  for (int k = 1; k <= 6; ++k) {
    const int64_t expected = std::llround(1000.0 * 0.2 * k / 0.13);
    for (int pixel = 0; pixel < 2; ++pixel) {
      const size_t j = static_cast<size_t>(2 * (k - 1) + pixel);
      EXPECT_EQ(e.t[j], expected) << "crossing " << k;
      EXPECT_EQ(e.x[j], pixel) << "ties keep pixel order";
      EXPECT_EQ(e.p[j], 1);
    }
  }
}

TEST(DvsSimulator, DarkPixelsRespondLinearlyAsV2eLinLog) {
  EXPECT_NEAR(lin_log(10.0f, 20.0f), 10.0f * std::log(20.0f) / 20.0f, 1e-6);
  EXPECT_NEAR(lin_log(20.0f, 20.0f), std::log(20.0f), 1e-6);
  EXPECT_EQ(lin_log(0.0f, 20.0f), 0.0f);
  for (float i = 20.5f; i < 70000.0f; i *= 1.37f) EXPECT_NEAR(lin_log(i, 20.0f), std::log(i), 2e-6) << i;
  // From black to 10 is a change of 10 ln(20) / 20 = 1.498 in lin-log units: 7 events of 0.2.
  DvsSimulator sensor(1, 1, noiseless());
  EXPECT_EQ(feed(sensor, {{0, 0.0f}, {1000, 10.0f}}).size(), 7u);
}

TEST(DvsSimulator, AStillImageWithoutNoiseGivesNoEvent) {
  DvsSimulator sensor(8, 8, noiseless());
  Events out;
  std::vector<float> frame(64);
  for (size_t i = 0; i < frame.size(); ++i) frame[i] = static_cast<float>(i * 4);
  for (int k = 0; k < 100; ++k) sensor.add_frame(frame.data(), 1000 * k, out);
  EXPECT_TRUE(out.empty());
}

TEST(DvsSimulator, TheRefractoryPeriodDropsCrossingsButTheReferenceFollows) {
  DvsSimulatorOptions o = noiseless();
  o.refractory_us = 5000;
  DvsSimulator sensor(1, 1, o);
  // A rise of 1.0 (5 crossings within 1 ms): only the first is emitted; the reference follows the input, so a
  // still input afterwards gives nothing, and the next rise, after the refractory period, gives its first event.
  const float base = 100.0f;
  const Events e = feed(sensor, {{0, base},
                                 {1000, base * std::exp(1.0f)},
                                 {4000, base * std::exp(1.0f)},
                                 {10000, base * std::exp(1.0f)},
                                 {11000, base * std::exp(1.3f)}});
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e.t[0], 200);
  EXPECT_EQ(e.t[1], 10000 + std::llround(1000 * 0.2 / 0.3));
}

TEST(DvsSimulator, LeakGivesOneOnEventPerPixelPerLeakPeriodOnAStillScene) {
  DvsSimulatorOptions o = noiseless();
  o.leak_rate_hz = 2.0;  // the reference drifts one threshold per 0.5 s
  DvsSimulator sensor(50, 40, o);
  std::vector<std::pair<int64_t, float>> frames;
  for (int k = 0; k <= 100; ++k) frames.emplace_back(10000 * k, 80.0f);  // 1 s
  const Events e = feed(sensor, frames);
  // Each pixel starts at a random phase of its leak period: in 1 s, exactly 2 leak events each.
  EXPECT_EQ(e.size(), 2u * 50 * 40);
  EXPECT_EQ(std::accumulate(e.p.begin(), e.p.end(), size_t{0}), e.size()) << "leak events are ON";
  EXPECT_TRUE(e.is_time_sorted());
  // Random phases spread them over time: about half in each half second.
  const size_t first_half = e.lower_bound(500000);
  EXPECT_NEAR(static_cast<double>(first_half) / static_cast<double>(e.size()), 0.5, 0.03);
}

TEST(DvsSimulator, ShotNoiseComesAtItsRateWithBothPolarities) {
  DvsSimulatorOptions o = noiseless();
  o.shot_noise_rate_hz = 5.0;
  DvsSimulator sensor(100, 100, o);
  std::vector<std::pair<int64_t, float>> frames;
  for (int k = 0; k <= 100; ++k) frames.emplace_back(10000 * k, 80.0f);
  const Events e = feed(sensor, frames);
  // 5 Hz x 10,000 pixels x 1 s = 50,000 expected; Poisson's standard deviation is 224.
  EXPECT_NEAR(static_cast<double>(e.size()), 50000.0, 1200.0);
  const double on = static_cast<double>(std::accumulate(e.p.begin(), e.p.end(), size_t{0}));
  EXPECT_NEAR(on / static_cast<double>(e.size()), 0.5, 0.02);
  EXPECT_TRUE(e.is_time_sorted());
  EXPECT_GT(e.t.front(), 0);
  EXPECT_LE(e.t.back(), 1000000);
}

TEST(DvsSimulator, ThresholdsVaryPerPixelWithTheMismatchSigma) {
  DvsSimulatorOptions o;
  o.threshold_sigma = 0.03;
  o.seed = 7;
  DvsSimulator sensor(100, 100, o);
  double sum = 0, sum2 = 0;
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 100; ++x) {
      const double t = sensor.on_threshold(x, y);
      sum += t;
      sum2 += t * t;
    }
  const double mean = sum / 1e4, sd = std::sqrt(sum2 / 1e4 - mean * mean);
  EXPECT_NEAR(mean, 0.2, 0.002);
  EXPECT_NEAR(sd, 0.03, 0.002);
  DvsSimulator same(100, 100, o);
  EXPECT_EQ(same.on_threshold(17, 42), sensor.on_threshold(17, 42)) << "a seed fixes the mismatch";
}

TEST(DvsSimulator, BadSettingsAndFrameTimesAreNamed) {
  DvsSimulatorOptions o;
  o.on_threshold = 0;
  EXPECT_NE(expect_error([&] { DvsSimulator(4, 4, o); }).find("on_threshold must be > 0"), std::string::npos);
  o = {};
  o.off_threshold = -0.1;
  EXPECT_NE(expect_error([&] { DvsSimulator(4, 4, o); }).find("off_threshold must be > 0"), std::string::npos);
  o = {};
  o.threshold_sigma = std::nan("");
  EXPECT_NE(expect_error([&] { DvsSimulator(4, 4, o); }).find("threshold_sigma"), std::string::npos);
  o = {};
  o.shot_noise_rate_hz = -1;
  EXPECT_NE(expect_error([&] { DvsSimulator(4, 4, o); }).find("shot_noise_rate_hz"), std::string::npos);
  EXPECT_NE(expect_error([] { DvsSimulator(0, 4); }).find("1..65535 pixels"), std::string::npos);
  DvsSimulator sensor(1, 1);
  EXPECT_NE(expect_error([&] { feed(sensor, {{1000, 1.0f}, {1000, 2.0f}}); }).find("frame times must increase"),
            std::string::npos);
}

TEST(Saccades, AnImageMovedAlongTheNmnistPathGivesEventsOnItsEdgesOnly) {
  DvsSimulatorOptions o = noiseless();
  const Image image = square_image(28, 10, 18);  // an 8x8 bright square in the middle of a black 28x28 image
  const Events e = simulate_saccades(image, SaccadeOptions{}, o);
  ASSERT_FALSE(e.empty());
  EXPECT_TRUE(e.is_time_sorted());
  EXPECT_GT(e.t.front(), 0);
  EXPECT_LE(e.t.back(), 315000);
  const EventSummary s = summarize(e);
  EXPECT_LE(s.width_seen, 34);
  EXPECT_LE(s.height_seen, 34);
  EXPECT_GT(s.on, 0u);
  EXPECT_GT(s.off, 0u);
  // The square (sensor columns 9.5..17.5 at the start, moving 7 px at most) never reaches the borders.
  for (size_t i = 0; i < e.size(); ++i) {
    EXPECT_GE(e.x[i], 8);
    EXPECT_LE(e.x[i], 26);
  }
  // The third leg is horizontal: its events come from the square's left and right edges only (ON ahead of the
  // motion, which is to the left: the left edge brightens).
  size_t on_left = 0, on_right = 0;
  for (size_t i = e.lower_bound(215000); i < e.size(); ++i)
    if (e.p[i]) (e.x[i] < 17 ? on_left : on_right) += 1;
  EXPECT_GT(on_left, 10 * on_right);
  // A black image gives nothing; the same seed gives the same recording.
  EXPECT_TRUE(simulate_saccades(Image(28, 28, 1, 0), SaccadeOptions{}, o).empty());
  const Events again = simulate_saccades(image, SaccadeOptions{}, o);
  EXPECT_EQ(again.t, e.t);
  EXPECT_EQ(again.x, e.x);
}

TEST(Saccades, LargeImagesAreScaledToFitAndBadPathsAreNamed) {
  DvsSimulatorOptions o = noiseless();
  const Events e = simulate_saccades(square_image(200, 50, 150), SaccadeOptions{}, o);
  ASSERT_FALSE(e.empty());
  EXPECT_LE(summarize(e).width_seen, 34);
  SaccadeOptions bad;
  bad.path = {{0, 0}};
  EXPECT_NE(expect_error([&] { simulate_saccades(square_image(28, 10, 18), bad, o); }).find("at least 2 points"),
            std::string::npos);
  bad = {};
  bad.frame_us = 0;
  EXPECT_NE(expect_error([&] { simulate_saccades(square_image(28, 10, 18), bad, o); }).find("frame_us"),
            std::string::npos);
}

TEST(VideoSimulation, AMotionJpegVideoOfAMovingBarGivesItsEvents) {
  TempDir dir("simulator");
  const std::string path = dir.file("bar.avi");
  {
    cv::VideoWriter writer(path, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 100.0, cv::Size(32, 24), false);
    ASSERT_TRUE(writer.isOpened());
    for (int k = 0; k < 20; ++k) {
      cv::Mat frame(24, 32, CV_8UC1, cv::Scalar(30));
      frame.colRange(k, k + 4).setTo(cv::Scalar(220));
      writer.write(frame);
    }
  }
  Events all;
  VideoSimulationOptions v;
  const auto report = simulate_video(path, v, noiseless(), [&](const Events& e) { all.append(e, 0, e.size()); });
  EXPECT_EQ(report.frames, 20);
  EXPECT_EQ(report.width, 32);
  EXPECT_EQ(report.height, 24);
  EXPECT_DOUBLE_EQ(report.fps, 100.0);
  EXPECT_EQ(report.events, all.size());
  EXPECT_TRUE(all.is_time_sorted());
  EXPECT_LE(all.t.back(), 190000);  // 19 intervals of 10 ms
  const EventSummary s = summarize(all);
  EXPECT_GT(s.on, 19u * 24);   // the leading edge brightens a column per frame
  EXPECT_GT(s.off, 19u * 24);  // the trailing edge darkens one
  // Resized to 16x12 at a stated 1000 fps, the first 5 frames.
  v.width = 16;
  v.height = 12;
  v.fps = 1000;
  v.max_frames = 5;
  Events small;
  const auto r2 = simulate_video(path, v, noiseless(), [&](const Events& e) { small.append(e, 0, e.size()); });
  EXPECT_EQ(r2.frames, 5);
  EXPECT_LE(summarize(small).width_seen, 16);
  EXPECT_LE(small.t.back(), 4000);
}

TEST(VideoSimulation, AFileThatIsNoVideoIsNamed) {
  TempDir dir("simulator");
  const std::string junk = dir.write("junk.avi", std::vector<uint8_t>(1000, 0x5A));
  const auto none = [](const Events&) {};
  EXPECT_NE(expect_error([&] { simulate_video(junk, {}, {}, none); }).find(junk), std::string::npos);
  EXPECT_NE(expect_error([&] { simulate_video(dir.file("missing.avi"), {}, {}, none); }).find("missing.avi"),
            std::string::npos);
  VideoSimulationOptions v;
  v.width = 10;
  EXPECT_NE(expect_error([&] { simulate_video(junk, v, {}, none); }).find("width and the height"), std::string::npos);
}

TEST(SimulatedDataset, RecordingsAreMadeWhenReadTheSameEachTime) {
  TempDir dir("simulator");
  masnn::testing::write_fake_fashion_mnist(dir.path, "train", 12, true);
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 4, true);
  const auto train = make_sim_fashion_mnist(dir.path.string(), Split::Train);
  const auto test = make_sim_fashion_mnist(dir.path.string(), Split::Test);
  EXPECT_EQ(train->size(), 12u);
  EXPECT_EQ(test->size(), 4u);
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->label(3), 3);
  EXPECT_EQ(train->width(), 36);
  EXPECT_EQ(train->name(), "sim-fashion-mnist/train");
  const Events a = train->events(5), b = train->events(5), c = train->events(6);
  ASSERT_GT(a.size(), 100u);
  EXPECT_EQ(a.t, b.t);
  EXPECT_EQ(a.x, b.x);
  EXPECT_EQ(a.p, b.p);
  EXPECT_NE(a.size(), c.size());
  EXPECT_LE(summarize(a).width_seen, 34);
  EXPECT_LE(a.t.back(), 315000);
}

TEST(SimulatedDataset, ExportedInTheNmnistLayoutItReadsBackAsNmnist) {
  TempDir dir("simulator");
  masnn::testing::write_fake_fashion_mnist(dir.path, "train", 12, true);
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 4, true);
  const auto train = make_sim_fashion_mnist(dir.path.string(), Split::Train);
  ExportOptions options;
  options.workers = 2;
  const ExportReport report = export_event_dataset(*train, dir.file("out/Train"), options);
  EXPECT_EQ(report.files, 12u);
  EXPECT_EQ(report.bytes, 5 * report.events);
  // Sample i is <label>/<i + 1>.bin, the same events.
  const Events back = read_events(dir.file("out/Train/3/00004.bin"));
  const Events made = train->events(3);
  EXPECT_EQ(back.t, made.t);
  EXPECT_EQ(back.x, made.x);
  EXPECT_EQ(back.y, made.y);
  EXPECT_EQ(back.p, made.p);
  export_event_dataset(*make_sim_fashion_mnist(dir.path.string(), Split::Test), dir.file("out/Test"), options);
  const FolderDataset nmnist = make_nmnist_dataset(dir.file("out"), Split::Train);
  EXPECT_EQ(nmnist.size(), 12u);
}

TEST(SimulateCommand, MakesFashionMnistImagesAndVideosIntoFilesThatTrain) {
  TempDir dir("simulator");
  masnn::testing::write_fake_fashion_mnist(dir.path, "train", 16, true);
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 10, true);  // every label once
  const std::string cli = MASNN_CLI, root = dir.path.string();
  // Fashion-MNIST in N-MNIST's layout, trained on with the n-mnist preset.
  std::string command = cli + " simulate --dataset fashion-mnist --root " + root + " --out " + dir.file("sim") +
                        " --workers 2 --quiet";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_TRUE(std::filesystem::exists(dir.file("sim/Train/5/00016.bin")));  // sample 15, label 5
  EXPECT_EQ(make_nmnist_dataset(dir.file("sim"), Split::Test).size(), 10u);
  // The sim-fashion-mnist preset, generating as it reads.
  const std::string out = dir.file("run");
  command = cli + " train --config " + std::string(MASNN_SOURCE_DIR) + "/configs/sim-fashion-mnist.toml --set data.root=" +
            root + " --set data.steps=4 --set model.t_ratio=2 --set train.epochs=1 --set train.batch_size=8 " +
            "--set train.out_dir=" + out + " > " + out + ".log 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_TRUE(std::filesystem::exists(out + "/last.pt"));
  // A folder of images: the tree mirrored, one recording each.
  std::filesystem::create_directories(dir.file("pictures/cats"));
  write_image(dir.file("pictures/cats/a.png"), square_image(40, 10, 30));
  write_image(dir.file("pictures/b.jpg"), square_image(20, 5, 15));
  command = cli + " simulate --images " + dir.file("pictures") + " --out " + dir.file("events") + " --format aedat4 --quiet";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_GT(read_events(dir.file("events/cats/a.aedat4")).size(), 100u);
  EXPECT_GT(read_events(dir.file("events/b.aedat4")).size(), 10u);
  // A video to one file.
  {
    cv::VideoWriter writer(dir.file("bar.avi"), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 50.0, cv::Size(32, 24), false);
    for (int k = 0; k < 10; ++k) {
      cv::Mat frame(24, 32, CV_8UC1, cv::Scalar(30));
      frame.colRange(2 * k, 2 * k + 4).setTo(cv::Scalar(220));
      writer.write(frame);
    }
  }
  command = cli + " simulate --video " + dir.file("bar.avi") + " --out " + dir.file("bar.aedat") + " --quiet";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_GT(read_events(dir.file("bar.aedat")).size(), 100u);
}

TEST(SimulateCommand, TheBenchmarkRunsOnTinySettings) {
  TempDir dir("simulator");
  masnn::testing::write_fake_fashion_mnist(dir.path, "train", 6, true);
  masnn::testing::write_fake_fashion_mnist(dir.path, "t10k", 2, true);
  const std::string log = dir.file("bench.log");
  const std::string command = std::string(MASNN_CLI) + " bench simulate --root " + dir.path.string() +
                              " --recordings 4 --time-steps 5 --batch 2 --steps 1 > " + log + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("recordings/s"), std::string::npos) << text;
  EXPECT_NE(text.find("of training on it"), std::string::npos) << text;
}

TEST(SimulateCommand, AnEventTheFormatCannotHoldNamesTheFile) {
  TempDir dir("simulator");
  Events e;
  e.push_back(10, 300, 5, 1);  // x >= 256: not in N-MNIST's format
  const std::string message = expect_error([&] { write_event_file(dir.file("a.bin"), e, EventOutputFormat::NmnistBin); });
  EXPECT_NE(message.find("a.bin: "), std::string::npos) << message;
  EXPECT_NE(message.find("x < 256"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(dir.file("a.bin")));
}
