#include "masnn/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace masnn::train {

std::string to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Plateau: return "plateau";
    case ScheduleKind::Cosine: return "cosine";
    case ScheduleKind::Step: return "step";
    case ScheduleKind::None: return "none";
  }
  return "?";
}

LRSchedule::LRSchedule(ScheduleSettings settings) : s_(std::move(settings)) {
  if (s_.warmup_epochs < 0) throw std::invalid_argument("schedule: warmup_epochs must be >= 0");
  if (s_.warmup_epochs > 0 && s_.kind == ScheduleKind::Plateau)
    throw std::invalid_argument("schedule: warm-up applies to the cosine, step and none schedules, not plateau");
  if (s_.kind == ScheduleKind::Step && s_.step_size < 1)
    throw std::invalid_argument("schedule: step_size must be >= 1");
  state_.lr = lr_for_epoch(0);
}

double LRSchedule::lr_for_epoch(int64_t epoch) const {
  if (s_.kind == ScheduleKind::Plateau) return state_.lr > 0 ? state_.lr : s_.base_lr;
  // Linear warm-up, one value per epoch: base_lr * (e + 1) / (warmup + 1), so that no epoch runs at lr 0 and the
  // ramp leads up to base_lr, where the schedule proper starts (timm's warmup_prefix).
  if (epoch < s_.warmup_epochs)
    return s_.base_lr * static_cast<double>(epoch + 1) / static_cast<double>(s_.warmup_epochs + 1);
  const int64_t e = epoch - s_.warmup_epochs;
  if (s_.kind == ScheduleKind::Step) return s_.base_lr * std::pow(s_.step_gamma, static_cast<double>(e / s_.step_size));
  if (s_.kind == ScheduleKind::Cosine) {
    // CosineAnnealingLR (eta_min 0) over the epochs after the warm-up, stepped per epoch as the reference does.
    const double span = static_cast<double>(std::max<int64_t>(1, s_.epochs - s_.warmup_epochs));
    return 0.5 * s_.base_lr * (1.0 + std::cos(M_PI * static_cast<double>(e) / span));
  }
  return s_.base_lr;
}

double LRSchedule::end_epoch(int64_t epoch, double train_loss) {
  if (s_.kind == ScheduleKind::Plateau) {
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
