// Files of torch.save and LibTorch (checkpoints, tensor files) checked by masnn's own code before LibTorch parses
// them: LibTorch's reader checks no CRC, maps whatever size a pickle declares and destroys nested values
// recursively, so a damaged or hostile file could change weights silently, exhaust memory or crash the process.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace torch::serialize {
class InputArchive;
}

namespace masnn {

/// Checks a zip archive of torch.save, torch::save or torch::pickle_save: the zip structure and every entry's
/// CRC-32; every pickle in it (at most pickle::kMaxValues values, nested at most pickle::kMaxDepth deep); every
/// storage a pickle names is a record of the size it declares. Throws std::runtime_error naming `path` and what
/// is wrong.
void check_torch_archive(const std::string& path, const std::vector<uint8_t>& bytes);

/// Hands `bytes` (checked first by check_torch_archive) to LibTorch's reader, through a read function that never
/// reads past them, with every tensor on the CPU. LibTorch's errors propagate as c10::Error.
void load_archive_bytes(torch::serialize::InputArchive& archive, const std::vector<uint8_t>& bytes);

/// The one tensor in a file of torch.save / torch::pickle_save (zip format), checked first. Throws naming the file.
torch::Tensor read_tensor_file(const std::string& path);

/// Writes `t` (made contiguous, on the CPU) as torch::pickle_save does, which torch.load reads; atomically.
void write_tensor_file(const std::string& path, const torch::Tensor& t);

}  // namespace masnn
