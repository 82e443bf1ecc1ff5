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

/// A number in [0, 1], or in [0, 1) without `one`.
inline CLI::Validator unit_interval(bool one) {
  return detail::number_check(one ? "a number in [0, 1]" : "a number in [0, 1)",
                              [one](double x) { return x >= 0 && (one ? x <= 1 : x < 1); });
}

/// Checks every value given to an option of `app` and its subcommands, whatever the command added: none may be
/// empty (an unset shell variable), integers must fit their type (CLI11 2.1 turns 99999999999999999999 into the
/// largest int64 and accepts -1 for an unsigned), numbers must be finite (its own checks let NaN through).
void guard_option_values(CLI::App& app);

}  // namespace masnn::cli
