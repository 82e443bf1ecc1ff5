// Sparse spike inference (src/serve/sparse*): the event-driven conv and linear kernels against LibTorch's dense
// layers for inputs of several densities and shapes, the per-layer path choice, and a whole network both ways.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "masnn/models/dvs_net.h"
#include "masnn/models/registry.h"
#include "models/sparse_kernels.h"
#include "masnn/serve/sparse.h"
#include "serve_test_support.h"
#include "test_support.h"

using namespace masnn;
using masnn::testing::expect_error;

namespace {

// Binary spikes at `density`, or (counts = true) small event counts.
torch::Tensor random_input(std::vector<int64_t> shape, double density, bool counts, torch::ScalarType dtype) {
  torch::Tensor x = (torch::rand(shape) < density).to(dtype);
  if (counts) x = x * torch::randint(1, 5, shape).to(dtype);
  return x;
}

}  // namespace

TEST(SparseKernels, ConvEqualsTheDenseConvForDensitiesShapesAndPadding) {
  torch::manual_seed(1);
  struct Shape {
    int64_t n, cin, h, w, cout, k, pad;
  };
  for (int threads : {1, 2}) {
    torch::set_num_threads(threads);
    for (const Shape& s : {Shape{1, 2, 7, 7, 5, 3, 1}, Shape{3, 4, 9, 11, 16, 3, 0}, Shape{2, 3, 13, 5, 17, 5, 2},
                           Shape{1, 6, 8, 8, 40, 1, 0}, Shape{4, 8, 16, 16, 64, 3, 1}}) {
      for (double density : {0.0, 0.03, 0.5, 1.0}) {
        for (bool counts : {false, density == 0.5}) {
          for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
            SCOPED_TRACE(::testing::Message() << "threads " << threads << " cin " << s.cin << " " << s.h << "x" << s.w
                                              << " cout " << s.cout << " k" << s.k << " pad " << s.pad << " density "
                                              << density << (counts ? " counts " : " binary ") << dtype);
            torch::nn::Conv2d conv(torch::nn::Conv2dOptions(s.cin, s.cout, s.k).padding(s.pad));
            conv->to(dtype);
            const torch::Tensor x = random_input({s.n, s.cin, s.h, s.w}, density, counts, dtype);
            serve::SparseSynapse syn(*conv, s.h, s.w);
            torch::NoGradGuard ng;
            const torch::Tensor dense = conv(x);
            const torch::Tensor sparse = syn.sparse(x);
            ASSERT_EQ(sparse.sizes(), dense.sizes());
            const double tol = dtype == torch::kFloat32 ? 1e-5 : 1e-12;
            EXPECT_TRUE(torch::allclose(sparse, dense, tol, tol)) << (sparse - dense).abs().max().item<double>();
            EXPECT_TRUE(torch::equal(syn.dense(x), dense));  // the dense path is the module's own call
          }
        }
      }
    }
  }
  torch::set_num_threads(1);
}

TEST(SparseKernels, LinearEqualsTheDenseLinear) {
  torch::manual_seed(2);
  for (int threads : {1, 2}) {
    torch::set_num_threads(threads);
    for (int64_t n : {1, 5}) {
      for (int64_t in : {1, 37, 4096}) {
        for (int64_t out : {1, 11, 130}) {
          for (double density : {0.0, 0.02, 0.3, 1.0}) {
            SCOPED_TRACE(::testing::Message() << n << "x" << in << "->" << out << " density " << density);
            torch::nn::Linear lin(in, out);
            const torch::Tensor x = random_input({n, in}, density, density == 0.3, torch::kFloat32);
            serve::SparseSynapse syn(*lin);
            torch::NoGradGuard ng;
            EXPECT_TRUE(torch::allclose(syn.sparse(x), lin(x), 1e-5, 1e-5));
          }
        }
      }
    }
  }
  torch::set_num_threads(1);
  float x[6] = {0, 1, 0, 0, 2.5f, 0};
  EXPECT_EQ(kernels::count_nonzero(x, 6), 2);
}

