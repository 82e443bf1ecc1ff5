// Restores a module's training flag when it goes out of scope (tools that run a network in eval mode: analysis,
// the sparse-layer probe).
#pragma once

#include <torch/nn/module.h>

namespace masnn::detail {

class TrainingFlagGuard {
 public:
  explicit TrainingFlagGuard(torch::nn::Module& module) : module_(module), training_(module.is_training()) {}
  ~TrainingFlagGuard() { module_.train(training_); }
  TrainingFlagGuard(const TrainingFlagGuard&) = delete;
  TrainingFlagGuard& operator=(const TrainingFlagGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool training_;
};

}  // namespace masnn::detail
