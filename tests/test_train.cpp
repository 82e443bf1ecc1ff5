// Training end to end on a tiny synthetic gesture set, resume, checkpoints, evaluation, configs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "masnn/apps/demo.h"
#include "masnn/data/synth_gestures.h"
#include "masnn/models/dvs_net.h"
#include "masnn/models/pytorch_state_dict.h"
#include "masnn/models/registry.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/factory.h"
#include "masnn/train/trainer.h"
#include "masnn/util/file_io.h"

#include "module_state.h"
#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::TempDir;
using namespace masnn;
using namespace masnn::train;
using masnn::apps::kDemoConfig;

namespace {

// A small synthetic gesture set shared by the tests of this file: 3 users (2 train, 1 test), one lighting.
const fs::path& tiny_data() {
  static const TempDir dir("train_data");
  static const fs::path root = [] {
    const fs::path p = dir.path;
    data::SynthOptions s;
    s.users = 4;
    s.test_users = 1;
    s.lightings = {"lab"};
    s.seed = 7;
    s.gesture_seconds = 1.0;
    data::write_synthetic_gestures(p.string(), s);
    return p;
  }();
  return root;
}

TrainConfig tiny_config(const fs::path& out, int epochs) {
  return parse_config(kDemoConfig, "demo config",
                      {"data.root=\"" + tiny_data().string() + "\"", "train.out_dir=\"" + out.string() + "\"",
                       "train.epochs=" + std::to_string(epochs), "data.steps=8", "data.dt_ms=100", "data.ds=8",
                       "model.t_ratio=2", "data.clips=2", "train.batch_size=4", "train.quiet=true", "data.workers=1"});
}

}  // namespace

TEST(Config, UnknownKeysAndBadValuesAreClearErrors) {
  auto expect_error = [](const std::string& text, std::vector<std::string> sets, const std::string& needle) {
    try {
      parse_config(text, "x.toml", sets);
      ADD_FAILURE() << "no error for " << text;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("x.toml"), std::string::npos) << e.what();
    }
  };
  expect_error("[train]\nlearning_rate = 0.1\n", {}, "train.learning_rate");
  expect_error("[train]\nlr = 'fast'\n", {}, "train.lr");
  expect_error("[train]\nlr = -1.0\n", {}, "train.lr");
  expect_error("", {"train.optimizer=adamw"}, "train.optimizer");
  expect_error("", {"data.dataset=mnist"}, "data.dataset");
  expect_error("", {"model.lif.tresh=0.1"}, "model.lif.tresh");
  expect_error("[train\n", {}, "x.toml:1");
  expect_error("", {"train.device=\"tpu\""}, "train.device");
  expect_error("", {"train.device=\"cuda:x\""}, "train.device");
  expect_error("", {"train.amp=true"}, "train.amp");  // on the default CPU device
  EXPECT_THROW(parse_config("", "x.toml", {"noequals"}), std::invalid_argument);
  // `extends` naming a folder or a missing file: an error naming it, not an empty config.
  const TempDir dir("config_extends");
  fs::create_directories(dir.path / "base");
  std::string e = masnn::testing::expect_error(
      [&] { parse_config("extends = \"base\"\n", (dir.path / "run.toml").string()); });
  EXPECT_NE(e.find("base: expected a regular file, found a folder (a config is a TOML file)"), std::string::npos) << e;
  ASSERT_EQ(::mkfifo((dir.path / "fifo.toml").c_str(), 0600), 0);  // refused at once, not waited on
  e = masnn::testing::expect_error(
      [&] { parse_config("extends = \"fifo.toml\"\n", (dir.path / "run.toml").string()); });
  EXPECT_NE(e.find("fifo.toml: expected a regular file, found a FIFO"), std::string::npos) << e;
  e = masnn::testing::expect_error([&] { parse_config("extends = \"gone.toml\"\n", (dir.path / "run.toml").string()); });
  EXPECT_NE(e.find("gone.toml: no such config file"), std::string::npos) << e;
  // A checkpoint's config takes data/train/dist overrides; a model key is the checkpoint's own.
  EXPECT_EQ(parse_checkpoint_config("", "net.pt", {"data.clips=3"}).data.clips, 3);
  e = masnn::testing::expect_error([] { parse_checkpoint_config("", "net.pt", {"model.name=dvs-gait"}); });
  EXPECT_NE(e.find("--set model.name: the network is the one net.pt holds"), std::string::npos) << e;
}

