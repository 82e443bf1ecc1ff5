// The records of a torch zip archive (torch.save, torch::save, torch::pickle_save): every entry lives in one
// folder named after the archive ("archive/data.pkl", "model/data/0"); records are named without it, as LibTorch's
// PyTorchStreamReader names them. Entries are checked (src/util/zip_archive.h) when the archive is opened.
// Internal to the models layer.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "util/zip_archive.h"

namespace masnn {

class TorchZip {
 public:
  /// Throws naming `path` when `bytes` is not a sound zip archive with its entries in one folder.
  TorchZip(std::string path, const std::vector<uint8_t>& bytes);

  bool has(const std::string& record) const { return records_.count(record) != 0; }
  /// The size of a record; throws naming the file when it is missing.
  uint64_t size(const std::string& record) const { return find(record).size; }
  /// The bytes of a record (inflated); throws naming the file when it is missing.
  std::vector<uint8_t> read(const std::string& record) const;
  const std::map<std::string, ZipEntry>& records() const { return records_; }
  const std::string& path() const { return path_; }

 private:
  const ZipEntry& find(const std::string& record) const;

  std::string path_;
  const std::vector<uint8_t>& bytes_;
  std::map<std::string, ZipEntry> records_;
};

}  // namespace masnn
