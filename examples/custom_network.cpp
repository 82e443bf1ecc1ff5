// Defines a small MA-SNN of your own from masnn's modules, trains it for a few steps on random event frames and
// reports each layer's firing rate with a monitor: the building blocks behind the registry's networks.
//
//   custom_network [ATTENTION]      (none, TA, CA, SA, TCA, TSA, CSA, TCSA; default TCSA)
#include <torch/torch.h>

#include <cstdio>
#include <iostream>

#include <masnn/analysis/spike_monitor.h>
#include <masnn/models/spiking_blocks.h>
#include <masnn/util/monitor.h>

// Time-major in and out, as every masnn network: [T,B,2,32,32] event frames -> [B,classes] firing rates.
struct TinyMaSnnImpl : torch::nn::Module {
  TinyMaSnnImpl(int64_t steps, int64_t classes, const masnn::AttentionType& type) {
    masnn::LayerAttention attention;
    attention.type = type;    // applied at conv-post (the membrane input), as in the paper's MA-SNN
    attention.t_ratio = 2;    // TA's squeeze ratio over T steps
    attention.c_ratio = 4;    // CA's squeeze ratio over channels
    using masnn::SpikingConvBlockOptions;
    // conv3x3 -> BN -> pool -> attention -> LIF, each a module of its own (print the network to see them).
    conv1 = register_module("conv1", masnn::SpikingConvBlock(
                                         SpikingConvBlockOptions(2, 16).pool(2).steps(steps).attention(attention)));
    conv2 = register_module("conv2", masnn::SpikingConvBlock(SpikingConvBlockOptions(16, 32).pool(2).steps(steps)
                                                                 .attention(attention).spike_input(true)));
    head = register_module("head", masnn::SpikingLinearBlock(masnn::SpikingLinearBlockOptions(32 * 8 * 8, classes)
                                                                 .steps(steps).spike_input(true)));
  }
  torch::Tensor forward(const torch::Tensor& frames) {
    torch::Tensor x = conv2(conv1(frames));
    return head(x.flatten(2)).mean(0);  // the class neurons' firing rates over T
  }
  masnn::SpikingConvBlock conv1{nullptr}, conv2{nullptr};
  masnn::SpikingLinearBlock head{nullptr};
};
TORCH_MODULE(TinyMaSnn);

int main(int argc, char** argv) try {
  const int64_t steps = 8, batch = 16, classes = 4;
  torch::manual_seed(0);
  TinyMaSnn net(steps, classes, masnn::AttentionType::parse(argc > 1 ? argv[1] : "TCSA"));
  std::cout << *net << "\n";

  // Random sparse event frames; the class is where the events are denser (a pattern the network can learn).
  const torch::Tensor labels = torch::arange(batch) % classes;
  torch::Tensor density = torch::full({batch, 1, 4, 1}, 0.05);
  for (int64_t b = 0; b < batch; ++b) density[b][0][labels[b].item<int64_t>()] = 0.4;
  density = density.repeat_interleave(8, 2).expand({batch, 2, 32, 32});
  const torch::Tensor frames = torch::bernoulli(density.unsqueeze(0).expand({steps, batch, 2, 32, 32}));

  // Trained as masnn trains the DVS networks: MSE between the rates and the one-hot labels, Adam.
  torch::optim::Adam optimiser(net->parameters(), torch::optim::AdamOptions(1e-2));
  const torch::Tensor target = torch::one_hot(labels, classes).to(torch::kFloat);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    optimiser.zero_grad();
    const torch::Tensor loss = torch::mse_loss(net->forward(frames), target);
    loss.backward();
    optimiser.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  std::printf("loss: first step %.4f, last step %.4f\n", first, last);

  // A monitor attached to the network hears every neuron layer's spikes, by module name.
  net->eval();
  masnn::analysis::SpikeMonitor spikes;
  torch::Tensor rates;
  {
    masnn::MonitorScope scope(spikes, *net);
    torch::NoGradGuard no_grad;
    rates = net->forward(frames);
  }
  std::printf("training accuracy %.0f%%\n", 100 * rates.argmax(1).eq(labels).to(torch::kFloat).mean().item<double>());
  for (const auto& layer : spikes.layers())
    std::printf("%-12s firing rate %.4f, %.0f spikes per sample\n", layer.name.c_str(), layer.firing_rate(),
                layer.spikes_per_sample());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "custom_network: " << e.what() << "\n";
  return 1;
}
