// Restores a module's training flag when it goes out of scope (analysis runs networks in eval mode).
#pragma once

#include <torch/nn/module.h>

namespace masnn::analysis::detail {

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

}  // namespace masnn::analysis::detail
