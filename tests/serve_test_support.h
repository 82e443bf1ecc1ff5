// The small DVS network the deployment tests (test_serve_*.cpp) run: 16x16 input, channels 8-16, one hidden layer
// of 24, 4 classes, attention ratios 2 and 4, and BN scaled up (weight 2.5, bias 0.2) so that every layer spikes.
#pragma once

#include <torch/torch.h>

#include <string>

#include "masnn/models/dvs_net.h"

namespace masnn::testing {

/// In eval mode, seeded by `seed`, in `dtype` (float64 makes convolutions give the same values whatever the batch
/// size, so step-at-a-time, pruned and offline results can be compared bit for bit).
inline DvsNet small_spiking_net(const std::string& attention, int64_t steps, int64_t seed,
                                torch::ScalarType dtype = torch::kFloat64,
                                AttentionPlacement placement = AttentionPlacement::ConvPost, bool per_step = false) {
  torch::manual_seed(seed);
  auto o = DvsNetOptions::gesture(steps, AttentionType::parse(attention))
               .input_size(16)
               .channels({8, 16})
               .pools({1, 2})
               .hidden({24})
               .num_classes(4);
  auto a = o.attention();
  a.placement = placement;
  a.per_step = per_step;
  a.t_ratio = 2;
  a.c_ratio = 4;
  o.attention(a);
  DvsNet net(o);
  net->to(dtype);
  torch::NoGradGuard ng;
  for (auto& p : net->named_parameters()) {
    if (p.key().find("bn.weight") != std::string::npos) p.value().fill_(2.5);
    if (p.key().find("bn.bias") != std::string::npos) p.value().fill_(0.2);
  }
  net->eval();
  return net;
}

}  // namespace masnn::testing
