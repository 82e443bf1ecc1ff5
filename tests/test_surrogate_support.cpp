// The surrogate support a LIF publishes beside its spikes (surrogate_support.h) and the sparse input gradient of
// the event-driven convolution that reads it: bit masks, what the LIF publishes, when a synapse finds it, and that
// training with it gives the dense path's gradients on every DVS network of the registry.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "masnn/models/event_driven_synapse.h"
#include "masnn/models/registry.h"
#include "masnn/models/spiking_blocks.h"
#include "masnn/neuron/lif.h"
#include "neuron/surrogate_support.h"
#include "util/bit_mask.h"
#include "test_support.h"

using namespace masnn;

namespace {

// The byte mask (0/1) that a packed support holds for n elements.
torch::Tensor unpack(const torch::Tensor& packed, int64_t n) {
  torch::Tensor out = torch::zeros({n}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) out[i] = bits::test(packed.data_ptr<uint8_t>(), i) ? 1 : 0;
  return out;
}

}  // namespace

TEST(BitMask, PackAndVisitSetBitsOfAnyRange) {
  torch::manual_seed(31);
  for (const int64_t n : {1, 7, 8, 9, 63, 64, 65, 200, 1031}) {
    const auto flags = torch::rand({n}).lt(0.3).to(torch::kUInt8);
    std::vector<uint8_t> packed(static_cast<size_t>(bits::packed_size(n)), 0xAA);
    bits::pack(flags.data_ptr<uint8_t>(), n, packed.data());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(bits::test(packed.data(), i), flags[i].item<int>() == 1) << n << " " << i;
    }
    if (n % 8) {
      EXPECT_EQ(packed.back() >> (n % 8), 0) << "spare bits of the last byte are zero";
    }
    for (const auto& [begin, end] : std::vector<std::pair<int64_t, int64_t>>{{0, n}, {n / 3, n}, {1, n / 2 + 1}}) {
      std::vector<int64_t> seen, expected;
      bits::for_each_set(packed.data(), begin, end, [&](int64_t i) { seen.push_back(i); });
      for (int64_t i = begin; i < end; ++i) {
        if (flags[i].item<int>()) expected.push_back(i);
      }
      EXPECT_EQ(seen, expected) << n << " [" << begin << ", " << end << ")";
    }
  }
}

// Spikes as floats or doubles pack to the same bits, and any run of bits unpacks to the values, from any start.
TEST(BitMask, ValuesPackAndUnpackFromAnyBit) {
  torch::manual_seed(33);
  for (const int64_t n : {1, 9, 64, 1000, 70001}) {
    const auto flags = torch::rand({n}).lt(0.3).to(torch::kUInt8);
    std::vector<uint8_t> expected(static_cast<size_t>(bits::packed_size(n)));
    bits::pack(flags.data_ptr<uint8_t>(), n, expected.data());
    const auto values = flags.to(torch::kFloat), doubles = flags.to(torch::kDouble);
    std::vector<uint8_t> from_floats(expected.size(), 0xAA), from_doubles(expected.size(), 0x55);
    bits::pack(values.data_ptr<float>(), n, from_floats.data());
    bits::pack(doubles.data_ptr<double>(), n, from_doubles.data());
    EXPECT_EQ(from_floats, expected) << n;
    EXPECT_EQ(from_doubles, expected) << n;
    for (const auto& [begin, count] : std::vector<std::pair<int64_t, int64_t>>{{0, n}, {n / 3, n - n / 3}, {1, n / 2},
                                                                              {n - 1, 1}, {n / 2, 0}}) {
      torch::Tensor f = torch::full({count}, 7.0f), d = torch::full({count}, 7.0, torch::kDouble);
      bits::unpack(expected.data(), begin, count, f.data_ptr<float>());
      bits::unpack(expected.data(), begin, count, d.data_ptr<double>());
      EXPECT_TRUE(torch::equal(f, values.narrow(0, begin, count))) << n << " from " << begin;
      EXPECT_TRUE(torch::equal(d, doubles.narrow(0, begin, count))) << n << " from " << begin;
    }
  }
}

