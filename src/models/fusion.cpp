// unfuse: every module's fusion switches off.
#include "masnn/models/fusion.h"

#include "masnn/attention/attentive_lif.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/models/spiking_blocks.h"
#include "masnn/neuron/lif.h"

namespace masnn {

void unfuse(torch::nn::Module& net) {
  const auto off = [](torch::nn::Module& m) {
    if (auto* conv = m.as<SpikingConvBlockImpl>()) conv->options.fused_norm(false).fused_scale_lif(false);
    if (auto* linear = m.as<SpikingLinearBlockImpl>()) linear->options.linear_as_conv(false);
    if (auto* attention = m.as<MultiDimAttentionImpl>()) attention->options.fused(false);
    if (auto* lif = m.as<LIFImpl>()) lif->options.backend(LIFBackend::Composed);
    if (auto* attentive = m.as<AttentiveLIFImpl>()) attentive->options.lif().backend(LIFBackend::Composed);
  };
  off(net);
  for (const auto& m : net.modules(/*include_self=*/false)) off(*m);
}

}  // namespace masnn
