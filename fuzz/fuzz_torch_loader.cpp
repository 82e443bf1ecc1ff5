// libFuzzer target: LibTorch's own loader behind masnn's checks. The input replaces one pickle of a real checkpoint
// (tests/fixtures/checkpoints/checkpoint_1.13.pt; the first byte picks which), and the archive is written again by
// LibTorch's writer, so its CRC-32s are right and a mutation gets past the zip checks to masnn's pickle and storage
// checks; what passes them goes to torch::serialize::InputArchive exactly as a checkpoint's bytes do, and every
// tensor, value and sub-archive it holds is read. LibTorch must give values or an exception, never a crash, a hang
// or an allocation of what the bytes declare. LibTorch is not instrumented: coverage guides the fuzzer through
// masnn's code, and a crash or a sanitizer report from anywhere is a finding.
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "masnn/models/torch_archive.h"
#include "masnn/util/file_io.h"
#include "util/zip_archive.h"

namespace {

struct Template {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> records;  // names without the archive's folder
  std::vector<size_t> pickles;                                        // indices of the *.pkl records
};

const Template& template_checkpoint() {
  static const Template t = [] {
    Template t;
    const std::string path = MASNN_FUZZ_TEMPLATE;
    const std::vector<uint8_t> bytes = masnn::read_file_bytes(path);
    for (const auto& entry : masnn::read_zip_entries(path, bytes.data(), bytes.size())) {
      const std::string name = entry.name.substr(entry.name.find('/') + 1);
      // The writer adds its own bookkeeping records.
      if (name == "version" || name == ".data/version" || name == ".data/serialization_id" || name == "byteorder")
        continue;
      t.records.emplace_back(name, masnn::zip_entry_bytes(path, bytes.data(), entry));
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".pkl") == 0) t.pickles.push_back(t.records.size() - 1);
    }
    if (t.pickles.empty()) throw std::runtime_error(path + ": no pickle to replace");
    return t;
  }();
  return t;
}

std::vector<uint8_t> archive_with(size_t replaced, const uint8_t* data, size_t size) {
  std::vector<uint8_t> out;
  caffe2::serialize::PyTorchStreamWriter writer([&out](const void* p, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return n;
  });
  const auto& records = template_checkpoint().records;
  for (size_t i = 0; i < records.size(); ++i) {
    if (i == replaced)
      writer.writeRecord(records[i].first, data, size);
    else
      writer.writeRecord(records[i].first, records[i].second.data(), records[i].second.size());
  }
  writer.writeEndOfFile();
  return out;
}

void read_everything(torch::serialize::InputArchive& archive, int depth) {
  if (depth > 16) return;
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    if (archive.try_read(key, tensor)) {
      (void)tensor.sum().item<double>();  // touch every element
      continue;
    }
    torch::serialize::InputArchive sub;
    if (archive.try_read(key, sub)) {
      read_everything(sub, depth + 1);
      continue;
    }
    c10::IValue value;
    (void)archive.try_read(key, value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& pickles = template_checkpoint().pickles;
  const std::vector<uint8_t> bytes = archive_with(pickles[data[0] % pickles.size()], data + 1, size - 1);
  try {
    masnn::check_torch_archive("fuzz input", bytes);
  } catch (const std::runtime_error&) {
    return 0;  // refused before LibTorch sees it
  }
  try {
    torch::serialize::InputArchive archive;
    masnn::load_archive_bytes(archive, bytes);
    read_everything(archive, 0);
  } catch (const std::exception&) {  // c10::Error included: a clear error is a pass
  }
  return 0;
}
