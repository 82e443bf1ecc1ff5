// Reading and writing PyTorch state dicts (files of Python's `torch.save(model.state_dict(), path)`).
//
// LibTorch 1.13's torch::pickle_load cannot read these files: its unpickler turns the OrderedDict of a
// state dict into None. This reader has its own small pickle interpreter (the subset torch.save emits,
// protocols 2 to 5) and reads both container formats of torch.save: the zip archive (the default since
// PyTorch 1.6) and the legacy stream (`_use_new_zipfile_serialization=False`, which the reference
// MA-SNN training code uses for its checkpoints). Tensors come back on the CPU, contiguous.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>

namespace masnn {

/// Reads the tensors of a file written by Python's torch.save.
///
/// The file may hold a state dict (a dict of name -> tensor), or a checkpoint dict that wraps one under
/// "state_dict", "model_state_dict", "model", "net" or "state" (other entries, such as an epoch or an
/// accuracy, are ignored). When every name starts with "module." (DataParallel / DistributedDataParallel)
/// that prefix is removed. Throws std::runtime_error naming the file and what was expected when the file
/// is missing, truncated, not a torch.save file, or holds no state dict.
std::map<std::string, torch::Tensor> read_pytorch_state_dict(const std::string& path);

/// Writes `state` as a dict of name -> tensor that Python's torch.load reads back (zip format, via
/// torch::pickle_save). Written to a temporary file in the same directory and renamed over `path`,
/// so an interrupted write never leaves a broken file. Throws std::runtime_error naming the file.
void write_pytorch_state_dict(const std::map<std::string, torch::Tensor>& state, const std::string& path);

}  // namespace masnn