// Both fused LIF paths publish exactly where the rectangular surrogate is nonzero (surrogate_support of the
// membrane), only when asked, in training, with a gradient to compute.
TEST(SurrogateSupport, LifPublishesItsWindowOnlyWhenAskedInTraining) {
  torch::manual_seed(32);
  LIFOptions options = LIFOptions::reference_dvs();
  options.publish_support(true);
  const auto x = (torch::rand({5, 2, 3, 4, 6}) * 0.8).requires_grad_(true);
  const auto expected = functional::surrogate_support(functional::lif_membrane(x, options), options);
  ASSERT_GT(expected.sum().item<int64_t>(), 0);
  ASSERT_LT(expected.sum().item<int64_t>(), expected.numel());

  const auto spikes = functional::lif(x, options).spikes;
  const auto published = functional::published_surrogate_support(spikes);
  ASSERT_TRUE(published.defined());
  EXPECT_TRUE(torch::equal(unpack(published, x.numel()), expected.flatten().to(torch::kUInt8)));

  // The attention's scaled LIF (a = 1, no w, no ReLU: the same membrane).
  const auto a = torch::ones({5, 2, 3});
  const auto scaled = functional::scaled_lif(x, a, torch::Tensor(), false, options);
  const auto published_scaled = functional::published_surrogate_support(scaled);
  ASSERT_TRUE(published_scaled.defined());
  EXPECT_TRUE(torch::equal(unpack(published_scaled, x.numel()), expected.flatten().to(torch::kUInt8)));
  // Rows of 24 positions fill whole bytes of the mask, which the kernel then writes directly; rows of 15 do not.
  {
    const auto odd = (torch::rand({5, 2, 3, 3, 5}) * 0.8).requires_grad_(true);
    const auto odd_expected = functional::surrogate_support(functional::lif_membrane(odd, options), options);
    const auto odd_scaled = functional::scaled_lif(odd, a, torch::Tensor(), false, options);
    const auto odd_published = functional::published_surrogate_support(odd_scaled);
    ASSERT_TRUE(odd_published.defined());
    EXPECT_TRUE(torch::equal(unpack(odd_published, odd.numel()), odd_expected.flatten().to(torch::kUInt8)));
  }

  // A view of all of the spikes (what a block's merge of T and B gives) finds it too; parts, copies and changed
  // spikes do not.
  EXPECT_TRUE(functional::published_surrogate_support(spikes.view({10, 3, 4, 6})).defined());
  EXPECT_FALSE(functional::published_surrogate_support(spikes[1]).defined());
  EXPECT_FALSE(functional::published_surrogate_support(spikes.clone()).defined());
  const auto changed = scaled.detach();
  changed.mul_(1);  // bumps the version the spikes share
  EXPECT_FALSE(functional::published_surrogate_support(scaled).defined());

  // The registry holds a mask only while its keeper does (the LIF's autograd node): a graph freed frees it.
  {
    auto unkept = functional::lif(x, options).spikes;
    EXPECT_TRUE(functional::published_surrogate_support(unkept).defined());
    const auto detached = unkept.detach();  // the same storage, without the graph
    unkept = torch::Tensor();
    EXPECT_FALSE(functional::published_surrogate_support(detached).defined());
  }
  {
    const auto plain = torch::rand({4, 8}).lt(0.5).to(torch::kFloat);
    functional::publish_surrogate_support(plain, functional::pack_bits(plain));  // nobody keeps the mask
    EXPECT_FALSE(functional::published_surrogate_support(plain).defined());
  }

  // Not asked, no gradient, or not rectangular: nothing published.
  LIFOptions quiet = LIFOptions::reference_dvs();
  EXPECT_FALSE(functional::published_surrogate_support(functional::lif(x, quiet).spikes).defined());
  {
    torch::NoGradGuard no_grad;
    EXPECT_FALSE(functional::published_surrogate_support(functional::lif(x, options).spikes).defined());
  }
  LIFOptions sigmoid = options;
  sigmoid.surrogate(SurrogateKind::Sigmoid);
  EXPECT_FALSE(functional::published_surrogate_support(functional::lif(x, sigmoid).spikes).defined());
}

