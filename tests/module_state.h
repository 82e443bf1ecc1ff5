// Snapshots of a module's parameters and buffers for the tests that compare two networks or one before and after.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace masnn::testing {

/// Copies of every parameter and buffer by name.
inline std::map<std::string, torch::Tensor> named_state(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> s;
  for (const auto& p : m.named_parameters()) s[p.key()] = p.value().detach().clone();
  for (const auto& b : m.named_buffers()) s[b.key()] = b.value().detach().clone();
  return s;
}

/// Copies of every parameter, then every buffer, in the module's order.
inline std::vector<torch::Tensor> state_list(const torch::nn::Module& m) {
  std::vector<torch::Tensor> w;
  for (const auto& p : m.parameters()) w.push_back(p.detach().clone());
  for (const auto& b : m.buffers()) w.push_back(b.detach().clone());
  return w;
}

}  // namespace masnn::testing
