// Online classification: stepping, the prediction windows and their rates.
#include "masnn/serve/stream_classifier.h"
#include "util/parse_named.h"

#include <torch/torch.h>

#include <stdexcept>

namespace masnn::serve {

StatePolicy parse_state_policy(const std::string& name) {
  return parse_named(name, {StatePolicy::Continuous, StatePolicy::Window}, "--state");
}

AttentionMode parse_attention_mode(const std::string& name) {
  return parse_named(name, {AttentionMode::Causal, AttentionMode::Batch}, "--attention");
}

std::string to_string(StatePolicy policy) {
  return policy == StatePolicy::Continuous ? "continuous" : "window";
}

std::string to_string(AttentionMode mode) {
  return mode == AttentionMode::Causal ? "causal" : "batch";
}

StreamClassifier::StreamClassifier(torch::nn::AnyModule net, const StreamOptions& options)
    : net_(std::move(net)), info_(network_step_info(*net_.ptr())), options_(options) {
  if (options.window < 0) throw std::invalid_argument("stream: --window must be >= 1 (0 = the model's T)");
  if (options.hop < 0) throw std::invalid_argument("stream: --hop must be >= 1 (0 = the window)");
  window_ = options.window > 0 ? options.window : info_.steps;
  hop_ = options.hop > 0 ? options.hop : window_;
  if (hop_ > window_)
    throw std::invalid_argument("stream: --hop " + std::to_string(hop_) + " is longer than the window " +
                                std::to_string(window_) + " (steps would be left out of every window)");
  if (options.attention == AttentionMode::Batch && info_.temporal_attention && window_ != info_.steps)
    throw std::invalid_argument("stream: batch attention with TA needs --window equal to the model's T (" +
                                std::to_string(info_.steps) + "), got " + std::to_string(window_));
  net_.ptr()->eval();
  const auto parameters = net_.ptr()->parameters();
  dtype_ = parameters.empty() ? torch::kFloat32 : parameters.front().scalar_type();
  if (options.attention == AttentionMode::Batch)
    rows_ = 0;
  else
    rows_ = options.state == StatePolicy::Window ? (window_ + hop_ - 1) / hop_ : 1;
  reset();
}

void StreamClassifier::reset() {
  step_ = 0;
  side_ = info_.input_size;
  state_ = NetworkStepState();
  const auto opts = torch::TensorOptions().dtype(dtype_);
  frame_ring_ = out_ring_ = torch::Tensor();
  if (options_.attention == AttentionMode::Batch) {
    if (side_ > 0) frame_ring_ = torch::zeros({window_, info_.in_channels, side_, side_}, opts);
  } else {
    out_ring_ = torch::zeros({window_, rows_, info_.num_classes}, opts);
  }
}

std::optional<Prediction> StreamClassifier::step(const torch::Tensor& frame) {
  torch::NoGradGuard no_grad;
  if (side_ == 0 && frame.dim() == 3 && frame.size(0) == info_.in_channels && frame.size(1) == frame.size(2) &&
      frame.size(1) > 0) {
    side_ = frame.size(1);  // a Res-SNN takes any side: the first frame's, from then on
    if (options_.attention == AttentionMode::Batch)
      frame_ring_ = torch::zeros({window_, info_.in_channels, side_, side_}, torch::TensorOptions().dtype(dtype_));
  }
  // A Res-SNN takes any side until its first frame sets it (the message's H).
  const auto side = [&] { return side_ > 0 ? std::to_string(side_) : std::string("H"); };
  TORCH_CHECK(
      frame.dim() == 3 && frame.size(0) == info_.in_channels && frame.size(1) == side_ && frame.size(2) == side_,
      "stream: a frame must be [", info_.in_channels, ",", side(), ",", side(), "], got ", frame.sizes());
  const int64_t s = step_++;
  const int64_t slot = s % window_;
  const bool emit = s >= window_ - 1 && (s - (window_ - 1)) % hop_ == 0;
  const int64_t first = s - window_ + 1;
  torch::Tensor rates;
  if (options_.attention == AttentionMode::Batch) {
    frame_ring_[slot].copy_(frame);
    if (emit) {
      // The window's frames in time order, from rest, through the offline forward.
      const auto order = (torch::arange(first, s + 1, torch::kLong) % window_);
      rates = net_.forward(frame_ring_.index_select(0, order).unsqueeze(1))[0];
    }
  } else {
    torch::Tensor x = frame.to(dtype_).unsqueeze(0);
    int64_t row = 0;
    if (options_.state == StatePolicy::Window) {
      if (s % hop_ == 0) state_.reset((s / hop_) % rows_);  // window s / hop starts here, from rest
      x = x.expand({rows_, x.size(1), x.size(2), x.size(3)}).contiguous();
      row = (first / hop_) % rows_;
    }
    out_ring_[slot].copy_(forward_step(*net_.ptr(), x, state_));
    if (emit) rates = out_ring_.select(1, row).mean(0);  // the offline output: the steps' outputs averaged
  }
  if (!emit) return std::nullopt;
  Prediction p;
  p.index = first / hop_;
  p.first_step = first;
  p.last_step = s;
  p.rates = rates;
  // Logits are scored by their softmax, so that a confidence is a number in [0,1] for every network.
  const torch::Tensor r = (info_.outputs_rates ? rates : rates.softmax(0)).to(torch::kDouble).contiguous();
  const double* v = r.data_ptr<double>();
  for (int64_t c = 1; c < r.numel(); ++c)
    if (v[c] > v[p.label]) p.label = c;
  p.confidence = v[p.label];
  for (int64_t c = 0; c < r.numel(); ++c)
    if (c != p.label && (p.runner_up < 0 || v[c] > v[p.runner_up])) p.runner_up = c;
  if (p.runner_up >= 0) p.runner_up_rate = v[p.runner_up];
  if (info_.outputs_rates && p.confidence == 0) p.label = p.runner_up = -1;  // no class neuron fired: no decision
  return p;
}

}  // namespace masnn::serve