// Every choice key takes each name its rule lists, holds it parsed, and writes the same name back; other names are
// refused with the list.
TEST(Config, ChoiceKeysParseOnceAndWriteTheirNames) {
  int choice_keys = 0;
  for (const ConfigKey& key : config_keys()) {
    if (key.allowed.rfind("one of ", 0) != 0) continue;
    ++choice_keys;
    std::stringstream names(key.allowed.substr(7));
    std::string name;
    while (std::getline(names, name, ',')) {
      name.erase(0, name.find_first_not_of(' '));
      const std::string toml = to_toml(parse_config("", "x.toml", {config_assignment(key.name, name)}));
      const std::string leaf = key.name.substr(key.name.rfind('.') + 1);
      EXPECT_NE(toml.find(leaf + " = '" + name + "'"), std::string::npos) << key.name << " " << name << "\n" << toml;
    }
    const std::string e = masnn::testing::expect_error(
        [&] { parse_config("", "x.toml", {config_assignment(key.name, "no-such-choice")}); });
    EXPECT_NE(e.find("key '" + key.name + "' must be " + key.allowed + " (got 'no-such-choice')"), std::string::npos)
        << e;
  }
  EXPECT_GE(choice_keys, 13);  // attention, placement, the LIF preset, reset, surrogate, backend, dataset, slicing, ...
  // Attention takes any case and MA, and writes the canonical name.
  const TrainConfig c = parse_config("", "x.toml", {"model.attention=tcsa"});
  EXPECT_EQ(c.model.attention, AttentionType::parse("TCSA"));
  EXPECT_NE(to_toml(c).find("attention = 'TCSA'"), std::string::npos) << to_toml(c);
  EXPECT_EQ(parse_config("", "x.toml", {"model.attention=MA"}).model.attention.name(), "TCSA");
  EXPECT_EQ(parse_config("", "x.toml", {"train.scheduler=cosine"}).train.scheduler, ScheduleKind::Cosine);
  EXPECT_EQ(parse_config("", "x.toml", {"train.loss=ce"}).train.loss, LossKind::CrossEntropy);
  EXPECT_EQ(parse_config("", "x.toml", {"data.normalization=max-per-frame"}).data.normalization,
            data::FrameNormalization::MaxPerFrame);
}

TEST(Config, OverridesAndRoundTrip) {
  auto c = parse_config(kDemoConfig, "demo", {"train.lr=0.01", "model.attention=CSA", "model.lif.decay=0.5"});
  EXPECT_DOUBLE_EQ(c.train.lr, 0.01);
  EXPECT_EQ(c.model.attention, AttentionType::parse("CSA"));
  EXPECT_DOUBLE_EQ(lif_options(c.model).decay(), 0.5);
  EXPECT_DOUBLE_EQ(lif_options(c.model).threshold(), 0.3);  // the preset's other fields stay
  const auto again = parse_config(to_toml(c), "again");
  EXPECT_EQ(to_toml(again), to_toml(c));
  EXPECT_THROW(lif_options(parse_config("", "x", {"model.lif.reset=sideways"}).model), std::invalid_argument);
}