namespace {

using Layer = std::function<torch::Tensor(const torch::Tensor&)>;

// With supports of 0% to 100% of the spikes published, `event_driven`'s input gradient is `dense`'s inside the
// support and zero outside (where the LIF that fired the input multiplies it by zero).
void expect_input_gradient_only_inside_the_support(const torch::Tensor& spikes, const Layer& event_driven,
                                                   const Layer& dense) {
  for (const double support_density : {0.0, 0.05, 0.5, 1.0}) {
    SCOPED_TRACE("support " + std::to_string(support_density));
    const auto mask = torch::rand(spikes.sizes()).lt(support_density);
    auto x1 = spikes.clone().requires_grad_(true), x2 = spikes.clone().requires_grad_(true);
    const auto support = functional::pack_bits(mask);  // kept by the caller, as a LIF's autograd node does
    functional::publish_surrogate_support(x1, support);
    const auto y1 = event_driven(x1);
    const auto g = torch::randn(y1.sizes(), torch::kDouble);
    y1.backward(g);
    dense(x2).backward(g);
    EXPECT_TRUE(torch::allclose(x1.grad(), x2.grad() * mask, 1e-12, 1e-12));
    EXPECT_EQ((x1.grad() * mask.logical_not()).abs().max().item<double>(), 0.0);
  }
}

}  // namespace

// With a published support, the event-driven convolution's input gradient is the dense one inside it and zero
// outside (where the LIF that fired the input multiplies it by zero), at supports from 0% to 100%, on the
// spike-input convolutions of the registry's DVS networks and an odd kernel.
TEST(SurrogateSupport, ConvInputGradientIsDenseInsideTheSupportAndZeroOutside) {
  auto shapes = masnn::testing::spike_input_conv_shapes();  // in, out, kernel, pad
  ASSERT_FALSE(shapes.empty());
  shapes.push_back({3, 21, 5, 2});  // output channels not a multiple of the 16 lanes
  torch::manual_seed(33);
  for (const auto& [in, out, k, pad] : shapes) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, k).padding(pad));
    conv->to(torch::kDouble);
    const auto spikes = torch::rand({3, in, 7, 9}, torch::kDouble).lt(0.2).to(torch::kDouble);
    SCOPED_TRACE(std::to_string(in) + "->" + std::to_string(out) + " k" + std::to_string(k));
    expect_input_gradient_only_inside_the_support(
        spikes, [&](const torch::Tensor& x) { return functional::conv2d_event_driven(x, *conv); },
        [&](const torch::Tensor& x) { return conv->forward(x); });
  }
}

// The same for the event-driven linear layer, on the registry's spike-input linear shapes and an odd one.
TEST(SurrogateSupport, LinearInputGradientIsDenseInsideTheSupportAndZeroOutside) {
  auto shapes = masnn::testing::spike_input_linear_shapes();  // in, out
  shapes.push_back({37, 21});
  torch::manual_seed(37);
  for (const auto& [in, out] : shapes) {
    torch::nn::Linear linear(in, out);
    linear->to(torch::kDouble);
    const auto spikes = torch::rand({5, in}, torch::kDouble).lt(0.2).to(torch::kDouble);
    SCOPED_TRACE(std::to_string(in) + "->" + std::to_string(out));
    expect_input_gradient_only_inside_the_support(
        spikes, [&](const torch::Tensor& x) { return functional::linear_event_driven(x, *linear); },
        [&](const torch::Tensor& x) { return linear->forward(x); });
  }
}

TEST(SurrogateSupport, LinearInputGradientIsTheSameForAnyNumberOfThreads) {
  torch::manual_seed(38);
  torch::nn::Linear linear(300, 40);
  const auto spikes = torch::rand({24, 300}).lt(0.1).to(torch::kFloat);
  const auto support = functional::pack_bits(torch::rand(spikes.sizes()).lt(0.3));
  EXPECT_TRUE(masnn::testing::same_for_1_and_3_threads([&] {
    auto x = spikes.clone().requires_grad_(true);
    functional::publish_surrogate_support(x, support);
    functional::linear_event_driven(x, *linear).pow(2).sum().backward();
    return x.grad();
  }));
}

// A support wider than the crossover is left to the dense input gradient (every element of it computed).
TEST(SurrogateSupport, ConvUsesTheSupportOnlyBelowItsCrossover) {
  torch::manual_seed(36);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 8, 3).padding(1));
  const auto spikes = torch::rand({2, 4, 6, 6}).lt(0.2).to(torch::kFloat);
  const auto mask = torch::rand(spikes.sizes()).lt(0.4);  // above kSparseInputGradCrossover, below 0.5
  const auto outside = [&](double crossover) {
    auto x = spikes.clone().requires_grad_(true);
    const auto support = functional::pack_bits(mask);  // kept while the conv runs, as a LIF's node keeps it
    functional::publish_surrogate_support(x, support);
    functional::conv2d_event_driven(x, *conv, crossover).sum().backward();
    return (x.grad() * mask.logical_not()).abs().sum().item<double>();
  };
  EXPECT_EQ(outside(0.5), 0.0);
  EXPECT_GT(outside(0.2), 0.0);
  EXPECT_GT(outside(kSparseInputGradCrossover), 0.0);
}