TEST(SparseSynapse, ChoosesThePathByTheMeasuredDensityAndTheCrossover) {
  torch::manual_seed(3);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 8, 3).padding(1));
  serve::SparseSynapse syn(*conv, 6, 6);
  EXPECT_EQ(syn.describe(), "conv 4->8 k3 at 6x6");
  EXPECT_EQ(syn.macs_per_sample(), 8 * 4 * 9 * 6 * 6);
  syn.set_crossover(1, 0.2);
  syn.set_crossover(16, 0.05);
  EXPECT_EQ(syn.crossover(1), 0.2);
  EXPECT_EQ(syn.crossover(2), 0.2);  // nearest calibrated batch size
  EXPECT_EQ(syn.crossover(12), 0.05);
  torch::NoGradGuard ng;
  const torch::Tensor sparse_in = torch::zeros({1, 4, 6, 6});
  sparse_in[0][1][2][3] = 1;  // density 1/144
  const torch::Tensor dense_in = torch::ones({1, 4, 6, 6});
  syn.forward(sparse_in);
  syn.forward(dense_in);
  EXPECT_EQ(syn.calls, 2);
  EXPECT_EQ(syn.sparse_calls, 1);
  EXPECT_EQ(syn.nonzeros, 145.0);
  syn.mode = serve::SynapseMode::Sparse;
  syn.forward(dense_in);
  EXPECT_EQ(syn.sparse_calls, 2);
  syn.mode = serve::SynapseMode::Dense;
  EXPECT_TRUE(torch::equal(syn.forward(dense_in), conv(dense_in)));
  // Calibration measures both paths and sets a crossover in [0,1].
  syn.mode = serve::SynapseMode::Auto;
  const auto timings = syn.calibrate(2, {0.01, 0.5}, 1);
  ASSERT_EQ(timings.size(), 2u);
  EXPECT_GT(timings[0].dense_ms, 0.0);
  EXPECT_GE(syn.crossover(2), 0.0);
  EXPECT_LE(syn.crossover(2), 1.0);
  torch::nn::Conv2d strided(torch::nn::Conv2dOptions(4, 8, 3).stride(2));
  EXPECT_NE(expect_error([&] { serve::SparseSynapse(*strided, 6, 6); }).find("stride 1"), std::string::npos);
}

TEST(SparseSynapse, CrossoverIsWhereTheFittedSparseTimeMeetsTheDenseTime) {
  using T = serve::PathTiming;
  // sparse = 2 * density, dense = 1 (median): crossover 0.5.
  EXPECT_NEAR(serve::crossover_density({T{0.1, 1.0, 0.2}, T{0.2, 1.1, 0.4}, T{0.3, 0.9, 0.6}}), 0.5, 1e-12);
  // A noisy point moves the fit, not the answer's order of magnitude.
  EXPECT_NEAR(serve::crossover_density({T{0.1, 1.0, 0.2}, T{0.2, 1.0, 0.9}, T{0.3, 1.0, 0.6}}), 0.5, 0.2);
  EXPECT_EQ(serve::crossover_density({T{0.01, 1.0, 2.0}, T{0.1, 1.0, 3.0}}), 0.0);  // never faster
  EXPECT_EQ(serve::crossover_density({T{0.1, 1.0, 0.02}, T{0.5, 1.0, 0.1}}), 1.0);  // always faster
  EXPECT_EQ(serve::crossover_density({T{0.1, 1.0, 0.2}, T{0.2, 1.0, 0.2}}), 1.0);   // flat and faster
  EXPECT_EQ(serve::crossover_density({}), 0.0);
}

TEST(SparseNetwork, AWholeNetworkGivesTheSameOutputsBothWaysOfflineAndStepByStep) {
  for (const char* attention : {"none", "TCSA"}) {
    SCOPED_TRACE(attention);
    DvsNet net = masnn::testing::small_spiking_net(attention, 6, 4);
    torch::NoGradGuard ng;
    const torch::Tensor x = (torch::rand({6, 2, 2, 16, 16}) < 0.2).to(torch::kFloat64) * 2;
    const torch::Tensor dense = net->forward(x);
    DvsNetStepState dense_state;
    const torch::Tensor dense_step = net->forward_step(x[0], dense_state);
    EXPECT_GT(dense.sum().item<double>(), 0.0);
    serve::SparseOptions so;
    so.mode = serve::SynapseMode::Sparse;
    torch::nn::AnyModule model(net);
    serve::SparseNetwork sn = serve::enable_sparse(model, x.slice(1, 0, 1), so);
    ASSERT_EQ(sn.names.size(), 4u);
    EXPECT_EQ(sn.names[2], "fcs.0.linear");
    // float64: the two summation orders differ by ~1e-15, far from any threshold: the same spikes.
    EXPECT_TRUE(torch::equal(net->forward(x), dense));
    DvsNetStepState sparse_state;
    EXPECT_TRUE(torch::equal(net->forward_step(x[0], sparse_state), dense_step));
    for (const auto& l : sn.layers) {
      EXPECT_GT(l->calls, 0);
      EXPECT_EQ(l->sparse_calls, l->calls);
    }
    EXPECT_LT(sn.layers[1]->nonzeros / sn.layers[1]->inputs, 1.0);  // spikes are sparse
    serve::disable_sparse(*net);
    sn.clear_counts();
    EXPECT_TRUE(torch::equal(net->forward(x), dense));
    EXPECT_EQ(sn.layers[0]->calls, 0);  // no longer used
  }
}