TEST(Config, OneSchemaDrivesParsingOutputAndTheDocs) {
  // docs/config.md holds the key reference the schema prints.
  std::ifstream in(fs::path(MASNN_SOURCE_DIR) / "docs" / "config.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str(), begin = "<!-- keys: generated by `masnn config --keys` -->\n";
  const auto a = doc.find(begin), b = doc.find("<!-- end of keys -->");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  EXPECT_EQ(doc.substr(a + begin.size(), b - a - begin.size()), config_reference_markdown())
      << "docs/config.md is out of date: regenerate its table with `masnn config --keys`";
  // Every key of the schema is read (an override of it is accepted) and written back by to_toml unless it is a
  // LIF field left to the preset.
  const std::string written = to_toml(parse_config("", "x"));
  for (const auto& k : config_keys()) {
    SCOPED_TRACE(k.name);
    const std::string leaf = k.name.substr(k.name.rfind('.') + 1);
    if (k.default_value != "(preset's)") {
      EXPECT_NE(written.find(leaf + " = "), std::string::npos);
      EXPECT_NO_THROW(parse_config("", "x", {k.name + "=" + k.default_value}));
    }
    EXPECT_FALSE(k.help.empty());
  }
  // A string override holds any text: a quote and a backslash come back unchanged.
  const std::string root = "/data/it's \"quoted\" \\ here";
  const TrainConfig c = parse_config("", "x", {config_assignment("data.root", root)});
  EXPECT_EQ(c.data.root, root);
  EXPECT_EQ(parse_config(to_toml(c), "again").data.root, root);
  // The rule of a key is its message.
  const std::string e = masnn::testing::expect_error([] { parse_config("", "x.toml", {"train.beta2=1"}); });
  EXPECT_NE(e.find("x.toml: key 'train.beta2' must be in [0, 1) (got 1)"), std::string::npos) << e;
}

TEST(Config, PresetsParseAndTheDemoFileMatchesTheEmbeddedDemo) {
  const fs::path configs = fs::path(MASNN_SOURCE_DIR) / "configs";
  int n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(configs)) {
    if (entry.path().extension() != ".toml") continue;
    SCOPED_TRACE(entry.path().string());
    const TrainConfig c = load_config(entry.path().string());
    const bool gait = c.model.name == "dvs-gait";
    // Each preset builds on its dataset's sensor (the N-datasets' square sensors of docs/data.md).
    int side = 128, classes = gait ? 21 : 11;
    if (c.data.dataset == "n-mnist" || c.data.dataset == "sim-fashion-mnist") side = 36, classes = 10;
    if (c.data.dataset == "n-caltech101") side = 240, classes = 101;
    if (c.data.dataset == "n-cars") side = 120, classes = 2;
    EXPECT_NO_THROW(build_model(model_spec(c, side, side, classes)));
    ++n;
  }
  // Per DVS dataset 8 types at conv-post + 7 at activate-pre; 4 base presets; 4 image; 3 of the N-datasets;
  // sim-fashion-mnist.
  EXPECT_EQ(n, 2 * 15 + 8 + 3 + 1);
  // A variant inherits its base and changes what it names.
  const TrainConfig ca = load_config((configs / "dvs-gesture" / "CA-activate-pre.toml").string());
  EXPECT_EQ(ca.model.attention.name(), "CA");
  EXPECT_EQ(ca.model.placement, AttentionPlacement::ActivatePre);
  EXPECT_DOUBLE_EQ(ca.train.lr, 1e-4);
  EXPECT_DOUBLE_EQ(ca.data.dt_ms, 15);
  // The paper's Gesture preset is the network of REFERENCE.md 3.1 at T = 60.
  const TrainConfig g = load_config((configs / "dvs-gesture.toml").string());
  EXPECT_EQ(count_parameters(*build_model(model_spec(g, 128, 128, 11)).ptr()), 2340535);
  std::ifstream in(configs / "demo.toml");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), std::string(kDemoConfig));
}

