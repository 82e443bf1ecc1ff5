// Helpers shared by the tests: a scratch folder, the message of an expected exception, small networks, torch zip
// archives edited on purpose.
#pragma once

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "data/idx.h"
#include "masnn/data/events.h"
#include "masnn/data/image.h"
#include "masnn/models/registry.h"
#include "masnn/models/spiking_blocks.h"
#include "util/zip_archive.h"

// Tests of what a build may leave out (docs/building.md#optional-parts) skip there, saying why.
#define MASNN_SKIP_WITHOUT_OPENCV() \
  if (!masnn::data::opencv_built()) GTEST_SKIP() << "this build leaves out OpenCV (-DMASNN_OPENCV=OFF)"

namespace masnn::testing {

/// A fresh folder under the system temp folder, removed with its contents when the object goes out of scope.
struct TempDir {
  std::filesystem::path path;

  /// `tag` names the test file; the folder is unique per process and, inside a test, per test.
  explicit TempDir(const std::string& tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = std::filesystem::temp_directory_path() /
           ("masnn_" + tag + "_" + (info ? info->name() : "shared") + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// The path of `name` inside the folder.
  std::string file(const std::string& name) const { return (path / name).string(); }
  /// Writes `bytes` to `name` inside the folder and returns its path.
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) const {
    const std::string p = file(name);
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    return p;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

/// A small version of every registry network: DVS networks at T 2 on 16x16 frames (dvs-gait 64x64, its pools
/// divide by 64), Res-SNNs at 32x32, T 2, TCSA.
inline ModelSpec small_spec(const std::string& name) {
  ModelSpec spec = default_model_spec(name);
  spec.steps = 2;
  spec.t_ratio = 1;
  spec.attention = AttentionType::parse("TCSA");
  spec.input_size = is_res_snn(name) ? 32 : 16;
  if (spec.name == "dvs-gait") spec.input_size = 64;
  return spec;
}

/// {in, out, kernel, pad} of every convolution on spikes of the registry's DVS networks (small_spec), the shapes the
/// event-driven synapses must handle; their padding keeps the plane's size, as the networks' convolutions do.
inline std::vector<std::array<int64_t, 4>> spike_input_conv_shapes() {
  std::vector<std::array<int64_t, 4>> shapes;
  for (const auto& [name, _] : model_names()) {
    if (is_res_snn(name)) continue;
    const auto model = build_model(small_spec(name));
    for (const auto& m : model.ptr()->modules())
      if (const auto* block = m->as<SpikingConvBlockImpl>(); block && block->options.spike_input()) {
        const auto& o = block->conv->options;
        const int64_t k = (*o.kernel_size())[0];
        shapes.push_back({o.in_channels(), o.out_channels(), k, k / 2});
      }
  }
  return shapes;
}

/// {in, out} of every linear layer on spikes of the registry's DVS networks (small_spec) and of the Gesture network at
/// its full size (8192 -> 256).
inline std::vector<std::array<int64_t, 2>> spike_input_linear_shapes() {
  std::vector<std::array<int64_t, 2>> shapes;
  for (const auto& [name, _] : model_names()) {
    if (is_res_snn(name)) continue;
    const auto model = build_model(small_spec(name));
    for (const auto& m : model.ptr()->modules())
      if (const auto* block = m->as<SpikingLinearBlockImpl>(); block && block->options.spike_input())
        shapes.push_back({block->options.in_features(), block->options.out_features()});
  }
  shapes.push_back({8192, 256});
  return shapes;
}

/// True when `grad()` gives the same tensor with 1 and with 3 threads (the caller's count restored): a kernel that
/// sums in a fixed order, whatever the threads.
inline bool same_for_1_and_3_threads(const std::function<torch::Tensor()>& grad) {
  const int threads = torch::get_num_threads();
  torch::set_num_threads(1);
  const torch::Tensor one = grad().clone();
  torch::set_num_threads(3);
  const torch::Tensor three = grad().clone();
  torch::set_num_threads(threads);
  return torch::equal(one, three);
}

/// Two event arrays equal field by field; `what` names the case in failures.
inline void expect_same_events(const data::Events& got, const data::Events& want, const std::string& what = "") {
  EXPECT_EQ(got.t, want.t) << what;
  EXPECT_EQ(got.x, want.x) << what;
  EXPECT_EQ(got.y, want.y) << what;
  EXPECT_EQ(got.p, want.p) << what;
}

/// The message of the exception `f` throws; a test failure (and "") when it throws none.
/// Runs a shell command, giving its standard output and error together; `status` receives pclose's status.
inline std::string run_command(const std::string& command, int& status) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buffer[512];
  while (pipe && fgets(buffer, sizeof buffer, pipe)) out += buffer;
  status = pipe ? pclose(pipe) : -1;
  return out;
}

inline std::string expect_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

/// Fashion-MNIST files in Debian's layout (`prefix` train or t10k): n 28x28 images of a fixed pattern, labels i % 10.
inline void write_fake_fashion_mnist(const std::filesystem::path& dir, const std::string& prefix, int n, bool gzip) {
  data::IdxArray images{{n, 28, 28}, {}}, labels{{n}, {}};
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < 28 * 28; ++p) images.data.push_back(static_cast<uint8_t>((i * 37 + p * (i % 10 + 1)) % 256));
    labels.data.push_back(static_cast<uint8_t>(i % 10));
  }
  const std::string gz = gzip ? ".gz" : "";
  data::write_idx((dir / (prefix + "-images-idx3-ubyte" + gz)).string(), images, gzip);
  data::write_idx((dir / (prefix + "-labels-idx1-ubyte" + gz)).string(), labels, gzip);
}

/// The torch zip archive `bytes` written again with `edit` applied to each record (named without the archive's
/// folder), with CRC-32s that match: a file damaged on purpose inside, sound as a zip archive.
inline std::vector<uint8_t> rewrite_torch_zip(const std::vector<uint8_t>& bytes,
                                              const std::function<void(const std::string&, std::string&)>& edit) {
  std::vector<uint8_t> out;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + n);
    return n;
  });
  for (const ZipEntry& e : read_zip_entries("rewrite", bytes.data(), bytes.size())) {
    const std::string record = e.name.substr(e.name.find('/') + 1);
    if (record == "version" || record == ".data/version") continue;  // the writer adds its own
    const std::vector<uint8_t> data = zip_entry_bytes("rewrite", bytes.data(), e);
    std::string text(data.begin(), data.end());
    edit(record, text);
    writer.writeRecord(record, text.data(), text.size());
  }
  writer.writeEndOfFile();
  return out;
}

}  // namespace masnn::testing
