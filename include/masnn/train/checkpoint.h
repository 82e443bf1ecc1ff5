// Checkpoints: model, optimiser, schedule, epoch, RNG state, the run's config and the network spec, in one
// LibTorch archive. Written to a temporary file and renamed, so a killed run never leaves a broken one. Checked
// before LibTorch reads one (zip CRC-32s, pickles, declared sizes) and after (each tensor's SHA-256).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/optim/optimizer.h>

#include <map>
#include <optional>
#include <string>

#include "masnn/models/registry.h"
#include "masnn/train/mixed_precision.h"
#include "masnn/train/schedule.h"

namespace masnn::train {

struct CheckpointInfo {
  int64_t epoch = -1;         ///< last completed epoch, 0-based (-1: none, e.g. an imported model)
  double best_accuracy = -1;  ///< best test accuracy so far
  int64_t best_epoch = -1;
  std::string config_toml;  ///< the run's settings (to_toml)
  ModelSpec spec;           ///< what build_model needs to rebuild the network
  ScheduleState schedule;
  uint64_t seed = 0;
  std::optional<GradScaler::State> loss_scaler;  ///< the loss scaler of a mixed-precision run (none otherwise)
  /// SHA-256 of each model parameter and buffer, by name: written by save_checkpoint, verified by load_checkpoint
  /// (empty in checkpoints of earlier builds, which load with a note).
  std::map<std::string, std::string> tensor_sha256;
};

/// Writes model (parameters and buffers), optimiser state (when given), info and the CPU RNG state to `path`
/// atomically. Creates the parent folder.
void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info);

/// Reads the info of a checkpoint (cheap enough to call before building the model). Throws naming the file.
CheckpointInfo read_checkpoint_info(const std::string& path);

/// Loads the model state (every parameter and buffer must be present with its shape), the optimiser state
/// when `optimizer` is given, and the RNG state when `restore_rng`. Throws naming the file and the key.
CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               bool restore_rng);

/// Rebuilds the network a checkpoint holds and loads its weights (eval mode). `info` receives the checkpoint's info.
torch::nn::AnyModule load_model(const std::string& path, CheckpointInfo* info = nullptr);

/// The spec as JSON text and back (for checkpoints and reports).
std::string spec_to_json(const ModelSpec& spec);
ModelSpec spec_from_json(const std::string& json);

}  // namespace masnn::train
