// Online classification of a stream of frames: the network (any of build_model's) runs one time step per frame
// with the membrane state of every LIF carried between steps (masnn/models/network_step.h), and every `hop` steps a
// prediction is made over the last `window` steps: the mean of the steps' outputs over the window (the offline
// output: the class neurons' firing rates, REFERENCE.md 3.1, or a Res-SNN's logits), the winner and its value as
// the confidence.
//
// State policies:
//   Continuous  one network state from the start of the stream, never reset (a running SNN). The prediction of
//               a window is the mean of the output spikes of its steps. Cost: one network step per frame.
//   Window      every window starts from rest, as the network was trained and is evaluated offline: ceil(window
//               / hop) staggered copies of the state run as the rows of one batch, row j % K starting window j.
//               Cost: K network rows per frame.
// Attention modes:
//   Causal      step-at-a-time with the causal variant of the attention that pools over time (TA; CA and SA
//               pooled over T at conv-post): at each step the attention is the offline attention applied to the
//               steps seen so far in the attention window (the last min(n, T) steps, n = steps since the row
//               was at rest, T the model's T), TA with the unseen steps as zero descriptors, the current step's
//               output used (MultiDimAttentionImpl::forward_causal). Attention that needs one step only (none,
//               per-step CA/SA, CA/SA at activate-pre) is not approximated at all.
//   Batch       non-causal: at the end of each window the window's frames run through the offline forward, from
//               rest. Equals `masnn eval --frames` on those frames; the per-step work is only the binning.
// What equals the offline output exactly (same frames, same dtype; float64, or float32 with convolutions that do
// not depend on the batch size): Batch mode, every window, every attention type. Causal mode without attention
// that pools over time: the first window from the start of the stream (Continuous) or every window (Window).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include <torch/nn/modules/container/any.h>

#include "masnn/models/network_step.h"

namespace masnn::serve {

enum class StatePolicy { Continuous, Window };
enum class AttentionMode { Causal, Batch };

/// Parses continuous / window and causal / batch; throw std::invalid_argument naming the accepted values.
StatePolicy parse_state_policy(const std::string& name);
AttentionMode parse_attention_mode(const std::string& name);
std::string to_string(StatePolicy policy);
std::string to_string(AttentionMode mode);

struct StreamOptions {
  /// Steps per prediction window (0 = the model's T).
  int64_t window = 0;
  /// Steps between predictions (0 = the window: back-to-back windows).
  int64_t hop = 0;
  StatePolicy state = StatePolicy::Window;
  AttentionMode attention = AttentionMode::Causal;
};

/// The prediction of one window.
struct Prediction {
  int64_t index = 0;       ///< window number, 0-based
  int64_t first_step = 0;  ///< the window's steps are [first_step, last_step]
  int64_t last_step = 0;
  int64_t label = 0;          ///< the class with the highest output (the lowest index on ties); -1 when none fired
  double confidence = 0;      ///< its firing rate in [0,1] (trained towards 1), or the softmax of a Res-SNN's logits
  int64_t runner_up = -1;     ///< the second class (-1 with one class, or when none fired)
  double runner_up_rate = 0;  ///< the runner-up's score, as confidence
  torch::Tensor rates;        ///< [num_classes], the network's output for the window (its dtype): rates or logits
};

class StreamClassifier {
 public:
  /// Puts `net` (a network of build_model) in eval mode. Throws std::invalid_argument for another module, a window
  /// or hop < 0, a hop above the window, or Batch mode with temporal attention and a window other than the
  /// model's T.
  StreamClassifier(torch::nn::AnyModule net, const StreamOptions& options);

  /// Runs time step `steps()` on frame [C_in,H,W] (converted to the network's dtype; a Res-SNN takes any H = W,
  /// the same for every frame) and returns the prediction of the window that ends with this step, if one does.
  /// Runs without autograd.
  std::optional<Prediction> step(const torch::Tensor& frame);
  /// Starts again from rest at step 0.
  void reset();

  int64_t steps() const { return step_; }
  int64_t window() const { return window_; }
  int64_t hop() const { return hop_; }
  /// Network rows run per step (Window policy: ceil(window / hop); otherwise 1; Batch mode: 0).
  int64_t rows() const { return rows_; }
  const StreamOptions& options() const { return options_; }

 private:
  torch::nn::AnyModule net_;
  NetworkStepInfo info_;
  StreamOptions options_;
  int64_t window_ = 0, hop_ = 0, rows_ = 1, step_ = 0;
  int64_t side_ = 0;  ///< the frames' side: the network's, or a Res-SNN's from the first frame
  NetworkStepState state_;
  torch::Tensor out_ring_;    ///< [window, rows, classes]: output spikes of the last `window` steps
  torch::Tensor frame_ring_;  ///< Batch mode: [window, C, H, W] frames of the last `window` steps
  torch::ScalarType dtype_;
};

}  // namespace masnn::serve
