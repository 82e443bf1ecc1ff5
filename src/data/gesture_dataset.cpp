// DVS128 Gesture dataset and the shared dataset helpers (no tensors here).
#include "masnn/data/gesture_dataset.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "masnn/data/event_file.h"

namespace masnn::data {

namespace fs = std::filesystem;

std::string split_name(Split split) {
  return split == Split::Train ? "train" : "test";
}

SourceFile stat_source(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error(path + ": source file not found");
  SourceFile f;
  f.path = path;
  f.size = static_cast<uint64_t>(st.st_size);
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return f;
}

GestureDataset::GestureDataset(GestureOptions options) : options_(std::move(options)) {
  if (options_.root.empty()) throw std::invalid_argument("gesture dataset: root folder not set");
  fs::path folder(options_.root);
  if (fs::is_directory(folder / "DvsGesture")) folder /= "DvsGesture";
  if (!fs::is_directory(folder))
    throw std::runtime_error(options_.root +
                             ": DVS128 Gesture folder not found (expected DvsGesture/ with userNN_*.aedat)");
  folder_ = folder.string();
  const fs::path train_list = folder / "trials_to_train.txt", test_list = folder / "trials_to_test.txt";
  if (options_.use_trial_lists && fs::exists(train_list) && fs::exists(test_list)) {
    const auto names = read_trials_list((options_.split == Split::Train ? train_list : test_list).string());
    for (const auto& name : names) {
      const fs::path p = folder / name;
      if (!fs::is_regular_file(p))
        throw std::runtime_error((options_.split == Split::Train ? train_list : test_list).string() + ": lists " +
                                 name + ", which is not in " + folder_);
      recordings_.push_back(p.string());
    }
  } else {
    for (const auto& entry : fs::directory_iterator(folder)) {
      // The dataset's AEDAT 3.1 files, or recordings converted to AEDAT 4 (read by content either way).
      const auto ext = entry.path().extension();
      if (!entry.is_regular_file() || (ext != ".aedat" && ext != ".aedat4")) continue;
      const int user = gesture_user_of(entry.path().string());
      if (user < 1) continue;
      if ((user <= options_.last_train_user) == (options_.split == Split::Train))
        recordings_.push_back(entry.path().string());
    }
  }
  std::sort(recordings_.begin(), recordings_.end());
  recordings_.erase(std::unique(recordings_.begin(), recordings_.end()), recordings_.end());
  if (recordings_.empty())
    throw std::runtime_error(folder_ + ": no " + split_name(options_.split) +
                             " recordings (userNN_<lighting>.aedat) found");
  for (size_t r = 0; r < recordings_.size(); ++r) {
    const std::string csv = gesture_labels_path(recordings_[r]);
    if (!fs::exists(csv)) throw std::runtime_error(csv + ": labels CSV missing for " + recordings_[r]);
    const auto segments = read_gesture_labels(csv);
    if (segments.empty()) throw std::runtime_error(csv + ": no labelled segments");
    for (size_t k = 0; k < segments.size(); ++k) samples_.push_back({r, k, segments[k]});
  }
}

std::shared_ptr<const Events> GestureDataset::load_recording(size_t r) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_index_ == r) return cached_;
  }
  EventReadOptions read;
  read.width = 128;
  read.height = 128;
  auto events = std::make_shared<const Events>(read_events(recordings_[r], read));
  std::lock_guard<std::mutex> lock(mutex_);
  cached_index_ = r;
  cached_ = events;
  return events;
}

Events GestureDataset::events(size_t i) const {
  const Sample& s = samples_.at(i);
  const auto rec = load_recording(s.recording);
  if (rec->empty() || s.segment.start_us > rec->t.back() || s.segment.end_us <= rec->t.front())
    throw std::runtime_error(
        gesture_labels_path(recordings_[s.recording]) + ": line " + std::to_string(s.line + 2) + ": segment [" +
        std::to_string(s.segment.start_us) + ", " + std::to_string(s.segment.end_us) +
        ") lies outside the recording's events" +
        (rec->empty() ? std::string(" (none)")
                      : " [" + std::to_string(rec->t.front()) + ", " + std::to_string(rec->t.back()) + "]"));
  return rec->slice(rec->lower_bound(s.segment.start_us), rec->lower_bound(s.segment.end_us));
}

std::string GestureDataset::name() const {
  return "dvs128-gesture/" + split_name(options_.split);
}

std::string GestureDataset::describe(size_t i) const {
  const Sample& s = samples_.at(i);
  return recordings_[s.recording] + " segment " + std::to_string(s.line + 1) + " (class " +
         std::to_string(s.segment.label + 1) + ", " + std::to_string(s.segment.start_us) + "-" +
         std::to_string(s.segment.end_us) + " us)";
}

std::vector<SourceFile> GestureDataset::source_files() const {
  std::vector<SourceFile> files;
  for (const auto& r : recordings_) {
    files.push_back(stat_source(r));
    files.push_back(stat_source(gesture_labels_path(r)));
  }
  return files;
}

}  // namespace masnn::data
