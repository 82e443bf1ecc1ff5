// DVS128 Gesture metadata (REFERENCE.md 4.1): class names, the per-recording labels CSV
// (`userNN_<lighting>_labels.csv`, header `class,startTime_usec,endTime_usec`, classes 1..11) and the trial
// lists (`trials_to_train.txt`, `trials_to_test.txt`, one recording file name per line).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace masnn::data {

/// Number of DVS128 Gesture classes.
constexpr int kGestureClasses = 11;

/// The 11 class names, index = 0-based label (the CSV's class minus 1).
const std::vector<std::string>& gesture_class_names();

/// One labelled segment of a recording. `label` is 0-based (the CSV holds label + 1).
struct GestureSegment {
  int label = 0;         ///< 0..10
  int64_t start_us = 0;  ///< startTime_usec
  int64_t end_us = 0;    ///< endTime_usec (exclusive)
};

/// Reads a labels CSV. Throws std::runtime_error naming the file and line for a missing header, a line that
/// is not three integers, a class outside 1..11 or an end not after its start.
std::vector<GestureSegment> read_gesture_labels(const std::string& path);

/// Writes a labels CSV (classes written 1-based), atomically.
void write_gesture_labels(const std::string& path, const std::vector<GestureSegment>& segments);

/// Reads a trials list: non-empty lines, whitespace trimmed (a missing file is an error).
std::vector<std::string> read_trials_list(const std::string& path);

/// The labels CSV beside a recording: `dir/userNN_x.aedat` -> `dir/userNN_x_labels.csv`.
std::string gesture_labels_path(const std::string& recording_path);

/// The user number of a recording named `userNN_...` (its file name), or -1 when the name has no such prefix.
int gesture_user_of(const std::string& recording_path);

}  // namespace masnn::data
