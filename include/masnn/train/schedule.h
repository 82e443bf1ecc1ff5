// Learning-rate schedules, stepped once per epoch: ReduceLROnPlateau on the train loss (the reference's DVS
// networks), cosine annealing to 0 (the reference's ImageNet recipe), step decay, constant. Cosine, step and
// constant can start with a linear warm-up of warmup_epochs epochs (lr base * (e + 1) / (warmup + 1)), after which
// the schedule runs over the remaining epochs. The state is plain numbers so checkpoints can keep it.
#pragma once

#include <cstdint>
#include <string>

namespace masnn::train {

/// The learning-rate schedule (train.scheduler): plateau, cosine, step, none.
enum class ScheduleKind { Plateau, Cosine, Step, None };
std::string to_string(ScheduleKind kind);

struct ScheduleSettings {
  ScheduleKind kind = ScheduleKind::Plateau;
  double base_lr = 1e-4;
  int64_t epochs = 300;
  double plateau_factor = 0.1;
  int64_t plateau_patience = 5;
  double plateau_threshold = 1e-4;  ///< relative improvement that counts (PyTorch's default, mode 'rel')
  int64_t step_size = 30;
  double step_gamma = 0.1;
  int64_t warmup_epochs = 0;  ///< linear warm-up epochs before cosine, step or none (not plateau)
};

/// What a schedule remembers between epochs.
struct ScheduleState {
  double lr = 0;
  double best = 0;  ///< plateau: best metric so far
  bool has_best = false;
  int64_t bad_epochs = 0;  ///< plateau: epochs without improvement
};

class LRSchedule {
 public:
  /// Throws std::invalid_argument for a warm-up it cannot have.
  explicit LRSchedule(ScheduleSettings settings);
  /// The learning rate for epoch `epoch` (0-based), before it runs.
  double lr_for_epoch(int64_t epoch) const;
  /// Called after epoch `epoch` with its train loss (plateau uses it); returns the next epoch's lr.
  double end_epoch(int64_t epoch, double train_loss);
  const ScheduleState& state() const { return state_; }
  void set_state(const ScheduleState& s) { state_ = s; }

 private:
  ScheduleSettings s_;
  ScheduleState state_;
};

}  // namespace masnn::train
