// Torch zip archives: their records, and the checks run before LibTorch reads one. Needs no LibTorch library (only
// its ScalarType header), so the fuzz targets build it alone.
#include <stdexcept>

#include "masnn/models/torch_archive.h"
#include "pickle.h"
#include "torch_zip.h"

namespace masnn {

TorchZip::TorchZip(std::string path, const std::vector<uint8_t>& bytes) : path_(std::move(path)), bytes_(bytes) {
  std::string folder;
  for (ZipEntry& e : read_zip_entries(path_, bytes.data(), bytes.size())) {
    const size_t slash = e.name.find('/');
    if (slash == std::string::npos || slash == 0)
      throw std::runtime_error(path_ + ": zip entry '" + e.name +
                               "' is outside the archive's folder (not a file of torch.save)");
    if (folder.empty()) folder = e.name.substr(0, slash + 1);
    if (e.name.compare(0, folder.size(), folder) != 0)
      throw std::runtime_error(path_ + ": zip entry '" + e.name + "' is outside the archive's folder '" + folder +
                               "' (not a file of torch.save)");
    std::string record = e.name.substr(folder.size());
    if (!records_.emplace(record, std::move(e)).second)
      throw std::runtime_error(path_ + ": zip entry '" + folder + record + "' appears twice");
  }
}

const ZipEntry& TorchZip::find(const std::string& record) const {
  auto it = records_.find(record);
  if (it == records_.end()) throw std::runtime_error(path_ + ": record '" + record + "' is missing");
  return it->second;
}

std::vector<uint8_t> TorchZip::read(const std::string& record) const {
  return zip_entry_bytes(path_, bytes_.data(), find(record));
}

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void check_torch_archive(const std::string& path, const std::vector<uint8_t>& bytes) {
  const TorchZip zip(path, bytes);
  for (const auto& [record, entry] : zip.records()) {
    const bool data = ends_with(record, ".pkl");
    if (!data && !ends_with(record, ".debug_pkl")) continue;
    const std::string where = path + " (" + record + ")";
    // The storages of "data.pkl" are the records "data/<key>"; those of "constants.pkl", "constants/<key>".
    const std::string folder = data ? record.substr(0, record.size() - 4) + "/" : std::string();
    const std::vector<uint8_t> pickle_bytes = zip.read(record);
    pickle::Arena arena;
    pickle::Unpickler unpickler(where, reinterpret_cast<const char*>(pickle_bytes.data()), pickle_bytes.size(), arena,
                                [&](pickle::Node* pid) {
                                  pickle::Node* s = pickle::storage_from_pid(where, pid, arena);
                                  const std::string storage = folder + s->text;
                                  if (!zip.has(storage))
                                    throw std::runtime_error(where + ": storage record '" + storage + "' is missing");
                                  const uint64_t element = c10::elementSize(s->dtype), stored = zip.size(storage);
                                  if (static_cast<uint64_t>(s->numel) != stored / element || stored % element != 0)
                                    throw std::runtime_error(where + ": storage '" + storage + "' declares " +
                                                             std::to_string(s->numel) + " elements of " +
                                                             c10::toString(s->dtype) + ", its record holds " +
                                                             std::to_string(stored) + " bytes");
                                  return s;
                                });
    unpickler.run();
  }
}

}  // namespace masnn
