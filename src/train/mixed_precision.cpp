// Autocast guard and dynamic loss scaler.
#include "masnn/train/mixed_precision.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <stdexcept>
#include <string>

// LibTorch 2.4 replaced the per-device autocast functions (deprecated since) with ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MASNN_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace masnn::train {
namespace {

void check_device(c10::DeviceType device) {
  if (device != c10::DeviceType::CUDA && device != c10::DeviceType::CPU)
    throw std::invalid_argument("autocast: device must be cuda or cpu");
}

bool autocast_enabled(c10::DeviceType device) {
#ifdef MASNN_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_autocast_enabled(c10::DeviceType device, bool enabled) {
#ifdef MASNN_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(device, enabled);
#else
  if (device == c10::DeviceType::CUDA)
    at::autocast::set_enabled(enabled);
  else
    at::autocast::set_cpu_enabled(enabled);
#endif
}

c10::ScalarType autocast_dtype(c10::DeviceType device) {
#ifdef MASNN_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                         : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast_dtype(c10::DeviceType device, c10::ScalarType dtype) {
#ifdef MASNN_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(device, dtype);
#else
  if (device == c10::DeviceType::CUDA)
    at::autocast::set_autocast_gpu_dtype(dtype);
  else
    at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

}  // namespace

AutocastGuard::AutocastGuard(c10::DeviceType device, bool enabled, c10::optional<c10::ScalarType> dtype)
    : device_(device) {
  check_device(device);
  if (!enabled) return;
  const bool cuda = device == c10::DeviceType::CUDA;
  const c10::ScalarType type = dtype ? *dtype : (cuda ? c10::ScalarType::Half : c10::ScalarType::BFloat16);
  if (cuda && type != c10::ScalarType::Half && type != c10::ScalarType::BFloat16)
    throw std::invalid_argument("autocast: CUDA autocast runs in float16 or bfloat16");
  if (!cuda && type != c10::ScalarType::BFloat16)
    throw std::invalid_argument("autocast: CPU autocast runs in bfloat16 only");
  previous_enabled_ = autocast_enabled(device);
  previous_dtype_ = autocast_dtype(device);
  set_autocast_enabled(device, true);
  set_autocast_dtype(device, type);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  // Leaving the outermost region frees the weights cast to the lower precision (as torch.autocast.__exit__).
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_, previous_enabled_);
  set_autocast_dtype(device_, previous_dtype_);
}

bool AutocastGuard::is_enabled(c10::DeviceType device) {
  check_device(device);
  return autocast_enabled(device);
}

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(options.init_scale()) {
  if (!(options_.init_scale() > 0) || !std::isfinite(options_.init_scale()))
    throw std::invalid_argument("grad scaler: init_scale must be positive and finite");
  if (!(options_.growth_factor() > 1)) throw std::invalid_argument("grad scaler: growth_factor must be > 1");
  if (!(options_.backoff_factor() > 0 && options_.backoff_factor() < 1))
    throw std::invalid_argument("grad scaler: backoff_factor must be in (0, 1)");
  if (options_.growth_interval() < 1) throw std::invalid_argument("grad scaler: growth_interval must be >= 1");
}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) const {
  if (!options_.enabled()) return loss;
  // Multiplied in float32, whatever precision the loss came out in.
  return loss.to(torch::kFloat32) * scale_;
}

bool GradScaler::unscale(torch::optim::Optimizer& optimizer) {
  if (!options_.enabled()) return false;
  if (unscaled_) throw std::logic_error("grad scaler: unscale() was already called in this step (before update())");
  const double inverse = 1.0 / scale_;
  torch::Tensor any_bad;  // on the gradients' device, so only one value crosses to the host
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params()) {
      torch::Tensor& g = p.mutable_grad();
      if (!g.defined()) continue;
      const torch::Tensor bad = torch::isfinite(g).logical_not().any();
      any_bad = any_bad.defined() ? any_bad.logical_or(bad) : bad;
      g.mul_(inverse);
    }
  found_inf_ = any_bad.defined() && any_bad.item<bool>();
  unscaled_ = true;
  return found_inf_;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!options_.enabled()) {
    optimizer.step();
    last_skipped_ = false;
    return true;
  }
  if (!unscaled_) unscale(optimizer);
  last_skipped_ = found_inf_;
  if (!found_inf_) optimizer.step();
  return !found_inf_;
}

void GradScaler::update() {
  if (!options_.enabled()) return;
  if (!unscaled_) throw std::logic_error("grad scaler: update() without step() or unscale() in this step");
  if (found_inf_) {
    scale_ *= options_.backoff_factor();
    growth_tracker_ = 0;
  } else if (++growth_tracker_ >= options_.growth_interval()) {
    // Kept finite: a scale that overflowed to inf would turn every loss into inf.
    const double grown = scale_ * options_.growth_factor();
    if (std::isfinite(grown) && grown < 3.0e38) scale_ = grown;
    growth_tracker_ = 0;
  }
  unscaled_ = false;
  found_inf_ = false;
}

void GradScaler::load_state(const State& state) {
  if (!(state.scale > 0) || !std::isfinite(state.scale))
    throw std::invalid_argument("grad scaler: the saved scale must be positive and finite, got " +
                                std::to_string(state.scale));
  if (state.growth_tracker < 0) throw std::invalid_argument("grad scaler: the saved growth tracker is negative");
  scale_ = state.scale;
  growth_tracker_ = state.growth_tracker;
  unscaled_ = false;
  found_inf_ = false;
}

}  // namespace masnn::train
