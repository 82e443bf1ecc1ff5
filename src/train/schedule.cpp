#include "masnn/train/schedule.h"

#include <cmath>

namespace masnn::train {

LRSchedule::LRSchedule(ScheduleSettings settings) : s_(std::move(settings)) {
  state_.lr = lr_for_epoch(0);
}

double LRSchedule::lr_for_epoch(int64_t epoch) const {
  if (s_.kind == "plateau") return state_.lr > 0 ? state_.lr : s_.base_lr;
  if (s_.kind == "step") return s_.base_lr * std::pow(s_.step_gamma, static_cast<double>(epoch / s_.step_size));
  if (s_.kind == "cosine") {
    if (epoch < s_.warmup_epochs) return s_.base_lr * static_cast<double>(epoch + 1) / (s_.warmup_epochs + 1);
    const double span = static_cast<double>(std::max<int64_t>(1, s_.epochs - s_.warmup_epochs));
    const double progress = static_cast<double>(epoch - s_.warmup_epochs) / span;
    return 0.5 * s_.base_lr * (1.0 + std::cos(M_PI * progress));
  }
  return s_.base_lr;
}

double LRSchedule::end_epoch(int64_t epoch, double train_loss) {
  if (s_.kind == "plateau") {
    if (!state_.has_best || train_loss < state_.best * (1.0 - s_.plateau_threshold)) {
      state_.best = train_loss;
      state_.has_best = true;
      state_.bad_epochs = 0;
    } else if (++state_.bad_epochs > s_.plateau_patience) {
      state_.lr *= s_.plateau_factor;
      state_.bad_epochs = 0;
    }
    return state_.lr;
  }
  state_.lr = lr_for_epoch(epoch + 1);
  return state_.lr;
}

}  // namespace masnn::train
