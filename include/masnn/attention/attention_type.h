// Which attention dimensions a layer uses, and where the attention sits (REFERENCE.md 2).
#pragma once

#include <string>

namespace masnn {

/// A set of attention dimensions: temporal (T), channel (C), spatial (S). Applied in the order T, C, S.
struct AttentionType {
  bool temporal = false;
  bool channel = false;
  bool spatial = false;

  /// Parses none (or no), TA, CA, SA, TCA, TSA, CSA, TCSA (or MA); case-insensitive. Throws
  /// std::invalid_argument naming the accepted values.
  static AttentionType parse(const std::string& name);
  /// The canonical name: none, TA, CA, SA, TCA, TSA, CSA, TCSA.
  std::string name() const;
  bool any() const { return temporal || channel || spatial; }
  bool operator==(const AttentionType& o) const {
    return temporal == o.temporal && channel == o.channel && spatial == o.spatial;
  }
};

/// Where the attention is applied.
enum class AttentionPlacement {
  /// The reference code: conv -> BN -> pool -> attention (T, C, S over all T at once) -> ReLU -> LIF.
  ConvPost,
  /// The paper's recommendation (Table 4, Eq. 14): TA at Conv-POST, then CA and SA inside the neuron's
  /// time loop on the membrane potential U_t = H_{t-1} + X_t of each step, before firing.
  ActivatePre,
};

/// Parses conv-post / activate-pre. Throws std::invalid_argument naming the accepted values.
AttentionPlacement parse_attention_placement(const std::string& name);
std::string to_string(AttentionPlacement placement);

}  // namespace masnn
