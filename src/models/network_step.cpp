// Step-at-a-time inference for every network: the one place that tells the registry's networks apart for it.
#include "masnn/models/network_step.h"

#include <stdexcept>

namespace masnn {

namespace {

[[noreturn]] void not_a_network() {
  throw std::invalid_argument("step-at-a-time inference: the module is none of masnn's networks (dvs-*, res-snn-*)");
}

}  // namespace

NetworkStepInfo network_step_info(const torch::nn::Module& net) {
  NetworkStepInfo info;
  if (const auto* dvs = dynamic_cast<const DvsNetImpl*>(&net)) {
    const DvsNetOptions& o = dvs->options;
    info.in_channels = o.in_channels();
    info.input_size = o.input_size();
    info.num_classes = o.num_classes();
    info.steps = o.steps();
    info.temporal_attention = o.attention().type.temporal;
    info.outputs_rates = true;
  } else if (const auto* res = dynamic_cast<const ResSnnImpl*>(&net)) {
    const ResSnnOptions& o = res->options;
    info.in_channels = o.in_channels();
    info.input_size = 0;
    info.num_classes = o.num_classes();
    info.steps = o.steps();
    info.temporal_attention = o.attention().type.temporal;
    info.outputs_rates = false;
  } else {
    not_a_network();
  }
  return info;
}

void NetworkStepState::reset(int64_t row) {
  dvs.reset(row);
  res.reset(row);
}

torch::Tensor forward_step(torch::nn::Module& net, const torch::Tensor& x_t, NetworkStepState& state) {
  if (auto* dvs = dynamic_cast<DvsNetImpl*>(&net)) return dvs->forward_step(x_t, state.dvs);
  if (auto* res = dynamic_cast<ResSnnImpl*>(&net)) return res->forward_step(x_t, state.res);
  not_a_network();
}

}  // namespace masnn
