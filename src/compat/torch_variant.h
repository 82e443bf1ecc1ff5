// The variants of LibTorch's module options (padding, padding_mode, ...): c10::variant up to LibTorch 2.1,
// std::variant from 2.2 on. masnn code calls masnn::compat::get_if / get / holds_alternative on them.
#pragma once

#include "compat/torch_version.h"

#if MASNN_TORCH_VERSION < 202
#include <c10/util/variant.h>
#else
#include <variant>
#endif

namespace masnn::compat {

#if MASNN_TORCH_VERSION < 202
using c10::get;
using c10::get_if;
using c10::holds_alternative;
#else
using std::get;
using std::get_if;
using std::holds_alternative;
#endif

}  // namespace masnn::compat
