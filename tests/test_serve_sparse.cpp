// Sparse spike inference (src/serve/sparse*): the event-driven conv and linear kernels against LibTorch's dense
// layers for inputs of several densities and shapes, the per-layer path choice, and a whole network both ways.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "masnn/models/dvs_net.h"
#include "masnn/serve/sparse.h"
#include "masnn/serve/sparse_kernels.h"
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
  EXPECT_EQ(serve::kernels::count_nonzero(x, 6), 2);
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
    serve::SparseNetwork sn = serve::enable_sparse(*net, so);
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
