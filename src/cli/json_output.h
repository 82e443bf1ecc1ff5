// The --json output of a command: its folder is checked when the command starts (before minutes of measuring),
// and the file is written atomically at the end, so a report is either whole or not there.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "masnn/util/file_io.h"

namespace masnn::cli {

class JsonOutput {
 public:
  /// `what` names the command in messages. An empty path means no output. Throws std::runtime_error when the
  /// file's folder is missing or not writable.
  JsonOutput(std::string path, std::string what) : path_(std::move(path)), what_(std::move(what)) {
    if (path_.empty()) return;
    std::filesystem::path folder = std::filesystem::path(path_).parent_path();
    if (folder.empty()) folder = ".";
    if (!std::filesystem::is_directory(folder) || ::access(folder.c_str(), W_OK) != 0)
      throw std::runtime_error(what_ + ": cannot write --json file '" + path_ + "' (its folder " + folder.string() +
                               " is missing or not writable)");
  }

  bool enabled() const { return !path_.empty(); }

  /// Writes j (indented, one trailing newline) when a path was given.
  void write(const nlohmann::json& j) const {
    if (path_.empty()) return;
    const std::string text = j.dump(2) + "\n";
    write_file_atomic(path_, std::vector<uint8_t>(text.begin(), text.end()));
  }

 private:
  std::string path_, what_;
};

}  // namespace masnn::cli
