// Text helpers shared by the analysis's terminal summary, JSON and HTML report (private to src/analysis).
#pragma once

#include <fmt/format.h>

#include <cmath>
#include <string>

namespace masnn::analysis::detail {

/// "43.4 uJ"-style text of an energy given in pJ (three significant digits).
inline std::string energy_string(double pj) {
  static const char* const units[] = {"pJ", "nJ", "uJ", "mJ", "J"};
  int i = 0;
  while (std::abs(pj) >= 1000 && i < 4) {
    pj /= 1000;
    ++i;
  }
  return fmt::format("{:.3g} {}", pj, units[i]);
}

/// A reduction (fraction, 0.849 = 84.9% fewer) as the change it is: "-84.9%"; "-" when not a number.
inline std::string change_string(double reduction) {
  return std::isfinite(reduction) ? fmt::format("{:+.1f}%", -100 * reduction) : "-";
}

/// `text` with &, <, >, " escaped for HTML and SVG.
inline std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace masnn::analysis::detail