TEST(SparseNetwork, EveryRegistryNetworkRunsItsSpikeLayersEventDrivenWithTheSameOutputs) {
  for (const auto& [name, _] : model_names()) {
    SCOPED_TRACE(name);
    const ModelSpec spec = masnn::testing::small_spec(name);
    torch::manual_seed(3);
    torch::nn::AnyModule model = build_model(spec);
    model.ptr()->to(torch::kFloat64);
    model.ptr()->eval();
    torch::NoGradGuard ng;
    torch::Tensor x = example_input(spec, 2).to(torch::kFloat64);
    x = is_res_snn(name) ? torch::randn(x.sizes(), x.options()) : (torch::rand(x.sizes(), x.options()) < 0.2).to(torch::kFloat64);
    const torch::Tensor dense = model.forward(x);
    const auto keys_before = model.ptr()->named_parameters().keys();
    serve::SparseOptions so;
    so.mode = serve::SynapseMode::Sparse;
    const serve::SparseNetwork sn = serve::enable_sparse(model, example_input(spec).to(torch::kFloat64), so);
    ASSERT_FALSE(sn.names.empty());
    const auto modules = model.ptr()->named_modules();
    for (const auto& n : sn.names) {
      // The replacement sits where the layer was, is shown as such, and keeps the layer's parameter names.
      std::ostringstream shown;
      modules[n]->pretty_print(shown);
      EXPECT_NE(shown.str().find("masnn::serve::Sparse"), std::string::npos) << n;
      if (is_res_snn(name)) {  // shortcuts (membrane) and the head (rates) stay dense; a stride-2 stem too
        EXPECT_TRUE(n.find(".conv1") != std::string::npos || n.find(".conv2") != std::string::npos ||
                    (n == "stem_conv" && spec.name == "res-snn-mini"))
            << n;
      }
    }
    EXPECT_EQ(model.ptr()->named_parameters().keys(), keys_before);
    // float64: the two summation orders differ by ~1e-15, far from any threshold: the same spikes.
    EXPECT_TRUE(torch::allclose(model.forward(x), dense, 1e-9, 1e-12)) << name;
    for (const auto& l : sn.layers) EXPECT_EQ(l->sparse_calls, l->calls);
    // clone() gives the network of the definition; disable_sparse puts the dense layers back.
    const auto copy = std::dynamic_pointer_cast<torch::nn::Module>(model.ptr()->clone());
    for (const auto& item : copy->named_modules())
      EXPECT_EQ(dynamic_cast<const LayerReplacement*>(item.value().get()), nullptr) << item.key();
    serve::disable_sparse(*model.ptr());
    for (const auto& item : model.ptr()->named_modules())
      EXPECT_EQ(dynamic_cast<const LayerReplacement*>(item.value().get()), nullptr) << item.key();
    EXPECT_TRUE(torch::equal(model.forward(x), dense));
  }
}

// `masnn eval --frames --sparse sparse` on a Res-SNN checkpoint (a fixture made by an earlier build): the branch
// convs run event-driven and the outputs equal the dense run's.
TEST(SparseNetwork, EvalWithSparseSynapsesOnAResSnnCheckpoint) {
  masnn::testing::TempDir dir("sparse_eval");
  torch::manual_seed(5);
  const std::string images = dir.file("images.pt"), dense = dir.file("dense.pt"), sparse = dir.file("sparse.pt");
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(torch::randn({3, 1, 28, 28})));
  std::ofstream(images, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::string checkpoint = std::string(MASNN_SOURCE_DIR) + "/tests/fixtures/checkpoints/checkpoint_1.13.pt";
  auto run = [&](const std::string& mode, const std::string& outputs) {
    const std::string command = std::string(MASNN_CLI) + " eval --checkpoint " + checkpoint + " --frames " + images +
                                " --outputs " + outputs + " --sparse " + mode;
    int status = 0;
    const std::string out = masnn::testing::run_command(command, status);
    EXPECT_EQ(status, 0) << command << ":\n" << out;
    return out;
  };
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return torch::pickle_load(raw).toTensor();
  };
  const std::string out_dense = run("dense", dense), out_sparse = run("sparse", sparse);
  EXPECT_EQ(out_dense.find("event-driven"), std::string::npos) << out_dense;
  EXPECT_NE(out_sparse.find("stages.0.0.conv1: input density"), std::string::npos) << out_sparse;
  EXPECT_TRUE(torch::allclose(read(sparse), read(dense), 1e-4, 1e-5));
}
