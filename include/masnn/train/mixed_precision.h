// Mixed-precision training, as torch.autocast + torch.cuda.amp.GradScaler do it in Python (the reference trains its
// ImageNet networks this way):
//
//   GradScaler scaler;                        // once per run (its state belongs in checkpoints)
//   ...
//   optimizer.zero_grad();
//   torch::Tensor loss;
//   {
//     AutocastGuard autocast(torch::kCUDA, use_amp);   // forward and loss in float16 where it is safe
//     loss = loss_fn(model(x), labels);
//   }
//   scaler.scale(loss).backward();            // scaled, so small float16 gradients do not underflow
//   scaler.unscale(optimizer);                // optional: before clipping gradients
//   clip_grad_norm_(...);
//   scaler.step(optimizer);                   // skipped when a gradient is inf/NaN
//   scaler.update();                          // back off after a skipped step, grow after a run of good ones
//
// Both compile with any LibTorch (CPU or CUDA build). On CPU, autocast uses bfloat16 (the only type LibTorch's CPU
// autocast supports), which is also how the tests exercise the guard.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <cstdint>

namespace masnn::train {

/// Autocast on a device type for the lifetime of the object (`with torch.autocast(device, dtype)`): inside,
/// eligible ops (convolutions, matmuls) run in the lower precision, precision-sensitive ones in float32. Restores
/// the previous autocast state on destruction and clears the cast cache when leaving the outermost guard.
class AutocastGuard {
 public:
  /// `device`: kCUDA (default dtype float16) or kCPU (default and only dtype bfloat16). enabled = false does
  /// nothing, so call sites need no branch. Throws std::invalid_argument for another device type or dtype.
  explicit AutocastGuard(c10::DeviceType device, bool enabled = true,
                         c10::optional<c10::ScalarType> dtype = c10::nullopt);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

  /// Whether autocast is on for the device type now.
  static bool is_enabled(c10::DeviceType device);

 private:
  c10::DeviceType device_;
  bool active_ = false;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Float;
};

/// Settings of the dynamic loss scaler (torch.cuda.amp.GradScaler's defaults).
struct GradScalerOptions {
  /// The first scale.
  TORCH_ARG(double, init_scale) = 65536.0;
  /// Multiplier after growth_interval steps in a row without inf/NaN gradients.
  TORCH_ARG(double, growth_factor) = 2.0;
  /// Multiplier after a step with inf/NaN gradients (that step is skipped).
  TORCH_ARG(double, backoff_factor) = 0.5;
  TORCH_ARG(int64_t, growth_interval) = 2000;
  /// false: scale() and unscale() do nothing and step() always steps (float32 training through the same code).
  TORCH_ARG(bool, enabled) = true;
};

/// Dynamic loss scaling. One scaler per optimizer; call scale / (unscale) / step / update once per step in order.
class GradScaler {
 public:
  /// Throws std::invalid_argument for bad settings.
  explicit GradScaler(GradScalerOptions options = {});

  /// loss * scale (the loss itself when disabled).
  torch::Tensor scale(const torch::Tensor& loss) const;
  /// Divides the optimizer's gradients by the scale and checks them; returns true when any is inf or NaN.
  /// At most once per step (throws std::logic_error on a second call before update()).
  bool unscale(torch::optim::Optimizer& optimizer);
  /// Unscales if not done yet, then runs optimizer.step() unless a gradient was inf/NaN. Returns whether it
  /// stepped.
  bool step(torch::optim::Optimizer& optimizer);
  /// Ends the step: after inf/NaN gradients scale *= backoff_factor; after growth_interval clean steps in a row
  /// scale *= growth_factor. Throws std::logic_error when no step() or unscale() came before it.
  void update();

  double get_scale() const { return scale_; }
  bool is_enabled() const { return options_.enabled(); }
  /// Whether the last step() skipped the optimizer (inf/NaN gradients).
  bool last_step_skipped() const { return last_skipped_; }

  /// What a checkpoint keeps.
  struct State {
    double scale = 65536.0;
    int64_t growth_tracker = 0;  ///< clean steps in a row since the last change
  };
  State state() const { return {scale_, growth_tracker_}; }
  /// Throws std::invalid_argument for a scale that is not positive and finite.
  void load_state(const State& state);

 private:
  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_ = false;   // unscale() ran in this step
  bool found_inf_ = false;  // ... and found inf/NaN
  bool last_skipped_ = false;
};

}  // namespace masnn::train