TEST(SurrogateSupport, ConvInputGradientIsTheSameForAnyNumberOfThreads) {
  torch::manual_seed(34);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(8, 40, 3).padding(1));
  const auto spikes = torch::rand({6, 8, 12, 12}).lt(0.1).to(torch::kFloat);
  const auto support = functional::pack_bits(torch::rand(spikes.sizes()).lt(0.3));
  EXPECT_TRUE(masnn::testing::same_for_1_and_3_threads([&] {
    auto x = spikes.clone().requires_grad_(true);
    functional::publish_surrogate_support(x, support);
    functional::conv2d_event_driven(x, *conv).pow(2).sum().backward();
    return x.grad();
  }));
}

// Training every DVS network of the registry, with and without attention, event-driven with published supports:
// the same loss and parameter gradients as the dense path (the input gradient left out is exactly what the LIFs
// multiply by zero).
TEST(SurrogateSupport, EveryDvsNetworkTrainsEventDrivenWithTheDenseGradients) {
  for (const auto& [name, _] : model_names()) {
    if (is_res_snn(name)) continue;
    for (const std::string attention : {"TCSA", "none"}) {
      SCOPED_TRACE(name + " " + attention);
      ModelSpec spec = masnn::testing::small_spec(name);
      spec.attention = AttentionType::parse(attention);
      spec.steps = 4;  // enough for the deeper layers to fire
      torch::manual_seed(35);
      auto model = build_model(spec);
      model.ptr()->to(torch::kDouble);
      model.ptr()->train();
      {
        torch::NoGradGuard no_grad;  // larger BN scales: every layer fires at initialisation
        for (auto& p : model.ptr()->named_parameters())
          if (p.key().size() >= 9 && p.key().substr(p.key().size() - 9) == "bn.weight") p.value().fill_(3.0);
      }
      const auto x = torch::rand({spec.steps, 2, spec.in_channels, spec.input_size, spec.input_size}, torch::kDouble)
                         .lt(0.3)
                         .to(torch::kDouble) *
                     5;
      std::vector<std::vector<torch::Tensor>> grads;
      for (const SynapseMode mode : {SynapseMode::Dense, SynapseMode::Sparse}) {
        set_synapse_mode(*model.ptr(), mode);
        model.ptr()->zero_grad();
        const auto y = model.forward(x);
        (y * torch::linspace(-1, 1, y.numel(), y.options()).view(y.sizes())).sum().backward();
        std::vector<torch::Tensor> g;
        for (const auto& p : model.ptr()->parameters()) g.push_back(p.grad().clone());
        grads.push_back(g);
      }
      ASSERT_EQ(grads[0].size(), grads[1].size());
      double norm = 0;
      for (size_t i = 0; i < grads[0].size(); ++i) {
        EXPECT_TRUE(torch::allclose(grads[0][i], grads[1][i], 1e-8, 1e-10)) << "parameter " << i;
        norm += grads[0][i].norm().item<double>();
      }
      EXPECT_GT(norm, 0.0);
      // The LIFs a spike-input block reads publish (every block's but the last fully connected one's), no other.
      const auto names = model.ptr()->named_modules();
      int publishing = 0;
      for (const auto& m : names)
        if (const auto* lif = m.value()->as<LIFImpl>()) {
          std::ostringstream printed;
          lif->pretty_print(printed);
          const bool publishes = printed.str().find("publish_support=true") != std::string::npos;
          const std::string& path = m.key();
          const bool conv = path.rfind("convs.", 0) == 0;
          const int64_t index = std::stoi(path.substr(conv ? 6 : 4));
          const bool read = conv || names.contains("fcs." + std::to_string(index + 1));
          EXPECT_EQ(publishes, read) << path;
          publishing += publishes;
        }
      EXPECT_GE(publishing, 1);
    }
  }
}
