#include "neuron/surrogate_support.h"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "util/bit_mask.h"

namespace masnn::functional {
namespace {

// A published mask and what identifies its spikes. Both are held weakly: the entry expires with the spikes or
// with the mask (which the publishing LIF's autograd node keeps), so nothing outlives a forward's graph, and a new
// tensor at a reused address never matches.
using WeakTensor = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;
struct Published {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  int64_t offset, numel;
  int64_t version;
  WeakTensor support;
  bool expired() const { return storage.expired() || support.expired(); }
};

// One list per thread: a network's forward runs on one thread, and the synapse looks up in the same forward.
std::vector<Published>& published() {
  thread_local std::vector<Published> list;
  list.erase(std::remove_if(list.begin(), list.end(), [](const Published& p) { return p.expired(); }), list.end());
  return list;
}

}  // namespace

void publish_surrogate_support(const torch::Tensor& spikes, const torch::Tensor& support) {
  TORCH_CHECK(spikes.is_contiguous() && support.scalar_type() == torch::kUInt8 &&
                  support.numel() == bits::packed_size(spikes.numel()),
              "publish_surrogate_support: needs contiguous spikes and their packed mask");
  published().push_back({spikes.storage().getWeakStorageImpl(), spikes.storage_offset(), spikes.numel(),
                         spikes._version(), WeakTensor(support.getIntrusivePtr())});
}

torch::Tensor published_surrogate_support(const torch::Tensor& x) {
  if (!x.defined() || !x.has_storage() || !x.is_contiguous()) return {};
  const c10::StorageImpl* storage = x.storage().unsafeGetStorageImpl();
  for (const Published& p : published()) {
    if (p.storage._unsafe_get_target() != storage) continue;
    if (p.offset == x.storage_offset() && p.numel == x.numel() && p.version == x._version()) {
      auto support = p.support.lock();
      if (support) return torch::Tensor(std::move(support));
    }
  }
  return {};
}

torch::Tensor pack_bits(const torch::Tensor& x) {
  const torch::Tensor c = x.contiguous();
  TORCH_CHECK(c.device().is_cpu(), "pack_bits: needs a CPU tensor, got one on ", c.device());
  torch::Tensor out = torch::empty({bits::packed_size(c.numel())}, torch::kUInt8);
  uint8_t* o = out.data_ptr<uint8_t>();
  switch (c.scalar_type()) {
    case torch::kUInt8:
    case torch::kBool: bits::pack(static_cast<const uint8_t*>(c.data_ptr()), c.numel(), o); break;
    case torch::kFloat: bits::pack(c.data_ptr<float>(), c.numel(), o); break;
    case torch::kDouble: bits::pack(c.data_ptr<double>(), c.numel(), o); break;
    default: TORCH_CHECK(false, "pack_bits: needs uint8, bool, float or double, got ", c.scalar_type());
  }
  return out;
}

}  // namespace masnn::functional
