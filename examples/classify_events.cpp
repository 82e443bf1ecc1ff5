// Classifies one event recording (any format masnn reads), or the part of it between two times, with a trained
// checkpoint, as `masnn eval` does for a dataset: the events are cut into the test clips the network was evaluated
// with, and the class with the highest mean output over the clips wins.
//
//   classify_events runs/demo/TCSA/best.pt recording.aedat [START_US END_US]
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include <masnn/data/event_file.h>
#include <masnn/data/frames.h>
#include <masnn/train/checkpoint.h>
#include <masnn/train/config.h>
#include <masnn/train/factory.h>

int main(int argc, char** argv) try {
  if (argc != 3 && argc != 5) {
    std::cerr << "usage: classify_events CHECKPOINT EVENT_FILE [START_US END_US]\n";
    return 2;
  }
  const std::string checkpoint = argv[1], recording = argv[2];

  // The network, and the settings it was trained with (stored in the checkpoint).
  masnn::train::CheckpointInfo info;
  torch::nn::AnyModule model = masnn::train::load_model(checkpoint, &info);
  const masnn::train::TrainConfig config = masnn::train::parse_checkpoint_config(info.config_toml, checkpoint);

  // Events -> the test clips of the recording, [clips, T, 2, H, W]: the trained sensor size and framing.
  masnn::data::Events events = masnn::data::read_events(recording);
  if (argc == 5) {  // the events in [START_US, END_US) (they are sorted by time)
    const int64_t start = std::stoll(argv[3]), end = std::stoll(argv[4]);
    const auto first = std::lower_bound(events.t.begin(), events.t.end(), start) - events.t.begin();
    const auto last = std::lower_bound(events.t.begin(), events.t.end(), end) - events.t.begin();
    events = events.slice(first, last);
  }
  const int sensor = static_cast<int>(info.spec.input_size * config.data.ds);
  const masnn::data::FrameOptions framing = masnn::train::frame_options(config.data, sensor, sensor);
  const torch::Tensor clips = masnn::data::test_clips(events, framing, static_cast<int>(config.data.clips));

  // The networks are time-major: [T, B, ...] in, [B, classes] out (the class neurons' firing rates).
  torch::NoGradGuard no_grad;
  const torch::Tensor rates = model.forward(clips.transpose(0, 1).contiguous()).mean(0);
  const int64_t label = rates.argmax().item<int64_t>();
  std::printf("%s: %zu events, %lld clips of %lld steps\n", recording.c_str(), events.size(),
              static_cast<long long>(clips.size(0)), static_cast<long long>(clips.size(1)));
  if (rates[label].item<double>() == 0)
    std::printf("no class neuron fired (an untrained network, or a recording unlike its training data); rates:");
  else
    std::printf("class %lld (rate %.3f); rates:", static_cast<long long>(label), rates[label].item<double>());
  for (int64_t c = 0; c < rates.size(0); ++c) std::printf(" %.3f", rates[c].item<double>());
  std::printf("\n");
  return 0;
} catch (const std::exception& e) {
  std::cerr << "classify_events: " << e.what() << "\n";
  return 1;
}
