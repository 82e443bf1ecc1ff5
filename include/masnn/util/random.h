// A small deterministic random generator (splitmix64) with the draws the data generators need. Its sequences do
// not depend on the standard library's distributions, so a seed gives the same data with every compiler and
// LibTorch line.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace masnn {

/// splitmix64 (Steele, Lea and Flood 2014): 64 random bits per call from a 64-bit state.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  /// The next 64 random bits.
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1), 53 bits.
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
  /// Uniform in [a, b).
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  /// Standard normal (Box-Muller).
  double normal() {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Uniform in [0, n) (n > 0; the modulo bias is below 2^-40 for the n used here).
  uint64_t below(uint64_t n) { return next() % n; }
  /// Poisson with mean lambda (Knuth's product of uniforms; a rounded normal above 30).
  int poisson(double lambda) {
    if (lambda <= 0) return 0;
    if (lambda > 30) return std::max(0, static_cast<int>(std::lround(lambda + std::sqrt(lambda) * normal())));
    const double l = std::exp(-lambda);
    int k = 0;
    double p = uniform();
    while (p > l) {
      ++k;
      p *= uniform();
    }
    return k;
  }

 private:
  uint64_t state_;
};

}  // namespace masnn
