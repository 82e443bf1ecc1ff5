// DVS128 Gesture (REFERENCE.md 4.1): `DvsGesture/userNN_<lighting>.aedat` (AEDAT 3.1) with
// `userNN_<lighting>_labels.csv`; one sample per labelled segment, cut at its start/end (end exclusive);
// labels 0-based in memory. Split: the trial lists `trials_to_train.txt` / `trials_to_test.txt` when both
// are present, otherwise users 1-23 train and 24-29 test.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "masnn/data/event_dataset.h"
#include "masnn/data/gesture_labels.h"

namespace masnn::data {

/// Settings of the Gesture dataset.
struct GestureOptions {
  /// The folder holding the recordings, or its parent (then `<root>/DvsGesture` is used).
  std::string root;
  Split split = Split::Train;
  /// Use the trial lists when present (otherwise, or when false, split by user number).
  bool use_trial_lists = true;
  /// Users in the train split when splitting by user: 1..last_train_user; the rest are test users.
  int last_train_user = 23;
};

/// The DVS128 Gesture dataset. The constructor finds the recordings of the split and reads every labels
/// CSV; a missing folder, no recordings, a missing or malformed labels CSV, or a recording named in a trial
/// list but absent throws with a message naming the path (and line).
class GestureDataset : public EventDataset {
 public:
  explicit GestureDataset(GestureOptions options);
  size_t size() const override { return samples_.size(); }
  int label(size_t i) const override { return samples_.at(i).segment.label; }
  /// Events of the segment. A segment that lies outside its recording's events throws (labels CSV and
  /// recording do not match).
  Events events(size_t i) const override;
  int num_classes() const override { return kGestureClasses; }
  int width() const override { return 128; }
  int height() const override { return 128; }
  std::string name() const override;
  std::string describe(size_t i) const override;
  std::vector<SourceFile> source_files() const override;
  /// The recordings of the split (AEDAT paths), sorted.
  const std::vector<std::string>& recordings() const { return recordings_; }

 private:
  struct Sample {
    size_t recording;
    size_t line;  // index of the segment in its CSV
    GestureSegment segment;
  };
  std::shared_ptr<const Events> load_recording(size_t r) const;

  GestureOptions options_;
  std::string folder_;
  std::vector<std::string> recordings_;
  std::vector<Sample> samples_;
  // The last recording parsed, so that reading the samples in order parses each file once.
  mutable std::mutex mutex_;
  mutable size_t cached_index_ = SIZE_MAX;
  mutable std::shared_ptr<const Events> cached_;
};

}  // namespace masnn::data
