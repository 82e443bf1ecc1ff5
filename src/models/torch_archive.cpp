// Tensor files: checked (torch_zip.cpp) before LibTorch's unpickler reads them.
#include "masnn/models/torch_archive.h"

#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn {

torch::Tensor read_tensor_file(const std::string& path) {
  const std::vector<uint8_t> raw = read_file_bytes(path);
  check_torch_archive(path, raw);
  c10::IValue v;
  try {
    v = torch::pickle_load(std::vector<char>(raw.begin(), raw.end()));
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": not a tensor file written by torch.save (" + e.what_without_backtrace() + ")");
  }
  if (!v.isTensor()) throw std::runtime_error(path + ": expected one tensor saved with torch.save");
  return v.toTensor();
}

void write_tensor_file(const std::string& path, const torch::Tensor& t) {
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(t.detach().to(torch::kCPU).contiguous()));
  write_file_atomic(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

void load_archive_bytes(torch::serialize::InputArchive& archive, const std::vector<uint8_t>& bytes) {
  archive.load_from(
      [&bytes](uint64_t pos, void* buf, size_t n) -> size_t {
        if (pos >= bytes.size()) return 0;
        n = std::min<size_t>(n, bytes.size() - pos);
        std::memcpy(buf, bytes.data() + pos, n);
        return n;
      },
      [&bytes] { return bytes.size(); }, torch::kCPU);
}

}  // namespace masnn
