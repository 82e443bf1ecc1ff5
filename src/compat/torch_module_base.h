// torch::nn::Module is a virtual base of LibTorch's layers in 1.13 (Cloneable derives `public virtual Module`) and
// a plain base in 2.x (2.6 checked). A class derived from a layer that copies the layer (a replacement sharing its
// parameters, masnn/models/layer_replacement.h) must then copy the Module part itself on 1.13 (the most derived
// class initialises a virtual base), and must not name it on 2.x (not a direct base). Use as the first
// mem-initializer: `Derived(const Conv2dImpl& c) : MASNN_COPY_MODULE_BASE(c) Conv2dImpl(c) {}`.
#pragma once

#include "compat/torch_version.h"

#if MASNN_TORCH_VERSION < 200
#define MASNN_COPY_MODULE_BASE(layer) torch::nn::Module(layer),
#else
#define MASNN_COPY_MODULE_BASE(layer)
#endif
