// Where a LIF layer's surrogate derivative is nonzero, published beside its spikes for the layer that reads them.
//
// The LIF's backward multiplies dL/ds by the surrogate derivative ds/du, which the rectangular surrogate makes zero
// outside the window |u - V_th| < width/2 (on a trained MA-SNN, 4-6% of the neuron-steps of the DVS networks'
// hidden layers). So the layer reading the spikes needs its input gradient only inside that window: an
// event-driven synapse computes it there alone (models/event_driven_synapse.h). The LIF (with
// LIFOptions::publish_support) publishes the window as a bit mask keyed by its spike tensor's storage; a synapse
// looks its input up and takes the mask only when the input is those very spikes, unchanged (same storage, offset,
// size and version), so a wrong pairing can cost speed but never change a gradient.
#pragma once

#include <torch/types.h>

namespace masnn::functional {

/// Publishes `support` (uint8, bits::packed_size(spikes.numel()) bytes, bit i set where element i of the contiguous
/// `spikes` is inside the surrogate's window) for `spikes`, on this thread, while both live: the caller keeps the
/// mask (a LIF in its autograd node), so the registry holds nothing beyond a forward's graph.
void publish_surrogate_support(const torch::Tensor& spikes, const torch::Tensor& support);

/// The support published for x when x is contiguous and is exactly published spikes (or a view of all of them, as
/// a reshape gives) not modified since; else an undefined tensor.
torch::Tensor published_surrogate_support(const torch::Tensor& x);

/// The nonzeros of a CPU tensor (uint8, bool, float or double) as bits, 8 per byte (src/util/bit_mask.h): the mask
/// publish_surrogate_support takes, and spikes kept for a backward pass.
torch::Tensor pack_bits(const torch::Tensor& x);

}  // namespace masnn::functional
