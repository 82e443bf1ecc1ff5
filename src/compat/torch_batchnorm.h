// BatchNormImplBase<D, Derived>::pretty_print: LibTorch 1.13 declares it in its header and defines it in
// libtorch_cpu without exporting it, so a class derived from BatchNorm1dImpl/BatchNorm2dImpl (synchronised BN,
// src/train/sync_batch_norm.h) cannot link: its construction vtables name the base's pretty_print. 2.6 defines it
// inline in the header. For the older line this header gives the definition (the same text LibTorch prints) and
// instantiates it for 1d and 2d. Include it in exactly one source file. Tested with 1.13 (needed) and 2.6 (not).
#pragma once

#include <torch/nn/modules/batchnorm.h>

#include "compat/torch_version.h"

#if MASNN_TORCH_VERSION < 200
namespace torch::nn {
template <size_t D, typename Derived>
void BatchNormImplBase<D, Derived>::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "torch::nn::BatchNorm" << D << "d(" << this->options.num_features()
         << ", eps=" << this->options.eps() << ", momentum=";
  if (this->options.momentum().has_value())
    stream << this->options.momentum().value();
  else
    stream << "None";
  stream << ", affine=" << this->options.affine() << ", track_running_stats=" << this->options.track_running_stats()
         << ")";
}
template class BatchNormImplBase<1, BatchNorm1dImpl>;
template class BatchNormImplBase<2, BatchNorm2dImpl>;
}  // namespace torch::nn
#endif
