// Import of weights trained with the reference PyTorch code, and export back: torch.save files, name
// mapping, strict loading, and a comparison with the reference network run by real PyTorch
// (tests/fixtures/reference, made once by make_fixture.py there; no Python at test time).
#include <c10/util/accumulate.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "masnn/models/dvs_net.h"
#include "masnn/models/pytorch_state_dict.h"
#include "masnn/models/reference_names.h"
#include "masnn/util/file_io.h"

using namespace masnn;
#include "module_state.h"
#include "test_support.h"

namespace fs = std::filesystem;
using masnn::testing::rewrite_torch_zip;
using masnn::testing::TempDir;

namespace {

const fs::path kFixture = fs::path(MASNN_SOURCE_DIR) / "tests" / "fixtures" / "reference";

// Runs f and returns the message of the std::exception it throws ("" when it throws none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_WITH(statement, text)                                        \
  do {                                                                            \
    const std::string message_ = error_of([&] { statement; });                    \
    EXPECT_NE(message_.find(text), std::string::npos) << "message: " << message_; \
  } while (0)

DvsNetOptions small_options(const char* attention) {
  return DvsNetOptions::gesture(5, AttentionType::parse(attention))
      .input_size(16)
      .channels({8, 16})
      .pools({1, 2})
      .hidden({32});
}

// Random BN statistics, so that eval mode depends on them, and positive BN shifts, so that the net fires.
void randomize_buffers(DvsNet& net) {
  torch::NoGradGuard ng;
  for (auto& p : net->named_parameters())
    if (p.key().find(".bn.bias") != std::string::npos) p.value().uniform_(0.1, 0.5);
  for (auto& b : net->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().copy_(torch::randn_like(b.value()) * 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().copy_(torch::rand_like(b.value()) + 0.5);
    if (b.key().find("num_batches_tracked") != std::string::npos) b.value().fill_(7);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Round trips

TEST(Import, RoundTripThroughAReferenceFileGivesTheSameOutputs) {
  TempDir dir("import");
  for (const char* attention : {"none", "TCSA"}) {
    SCOPED_TRACE(attention);
    torch::manual_seed(0);
    DvsNet net(small_options(attention));
    randomize_buffers(net);
    net->eval();
    const auto exported = dvs_net_to_reference(net);
    const std::string path = dir.file(std::string("ref_") + attention + ".pt");
    write_pytorch_state_dict(exported, path);
    const auto read = read_pytorch_state_dict(path);
    ASSERT_EQ(read.size(), exported.size());
    for (const auto& [k, v] : exported) {
      ASSERT_TRUE(read.count(k)) << k;
      EXPECT_EQ(read.at(k).scalar_type(), v.scalar_type()) << k;
      EXPECT_TRUE(torch::equal(read.at(k), v)) << k;
    }
    torch::manual_seed(1);
    DvsNet fresh(small_options(attention));
    load_state_dict(*fresh, dvs_net_from_reference(read, small_options(attention)));
    fresh->eval();
    const auto before = masnn::testing::named_state(*net), after = masnn::testing::named_state(*fresh);
    for (const auto& [k, v] : before) EXPECT_TRUE(torch::equal(after.at(k), v)) << k;
    torch::NoGradGuard ng;
    const auto x = (torch::rand({5, 3, 2, 16, 16}) < 0.3).to(torch::kFloat) * 2;
    const auto y0 = net(x), y1 = fresh(x);
    EXPECT_TRUE(torch::equal(y0, y1));
    EXPECT_GT(y0.sum().item<double>(), 0.0);  // the comparison is not between two silent nets
  }
}

TEST(Import, ExportUsesTheReferenceShapesOfTheAttentionMlps) {
  const auto ref = dvs_net_to_reference(DvsNet(small_options("TCSA")));
  EXPECT_EQ(ref.at("convAttLIF0.attention.ta.sharedMLP.0.weight").sizes(), (std::vector<int64_t>{1, 5, 1, 1, 1}));
  EXPECT_EQ(ref.at("convAttLIF1.attention.ca.sharedMLP.2.weight").sizes(), (std::vector<int64_t>{16, 2, 1, 1, 1}));
  EXPECT_EQ(ref.at("convAttLIF1.attention.sa.conv.weight").sizes(), (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_EQ(ref.at("FC1.attention.ta.sharedMLP.2.weight").sizes(), (std::vector<int64_t>{5, 1, 1}));
  EXPECT_EQ(ref.at("FC0.BNLayer.num_batches_tracked").scalar_type(), torch::kLong);
  EXPECT_EQ(ref.count("convs.0.conv.weight"), 0u);
}

// ---------------------------------------------------------------------------------------------------
// Errors

TEST(Import, LoadStateDictNamesTheKeyOfAMismatch) {
  DvsNet net(small_options("TCSA"));
  auto good = masnn::testing::named_state(*net);
  EXPECT_NO_THROW(load_state_dict(*net, good));

  auto wrong = good;
  wrong["convs.1.conv.weight"] = torch::zeros({16, 8, 5, 5});
  const std::string m = error_of([&] { load_state_dict(*net, wrong); });
  EXPECT_NE(m.find("'convs.1.conv.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("[16, 8, 5, 5]"), std::string::npos) << m;
  EXPECT_NE(m.find("[16, 8, 3, 3]"), std::string::npos) << m;

  auto missing = good;
  missing.erase("fcs.0.bn.running_var");
  EXPECT_ERROR_WITH(load_state_dict(*net, missing), "missing key 'fcs.0.bn.running_var'");

  auto extra = good;
  extra["convs.0.lif.decay_logit"] = torch::zeros({});
  EXPECT_ERROR_WITH(load_state_dict(*net, extra), "unexpected key 'convs.0.lif.decay_logit'");

  // Nothing was copied by the failed loads.
  const auto now = masnn::testing::named_state(*net);
  for (const auto& [k, v] : good) EXPECT_TRUE(torch::equal(now.at(k), v)) << k;
}

TEST(Import, FromReferenceNamesTheReferenceKey) {
  const auto options = small_options("TCSA");
  const auto ref = dvs_net_to_reference(DvsNet(options));
  EXPECT_NO_THROW(dvs_net_from_reference(ref, options));

  auto wrong = ref;
  wrong["convAttLIF0.attention.ta.sharedMLP.0.weight"] = torch::zeros({2, 10, 1, 1, 1});
  std::string m = error_of([&] { dvs_net_from_reference(wrong, options); });
  EXPECT_NE(m.find("'convAttLIF0.attention.ta.sharedMLP.0.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 10, 1, 1, 1]"), std::string::npos) << m;
  EXPECT_NE(m.find("[1, 5]"), std::string::npos) << m;

  auto missing = ref;
  missing.erase("FC0.BNLayer.running_mean");
  m = error_of([&] { dvs_net_from_reference(missing, options); });
  EXPECT_NE(m.find("missing key 'FC0.BNLayer.running_mean'"), std::string::npos) << m;
  EXPECT_NE(m.find("track_running_stats"), std::string::npos) << m;

  auto unknown = ref;
  unknown["convAttLIF0.network.ConvIF.alpha"] = torch::zeros({8, 1, 1});
  EXPECT_ERROR_WITH(dvs_net_from_reference(unknown, options), "unknown key 'convAttLIF0.network.ConvIF.alpha'");

  auto unexpected = ref;
  unexpected["convAttLIF2.conv2d.weight"] = torch::zeros({16, 16, 3, 3});
  EXPECT_ERROR_WITH(dvs_net_from_reference(unexpected, options), "unexpected key 'convAttLIF2.conv2d.weight'");

  // Weights of a TCSA reference do not fit a net without attention, and the other way round.
  m = error_of([&] { dvs_net_from_reference(ref, small_options("none")); });
  EXPECT_NE(m.find("unexpected key 'FC0.attention.ta.sharedMLP.0.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("attention none"), std::string::npos) << m;
  m = error_of([&] { dvs_net_from_reference(dvs_net_to_reference(DvsNet(small_options("none"))), options); });
  EXPECT_NE(m.find("missing key 'convAttLIF0.attention.ca.sharedMLP.0.weight'"), std::string::npos) << m;
  EXPECT_NE(m.find("attention TCSA"), std::string::npos) << m;
}

TEST(Import, ActivatePreAndLearnableDecayHaveNoReferenceCounterpart) {
  auto pre = small_options("TCSA");
  auto a = pre.attention();
  a.placement = AttentionPlacement::ActivatePre;
  pre.attention(a);
  const auto ref = dvs_net_to_reference(DvsNet(small_options("TCSA")));
  EXPECT_ERROR_WITH(dvs_net_from_reference(ref, pre), "conv-post");
  EXPECT_THROW(dvs_net_to_reference(DvsNet(pre)), std::invalid_argument);
  auto plif = small_options("none");
  plif.lif(LIFOptions::reference_dvs().learnable_decay(true));
  EXPECT_ERROR_WITH(dvs_net_to_reference(DvsNet(plif)), "learnable decay");
}

// ---------------------------------------------------------------------------------------------------
// Files

TEST(Import, ModulePrefixIsStrippedAndCheckpointWrappersAreOpened) {
  TempDir dir("import");
  std::map<std::string, torch::Tensor> prefixed{{"module.a.weight", torch::arange(6.0).view({2, 3})},
                                                {"module.b", torch::tensor(int64_t{5})}};
  write_pytorch_state_dict(prefixed, dir.file("ddp.pt"));
  const auto read = read_pytorch_state_dict(dir.file("ddp.pt"));
  ASSERT_EQ(read.size(), 2u);
  EXPECT_TRUE(torch::equal(read.at("a.weight"), prefixed["module.a.weight"]));
  EXPECT_EQ(read.at("b").item<int64_t>(), 5);

  // Only a prefix shared by every key is DataParallel's.
  write_pytorch_state_dict({{"module.a", torch::ones({1})}, {"b", torch::ones({1})}}, dir.file("mixed.pt"));
  EXPECT_EQ(read_pytorch_state_dict(dir.file("mixed.pt")).count("module.a"), 1u);

  // A checkpoint dict: {"epoch": 3, "acc": 0.9, "model": {...}}.
  c10::Dict<std::string, at::Tensor> inner;
  inner.insert("module.w", torch::full({2}, 1.5));
  c10::impl::GenericDict outer(c10::StringType::get(), c10::AnyType::get());
  outer.insert("epoch", int64_t{3});
  outer.insert("acc", 0.9);
  outer.insert("model", inner);
  const auto bytes = torch::pickle_save(c10::IValue(outer));
  std::ofstream(dir.file("ckpt.pt"), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const auto ckpt = read_pytorch_state_dict(dir.file("ckpt.pt"));
  ASSERT_EQ(ckpt.size(), 1u);
  EXPECT_TRUE(torch::equal(ckpt.at("w"), torch::full({2}, 1.5)));

  // A dict without a state dict names what it found.
  c10::impl::GenericDict other(c10::StringType::get(), c10::AnyType::get());
  other.insert("epoch", int64_t{3});
  const auto other_bytes = torch::pickle_save(c10::IValue(other));
  std::ofstream(dir.file("other.pt"), std::ios::binary)
      .write(other_bytes.data(), static_cast<std::streamsize>(other_bytes.size()));
  const std::string m = error_of([&] { read_pytorch_state_dict(dir.file("other.pt")); });
  EXPECT_NE(m.find("other.pt"), std::string::npos) << m;
  EXPECT_NE(m.find("keys ['epoch']"), std::string::npos) << m;
}

TEST(Import, BadFilesGiveMessagesNamingTheFile) {
  TempDir dir("import");
  EXPECT_ERROR_WITH(read_pytorch_state_dict(dir.file("absent.pt")), "absent.pt: cannot open");
  std::ofstream(dir.file("text.pt")) << "hello";
  EXPECT_ERROR_WITH(read_pytorch_state_dict(dir.file("text.pt")), "text.pt: not a file of torch.save");
  // Truncated copies of a real legacy checkpoint and of a zip file.
  for (const char* name : {"reference_net.pt", "reference_outputs.pt"}) {
    std::ifstream in(kFixture / name, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 1000u);
    std::ofstream(dir.file("cut.pt"), std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    EXPECT_ERROR_WITH(read_pytorch_state_dict(dir.file("cut.pt")), "cut.pt");
  }
  // Sizes whose product overflows int64 (each 2^31 - 1, declared in the pickle; nothing that large is allocated):
  // refused by the zip CRC-32 as it is; with the CRCs mended, a clear error, not a wrapped bound check that lets
  // as_strided reach past the storage.
  write_pytorch_state_dict({{"w", torch::ones({3, 5, 7})}}, dir.file("huge.pt"));
  const std::string sizes("(J\x03\0\0\0J\x05\0\0\0J\x07\0\0\0t", 16);  // the pickle's size tuple (3, 5, 7)
  const std::string huge("(J\xff\xff\xff\x7fJ\xff\xff\xff\x7fJ\xff\xff\xff\x7ft", 16);
  auto enlarge = [&](const std::string& record, std::string& data) {
    if (record != "data.pkl") return;
    const auto at = data.find(sizes);
    ASSERT_NE(at, std::string::npos);
    data.replace(at, sizes.size(), huge);
  };
  const std::vector<uint8_t> original = read_file_bytes(dir.file("huge.pt"));
  std::vector<uint8_t> damaged = original;
  const auto at = std::search(damaged.begin(), damaged.end(), sizes.begin(), sizes.end());
  ASSERT_NE(at, damaged.end());
  std::copy(huge.begin(), huge.end(), at);
  write_file_atomic(dir.file("huge.pt"), damaged);
  EXPECT_ERROR_WITH(read_pytorch_state_dict(dir.file("huge.pt")),
                    "zip entry 'archive/data.pkl' is corrupt (its CRC-32 does not match");
  write_file_atomic(dir.file("huge.pt"), rewrite_torch_zip(original, enlarge));
  EXPECT_ERROR_WITH(read_pytorch_state_dict(dir.file("huge.pt")), "tensor 'w' has sizes or strides too large");
  fs::remove(dir.file("huge.pt"));
  // The atomic write leaves no temporary file behind, and a write into a missing directory fails cleanly.
  write_pytorch_state_dict({{"x", torch::ones({3})}}, dir.file("x.pt"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 3);  // text.pt, cut.pt, x.pt
  EXPECT_ERROR_WITH(write_pytorch_state_dict({{"x", torch::ones({3})}}, dir.file("no/such/dir/x.pt")), "x.pt");
}

// ---------------------------------------------------------------------------------------------------
// Against the reference PyTorch code (fixture made by tests/fixtures/reference/make_fixture.py)

namespace {

struct KeyLine {
  std::string name, dtype;
  std::vector<int64_t> shape;
};

std::vector<KeyLine> reference_keys(const std::string& tag) {
  std::ifstream in(kFixture / ("keys_" + tag + ".txt"));
  EXPECT_TRUE(in) << "missing fixture keys_" << tag << ".txt";
  std::vector<KeyLine> keys;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    KeyLine k;
    std::string dims;
    s >> k.name >> k.dtype >> dims;
    std::stringstream d(dims);
    for (std::string v; std::getline(d, v, ',');) k.shape.push_back(std::stoll(v));
    keys.push_back(k);
  }
  return keys;
}

// The formula of make_fixture.py (k: index of the name in sorted order, i: flat index).
torch::Tensor formula(const std::string& name, int64_t k, const std::vector<int64_t>& shape) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with("num_batches_tracked")) return torch::full(shape, 100, torch::kLong);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const torch::Tensor s = torch::sin(torch::arange(n, torch::kDouble) * 0.7 + static_cast<double>(k));
  torch::Tensor v;
  if (ends_with("BNLayer.running_var"))
    v = s * 0.4 + 0.6;
  else if (ends_with("BNLayer.running_mean"))
    v = s * 0.1;
  else if (ends_with("BNLayer.weight"))
    v = s * 0.3 + 1.0;
  else if (ends_with("BNLayer.bias"))
    v = s * 0.1;
  else if (shape.size() == 1)
    v = s * 0.05;
  else {
    const double gain = name.find(".attention.") != std::string::npos ? 1.5 : 2.5;
    v = s * (gain / std::sqrt(static_cast<double>(n / shape[0])));
  }
  return v.to(torch::kFloat).reshape(shape);
}

torch::Tensor formula_input() {  // [B,T,2,32,32], the reference layout
  const auto i = torch::arange(2 * 10 * 2 * 32 * 32, torch::kDouble);
  const auto s = torch::sin(i * 0.9) * torch::sin(i * 0.013 + 1.0);
  return ((s > 0.45).to(torch::kByte) + (s > 0.8).to(torch::kByte)).view({2, 10, 2, 32, 32});
}

const std::map<std::string, torch::Tensor>& reference_outputs() {
  static const auto outputs = read_pytorch_state_dict((kFixture / "reference_outputs.pt").string());
  return outputs;
}

}  // namespace

TEST(ImportReference, FixtureFormulaAndInputAreReproduced) {
  const auto& out = reference_outputs();
  EXPECT_TRUE(torch::equal(out.at("input"), formula_input()));
  const auto keys = reference_keys("TCSA");
  int checked = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    auto it = out.find("formula." + keys[k].name);
    if (it == out.end()) continue;
    EXPECT_TRUE(torch::equal(it->second, formula(keys[k].name, static_cast<int64_t>(k), keys[k].shape)))
        << keys[k].name;
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

TEST(ImportReference, ReadsARealStateDict) {
  // torch.save(OrderedDict of the convAttLIF0 entries of net.state_dict(), with its _metadata), zip format.
  const auto layer0 = read_pytorch_state_dict((kFixture / "reference_state_dict.pt").string());
  const auto keys = reference_keys("TCSA");
  size_t expected = 0;
  for (size_t k = 0; k < keys.size(); ++k) {
    if (keys[k].name.rfind("convAttLIF0.", 0) != 0) continue;
    ++expected;
    ASSERT_TRUE(layer0.count(keys[k].name)) << keys[k].name;
    EXPECT_TRUE(torch::equal(layer0.at(keys[k].name), formula(keys[k].name, static_cast<int64_t>(k), keys[k].shape)))
        << keys[k].name;
  }
  EXPECT_EQ(layer0.size(), expected);
  EXPECT_EQ(expected, 12u);  // conv2d 2, BNLayer 5, ta 2, ca 2, sa 1
}

TEST(ImportReference, ReadsTheReferenceTrainingLoopsLegacyCheckpoint) {
  // torch.save({'net': DataParallel state dict, 'acc': .., 'epoch': .., 'acc_record': [..]},
  //            _use_new_zipfile_serialization=False), as the reference's training loop saves.
  const auto net = read_pytorch_state_dict((kFixture / "reference_net.pt").string());
  const auto& out = reference_outputs();
  ASSERT_EQ(net.size(), 7u);
  for (const auto& [k, v] : net) {
    ASSERT_TRUE(out.count("formula." + k)) << k;
    EXPECT_EQ(v.scalar_type(), out.at("formula." + k).scalar_type()) << k;
    EXPECT_TRUE(torch::equal(v, out.at("formula." + k))) << k;
  }
  EXPECT_EQ(net.at("convAttLIF1.attention.ta.sharedMLP.0.weight").sizes(), (std::vector<int64_t>{2, 10, 1, 1, 1}));
  EXPECT_EQ(net.at("FC1.BNLayer.num_batches_tracked").item<int64_t>(), 100);
}

TEST(ImportReference, OutputsMatchTheReferenceNetwork) {
  const auto& out = reference_outputs();
  const torch::Tensor x = out.at("input").to(torch::kFloat).permute({1, 0, 2, 3, 4}).contiguous();  // [T,B,...]
  torch::NoGradGuard ng;
  for (const char* tag : {"none", "TA", "CA", "SA", "TCA", "TSA", "CSA", "TCSA"}) {
    SCOPED_TRACE(tag);
    const auto keys = reference_keys(tag);
    ASSERT_FALSE(keys.empty());
    std::map<std::string, torch::Tensor> reference;
    for (size_t k = 0; k < keys.size(); ++k) {
      if (k) {
        ASSERT_LT(keys[k - 1].name, keys[k].name);  // the formula's k is the sorted index
      }
      reference[keys[k].name] = formula(keys[k].name, static_cast<int64_t>(k), keys[k].shape);
    }
    const auto options = DvsNetOptions::gesture(10, AttentionType::parse(tag)).lif(LIFOptions::reference_dvs());

    // Export names and shapes are the reference's own.
    const auto exported = dvs_net_to_reference(DvsNet(options));
    ASSERT_EQ(exported.size(), keys.size());
    for (const auto& key : keys) {
      ASSERT_TRUE(exported.count(key.name)) << key.name;
      EXPECT_EQ(exported.at(key.name).sizes(), key.shape) << key.name;
      EXPECT_EQ(std::string(c10::toString(exported.at(key.name).scalar_type())),
                key.dtype == "float32" ? "Float" : "Long")
          << key.name;
    }

    DvsNet net(options);
    load_state_dict(*net, dvs_net_from_reference(reference, options));
    net->eval();

    // Layer by layer: conv spike counts per (b,t), fc spikes, then the firing rate.
    torch::Tensor y = x;
    const auto counts = out.at(std::string("counts_") + tag);  // [3,B,T]
    for (size_t i = 0; i < net->convs->size(); ++i) {
      y = net->convs[i]->as<SpikingConvBlock>()->forward(y);
      const auto c = y.sum({2, 3, 4}).to(torch::kLong).t();  // [B,T]
      EXPECT_TRUE(torch::equal(c, counts[static_cast<int64_t>(i)]))
          << "conv layer " << i << " spike counts differ: masnn " << c << " reference "
          << counts[static_cast<int64_t>(i)];
    }
    y = y.flatten(2);
    for (size_t j = 0; j < net->fcs->size(); ++j) {
      y = net->fcs[j]->as<SpikingLinearBlock>()->forward(y);
      const auto ref = out.at("fc" + std::to_string(j) + "_" + tag).permute({1, 0, 2}).to(torch::kFloat);
      EXPECT_EQ((y != ref).sum().item<int64_t>(), 0) << "fc layer " << j << " spikes differ";
    }
    const torch::Tensor rate = y.mean(0);
    const torch::Tensor expected = out.at(std::string("out_") + tag);
    const double diff = (rate - expected).abs().max().item<double>();
    EXPECT_LE(diff, 1e-6) << "masnn " << rate << "\nreference " << expected;
    EXPECT_GT(expected.sum().item<double>(), 0.0);
    // The whole forward gives the same as the layer-by-layer walk.
    EXPECT_TRUE(torch::equal(net(x), rate));
    std::cout << "[ reference ] " << tag << ": max |masnn - reference| = " << diff << "\n";
  }
}

// ---------------------------------------------------------------------------------------------------
// Files of every PyTorch line (tests/fixtures/pytorch, made by make_fixture.py there with PyTorch 1.13 and 2.6)

namespace {

const fs::path kPyTorchFixtures = fs::path(MASNN_SOURCE_DIR) / "tests" / "fixtures" / "pytorch";

// make_fixture.py's value(k, shape): element i is (k + 1) * 0.25 + i * 0.5 - 3, in float64.
torch::Tensor fixture_value(int k, std::vector<int64_t> shape) {
  const auto t = torch::arange(c10::multiply_integers(shape), torch::kDouble) * 0.5 + ((k + 1) * 0.25 - 3);
  return t.reshape(shape);
}

void expect_tensor(const std::map<std::string, torch::Tensor>& read, const std::string& key,
                   const torch::Tensor& want) {
  ASSERT_TRUE(read.count(key)) << key;
  const auto& got = read.at(key);
  EXPECT_EQ(got.scalar_type(), want.scalar_type()) << key;
  EXPECT_EQ(got.sizes(), want.sizes()) << key;
  EXPECT_TRUE(got.is_contiguous()) << key;
  EXPECT_TRUE(torch::equal(got, want)) << key << ": " << got << " vs " << want;
}

}  // namespace

TEST(PyTorchFiles, StateDictsOfEveryLineReadTheSame) {
  for (const char* version : {"1.13", "2.6"}) {
    SCOPED_TRACE(version);
    const auto read =
        read_pytorch_state_dict((kPyTorchFixtures / (std::string("state_dict_") + version + ".pt")).string());
    EXPECT_EQ(read.size(), 13u);
    expect_tensor(read, "f32", fixture_value(0, {3, 4}).to(torch::kFloat));
    expect_tensor(read, "f64", fixture_value(1, {5}));
    expect_tensor(read, "f16", fixture_value(2, {2, 3}).to(torch::kHalf));
    expect_tensor(read, "bf16", fixture_value(3, {4}).to(torch::kBFloat16));
    expect_tensor(read, "i64", fixture_value(4, {2, 2}).mul(2).to(torch::kLong));
    expect_tensor(read, "i32", fixture_value(5, {3}).mul(2).to(torch::kInt));
    expect_tensor(read, "u8", fixture_value(6, {6}).abs().mul(2).to(torch::kByte));
    expect_tensor(read, "bool", fixture_value(7, {5}) > 0);
    expect_tensor(read, "transposed", fixture_value(8, {3, 2}).to(torch::kFloat).t().contiguous());
    expect_tensor(read, "view", fixture_value(9, {10}).to(torch::kFloat).slice(0, 4, 8));
    expect_tensor(read, "base", fixture_value(9, {10}).to(torch::kFloat));
    expect_tensor(read, "scalar", fixture_value(10, {}).to(torch::kFloat));
    expect_tensor(read, "empty", torch::zeros({0, 3}));
  }
}

TEST(PyTorchFiles, LegacyCheckpointsOfEveryLineReadTheSame) {
  for (const char* version : {"1.13", "2.6"}) {
    SCOPED_TRACE(version);
    const auto read =
        read_pytorch_state_dict((kPyTorchFixtures / (std::string("checkpoint_") + version + ".pt")).string());
    EXPECT_EQ(read.size(), 4u);  // the "net" entry, its "module." prefix removed
    expect_tensor(read, "f32", fixture_value(0, {3, 4}).to(torch::kFloat));
    expect_tensor(read, "f64", fixture_value(1, {5}));
    expect_tensor(read, "i64", fixture_value(4, {2, 2}).mul(2).to(torch::kLong));
    expect_tensor(read, "scalar", fixture_value(10, {}).to(torch::kFloat));
  }
}

// An exported state dict loads in PyTorch with torch.load(..., weights_only=True), the default from PyTorch 2.6
// (only tensors and plain containers, no code). Needs a Python with torch (Debian's python3-torch); skipped without.
TEST(PyTorchFiles, ExportedStateDictLoadsWithWeightsOnly) {
  const std::string python = MASNN_TORCH_PYTHON;
  if (python.empty()) GTEST_SKIP() << "no Python with torch found at configure time (Debian: python3-torch)";
  TempDir dir("weights_only");
  torch::manual_seed(0);
  DvsNet net(small_options("TCSA"));
  const auto exported = dvs_net_to_reference(net);
  const std::string path = dir.file("exported.pt");
  write_pytorch_state_dict(exported, path);
  double want = 0;
  for (const auto& [k, v] : exported) want += v.to(torch::kDouble).sum().item<double>();
  const std::string script = dir.file("load.py");
  std::ofstream(script) << "import sys, torch\n"
                           "sd = torch.load(sys.argv[1], weights_only=True)\n"
                           "print(len(sd), repr(sum(float(v.double().sum()) for v in sd.values())))\n";
  const std::string command = python + " " + script + " " + path;
  int status = 0;
  const std::string out = masnn::testing::run_command(command, status);
  ASSERT_EQ(status, 0) << command << ":\n" << out;
  std::istringstream fields(out);
  size_t count = 0;
  double sum = 0;
  fields >> count >> sum;
  EXPECT_EQ(count, exported.size()) << out;
  EXPECT_NEAR(sum, want, 1e-6 * std::max(1.0, std::abs(want))) << out;
}
