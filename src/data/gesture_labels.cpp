// DVS128 Gesture labels CSV and trial lists (no tensors here).
#include "masnn/data/gesture_labels.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn::data {
namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

}  // namespace

const std::vector<std::string>& gesture_class_names() {
  static const std::vector<std::string> names = {"hand_clap",
                                                 "right_hand_wave",
                                                 "left_hand_wave",
                                                 "right_arm_clockwise",
                                                 "right_arm_counter_clockwise",
                                                 "left_arm_clockwise",
                                                 "left_arm_counter_clockwise",
                                                 "arm_roll",
                                                 "air_drums",
                                                 "air_guitar",
                                                 "other"};
  return names;
}

std::vector<GestureSegment> read_gesture_labels(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open labels CSV");
  std::string line;
  size_t number = 0;
  std::vector<GestureSegment> segments;
  bool header = false;
  while (std::getline(in, line)) {
    ++number;
    line = trim(line);
    if (line.empty()) continue;
    if (!header) {
      if (line.rfind("class", 0) != 0)
        throw std::runtime_error(path + ": line " + std::to_string(number) +
                                 ": expected the header 'class,startTime_usec,endTime_usec'");
      header = true;
      continue;
    }
    int64_t v[3];
    const char* cur = line.data();
    const char* end = line.data() + line.size();
    for (int k = 0; k < 3; ++k) {
      while (cur < end && (*cur == ' ' || *cur == '\t')) ++cur;
      auto [next, ec] = std::from_chars(cur, end, v[k]);
      if (ec != std::errc() || next == cur)
        throw std::runtime_error(path + ": line " + std::to_string(number) + ": expected 'class,start,end' integers");
      cur = next;
      while (cur < end && (*cur == ' ' || *cur == '\t')) ++cur;
      if (k < 2) {
        if (cur >= end || *cur != ',')
          throw std::runtime_error(path + ": line " + std::to_string(number) + ": expected 'class,start,end' integers");
        ++cur;
      }
    }
    if (cur != end)
      throw std::runtime_error(path + ": line " + std::to_string(number) + ": unexpected text after 'class,start,end'");
    if (v[0] < 1 || v[0] > kGestureClasses)
      throw std::runtime_error(path + ": line " + std::to_string(number) + ": class " + std::to_string(v[0]) +
                               " outside 1.." + std::to_string(kGestureClasses));
    if (v[2] <= v[1])
      throw std::runtime_error(path + ": line " + std::to_string(number) + ": end time is not after start time");
    segments.push_back({static_cast<int>(v[0] - 1), v[1], v[2]});
  }
  if (!header) throw std::runtime_error(path + ": empty labels CSV (expected 'class,startTime_usec,endTime_usec')");
  return segments;
}

void write_gesture_labels(const std::string& path, const std::vector<GestureSegment>& segments) {
  std::string text = "class,startTime_usec,endTime_usec\n";
  for (const auto& s : segments)
    text += std::to_string(s.label + 1) + "," + std::to_string(s.start_us) + "," + std::to_string(s.end_us) + "\n";
  write_file_atomic(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::vector<std::string> read_trials_list(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open trials list");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::string gesture_labels_path(const std::string& recording_path) {
  std::filesystem::path p(recording_path);
  return (p.parent_path() / (p.stem().string() + "_labels.csv")).string();
}

int gesture_user_of(const std::string& recording_path) {
  const std::string name = std::filesystem::path(recording_path).filename().string();
  if (name.rfind("user", 0) != 0) return -1;
  int user = 0;
  auto [next, ec] = std::from_chars(name.data() + 4, name.data() + name.size(), user);
  if (ec != std::errc() || next == name.data() + 4) return -1;
  return user;
}

}  // namespace masnn::data
