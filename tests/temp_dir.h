// A fresh folder under the system temp folder, removed with its contents when the object goes out of scope.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace masnn::testing {

struct TempDir {
  std::filesystem::path path;

  /// `tag` names the test file; the folder is unique per process and, inside a test, per test.
  explicit TempDir(const std::string& tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = std::filesystem::temp_directory_path() /
           ("masnn_" + tag + "_" + (info ? info->name() : "shared") + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// The path of `name` inside the folder.
  std::string file(const std::string& name) const { return (path / name).string(); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace masnn::testing
