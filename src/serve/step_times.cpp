// Step-time statistics in bounded memory.
#include "masnn/serve/step_times.h"

#include <algorithm>
#include <cmath>

namespace masnn::serve {
namespace {

constexpr double kLowestMs = 1e-3;  // 1 us: bin 0
constexpr double kRatio = 1.01;     // each bin 1% above the previous
const double kLogRatio = std::log(kRatio);
constexpr size_t kBins = 2100;      // up to 1e-3 * 1.01^2100 ms, beyond 1000 s

}  // namespace

StepTimes::StepTimes(size_t recent) : bins_(kBins, 0), recent_(std::max<size_t>(recent, 1), 0.0) {}

size_t StepTimes::bin_of(double ms) {
  if (!(ms > kLowestMs)) return 0;
  return std::min(kBins - 1, static_cast<size_t>(std::log(ms / kLowestMs) / kLogRatio));
}

double StepTimes::bin_value(size_t bin) {
  return kLowestMs * std::exp((static_cast<double>(bin) + 0.5) * kLogRatio);  // the bin's geometric middle
}

void StepTimes::add(double ms) {
  if (!(ms >= 0) || !std::isfinite(ms)) ms = 0;
  ++bins_[bin_of(ms)];
  min_ = count_ == 0 ? ms : std::min(min_, ms);
  max_ = std::max(max_, ms);
  sum_ += ms;
  ++count_;
  recent_[next_] = ms;
  next_ = (next_ + 1) % recent_.size();
}

double StepTimes::last_ms() const {
  return count_ == 0 ? 0 : recent_[(next_ + recent_.size() - 1) % recent_.size()];
}

double StepTimes::percentile_ms(double q) const {
  if (count_ == 0) return 0;
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_)));
  uint64_t seen = 0;
  for (size_t b = 0; b < bins_.size(); ++b) {
    seen += bins_[b];
    if (seen >= rank) return std::clamp(bin_value(b), min_, max_);
  }
  return max_;
}

double StepTimes::recent_mean_ms(size_t n) const {
  n = std::min({n, count_, recent_.size()});
  if (n == 0) return 0;
  double s = 0;
  for (size_t k = 1; k <= n; ++k) s += recent_[(next_ + recent_.size() - k) % recent_.size()];
  return s / static_cast<double>(n);
}

}  // namespace masnn::serve
