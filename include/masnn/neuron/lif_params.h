// The scalar settings of one LIF layer as its kernels see them (masnn/neuron/lif.h's LIFOptions hold them with
// the module's other settings). Plain types, no LibTorch, so CPU and CUDA kernels share them.
#pragma once

namespace masnn::kernels {

/// How the membrane is reset after a spike.
enum class ResetMode : int { Hard = 0, Soft = 1, None = 2 };

/// Shape of the surrogate derivative ds/du. All have peak 1/width and unit area.
enum class SurrogateKind : int { Rectangular = 0, Sigmoid = 1, Arctan = 2 };

/// Scalar settings of one LIF layer, as the kernels see them.
struct LifParams {
  double threshold = 0.3;     ///< V_th
  double v_reset = 0.3;       ///< target of a hard reset
  double decay = 0.3;         ///< alpha: h = decay * r + bias
  double bias = 0.0;          ///< beta
  bool fire_at_equal = true;  ///< s = (u - V_th >= 0) when true, (u - V_th > 0) when false
  ResetMode reset = ResetMode::Hard;
  bool detach_reset = false;  ///< when true no gradient flows through s in the reset term
  SurrogateKind surrogate = SurrogateKind::Rectangular;
  double width = 0.5;  ///< surrogate width a (rectangular: window |u-V_th| < a/2, height 1/a)
};

}  // namespace masnn::kernels
