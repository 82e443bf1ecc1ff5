// The compute times of a stream's steps in bounded memory, however long the stream runs (a stream of a week at 1 ms
// per step is 600 million steps): count, mean and maximum exactly, percentiles from a histogram of logarithmic bins
// 1% apart (from 1 us to 1000 s), and the most recent steps for a window's mean.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace masnn::serve {

class StepTimes {
 public:
  /// Keeps the last `recent` times (at least 1) for recent_mean_ms.
  explicit StepTimes(size_t recent = 1);

  /// Records one step's time in milliseconds (negative or non-finite values count as 0).
  void add(double ms);

  size_t count() const { return count_; }
  /// Mean, maximum and the last time recorded (0 when none).
  double mean_ms() const { return count_ == 0 ? 0 : sum_ / static_cast<double>(count_); }
  double max_ms() const { return max_; }
  double last_ms() const;
  /// The q-quantile (q in [0, 1]) within 1% of the exact value (0 when none).
  double percentile_ms(double q) const;
  /// Mean of the last min(n, recent) times.
  double recent_mean_ms(size_t n) const;

 private:
  static size_t bin_of(double ms);
  static double bin_value(size_t bin);

  std::vector<uint64_t> bins_;
  size_t count_ = 0;
  double sum_ = 0, max_ = 0, min_ = 0;
  std::vector<double> recent_;  // a ring of the last recent_.size() times
  size_t next_ = 0;
};

}  // namespace masnn::serve
