// Checks of numeric options whose messages say in words what is expected (CLI11's PositiveNumber and
// NonNegativeNumber print their bound as the 309 digits of the largest double).
#pragma once

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <string>

namespace masnn::cli {

namespace detail {
// A number check: `ok(x)` for a finite number x, else "expected <what>, got '<text>'".
template <typename Ok>
CLI::Validator number_check(const std::string& what, Ok ok) {
  return CLI::Validator(
      [what, ok](std::string& text) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(text.c_str(), &end);
        const bool number = !text.empty() && end == text.c_str() + text.size() && std::isfinite(x);
        return number && ok(x) ? std::string() : "expected " + what + ", got '" + text + "'";
      },
      what);
}
}  // namespace detail

/// A finite number > 0.
inline CLI::Validator positive() {
  return detail::number_check("a number > 0", [](double x) { return x > 0; });
}

/// A finite number >= 0.
inline CLI::Validator non_negative() {
  return detail::number_check("a number >= 0", [](double x) { return x >= 0; });
}

}  // namespace masnn::cli
