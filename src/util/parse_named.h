// An enum parsed by the names its to_string writes, so that the accepted names, the error's list and what is written
// back cannot drift apart.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>

namespace masnn {

/// The value among `values` whose to_string (found next to the enum) is `name`; otherwise std::invalid_argument
/// "<what>: expected one of a, b, c; got '<name>'".
template <typename E>
E parse_named(const std::string& name, std::initializer_list<E> values, const std::string& what) {
  std::string names;
  for (E value : values) {
    if (to_string(value) == name) return value;
    names += (names.empty() ? "" : ", ") + to_string(value);
  }
  throw std::invalid_argument(what + ": expected one of " + names + "; got '" + name + "'");
}

}  // namespace masnn