TEST(Train, LearnsTheTinySetResumesExactlyAndEvaluatesTheSameFromItsCheckpoint) {
  const TempDir dir_a("train_a"), dir_b("train_b");
  const fs::path &out_a = dir_a.path, &out_b = dir_b.path;
  const TrainConfig ca = tiny_config(out_a, 15);
  auto train_set = make_dataset(ca, data::Split::Train);
  auto test_set = make_dataset(ca, data::Split::Test);
  ASSERT_EQ(train_set->size(), 33u);
  ASSERT_EQ(test_set->size(), 11u);

  // A straight run.
  Trainer a(ca, train_set, test_set);
  const TrainSummary sa = a.fit();
  ASSERT_EQ(sa.epochs.size(), 15u);
  EXPECT_LT(sa.epochs.back().train_loss, sa.epochs.front().train_loss * 0.9);
  EXPECT_GT(sa.epochs.back().train_accuracy, 3.0 / 11) << "chance is 1/11";
  ASSERT_TRUE(sa.epochs.back().test.has_value());
  EXPECT_GT(sa.epochs.back().test->vote_accuracy, 3.0 / 11) << "chance is 1/11";

  // The same run killed after 2 epochs and resumed from its last checkpoint.
  const TrainConfig cb = tiny_config(out_b, 15);
  {
    Trainer b(cb, train_set, test_set);
    b.fit(/*stop_after=*/2);
  }
  // Killed between the metrics row of epoch 3 and last.pt (the row is there, the checkpoint is not): the resumed
  // run drops the row and writes it again.
  std::ofstream(out_b / "metrics.csv", std::ios::app) << "3,0.001,1,0,1,1,,,,,\n";
  const CheckpointInfo stopped = read_checkpoint_info((out_b / "last.pt").string());
  ASSERT_EQ(stopped.epoch, 1);
  fs::remove(out_b / "best.pt");
  Trainer b(cb, train_set, test_set);
  b.resume((out_b / "last.pt").string());
  EXPECT_EQ(b.next_epoch(), 2);
  ASSERT_EQ(stopped.best_epoch, 0);  // epoch 1 was not better: best.pt of epoch 0 is not the repair's to write
  EXPECT_FALSE(fs::exists(out_b / "best.pt"));
  {
    // Killed between last.pt and best.pt of the first epoch, which is the best so far: best.pt is written again.
    const TempDir dir_c("train_c");
    const TrainConfig cc = tiny_config(dir_c.path, 15);
    {
      Trainer c(cc, train_set, test_set);
      c.fit(/*stop_after=*/1);
    }
    fs::remove(dir_c.path / "best.pt");
    Trainer c(cc, train_set, test_set);
    c.resume((dir_c.path / "last.pt").string());
    EXPECT_EQ(read_checkpoint_info((dir_c.path / "best.pt").string()).epoch, 0);
  }
  const TrainSummary sb = b.fit();
  ASSERT_EQ(sb.epochs.size(), 13u);
  const auto wa = masnn::testing::state_list(a.module()), wb = masnn::testing::state_list(b.module());
  ASSERT_EQ(wa.size(), wb.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(torch::allclose(wa[i], wb[i], 1e-6, 1e-7)) << "tensor " << i;
  EXPECT_DOUBLE_EQ(sb.epochs.back().test->accuracy, sa.epochs.back().test->accuracy);

  // The metrics CSV of the resumed run holds all 15 epochs once, top-5 included.
  std::ifstream csv(out_b / "metrics.csv");
  int lines = 0;
  std::string header;
  for (std::string line; std::getline(csv, line);) {
    if (lines++ == 0) header = line;
  }
  EXPECT_EQ(lines, 16);  // epoch 3's row of the killed run was dropped, then written by the resumed run
  EXPECT_NE(header.find(",test_top5_accuracy,"), std::string::npos) << header;

  // Evaluating the saved checkpoint gives the accuracy measured at the end of training.
  CheckpointInfo info;
  auto model = load_model((out_a / "last.pt").string(), &info);
  EXPECT_EQ(info.epoch, 14);
  const Evaluation e =
      evaluate_model(model, test_set, loader_options(ca, *test_set, data::ClipMode::Test), LossKind::Mse, true);
  EXPECT_DOUBLE_EQ(e.accuracy, sa.epochs.back().test->accuracy);
  EXPECT_DOUBLE_EQ(e.vote_accuracy, sa.epochs.back().test->vote_accuracy);
  EXPECT_EQ(e.confusion.sum().item<int64_t>(), 11);

  // Nothing temporary is left behind; a broken checkpoint is refused with its name.
  for (const auto& entry : fs::directory_iterator(out_a))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  const fs::path broken = out_a / "broken.pt";
  std::ofstream(broken) << "not a checkpoint";
  try {
    load_model(broken.string());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.pt"), std::string::npos);
  }
  // A checkpoint of another network cannot be resumed by this config.
  auto other = tiny_config(out_b, 15);
  other.model.attention = AttentionType{};
  Trainer c(other, train_set, test_set);
  EXPECT_THROW(c.resume((out_a / "last.pt").string()), std::invalid_argument);
}

TEST(Train, DeviceIsCheckedAndTheLossScaleTravelsInCheckpoints) {
  const TempDir dir("train_device");
  TrainConfig c = tiny_config(dir.path, 1);
  c.train.device = "cuda";
  auto train_set = make_dataset(c, data::Split::Train);
  auto test_set = make_dataset(c, data::Split::Test);
  if (!torch::cuda::is_available()) {
    const std::string e = masnn::testing::expect_error([&] { Trainer t(c, train_set, test_set); });
    EXPECT_NE(e.find("train.device = 'cuda': no CUDA device"), std::string::npos) << e;
  }
  // A mixed-precision run's loss scale is kept for its resumption; other runs store none.
  c.train.device = "cpu";
  Trainer t(c, train_set, test_set);
  CheckpointInfo info;
  info.spec = t.spec();
  info.loss_scaler = GradScaler::State{1024, 7};
  save_checkpoint((dir.path / "scaled.pt").string(), t.module(), nullptr, info);
  const CheckpointInfo back = read_checkpoint_info((dir.path / "scaled.pt").string());
  ASSERT_TRUE(back.loss_scaler.has_value());
  EXPECT_DOUBLE_EQ(back.loss_scaler->scale, 1024);
  EXPECT_EQ(back.loss_scaler->growth_tracker, 7);
  info.loss_scaler.reset();
  save_checkpoint((dir.path / "plain.pt").string(), t.module(), nullptr, info);
  EXPECT_FALSE(read_checkpoint_info((dir.path / "plain.pt").string()).loss_scaler.has_value());
}

// train.synapses = "sparse" trains the spike-input convolutions and linear layers event-driven: the key reaches every block and LIF,
// and the run's losses are the dense run's (equal up to the order of floating-point sums).
TEST(Train, SparseSynapsesTrainWithTheDenseRunsLosses) {
  const TempDir dense_dir("train_synapses_dense"), sparse_dir("train_synapses_sparse");
  const TrainConfig cd = tiny_config(dense_dir.path, 2);
  TrainConfig cs = tiny_config(sparse_dir.path, 2);
  cs.train.synapses = SynapseMode::Sparse;
  auto train_set = make_dataset(cd, data::Split::Train);
  auto test_set = make_dataset(cd, data::Split::Test);
  Trainer dense(cd, train_set, test_set), sparse(cs, train_set, test_set);
  int blocks = 0, spike_blocks = 0, publishing = 0;
  for (const auto& m : sparse.module().modules()) {
    if (const auto* block = m->as<SpikingConvBlockImpl>()) {
      ++blocks;
      spike_blocks += block->options.spike_input();
      EXPECT_EQ(block->options.synapses(), SynapseMode::Sparse);
    }
    if (const auto* block = m->as<SpikingLinearBlockImpl>()) {
      ++blocks;
      spike_blocks += block->options.spike_input();
      EXPECT_EQ(block->options.synapses(), SynapseMode::Sparse);
    }
    if (const auto* lif = m->as<LIFImpl>()) publishing += lif->options.publish_support();
  }
  EXPECT_GE(spike_blocks, 2) << blocks << " blocks";
  EXPECT_EQ(publishing, spike_blocks);  // the LIF before each spike-input block, no other
  for (const auto& m : dense.module().modules()) {
    if (const auto* block = m->as<SpikingConvBlockImpl>()) {
      EXPECT_EQ(block->options.synapses(), SynapseMode::Dense);
    }
  }
  const TrainSummary sd = dense.fit(), ss = sparse.fit();
  ASSERT_EQ(ss.epochs.size(), 2u);
  for (size_t e = 0; e < 2; ++e)
    EXPECT_NEAR(ss.epochs[e].train_loss, sd.epochs[e].train_loss, 1e-4 * sd.epochs[e].train_loss) << "epoch " << e;
  // The key is stored with the run and refused where it cannot apply.
  EXPECT_EQ(parse_config(to_toml(cs), "again").train.synapses, SynapseMode::Sparse);
  std::string e = masnn::testing::expect_error([] { parse_config("", "x.toml", {"train.synapses=\"events\""}); });
  EXPECT_NE(e.find("key 'train.synapses' must be one of dense, sparse, auto"), std::string::npos) << e;
  e = masnn::testing::expect_error(
      [] { parse_config("", "x.toml", {"train.synapses=\"auto\"", "train.device=\"cuda\""}); });
  EXPECT_NE(e.find("train.synapses' must be dense unless train.device is cpu"), std::string::npos) << e;
  EXPECT_EQ(parse_config("", "x.toml", {"train.synapses=\"auto\"", "train.device=\"cpu:0\""}).train.synapses,
            SynapseMode::Auto);
  e = masnn::testing::expect_error(
      [] { parse_config("", "x.toml", {"train.synapses=\"auto\"", "model.name=\"res-snn-mini\""}); });
  EXPECT_NE(e.find("train.synapses' must be dense for the Res-SNNs"), std::string::npos) << e;
}

TEST(Metrics, ClipVotingFollowsTheReferenceRule) {
  EvaluationAccumulator acc(3);
  // Two samples, three clips each. Sample 0 (class 1): clips right, right, wrong -> correct (2 > 1.5).
  // Sample 1 (class 2): one right clip of three -> wrong by the reference rule.
  auto out = torch::tensor(
      {{0.f, 1.f, 0.f}, {0.f, .9f, 0.f}, {1.f, 0.f, 0.f}, {0.f, 0.f, 1.f}, {.6f, 0.f, 0.f}, {.6f, 0.f, 0.f}});
  auto labels = torch::tensor({1, 1, 1, 2, 2, 2}, torch::kLong);
  acc.add(out, labels, 3, 0.6);
  const Evaluation e = acc.result();
  EXPECT_EQ(e.samples, 2);
  EXPECT_DOUBLE_EQ(e.clip_accuracy, 3.0 / 6);
  EXPECT_DOUBLE_EQ(e.accuracy, 0.5);
  // Mean outputs: sample 0 -> class 1 (right); sample 1 -> class 0 (0.4 vs 0.333): wrong.
  EXPECT_DOUBLE_EQ(e.vote_accuracy, 0.5);
  EXPECT_EQ(e.confusion[2][0].item<int64_t>(), 1);
  EXPECT_DOUBLE_EQ(e.loss, 0.1);
}

TEST(Schedule, PlateauCosineStep) {
  ScheduleSettings s;
  s.kind = ScheduleKind::Plateau;
  s.base_lr = 1.0;
  s.plateau_patience = 1;
  LRSchedule p(s);
  EXPECT_DOUBLE_EQ(p.end_epoch(0, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(p.end_epoch(1, 1.0), 1.0);  // 1 bad epoch: not more than the patience
  EXPECT_DOUBLE_EQ(p.end_epoch(2, 1.0), 0.1);  // 2 bad epochs: reduced
  s.kind = ScheduleKind::Cosine;
  s.epochs = 10;
  LRSchedule c(s);
  EXPECT_DOUBLE_EQ(c.lr_for_epoch(0), 1.0);
  EXPECT_NEAR(c.lr_for_epoch(5), 0.5, 1e-12);
  s.kind = ScheduleKind::Step;
  s.step_size = 3;
  s.step_gamma = 0.5;
  LRSchedule st(s);
  EXPECT_DOUBLE_EQ(st.lr_for_epoch(2), 1.0);
  EXPECT_DOUBLE_EQ(st.lr_for_epoch(3), 0.5);
}

// ---------------------------------------------------------------------------------------------------
// Checkpoints across LibTorch lines and builds (tests/fixtures/checkpoints): small checkpoints with their weights
// and their outputs on a fixed input in files of masnn's PyTorch reader. Made by this test with
// MASNN_WRITE_CHECKPOINT_FIXTURES=DIR set: the Res-SNN once with each line's build, the DVS network by the build
// before networks reported to monitors (a checkpoint of an earlier build must evaluate the same).

namespace {

const fs::path kCheckpointFixtures = fs::path(MASNN_SOURCE_DIR) / "tests" / "fixtures" / "checkpoints";

struct Fixture {
  std::string prefix;  ///< file names: <prefix>checkpoint_<line>.pt, <prefix>state_<line>.pt
  ModelSpec spec;
  std::vector<std::string> lines;  ///< the LibTorch lines whose files are committed
};

std::vector<Fixture> fixtures() {
  ModelSpec res = default_model_spec("res-snn-mini");
  res.steps = 2;
  res.attention = AttentionType::parse("TCSA");
  res.t_ratio = 2;
  ModelSpec dvs = default_model_spec("dvs-small");
  dvs.steps = 4;
  dvs.input_size = 16;
  dvs.attention = AttentionType::parse("TCSA");
  dvs.t_ratio = 2;
  return {{"", res, {"1.13", "2.6"}}, {"dvs_", dvs, {"1.13"}}};
}

// A fixed batch of two inputs, the same on every line: no random generator involved. Images for the Res-SNN,
// event counts (non-negative integers) for the DVS network.
torch::Tensor fixture_input(const ModelSpec& spec) {
  const torch::Tensor shape = example_input(spec, 2);
  const torch::Tensor x = torch::sin(torch::arange(shape.numel(), torch::kFloat) * 0.37).reshape(shape.sizes()) * 2;
  return is_res_snn(spec.name) ? x : x.clamp_min(0).round();
}

std::string torch_line() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR);
}

}  // namespace

// A full disk (here: a file-size limit, EFBIG as ENOSPC would be) while a checkpoint is written: one error naming
// the file, the previous checkpoint unchanged, no temporary file left; temporaries of dead writers are removed.
TEST(Checkpoint, AFailedWriteIsOneErrorAndKeepsThePreviousFile) {
  const TempDir dir("checkpoint_full");
  const std::string path = (dir.path / "last.pt").string();
  torch::manual_seed(0);
  auto model = build_model(masnn::testing::small_spec("dvs-small"));
  CheckpointInfo info;
  info.spec = masnn::testing::small_spec("dvs-small");
  save_checkpoint(path, *model.ptr(), nullptr, info);
  const auto before = masnn::read_file_bytes(path);
  ASSERT_GT(before.size(), 16384u);
  const std::string dead = path + ".tmp.999999999", live = path + ".tmp." + std::to_string(::getppid());
  std::ofstream(dead) << "left by a killed writer";
  std::ofstream(live) << "another process is writing";

  ::signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = 16384;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string e;
  try {
    torch::manual_seed(1);
    auto other = build_model(masnn::testing::small_spec("dvs-small"));
    save_checkpoint(path, *other.ptr(), nullptr, info);
  } catch (const std::exception& ex) {
    e = ex.what();
  }
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  EXPECT_NE(e.find(path + ": cannot write it (File too large)"), std::string::npos) << e;
  EXPECT_EQ(masnn::read_file_bytes(path), before);
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
  EXPECT_TRUE(fs::exists(dead));  // tidied by the next successful write only

  save_checkpoint(path, *model.ptr(), nullptr, info);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
}

TEST(CheckpointFixtures, WriteWhenAsked) {
  const char* out = std::getenv("MASNN_WRITE_CHECKPOINT_FIXTURES");
  if (!out) GTEST_SKIP() << "set MASNN_WRITE_CHECKPOINT_FIXTURES=DIR to write this line's fixtures";
  for (const Fixture& f : fixtures()) {
    torch::manual_seed(11);
    auto model = build_model(f.spec);
    {  // BN weights and statistics that are not the initial ones, and make the network fire
      torch::NoGradGuard ng;
      for (auto& p : model.ptr()->named_parameters()) {
        const bool bn = p.key().find("bn") != std::string::npos;
        if (bn && p.key().find(".weight") != std::string::npos) p.value().uniform_(0.5, 1.5);
        if (bn && p.key().find(".bias") != std::string::npos) p.value().uniform_(0.0, 0.4);
      }
      for (auto& b : model.ptr()->named_buffers()) {
        if (b.key().find("running_mean") != std::string::npos) b.value().copy_(torch::randn_like(b.value()) * 0.05);
        if (b.key().find("running_var") != std::string::npos)
          b.value().copy_(torch::rand_like(b.value()) * 0.05 + 0.02);
      }
    }
    CheckpointInfo info;
    info.spec = f.spec;
    info.epoch = 2;
    info.best_accuracy = 0.5;
    const std::string v = torch_line();
    save_checkpoint((fs::path(out) / (f.prefix + "checkpoint_" + v + ".pt")).string(), *model.ptr(), nullptr, info);
    model.ptr()->eval();
    torch::NoGradGuard ng;
    auto state = masnn::testing::named_state(*model.ptr());
    state["output"] = model.forward(fixture_input(f.spec));
    write_pytorch_state_dict(state, (fs::path(out) / (f.prefix + "state_" + v + ".pt")).string());
  }
}

TEST(CheckpointFixtures, CheckpointsOfEveryLineLoadWithTheirWeightsAndOutputs) {
  for (const Fixture& f : fixtures()) {
    for (const std::string& v : f.lines) {
      SCOPED_TRACE(f.spec.name + " written by LibTorch " + v);
      CheckpointInfo info;
      auto model = load_model((kCheckpointFixtures / (f.prefix + "checkpoint_" + v + ".pt")).string(), &info);
      EXPECT_EQ(info.epoch, 2);
      EXPECT_EQ(info.best_accuracy, 0.5);
      EXPECT_EQ(info.spec.name, f.spec.name);
      EXPECT_EQ(info.spec.attention.name(), "TCSA");
      auto want = read_pytorch_state_dict((kCheckpointFixtures / (f.prefix + "state_" + v + ".pt")).string());
      const auto got = masnn::testing::named_state(*model.ptr());
      ASSERT_EQ(got.size() + 1, want.size());
      for (const auto& [k, t] : got) {
        ASSERT_TRUE(want.count(k)) << k;
        EXPECT_TRUE(torch::equal(t, want.at(k))) << k;
      }
      torch::NoGradGuard ng;
      const auto y = model.forward(fixture_input(info.spec));
      EXPECT_FALSE(torch::equal(y[0], y[1]));  // the output depends on the input: not a silent network
      // The same weights on another line's (or build's) kernels: equal up to float rounding.
      EXPECT_TRUE(torch::allclose(y, want.at("output"), 1e-5, 1e-5)) << y << "\nvs\n" << want.at("output");
    }
  }
}
