// The options `bench train-step` and `bench train-profile` share: the network, the input and every backend switch.
#pragma once

#include <CLI/CLI.hpp>

#include "bench/train_step_bench.h"

namespace masnn::cli {

/// Adds the options of a TrainStepBenchConfig to cmd; `steps_help` and `warmup_help` say what the steps are for.
inline void add_train_step_options(CLI::App* cmd, bench::TrainStepBenchConfig& c, const char* steps_help,
                                   const char* warmup_help) {
  cmd->add_option("--model", c.model, "gesture, gait, small, or a registry name (dvs-gesture, ...)")
      ->capture_default_str();
  cmd->add_option("--attention", c.attention, "none, TA, CA, SA, TCA, TSA, CSA, TCSA")->capture_default_str();
  cmd->add_option("--placement", c.placement, "conv-post or activate-pre")->capture_default_str();
  cmd->add_option("-T,--T", c.steps, "time steps T")->capture_default_str();
  cmd->add_option("--batch,-B", c.batch, "batch size")->capture_default_str();
  cmd->add_option("--input-size", c.input_size, "side of the input frames (0 = the network's default)")
      ->capture_default_str();
  cmd->add_option("--steps", c.iterations, steps_help)->capture_default_str();
  cmd->add_option("--warmup", c.warmup, warmup_help)->capture_default_str();
  cmd->add_option("--lif-backend", c.lif_backend, "fused or composed")->capture_default_str();
  cmd->add_option("--attention-backend", c.attention_backend, "fused or composed")->capture_default_str();
  cmd->add_option("--norm-backend", c.norm_backend, "fused (BN + pooling as one op) or composed")
      ->capture_default_str();
  cmd->add_option("--scale-lif", c.scale_lif, "fused (the attention's last pass and the LIF as one op) or apart")
      ->capture_default_str();
  cmd->add_option("--linear-backend", c.linear_backend, "onednn (1x1 convolution) or blas (torch::linear)")
      ->capture_default_str();
  cmd->add_option("--synapses", c.synapses,
                  "convolutions and linear layers on spikes: dense (oneDNN), sparse (event-driven: forward and "
                  "gradients per spike) or auto (by density)")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "seed of the weights, input and labels")->capture_default_str();
  cmd->add_option("--from", c.from,
                  "a checkpoint: its network, weights and the first batch of its dataset's training split "
                  "(--model, --attention, --placement, --T, --input-size are then the checkpoint's)");
  cmd->add_option("--data", c.data_root, "with --from: the dataset's folder (default: the checkpoint's data.root)");
  cmd->add_option("--device", c.device, "cpu or cuda (the fused LIF on CUDA needs -DMASNN_CUDA=ON)")
      ->capture_default_str();
}

}  // namespace masnn::cli
