// Step-at-a-time inference inside the blocks (private to src/models): the causal attention over each row's window
// and the count of steps per row, kept in a BlockStepState (masnn/models/spiking_blocks.h).
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "masnn/attention/multi_attention.h"
#include "masnn/models/spiking_blocks.h"

namespace masnn {

/// Keeps the attention input y [B,...] of this step and its statistics in the rings of `st` (of `capacity` steps,
/// the block's T) and returns the attended step: MultiDimAttentionImpl::forward_causal over each row's window.
torch::Tensor attend_causal(MultiDimAttentionImpl& attention, BlockStepState& st, const torch::Tensor& y,
                            int64_t capacity);

/// Counts the step in every row's window; a state made for another batch size is an error naming `what`.
void begin_step(BlockStepState& st, int64_t batch, const char* what);

}  // namespace masnn
